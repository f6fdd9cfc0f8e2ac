"""Shared fixtures for server tests (and anyone who needs a running KFQMap server).

* ``mini_settings`` / ``mini_app`` / ``mini_client``: the small synthetic catalog in
  ``tests/fixtures/mini_geodata`` (5 layers incl. a non-spatial ``indicators``) — exact counts and values.
* ``app`` / ``client``: the real ``geodata/`` when it has a catalog, otherwise the mini catalog.
* ``live_server``: session-scoped real uvicorn on a free 127.0.0.1 port, serving the same catalog as
  ``app`` (``.url``, ``.settings``, ``.catalog``). Defined in ``server/testing.py``; test modules outside
  ``tests/server`` get it with ``from server.testing import live_server  # noqa: F401`` (one server per
  process, however many modules import it).
"""
from __future__ import annotations

import warnings

import pytest

warnings.filterwarnings("ignore", message=".*httpx2.*")

from fastapi.testclient import TestClient  # noqa: E402

from kfqmap.settings import CatalogSettings  # noqa: E402
from server.app import create_app  # noqa: E402
from server.testing import MINI_GEODATA, default_catalog_settings, live_server  # noqa: E402,F401


@pytest.fixture(scope="session")
def mini_settings() -> CatalogSettings:
    return CatalogSettings(geodata_dir=MINI_GEODATA, extra_layers="")


@pytest.fixture(scope="session")
def mini_app(mini_settings):
    return create_app(mini_settings)


@pytest.fixture(scope="session")
def mini_client(mini_app):
    return TestClient(mini_app)


@pytest.fixture(scope="session")
def settings() -> CatalogSettings:
    return default_catalog_settings()


@pytest.fixture(scope="session")
def app(settings):
    return create_app(settings)


@pytest.fixture(scope="session")
def client(app):
    return TestClient(app)
