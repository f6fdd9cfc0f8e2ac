"""One table from kfqmap error classes to HTTP statuses, and handlers that answer RFC 9457 problem+json.

Every client mistake becomes a 4xx ``application/problem+json`` body::

    {"type": "https://kfqmap.example/problems/invalid-bbox", "title": "InvalidBBox", "status": 400,
     "detail": "bbox 需要 4 个（或 6 个）数字…", "parameter": "bbox",
     "invalid-params": [{"name": "bbox", "reason": "…"}], "instance": "/collections/cores/items"}

``detail`` is Chinese (English in brackets where useful); ``parameter`` names the query/path parameter at
fault. Request validation errors from FastAPI are answered the same way with status 400. Anything
unexpected is logged and becomes a plain 500 problem without internals.
"""
from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from kfqmap import errors as E

from .responses import ProblemResponse

log = logging.getLogger("kfqmap.server")

#: kfqmap error class → HTTP status (the most specific class wins)
STATUS_CODES: dict[type[E.KFQMapError], int] = {
    E.LayerNotFound: 404,
    E.FeatureNotFound: 404,
    E.InvalidBBox: 400,
    E.InvalidCRS: 400,
    E.InvalidFilter: 400,
    E.FilterTimeout: 503,      # a filter's evaluation spent its time budget (kfqmap.cql.DEFAULT_TIME_LIMIT_S)
    E.InvalidGeometry: 400,
    E.InvalidParameter: 400,
    E.TileOutOfRange: 400,
    E.RequestTooLarge: 413,
    E.ImportRejected: 422,     # an import whose validation report has errors: nothing written
    E.EmptySelection: 404,
    E.StoreUnavailable: 503,   # a layer's database is down: retry later
    E.ServerBusy: 503,         # too many exports running and waiting: retry later (Retry-After)
    E.WorkTimeout: 504,        # the work passed its time limit and was stopped
    E.DataSourceError: 500,    # a layer's store is misconfigured (missing table, bad DSN): the admin's fix
    E.NotAuthenticated: 401,   # no (working) credentials: WWW-Authenticate: Bearer
    E.Forbidden: 403,          # known user, role or layer list does not allow it (also a missing CSRF header)
    E.TooManyAttempts: 429,    # failed logins: Retry-After
    E.ReadOnlyLayer: 405,      # a write to a file layer
    E.PreconditionRequired: 428,   # PUT/PATCH/DELETE without If-Match
    E.PreconditionFailed: 412,     # If-Match stale: the current ETag is sent back
    E.InvalidFeature: 422,     # a feature that breaks the layer's schema or has an invalid geometry
    E.HistoryNotFound: 404,
    E.KFQMapError: 400,
}

_HTTP_DETAIL = {
    404: "没有这个地址（not found）",
    405: "此地址不支持该请求方法（method not allowed）",
    406: "无法提供所请求的格式（not acceptable）",
    413: "请求体过大（request too large）",
}


def _most_specific(table: dict, exc: E.KFQMapError, default):
    """``table``'s entry for the most specific class of ``exc`` that it lists, else ``default``."""
    for cls in type(exc).__mro__:
        if cls in table:
            return table[cls]
    return default


def status_for(exc: E.KFQMapError) -> int:
    return _most_specific(STATUS_CODES, exc, 400)


def _slug(name: str) -> str:
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "-", name).lower()


def problem(request: Request, status: int, title: str, detail: str, parameter: str | None = None,
            **extra) -> ProblemResponse:
    body = {"type": f"https://kfqmap.example/problems/{_slug(title)}" if status < 500 else "about:blank",
            "title": title, "status": status, "detail": detail, "instance": request.url.path}
    if parameter:
        body["parameter"] = parameter
        body["invalid-params"] = [{"name": parameter, "reason": detail}]
    body.update(extra)
    return ProblemResponse(body, status_code=status)


#: what a client is told when a layer's store fails; the full reason (host, database, table, driver message)
#: goes to the server log only
STORE_DETAIL = {
    E.StoreUnavailable: "此图层的数据库暂时无法连接，请稍后重试；管理员请查看服务器日志（data source unavailable）",
    E.DataSourceError: "此图层的数据源配置有误，请联系管理员；原因已记录在服务器日志（data source misconfigured）",
}
#: seconds a client is asked to wait before retrying a layer whose database is down
RETRY_AFTER_S = 30


def public_detail(exc: E.KFQMapError) -> str:
    """The message a client may see: a store failure's own message names hosts and tables, so it is replaced."""
    return _most_specific(STORE_DETAIL, exc, exc.message)


async def kfqmap_error_handler(request: Request, exc: E.KFQMapError) -> ProblemResponse:
    if isinstance(exc, E.DataSourceError):
        log.error("%s %s: %s", request.method, request.url.path, exc.message)
        response = problem(request, status_for(exc), type(exc).__name__, public_detail(exc))
        if isinstance(exc, E.StoreUnavailable):
            response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response
    extra = {}
    if isinstance(exc, E.PreconditionFailed) and exc.current_etag:
        extra = {"current_etag": f'"{exc.current_etag}"', "feature_id": exc.feature_id}
    response = problem(request, status_for(exc), type(exc).__name__, exc.message, exc.parameter, **extra)
    if isinstance(exc, E.NotAuthenticated):
        response.headers["WWW-Authenticate"] = 'Bearer realm="kfqmap"'
    elif isinstance(exc, E.ReadOnlyLayer):
        response.headers["Allow"] = "GET, HEAD, OPTIONS"
    elif isinstance(exc, E.TooManyAttempts):
        response.headers["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, E.PreconditionFailed) and exc.current_etag:
        response.headers["ETag"] = f'"{exc.current_etag}"'
    elif isinstance(exc, E.ServerBusy):
        response.headers["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, E.WorkTimeout):
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


_LOC_NAMES = {"body": "body", "query": None, "path": None, "header": None}


async def validation_error_handler(request: Request, exc: RequestValidationError) -> ProblemResponse:
    params = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        name = ".".join(loc[1:]) if len(loc) > 1 and loc[0] != "body" else ".".join(loc) or "request"
        ctx = err.get("ctx") or {}
        reason = _zh_reason(err.get("type", ""), ctx, err.get("msg", ""))
        params.append({"name": name, "reason": reason})
    first = params[0] if params else {"name": "request", "reason": "请求无效"}
    detail = "；".join(f"参数 {p['name']}：{p['reason']}" for p in params) or "请求参数无效（invalid request）"
    return ProblemResponse({
        "type": "https://kfqmap.example/problems/invalid-parameter", "title": "InvalidParameter", "status": 400,
        "detail": detail, "instance": request.url.path, "parameter": first["name"], "invalid-params": params,
    }, status_code=400)


def _zh_reason(kind: str, ctx: dict, msg: str) -> str:
    zh = {
        "int_parsing": "必须是整数", "float_parsing": "必须是数字", "bool_parsing": "必须是 true 或 false",
        "missing": "缺少此参数", "greater_than_equal": f"必须 ≥ {ctx.get('ge')}", "less_than_equal": f"必须 ≤ {ctx.get('le')}",
        "greater_than": f"必须 > {ctx.get('gt')}", "less_than": f"必须 < {ctx.get('lt')}",
        "literal_error": f"可选值：{ctx.get('expected')}", "enum": f"可选值：{ctx.get('expected')}",
        "string_too_long": f"过长（最多 {ctx.get('max_length')} 个字符）", "json_invalid": "不是合法的 JSON",
        "model_attributes_type": "必须是 JSON 对象", "dict_type": "必须是 JSON 对象", "list_type": "必须是数组",
        "string_type": "必须是字符串", "finite_number": "必须是有限数值",
    }.get(kind, "取值无效")
    return f"{zh}（{msg}）"


async def http_error_handler(request: Request, exc: StarletteHTTPException) -> ProblemResponse:
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail not in ("Not Found", "Method Not Allowed") \
        else _HTTP_DETAIL.get(exc.status_code, str(exc.detail))
    response = problem(request, exc.status_code, _title(exc.status_code), detail)
    for key, value in (exc.headers or {}).items():
        response.headers[key] = value
    if exc.status_code == 405:   # every method of every route at this path, not only the first route's
        from .middleware import allowed_methods
        methods = allowed_methods(request.app, request.scope)
        if methods:
            response.headers["Allow"] = ", ".join(methods)
    return response


def _title(status: int) -> str:
    return {404: "NotFound", 405: "MethodNotAllowed", 406: "NotAcceptable", 413: "RequestTooLarge"}.get(
        status, f"HTTP{status}")


async def unexpected_error_handler(request: Request, exc: Exception) -> ProblemResponse:
    log.exception("unexpected error on %s", request.url.path)
    response = problem(request, 500, "InternalServerError", "服务器内部错误，已记录（internal server error）")
    response.headers["Connection"] = "close"   # the server drops the connection after a 500: say so
    return response


def add_exception_handlers(app: FastAPI) -> None:
    """Install every handler: kfqmap errors by the table, validation → 400, HTTP errors, and a last 500."""
    app.add_exception_handler(E.KFQMapError, kfqmap_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(Exception, unexpected_error_handler)
