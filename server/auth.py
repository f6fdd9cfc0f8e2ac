"""Who is asking, and may they: the one place that turns a request into a ``Principal`` and the dependencies that
routers use to require a permission.

How a request is identified (``AuthGate``, a middleware, once per request, before any router — also before the
tile cache's fast path):

* ``Authorization: Bearer kfq_…`` — an API token (``kfqmap tokens create``). An unknown, expired or revoked token,
  or one whose user is disabled, is a 401 on any request (a script should learn at once that its token is dead).
* else the session cookie ``kfqmap_session`` (``POST /auth/login``). State-changing requests (POST, PUT, PATCH,
  DELETE) made with a session must carry the session's CSRF token in ``X-CSRF-Token`` (403 otherwise); the login
  itself is exempt. A stale cookie counts as no credentials.
* else anonymous: a ``viewer`` when ``KFQMAP_ANONYMOUS=read`` (default); with ``none`` every request but the login,
  the landing page and the viewer's static files is answered 401.

Dependencies for routers (each returns the ``Principal``; 401 when anonymous, 403 when the role does not allow)::

    from server import auth
    @router.post("/indicators/…")
    def change(principal: Annotated[Principal, Depends(auth.editor)]): ...       # editor or admin, any layer
    def change(principal: Annotated[Principal, Depends(auth.require_edit("indicators"))]): ...  # that layer
    def change(principal: Annotated[Principal, Depends(auth.layer_editor)]): ...  # the path's {collectionId}
    def audit(principal: Annotated[Principal, Depends(auth.admin)]): ...          # also auth.require_admin
    def read(principal: Annotated[Principal, Depends(auth.require_read)]): ...

``change_context(request, principal)`` gives the ``ChangeContext`` (user, client address, 修改说明 from the
``X-Change-Note`` header) that a write passes to ``Collection.apply``.
"""
from __future__ import annotations

from typing import Annotated
from urllib.parse import unquote

from fastapi import Depends, Path, Request
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from kfqmap.accounts import ANONYMOUS, AccountStore, Principal, check_csrf, require_role
from kfqmap.accounts_pg import open_accounts as accounts_for
from kfqmap.errors import CSRFRejected, NotAuthenticated
from kfqmap.providers.base import ChangeContext

from .middleware import send_problem

SESSION_COOKIE = "kfqmap_session"
CSRF_HEADER = "X-CSRF-Token"
NOTE_HEADER = "X-Change-Note"
_SCOPE_KEY = "kfqmap.principal"
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
#: reachable without credentials when KFQMAP_ANONYMOUS=none: the login, what a client needs to connect (landing page,
#: conformance, API document) and the viewer's shell (its data is not)
_PUBLIC = ("/auth/login", "/auth/me", "/conformance", "/api")
_PUBLIC_PREFIXES = ("/web/", "/vendor/")
_PRIVATE_WEB = ("/web/catalog.json",)
#: longest 修改说明 kept (characters)
MAX_NOTE = 500


def open_accounts(catalog, settings) -> AccountStore:
    """The accounts of the store the catalog uses: its GeoPackage; with the plan served from files, a GeoPackage
    at the store path in the data directory; with the PostGIS store, tables in that database, so workers on
    several machines share users, tokens and sessions (``kfqmap.accounts_pg``)."""
    path = getattr(getattr(catalog, "store", None), "path", None)
    return accounts_for(settings.catalog, path)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def _cookie(scope: Scope, name: str) -> str | None:
    raw = _header(scope, b"cookie")
    if not raw:
        return None
    for part in raw.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return unquote(value)
    return None


async def identify(accounts: AccountStore, scope: Scope) -> Principal | None:
    """The principal of a request's credentials, None without credentials; ``NotAuthenticated`` for a bearer
    token that does not (or no longer) work."""
    authorization = _header(scope, b"authorization")
    if authorization:
        scheme, _, secret = authorization.strip().partition(" ")
        if scheme.lower() == "bearer":
            principal = await run_in_threadpool(accounts.token_principal, secret.strip()) if secret.strip() else None
            if principal is None:
                raise NotAuthenticated("API 令牌无效、已过期或已吊销（invalid, expired or revoked token）")
            return principal
    cookie = _cookie(scope, SESSION_COOKIE)
    if cookie:
        return await run_in_threadpool(accounts.session_principal, cookie)
    return None


def _public(path: str) -> bool:
    if path in _PRIVATE_WEB:
        return False
    return path == "/" or path in _PUBLIC or path.startswith(_PUBLIC_PREFIXES)


class AuthGate:
    """Identifies every HTTP request once (see the module doc), enforces ``KFQMAP_ANONYMOUS=none`` and the CSRF
    header of session requests, and leaves the principal in the scope for the dependencies below."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        path = scope.get("path", "")
        try:
            principal = await identify(state.accounts, scope)
            if principal is None and state.settings.auth.anonymous == "none" and not _public(path):
                raise NotAuthenticated("需要登录或 API 令牌（authentication required）")
            if principal is not None and scope["method"] in _UNSAFE and path != "/auth/login":
                check_csrf(principal, _header(scope, CSRF_HEADER.lower().encode()))
        except NotAuthenticated as exc:
            await send_problem(scope, receive, send, 401, "NotAuthenticated", exc.message, exc.parameter,
                               headers={"WWW-Authenticate": 'Bearer realm="kfqmap"'})
            return
        except CSRFRejected as exc:
            await send_problem(scope, receive, send, 403, "CSRFRejected", exc.message, exc.parameter)
            return
        scope[_SCOPE_KEY] = principal
        await self.app(scope, receive, send)


# ------------------------------------------------------------------------------------------ dependencies
def current(request: Request) -> Principal:
    """The request's principal (``ANONYMOUS`` without credentials)."""
    return request.scope.get(_SCOPE_KEY) or ANONYMOUS


def _known(request: Request) -> Principal:
    principal = current(request)
    if principal.anonymous:
        raise NotAuthenticated("此操作需要登录或 API 令牌（authentication required）")
    return principal


async def signed_in(request: Request) -> Principal:
    """Any known user (a session or a token), whatever the role."""
    return _known(request)


async def require_read(request: Request) -> Principal:
    """Anyone who may read: everybody with ``KFQMAP_ANONYMOUS=read``, else a known user."""
    if request.app.state.settings.auth.anonymous == "none":
        return _known(request)
    return current(request)


async def editor(request: Request) -> Principal:
    """An editor (of some layers) or an admin."""
    principal = _known(request)
    require_role(principal, edit=True)
    return principal


async def admin(request: Request) -> Principal:
    principal = _known(request)
    require_role(principal, admin=True)
    return principal


async def layer_editor(
    request: Request,
    collection_id: Annotated[str, Path(alias="collectionId", max_length=64)],
) -> Principal:
    """A user who may edit the layer named by the path's ``{collectionId}``."""
    principal = _known(request)
    require_role(principal, layer=collection_id)
    return principal


def require_edit(layer_id: str):
    """A dependency: a user who may edit ``layer_id``."""
    async def dependency(request: Request) -> Principal:
        principal = _known(request)
        require_role(principal, layer=layer_id)
        return principal
    return dependency


def change_context(request: Request, principal: Principal, note: str | None = None,
                   restored_from: int | None = None) -> ChangeContext:
    """Who changes data (the principal), from which address, and why (``note``, else ``X-Change-Note``)."""
    if note is None:
        raw = request.headers.get(NOTE_HEADER)
        # HTTP headers are Latin-1: clients send Chinese notes percent-encoded (encodeURIComponent)
        note = unquote(raw) if raw else None
    note = note.strip()[:MAX_NOTE] if isinstance(note, str) and note.strip() else None
    address = request.client.host if request.client else None
    return ChangeContext(user=principal.name, address=address, note=note, restored_from=restored_from)


#: the names the issue's brief uses
require_admin = admin
require_editor = editor

Reader = Annotated[Principal, Depends(require_read)]
Editor = Annotated[Principal, Depends(editor)]
LayerEditor = Annotated[Principal, Depends(layer_editor)]
Admin = Annotated[Principal, Depends(admin)]
