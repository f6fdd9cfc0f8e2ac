"""Landing page, conformance and the API definition (OGC API – Common / Features Part 1).

The landing page and ``/conformance`` join the ``CONFORMS_TO`` and ``links(request)`` of every router
module listed in ``server.app.ROUTERS`` (see ``app.state.router_modules``), so each OGC part owns its own.

HTML at ``/``: when the client prefers ``text/html`` (or sends ``f=html``), the landing page answers with
``server.routers.web.viewer_response(request)`` if that module exists (the web viewer), otherwise with a
simple Chinese HTML landing page. ``f=json`` (or any JSON Accept) always gets the OGC landing document.
"""
from __future__ import annotations

import importlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from kfqmap import features as F
from kfqmap.crs import SUPPORTED

from .. import html
from ..dependencies import OutputFormat, output_format
from ..models import Conformance, LandingPage
from ..responses import MEDIA_HTML, MEDIA_JSON, MEDIA_OPENAPI, JSONResponse, OpenAPIResponse

router = APIRouter(tags=["OGC API – Common"])

CONFORMS_TO = [
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/landing-page",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/json",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/oas30",
]

#: documented bounds, also shown on the landing page
LIMITS = {
    "items_default_limit": F.DEFAULT_LIMIT,
    "items_max_limit": F.MAX_LIMIT,
    "items_max_offset": F.MAX_OFFSET,
    "max_request_body_bytes": None,   # filled from settings
}


def url(request: Request, name: str, /, **params: Any) -> str:
    """Absolute URL of a named route (never joined by hand).

    The same answer as ``request.url_for``, without its walk over every route of the app on each call (a single
    item's answer builds three links): the route's path is found once per (name, parameter names) with
    placeholders, then filled in. Values ``url_for`` would refuse (a "/" in a path segment) or paths it cannot
    template go through ``url_for`` itself."""
    template = _path_template(request.app, name, tuple(params))
    values = [str(v) for v in params.values()]
    if template is None or any("/" in v or not v for v in values):
        return str(request.url_for(name, **params))
    path = template
    for i, value in enumerate(values):
        path = path.replace(_placeholder(i), value)
    base = getattr(request.state, "kfq_base_url", None)   # one per request (Host / public URL already applied)
    if base is None:
        base = request.state.kfq_base_url = str(request.base_url).rstrip("/")
    return base + path


def _placeholder(i: int) -> str:
    return f"KFQMAPPARAM{i}X"


def _path_template(app, name: str, keys: tuple) -> str | None:
    cache = getattr(app.state, "url_templates", None)
    if cache is None:
        cache = app.state.url_templates = {}
    key = (name, keys)
    if key not in cache:
        try:
            path = str(app.url_path_for(name, **{k: _placeholder(i) for i, k in enumerate(keys)}))
            cache[key] = path if all(_placeholder(i) in path for i in range(len(keys))) else None
        except Exception:  # noqa: BLE001 - e.g. an int convertor: such routes keep url_for
            cache[key] = None
    return cache[key]


def with_query(href: str, **query: Any) -> str:
    from starlette.datastructures import URL
    return str(URL(href).include_query_params(**query))


def links(request: Request) -> list[dict]:
    landing = url(request, "landing")
    api = url(request, "api")
    return [
        {"href": with_query(landing, f="json"), "rel": "self", "type": MEDIA_JSON, "title": "本文档（JSON）"},
        {"href": with_query(landing, f="html"), "rel": "alternate", "type": MEDIA_HTML, "title": "本文档（HTML）"},
        {"href": api, "rel": "service-desc", "type": MEDIA_OPENAPI, "title": "OpenAPI 3.0 接口定义"},
        {"href": with_query(api, f="html"), "rel": "service-doc", "type": MEDIA_HTML, "title": "接口文档（HTML）"},
        {"href": url(request, "conformance"), "rel": "conformance", "type": MEDIA_JSON, "title": "符合的标准类"},
        {"href": url(request, "conformance"), "rel": "http://www.opengis.net/def/rel/ogc/1.0/conformance",
         "type": MEDIA_JSON, "title": "符合的标准类"},
    ]


def _modules(request: Request) -> list:
    return list(getattr(request.app.state, "router_modules", []))


def conformance_classes(request: Request) -> list[str]:
    out: list[str] = []
    for module in _modules(request):
        for uri in getattr(module, "CONFORMS_TO", []):
            if uri not in out:
                out.append(uri)
    return out


def all_links(request: Request) -> list[dict]:
    out: list[dict] = []
    for module in _modules(request):
        fn = getattr(module, "links", None)
        if fn is not None:
            out.extend(fn(request))
    return out


def crs_extensions() -> list[dict]:
    notes = {
        "GCJ-02": "非 EPSG 坐标系：国家测绘局加密偏移的经纬度（高德、腾讯底图）。在昆山相对 WGS 84 偏移约 300–700 米。"
                  "用 crs=<此 URI> 或 crs=gcj02 获取可直接叠加在高德/腾讯底图上的坐标；bbox-crs 同样接受。",
        "BD-09": "非 EPSG 坐标系：百度底图经纬度（由 GCJ-02 再偏移）。用法同 GCJ-02。",
    }
    return [{"uri": info.uri, "code": info.code, "name_zh": info.name_zh, "name_en": info.name_en,
             "note": notes[info.code]} for info in SUPPORTED.values() if info.epsg is None]


def _landing_document(request: Request) -> dict:
    settings = request.app.state.settings
    limits = {**LIMITS, "max_request_body_bytes": settings.max_body_bytes}
    return LandingPage(title=settings.title, description=settings.description, links=all_links(request),
                       limits=limits, crs_extensions=crs_extensions()).model_dump(by_alias=True, exclude_none=True)


def _viewer_hook():
    """``server.routers.web.viewer_response`` when the web router exists, else None."""
    try:
        module = importlib.import_module("server.routers.web")
    except ModuleNotFoundError as exc:
        if exc.name in ("server.routers.web",):
            return None
        raise
    return getattr(module, "viewer_response", None)


@router.get("/", name="landing", response_model=LandingPage, summary="首页（landing page）",
            responses={200: {"content": {MEDIA_HTML: {}}}})
async def landing(request: Request, fmt: Annotated[OutputFormat, Depends(output_format)]):
    if fmt == "html" and request.query_params.get("f") != "json":
        hook = _viewer_hook()
        if hook is not None:
            return hook(request)
        return _landing_html(request)
    return JSONResponse(_landing_document(request))


def _landing_html(request: Request):
    doc = _landing_document(request)
    rows = [(html.link(item["href"], item.get("title") or item["href"]), item["rel"], item.get("type", ""))
            for item in doc["links"]]
    crs_rows = [(e["code"], e["uri"], e["note"]) for e in doc["kfqmap:crsExtensions"]]
    limit_rows = list(doc["limits"].items())
    return html.page(
        doc["title"], html.para(doc["description"]), "<h2>链接</h2>",
        html.table(["链接", "关系", "类型"], rows, raw_columns=(0,)),
        "<h2>KFQMap 扩展坐标系</h2>", html.table(["代码", "URI", "说明"], crs_rows),
        "<h2>大小上限</h2>", html.table(["项目", "上限"], limit_rows),
        json_href=with_query(url(request, "landing"), f="json"),
        nav=[(url(request, "collections"), "图层集合"), (url(request, "conformance"), "标准符合性")])


@router.get("/conformance", name="conformance", response_model=Conformance, summary="符合的标准类（conformance）")
async def conformance(request: Request, fmt: Annotated[OutputFormat, Depends(output_format)]):
    classes = conformance_classes(request)
    if fmt == "html":
        return html.page("标准符合性（Conformance）", html.table(["标准类"], [(c,) for c in classes]),
                         json_href=with_query(url(request, "conformance"), f="json"),
                         nav=[(url(request, "landing"), "首页")])
    return JSONResponse({"conformsTo": classes})


@router.get("/api", name="api", summary="OpenAPI 3.0 接口定义", response_model=dict,
            responses={200: {"content": {MEDIA_OPENAPI: {}, MEDIA_HTML: {}}}})
async def api(request: Request, fmt: Annotated[OutputFormat, Depends(output_format)]):
    doc = openapi30(request.app)
    if fmt == "html":
        rows = []
        for path, ops in doc["paths"].items():
            for method, op in ops.items():
                rows.append((method.upper(), path, op.get("summary", ""),
                             ", ".join(p.get("name", "") for p in op.get("parameters", []))))
        return html.page("接口定义（OpenAPI 3.0）", html.table(["方法", "路径", "说明", "参数"], rows),
                         json_href=with_query(url(request, "api"), f="json"), nav=[(url(request, "landing"), "首页")])
    return OpenAPIResponse(doc)


# ------------------------------------------------------------------------------------------ OpenAPI 3.0
def openapi30(app) -> dict:
    """FastAPI's OpenAPI 3.1 document rewritten as OpenAPI 3.0.3 (cached on the app).

    OGC API Features asks for OAS 3.0 and GDAL's OAPIF driver reads a 3.0 document: ``anyOf [X, null]``
    becomes ``X`` + ``nullable``, ``examples`` lists become ``example``, ``const`` becomes ``enum``.
    """
    cached = getattr(app.state, "openapi30", None)
    if cached is None:
        cached = _declare_behaviour(_downgrade(app.openapi()))
        cached["openapi"] = "3.0.3"
        app.state.openapi30 = cached
    return cached


# ------------------------------------------------------------------------------------------ what the server does
PROBLEM_SCHEMA = {
    "type": "object", "description": "RFC 9457 problem details（错误说明）",
    "required": ["type", "title", "status", "detail"],
    "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                   "detail": {"type": "string"}, "instance": {"type": "string"}, "parameter": {"type": "string"},
                   "invalid-params": {"type": "array", "items": {"type": "object"}}},
}
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_STATUS_TEXT = {
    400: "请求参数无效（problem+json 的 parameter 指出是哪一个）",
    404: "没有这个图层、要素或地址",
    413: "请求体过大",
    414: "请求地址过长",
    401: "未登录或凭据无效（Authorization: Bearer 令牌或会话 Cookie；KFQMAP_ANONYMOUS=none 时读取也需要）",
    403: "无权进行此操作（角色或图层不允许；会话请求缺少 X-CSRF-Token）",
    405: "图层只读（文件图层），不能编辑",
    412: "If-Match 的版本已过期：要素已被他人修改（ETag 为当前版本）",
    422: "要素不符合图层模式或几何无效（problem+json 的 parameter 指出是哪一项）",
    428: "修改已有要素须带 If-Match",
    429: "登录失败次数过多；见 Retry-After",
    503: "服务繁忙（导出排队已满）或图层数据源暂时不可用；见 Retry-After",
    504: "处理超过时间上限，已停止",
}
#: path prefixes of the routes whose heavy work is queued (exports): they also answer 503 busy / 504
_HEAVY = ("/export", "/collections/{collectionId}/items")


def _problem(status: int) -> dict:
    return {"description": _STATUS_TEXT[status], "content": {"application/problem+json": {"schema": _PROBLEM_REF}}}


def _declare_behaviour(doc: dict) -> dict:
    """Make the document say what the server sends: FastAPI declares 422 for validation errors, KFQMap answers
    them 400 problem+json; 404/413/503/504 problem+json where they can happen; HEAD beside every GET; HTML where
    ``f=html`` is offered; ``limit`` without a ``maximum`` (a larger limit is capped, not refused)."""
    doc.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    # credentials (server/auth.py, docs/editing.md): optional for reads unless KFQMAP_ANONYMOUS=none
    doc["components"]["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "API 令牌（kfqmap tokens create）"},
        "session": {"type": "apiKey", "in": "cookie", "name": "kfqmap_session",
                    "description": "POST /auth/login 的会话；修改类请求另需 X-CSRF-Token 请求头"}}
    doc["security"] = [{}, {"bearer": []}, {"session": []}]
    for schema in ("HTTPValidationError", "ValidationError"):
        doc["components"]["schemas"].pop(schema, None)
    for path, operations in doc.get("paths", {}).items():
        for method in list(operations):
            op = operations[method]
            responses = op.setdefault("responses", {})
            responses.pop("422", None)
            responses["400"] = _problem(400)
            responses["401"] = _problem(401)     # a dead bearer token anywhere; any read with KFQMAP_ANONYMOUS=none
            if method in ("post", "put", "patch", "delete"):   # writes (server/routers/edit.py), login, admin
                for status in (403, 405, 412, 422, 428, 429):
                    responses[str(status)] = _problem(status)
            responses.setdefault("404", _problem(404))   # unknown layer, feature, tileset or empty selection
            if method in ("post", "put", "patch"):
                responses["413"] = _problem(413)
            if path.startswith(_HEAVY):
                responses["503"] = _problem(503)
                responses["504"] = _problem(504)
            if method == "get":
                responses["414"] = _problem(414)
            for param in op.get("parameters", []):
                schema = param.get("schema", {})
                if param.get("name") == "limit" and path.startswith("/collections"):
                    schema.pop("maximum", None)
                if param.get("name") == "f" and "html" in (schema.get("enum") or []):
                    content = responses.get("200", {}).setdefault("content", {})
                    content.setdefault("text/html", {"schema": {"type": "string"}})
            ok = responses.get("200", {})
            for media, body in (ok.get("content") or {}).items():
                if media.startswith("text/html") and not body.get("schema"):
                    body["schema"] = {"type": "string"}
        if "get" in operations and "head" not in operations:
            get = operations["get"]
            operations["head"] = {
                **{k: v for k, v in get.items() if k not in ("responses", "operationId")},
                "operationId": f"{get.get('operationId', path)}_head",
                "summary": f"{get.get('summary', '')}（仅响应头 HEAD）",
                "responses": {code: {"description": r.get("description", "")} for code, r in get["responses"].items()},
            }
    return doc


def _downgrade(node):
    if isinstance(node, list):
        return [_downgrade(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _downgrade(v) for k, v in node.items()}
    for key in ("anyOf", "oneOf"):
        options = node.get(key)
        if isinstance(options, list) and any(o == {"type": "null"} for o in options):
            rest = [o for o in options if o != {"type": "null"}]
            del node[key]
            if len(rest) == 1:
                node.update(rest[0])
            else:
                node[key] = rest
            node["nullable"] = True
    if isinstance(node.get("type"), list):
        types = [t for t in node["type"] if t != "null"]
        if len(types) < len(node["type"]):
            node["nullable"] = True
        node["type"] = types[0] if len(types) == 1 else "string"
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if isinstance(node.get("examples"), list) and "in" not in node:
        examples = node.pop("examples")
        if examples:
            node["example"] = examples[0]
    for key in ("exclusiveMinimum", "exclusiveMaximum"):
        if isinstance(node.get(key), (int, float)) and not isinstance(node.get(key), bool):
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            node[bound] = node.pop(key)
            node[key] = True
    if node.get("contentMediaType") == "application/octet-stream" and node.get("type") == "string":
        del node["contentMediaType"]         # an uploaded file (multipart): OAS 3.0 says format: binary
        node["format"] = "binary"
    node.pop("$schema", None)
    return node
