"""Fixtures for the geodata tests: the real catalog in ``geodata/`` (the layers users see)."""
from __future__ import annotations

import json

import pytest
from .geodata_common import GEODATA, PLAN

from kfqmap.catalog import Catalog, load_catalog
from kfqmap.settings import CatalogSettings


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog(CatalogSettings(geodata_dir=str(GEODATA)))


@pytest.fixture(scope="session")
def raw_catalog() -> dict:
    return json.loads((GEODATA / "catalog.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def plan_text() -> str:
    return PLAN.read_text(encoding="utf-8")

