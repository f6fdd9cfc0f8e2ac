"""A real HTTP server on 127.0.0.1 for tests and benchmarks that need one (ogrinfo, Chromium, load tools).

>>> from server.testing import running_server
>>> live = running_server()              # started once per process, stopped at exit   # doctest: +SKIP
>>> live.url                              # 'http://127.0.0.1:41234'                     # doctest: +SKIP

``running_server(settings)`` starts uvicorn in a daemon thread on a free port, waits until it accepts
connections, and caches the server per geodata directory, so every test module of a process shares it.
The default catalog is the real geodata directory when it has a ``catalog.json``, else the small test
catalog in ``tests/fixtures/mini_geodata`` (``default_catalog_settings()``).

pytest users: ``from server.testing import live_server`` in a test module (or conftest) gives the
session-scoped ``live_server`` fixture (a ``LiveServer`` with ``.url``, ``.settings`` and ``.catalog``).
"""
from __future__ import annotations

import atexit
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from kfqmap.settings import GEODATA_DIR, CatalogSettings

REPO = Path(__file__).resolve().parents[1]
MINI_GEODATA = REPO / "tests" / "fixtures" / "mini_geodata"


def default_catalog_settings() -> CatalogSettings:
    """The real geodata when it has a catalog, else the mini test catalog (extra layers from the env kept)."""
    settings = CatalogSettings()
    if not (Path(settings.geodata_dir) / "catalog.json").exists() and Path(settings.geodata_dir) == GEODATA_DIR:
        settings = CatalogSettings(geodata_dir=MINI_GEODATA)
    return settings


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    settings: CatalogSettings
    app: object
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def catalog(self):
        return self.app.state.catalog

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


_SERVERS: dict[str, LiveServer] = {}
_LOCK = threading.Lock()


def running_server(settings: CatalogSettings | None = None) -> LiveServer:
    """The process-wide live server for ``settings`` (started on first call)."""
    from .app import create_app

    settings = settings or default_catalog_settings()
    key = f"{Path(settings.geodata_dir).resolve()}|{settings.extra_layers}"
    with _LOCK:
        live = _SERVERS.get(key)
        if live is not None and live.thread.is_alive():
            return live
        app = create_app(settings)
        port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
                                lifespan="on")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name=f"kfqmap-live-{port}", daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"live server on port {port} did not start")
            time.sleep(0.02)
        live = LiveServer(f"http://127.0.0.1:{port}", settings, app, server, thread)
        _SERVERS[key] = live
        atexit.register(live.stop)
        return live


try:  # the pytest fixture, for test modules that import it
    import pytest

    @pytest.fixture(scope="session")
    def live_server() -> LiveServer:
        """Session-scoped live KFQMap server (real geodata if present, else the mini catalog)."""
        return running_server()
except ImportError:  # pragma: no cover - pytest is a test dependency only
    pass
