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

import asyncio
import importlib
import inspect
import logging
import threading
from collections import deque
from contextlib import asynccontextmanager
from types import ModuleType

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import kfqmap
from kfqmap.catalog import load_catalog
from kfqmap.errors import ServerBusy
from kfqmap.export import clean_stale_scratch
from kfqmap.settings import CatalogSettings

from .auth import AuthGate, open_accounts
from .errors import add_exception_handlers
from .middleware import PublicOrigin, RequestLimits, RequestTimeout, SecurityHeaders, send_problem
from .settings import APISettings
from .routers.web import WebSettings
from .tilecache import TileCacheSettings

#: router modules, in inclusion order — one line each
ROUTERS: list[str] = [
    "server.routers.common",
    "server.routers.features",
    "server.routers.stats",
    "server.routers.indicators",
    "server.routers.query",
    "server.routers.web",
    "server.routers.tiles",
    "server.routers.styles",
    "server.routers.export",
    "server.routers.compare",
    "server.routers.imports",
    "server.routers.auth",
    "server.routers.edit",
    "server.routers.audit",
]


def _no_telemetry() -> dict:
    """FastAPI ≥ 0.16x asks OpenTelemetry on every request whether a tracer, meter or logger provider is set
    (environment look-ups: about a fifth of a cached tile's time in the app). KFQMap configures none, so the
    check is switched off where FastAPI has it (older versions have no such parameter)."""
    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}


def create_app(settings: APISettings | CatalogSettings | None = None) -> FastAPI:
    """Build the app. ``settings`` may be ``APISettings`` or just the ``CatalogSettings`` to serve."""
    if isinstance(settings, CatalogSettings):
        settings = APISettings(catalog=settings)
    settings = settings or APISettings()
    app = FastAPI(
        title=settings.title, description=settings.description, version=kfqmap.__version__ if hasattr(
            kfqmap, "__version__") else "0.1.0",
        openapi_url=None, docs_url=None, redoc_url=None,   # /api (OAS 3.0) is served by routers/common.py
        lifespan=_lifespan, **_no_telemetry(),
    )
    app.state.settings = settings
    app.state.tile_settings = TileCacheSettings()      # every setting is read here, once (tile cache, warm-up,
    app.state.web_settings = WebSettings()             # the viewer's optional basemaps)
    app.state.catalog = load_catalog(settings.catalog)
    app.state.accounts = open_accounts(app.state.catalog, settings)
    modules: list[ModuleType] = [importlib.import_module(name) for name in ROUTERS]
    app.state.router_modules = modules
    for module in modules:
        app.include_router(module.router)
    add_exception_handlers(app)
    app.state.export_slots = HeavySlots(settings.export_concurrency, settings.export_queue)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes,
                       path_limits={"/imports": settings.import_max_bytes})
    # routers' own middleware (e.g. the tile cache's warm fast path) sits outside the body limit, so a cached
    # tile is answered before the other layers below run; the time limit covers tiles built on a miss too.
    # From the outside in: CORS, HEAD → GET (so everything below sees HEAD as GET), security headers, Host
    # check / public URL, URL limits and OPTIONS, the time limit, who is asking (server/auth.py), the routers'
    # middleware, the body limit.
    for module in modules:
        for middleware in getattr(module, "MIDDLEWARE", ()):
            app.add_middleware(middleware)
    app.add_middleware(AuthGate)           # identifies the caller before any route or cached tile is answered
    app.add_middleware(RequestTimeout, seconds=settings.request_timeout_s)
    app.add_middleware(RequestLimits, max_url_bytes=settings.max_url_bytes)
    app.add_middleware(PublicOrigin, public_url=settings.public_url, trusted_hosts=settings.trusted_hosts)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(HeadAsGet)
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if origins:
        # cross-origin callers use bearer tokens (no cookies: allow_credentials stays off, and the session cookie
        # is SameSite=Strict anyway)
        app.add_middleware(CORSMiddleware, allow_origins=origins,
                           allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
                           allow_headers=["Authorization", "Content-Type", "Content-Crs", "If-Match", "X-Change-Note"],
                           expose_headers=["Content-Crs", "ETag", "Location", "Content-Disposition"])
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI):
    """Start-up: remove temporaries that killed processes left; read every layer and build its items index in a daemon thread
    (when ``settings.warm_up``); nothing to undo."""
    try:
        clean_stale_scratch()
    except OSError as exc:   # an unwritable temp dir is reported when an export needs it
        logging.getLogger("kfqmap.server").warning("could not clean the temporary folder: %s", exc)
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
    """Refuse request bodies over ``max_bytes`` with 413 problem+json, whether announced by Content-Length or
    sent chunked (a chunked body is read here, up to the limit, before the route sees it)."""

    def __init__(self, app: ASGIApp, max_bytes: int, path_limits: dict[str, int] | None = None):
        self.app = app
        self.max_bytes = max_bytes
        self.path_limits = dict(path_limits or {})     # uploads (POST /imports) have their own, larger limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.path_limits.get(scope.get("path", ""), self.max_bytes)
        length = None
        for key, value in scope.get("headers", []):
            if key == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = None
        if length is not None:
            if length > limit:
                await self._refuse(scope, receive, send, limit)
                return
            await self.app(scope, receive, send)
            return
        # no Content-Length (chunked): read the body, at most max_bytes, then replay it to the route
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            body = message.get("body", b"")
            seen += len(body)
            if seen > limit:
                await self._refuse(scope, receive, send, limit)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay([{"type": "http.request", "body": b"".join(chunks), "more_body": False}],
                                      receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        await send_problem(scope, receive, send, 413, "RequestTooLarge",
                           f"请求体超过 {limit} 字节上限（request body too large）", "body",
                           headers={"Connection": "close"})


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}
    return receive


class HeavySlots:
    """At most ``running`` heavy jobs (exports) at once and ``waiting`` more in line (first come, first served);
    beyond that ``ServerBusy`` (503 with Retry-After). Use ``async with slots:`` around the job. Safe across event
    loops and threads (the test client runs each request on its own loop)."""

    def __init__(self, running: int, waiting: int):
        self.running, self.waiting = running, waiting
        self._lock = threading.Lock()
        self._active = 0
        self._queue: deque[asyncio.Future] = deque()

    async def __aenter__(self):
        with self._lock:
            if self._active + len(self._queue) >= self.running + self.waiting:
                raise ServerBusy(f"正在处理的导出已达上限（{self.running} 个进行中、{self.waiting} 个排队），请稍后重试"
                                 "（server busy）")
            if self._active < self.running:
                self._active += 1
                return self
            future = asyncio.get_running_loop().create_future()
            self._queue.append(future)
        try:
            await future
        except BaseException:
            with self._lock:
                if future in self._queue:
                    self._queue.remove(future)
                    future = None
            if future is not None and future.done() and not future.cancelled():
                self._release()          # the slot was handed over just as we were cancelled
            raise
        return self

    async def __aexit__(self, *exc) -> None:
        self._release()

    def _release(self) -> None:
        with self._lock:
            if not self._queue:
                self._active -= 1
                return
            future = self._queue.popleft()   # the slot passes to the next in line (``_active`` unchanged)
        future.get_loop().call_soon_threadsafe(self._hand_over, future)

    def _hand_over(self, future: asyncio.Future) -> None:
        if future.done():                    # cancelled meanwhile: pass the slot on
            self._release()
        else:
            future.set_result(None)
