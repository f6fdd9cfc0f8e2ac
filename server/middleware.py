"""ASGI middleware that keeps the server answering under hostile or clumsy requests.

From the outside in (``server/app.py`` adds them):

* ``SecurityHeaders`` — ``X-Content-Type-Options``, ``Referrer-Policy``, ``X-Frame-Options`` and a
  Content-Security-Policy on every response (the viewer's CSP allows only its own files and the online basemaps
  a user can switch on);
* ``PublicOrigin`` — checks the Host header against ``trusted_hosts`` and, with ``public_url`` set, builds every
  absolute link from that URL instead of the Host header;
* ``RequestLimits`` — request targets over ``max_url_bytes`` → 414, targets with control characters → 400;
  ``OPTIONS`` answered with the methods the path really has (``Allow``);
* ``RequestTimeout`` — a request that has not started its answer after ``request_timeout_s`` is answered
  504 problem+json and its work is cancelled (a route that bounds its own work, such as ``/export``, opts out
  with ``exempt_from_timeout(request)``);
* ``BodySizeLimit`` (in ``app.py``) — bodies over the limit → 413, also when sent chunked.

Every refusal is ``application/problem+json``.
"""
from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .responses import ProblemResponse

log = logging.getLogger("kfqmap.server")

#: the online basemaps the viewer can switch on (web/js/basemaps.js); nothing else outside the server
BASEMAP_HOSTS = "https://tile.openstreetmap.org https://*.is.autonavi.com https://*.tianditu.gov.cn"
#: the viewer's policy: scripts and styles only from the server itself (web/index.html has no inline script);
#: MapLibre builds its worker from a blob: URL and draws images from blob:/data: URLs
VIEWER_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; "
              f"img-src 'self' data: blob: {BASEMAP_HOSTS}; connect-src 'self' {BASEMAP_HOSTS}; "
              "worker-src 'self' blob:; child-src blob:; font-src 'self' data:; object-src 'none'; "
              "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
#: everything else (JSON, tiles, files) is never a document that may run anything
API_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox"

_COMMON = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin"),
           (b"x-frame-options", b"DENY")]
_HTML_HEADERS = _COMMON + [(b"content-security-policy", VIEWER_CSP.encode())]
_OTHER_HEADERS = _COMMON + [(b"content-security-policy", API_CSP.encode())]


def problem_body(status: int, title: str, detail: str, path: str, parameter: str | None = None) -> dict:
    body = {"type": f"https://kfqmap.example/problems/{_slug(title)}" if status < 500 else "about:blank",
            "title": title, "status": status, "detail": detail, "instance": path}
    if parameter:
        body["parameter"] = parameter
        body["invalid-params"] = [{"name": parameter, "reason": detail}]
    return body


def _slug(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and name[i - 1].islower():
            out.append("-")
        out.append(ch.lower())
    return "".join(out)


async def send_problem(scope: Scope, receive: Receive, send: Send, status: int, title: str, detail: str,
                       parameter: str | None = None, headers: dict | None = None) -> None:
    path = scope.get("path", "")
    if not isinstance(path, str) or not path.isprintable():
        path = ""
    response = ProblemResponse(problem_body(status, title, detail, path, parameter), status_code=status,
                               headers=headers)
    await response(scope, receive, send)


class SecurityHeaders:
    """Add the security headers to every HTTP response (headers a route set itself are kept)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                names = {k.lower() for k, _ in headers}
                html = any(k.lower() == b"content-type" and v.startswith(b"text/html") for k, v in headers)
                headers += [(k, v) for k, v in (_HTML_HEADERS if html else _OTHER_HEADERS) if k not in names]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, add_headers)


class PublicOrigin:
    """Refuse Host headers outside ``trusted_hosts``; with ``public_url``, links use it (not the Host header)."""

    def __init__(self, app: ASGIApp, public_url: str = "", trusted_hosts: str = "*"):
        self.app = app
        hosts = [h.strip().lower() for h in trusted_hosts.split(",") if h.strip()]
        self.any_host = not hosts or "*" in hosts
        self.hosts = set(hosts)
        self.public = None
        if public_url:
            parts = urlsplit(public_url.strip())
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"KFQMAP_API_PUBLIC_URL 须为 http(s)://主机[:端口][/路径]，收到 '{public_url}'")
            self.public = (parts.scheme, parts.netloc.encode("latin-1"), parts.path.rstrip("/"))
            self.hosts.add(parts.hostname.lower())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self.any_host:
            host = b""
            for key, value in scope.get("headers", ()):
                if key == b"host":
                    host = value
                    break
            if _host_name(host.decode("latin-1")) not in self.hosts:
                await send_problem(scope, receive, send, 400, "InvalidHost",
                                   "此服务器不接受该 Host 请求头（host not allowed）", "Host")
                return
        if self.public is not None:
            scheme, netloc, prefix = self.public
            headers = [(k, v) for k, v in scope.get("headers", ()) if k != b"host"] + [(b"host", netloc)]
            scope = {**scope, "scheme": scheme, "headers": headers,
                     "root_path": prefix + scope.get("root_path", "") if prefix else scope.get("root_path", "")}
            if prefix and not scope["path"].startswith(scope["root_path"]):
                scope["path"] = scope["root_path"] + scope["path"]
        await self.app(scope, receive, send)


def _host_name(host: str) -> str:
    """``Example.cn:8000`` → ``example.cn``; ``[::1]:8000`` → ``::1``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class RequestLimits:
    """Over-long or malformed request targets → 414/400 problem+json; ``OPTIONS`` → 204 with the real ``Allow``."""

    def __init__(self, app: ASGIApp, max_url_bytes: int = 65_536):
        self.app = app
        self.max_url_bytes = max_url_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "replace")
        if len(raw) + len(scope.get("query_string", b"")) > self.max_url_bytes:
            await send_problem(scope, receive, send, 414, "URITooLong",
                               f"请求地址过长（超过 {self.max_url_bytes} 字节；长过滤条件请用 POST）（URI too long）")
            return
        path = scope.get("path", "")
        if not path.isprintable():
            await send_problem(scope, receive, send, 400, "InvalidPath",
                               "请求路径含有控制字符（invalid characters in path）", "path")
            return
        if scope["method"] == "OPTIONS":
            methods = allowed_methods(scope.get("app"), scope)
            if methods:
                await send({"type": "http.response.start", "status": 204,
                            "headers": [(b"allow", ", ".join(methods).encode())]})
                await send({"type": "http.response.body", "body": b""})
                return
        await self.app(scope, receive, send)


def allowed_methods(app, scope: Scope) -> list[str]:
    """Every method some route of ``app`` answers at this path (plus HEAD with GET, and OPTIONS); [] if none."""
    if app is None:
        return []
    methods: set[str] = set()
    probe = {**scope, "method": "GET"}
    for route in _leaf_routes(getattr(app, "routes", ())):
        route_methods = getattr(route, "methods", None)
        if not route_methods:
            continue
        try:
            match, _ = route.matches(probe)
        except Exception:  # noqa: BLE001 - a route that cannot judge this path does not match it
            continue
        if match != Match.NONE:
            methods |= set(route_methods)
    if not methods:
        return []
    if "GET" in methods:
        methods.add("HEAD")
    methods.add("OPTIONS")
    order = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    return sorted(methods, key=lambda m: order.index(m) if m in order else len(order))


def _leaf_routes(routes):
    """The routes themselves (FastAPI ≥ 0.16x keeps an included router as one entry; our routers have no prefix)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _leaf_routes(inner.routes)
        else:
            yield route


_TIMEOUT_KEY = "kfqmap.timeout"


def exempt_from_timeout(request) -> None:
    """Called by a route that bounds its own work (exports): the general request time limit does not apply."""
    control = request.scope.get(_TIMEOUT_KEY)
    if control is not None:
        control["exempt"] = True


class RequestTimeout:
    """Answer 504 problem+json when a request has not started its answer within ``seconds``; its work is cancelled
    (a worker thread finishes its current step in the background, but nobody waits for it).

    No second task around the request: a timer cancels the request's own task at the deadline (as
    ``asyncio.timeout`` does) unless its answer has started or its route is exempt."""

    def __init__(self, app: ASGIApp, seconds: float = 60.0):
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.seconds:
            await self.app(scope, receive, send)
            return
        control = {"exempt": False, "started": False, "expired": False}
        scope[_TIMEOUT_KEY] = control
        task = asyncio.current_task()

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                control["started"] = True
            await send(message)

        def expire() -> None:
            if not (control["started"] or control["exempt"]):
                control["expired"] = True
                task.cancel()

        timer = asyncio.get_running_loop().call_later(self.seconds, expire)
        try:
            await self.app(scope, receive, tracking_send)
        except asyncio.CancelledError:
            if not control["expired"] or task.uncancel() > 0:    # cancelled by someone else (client gone, shutdown)
                raise
        finally:
            timer.cancel()
        if not control["expired"]:
            return
        log.warning("%s %s: no answer after %g s, cancelled", scope["method"], scope.get("path"), self.seconds)
        if not control["started"]:
            await send_problem(scope, receive, send, 504, "WorkTimeout",
                               f"请求处理超过 {self.seconds:g} 秒的时间上限，已停止（request time limit exceeded）",
                               headers={"Retry-After": "30"})
