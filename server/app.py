"""``create_app(settings)``: builds the KFQMap FastAPI app.

>>> from kfqmap.settings import CatalogSettings
>>> from server.app import create_app
>>> app = create_app(CatalogSettings(geodata_dir="tests/fixtures/mini_geodata"))   # doctest: +SKIP

The catalog is loaded when the app is created (layers' frames are read lazily on first use), so
``TestClient(create_app())`` works with or without entering its lifespan. ``app.state`` holds ``settings``,
``catalog`` (whose collections own each layer's data and caches) and ``router_modules``.

Adding a router: write ``server/routers/<name>.py`` exporting ``router`` (and optionally ``CONFORMS_TO`` and
``links(request)`` for the landing page / conformance, ``collection_links(request, collection_id)`` for the
links of each spatial collection document, ``MIDDLEWARE``), then add one line to ``ROUTERS`` below.
The landing page ``/`` belongs to ``routers/common.py``; for browsers it calls
``server.routers.web.viewer_response(request)`` when that exists, so ``web.py`` should not declare ``/``.
"""
from __future__ import annotations

import importlib
import logging
import threading
from contextlib import asynccontextmanager
from types import ModuleType

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import kfqmap
from kfqmap.catalog import load_catalog
from kfqmap.errors import RequestTooLarge
from kfqmap.settings import CatalogSettings

from .errors import add_exception_handlers
from .responses import ProblemResponse
from .settings import APISettings

#: router modules, in inclusion order — one line each
ROUTERS: list[str] = [
    "server.routers.common",
    "server.routers.features",
    "server.routers.stats",
    "server.routers.query",
    "server.routers.web",
    "server.routers.tiles",
    "server.routers.styles",
    "server.routers.export",
]


def create_app(settings: APISettings | CatalogSettings | None = None) -> FastAPI:
    """Build the app. ``settings`` may be ``APISettings`` or just the ``CatalogSettings`` to serve."""
    if isinstance(settings, CatalogSettings):
        settings = APISettings(catalog=settings)
    settings = settings or APISettings()
    app = FastAPI(
        title=settings.title, description=settings.description, version=kfqmap.__version__ if hasattr(
            kfqmap, "__version__") else "0.1.0",
        openapi_url=None, docs_url=None, redoc_url=None,   # /api (OAS 3.0) is served by routers/common.py
        lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.catalog = load_catalog(settings.catalog)
    modules: list[ModuleType] = [importlib.import_module(name) for name in ROUTERS]
    app.state.router_modules = modules
    for module in modules:
        app.include_router(module.router)
    add_exception_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    # routers' own middleware (e.g. the tile cache's warm fast path) sits outside the body limit, so a cached
    # tile is answered before any other layer runs; HEAD → GET is outermost so they see HEAD as GET
    for module in modules:
        for middleware in getattr(module, "MIDDLEWARE", ()):
            app.add_middleware(middleware)
    app.add_middleware(HeadAsGet)
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST", "HEAD", "OPTIONS"],
                           allow_headers=["*"], expose_headers=["Content-Crs", "ETag", "Content-Disposition"])
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI):
    """Start-up: read every layer and build its items index in a daemon thread (when ``settings.warm_up``)."""
    if app.state.settings.warm_up:
        threading.Thread(target=_warm, args=(app.state.catalog,), name="kfqmap-warm-up", daemon=True).start()
    yield


def _warm(catalog) -> None:
    for layer_id in catalog.ids:
        try:
            catalog.collection(layer_id).state().items.warm()
        except Exception:   # a broken layer must not stop the server; its requests will report the error
            logging.getLogger("kfqmap.server").exception("warm-up failed for %s", layer_id)


class HeadAsGet:
    """Answer HEAD wherever GET is answered (RFC 9110 §9.3.2): run the GET route, send its headers, no body."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if not message.get("more_body", False):
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


class BodySizeLimit:
    """Refuse request bodies over ``max_bytes`` with 413 problem+json (Content-Length or streamed)."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for key, value in scope.get("headers", []):
            if key == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = 0
                if length > self.max_bytes:
                    response = ProblemResponse(_too_large(self.max_bytes, scope.get("path", "")), status_code=413)
                    await response(scope, receive, send)
                    return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise RequestTooLarge(f"请求体超过 {self.max_bytes} 字节上限（request body too large）",
                                          parameter="body")
            return message

        await self.app(scope, limited, send)


def _too_large(max_bytes: int, path: str) -> dict:
    return {"type": "https://kfqmap.example/problems/request-too-large", "title": "RequestTooLarge", "status": 413,
            "detail": f"请求体超过 {max_bytes} 字节上限（request body too large）", "instance": path,
            "parameter": "body", "invalid-params": [{"name": "body", "reason": "请求体过大"}]}
