"""OGC API – Features Parts 1–3: collections, items, one item, queryables.

Handlers parse (``server.dependencies``), call ``kfqmap.features`` and format (JSON/GeoJSON or HTML).
Selection, paging, CRS transforms and GeoJSON encoding all live in ``kfqmap.features``.

* ``limit``: default 100, maximum 10,000 (``kfqmap.features.DEFAULT_LIMIT``/``MAX_LIMIT``; larger is capped); ``offset`` paging
  with ``next``/``prev`` links.
* ``crs``/``bbox-crs``: CRS84 (default), EPSG 4490/4549/4528/3857 (authority axis order), and the KFQMap
  extensions GCJ-02/BD-09; the response says which in ``Content-Crs``.
* ``datetime``: on the layer's temporal property (see ``kfqmap.features``); other layers ignore it.
* ``filter`` (``cql2-text`` / ``cql2-json``) and ``?property=value`` equality filters on queryables; any other
  unknown query parameter is a 400.
* ``indicators`` (and any table layer) is a collection of features whose geometry is null.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from kfqmap import features as F
from kfqmap.catalog import Catalog
from kfqmap.errors import DataSourceError, InvalidParameter
from kfqmap.models import GROUPS, Layer

from .. import html
from ..auth import current as current_principal
from ..dependencies import (FeatureRead, OutputFormat, collection, crs_param, feature_read, get_catalog, items_format,
                            items_query, layer_index, output_format)
from ..errors import public_detail
from ..models import Collection, Collections, Feature, FeatureCollection, Queryables
from ..responses import (MEDIA_GEOJSON, MEDIA_HTML, MEDIA_JSON, GeoJSONResponse, JSONResponse, SchemaResponse)
from .common import url, with_query

router = APIRouter(tags=["OGC API – Features"])

CONFORMS_TO = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/collections",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
    "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/case-insensitive-comparison",
]

REL_QUERYABLES = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
REL_DATA = "http://www.opengis.net/def/rel/ogc/1.0/data"

FeatureId = Annotated[str, Path(alias="featureId", description="要素 id（图层内唯一、稳定）", max_length=200)]


def links(request: Request) -> list[dict]:
    href = url(request, "collections")
    return [{"href": href, "rel": "data", "type": MEDIA_JSON, "title": "图层集合（collections）"},
            {"href": href, "rel": REL_DATA, "type": MEDIA_JSON, "title": "图层集合（collections）"}]


# ------------------------------------------------------------------------------------------ documents
def collection_document(request: Request, catalog: Catalog, layer: Layer, *, tolerate_outage: bool = False) -> dict:
    """``tolerate_outage`` (the /collections list): a layer whose store fails (down or misconfigured) is still
    listed, without extent or feature count and with ``kfqmap.unavailable`` saying so (the reason goes to the
    server log), so one dead store does not hide every layer."""
    try:
        index = catalog.collection(layer.id).state().items
    except DataSourceError as exc:
        if not tolerate_outage:
            raise
        logging.getLogger("kfqmap.server").error("collection %s: %s", layer.id, exc.message)
        return _unavailable_document(request, layer, exc)
    self_href = url(request, "collection", collectionId=layer.id)
    items = url(request, "items", collectionId=layer.id)
    extent: dict = {}
    if index.bounds is not None:
        extent["spatial"] = {"bbox": [list(index.bounds)], "crs": F.CRS84_URI}
    if index.temporal_extent is not None:
        extent["temporal"] = {"interval": [index.temporal_extent],
                              "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"}
    extra_links = [link for module in request.app.state.router_modules if layer.is_spatial
                   for link in getattr(module, "collection_links", lambda *_: [])(request, layer.id)]
    description = layer.description
    if not layer.is_spatial:
        description += "（非空间表：要素的 geometry 为 null）"
    return {
        "id": layer.id, "title": layer.title_zh, "description": description,
        "links": [
            {"href": self_href, "rel": "self", "type": MEDIA_JSON, "title": layer.title_zh},
            {"href": with_query(self_href, f="html"), "rel": "alternate", "type": MEDIA_HTML, "title": layer.title_zh},
            {"href": items, "rel": "items", "type": MEDIA_GEOJSON, "title": f"{layer.title_zh} 要素（GeoJSON）"},
            {"href": with_query(items, f="html"), "rel": "items", "type": MEDIA_HTML, "title": f"{layer.title_zh} 要素（HTML）"},
            {"href": url(request, "queryables", collectionId=layer.id), "rel": REL_QUERYABLES,
             "type": "application/schema+json", "title": "可查询属性"},
            *extra_links,   # other routers' ``collection_links(request, id)`` (e.g. the tiles' tilesets)
        ],
        "extent": extent or None,
        "itemType": "feature",
        "crs": F.supported_crs_uris(),
        "storageCrs": F.CRS84_URI,
        "kfqmap": _kfqmap_members(layer, features=len(index), temporal_property=index.temporal_property),
    }


def _kfqmap_members(layer: Layer, **extra) -> dict:
    """The ``kfqmap`` extension of a collection document: the catalog's record of the layer, plus ``extra``."""
    return {"title_en": layer.title_en, "group": layer.group, "group_en": GROUPS.get(layer.group),
            "kind": layer.kind, "geometry_type": layer.geometry_type, "plan_section": layer.plan_section,
            "schematic": layer.schematic, "illustrative": layer.illustrative, "accuracy_m": layer.accuracy_m,
            "style": layer.style.model_dump(), **extra}


def _unavailable_document(request: Request, layer: Layer, exc: DataSourceError) -> dict:
    self_href = url(request, "collection", collectionId=layer.id)
    return {
        "id": layer.id, "title": layer.title_zh, "description": layer.description,
        "links": [{"href": self_href, "rel": "self", "type": MEDIA_JSON, "title": layer.title_zh},
                  {"href": url(request, "items", collectionId=layer.id), "rel": "items", "type": MEDIA_GEOJSON,
                   "title": f"{layer.title_zh} 要素（GeoJSON）"}],
        "itemType": "feature", "crs": F.supported_crs_uris(), "storageCrs": F.CRS84_URI,
        "kfqmap": _kfqmap_members(layer, features=None, temporal_property=None, unavailable=public_detail(exc)),
    }


# ------------------------------------------------------------------------------------------ routes
@router.get("/collections", name="collections", response_model=Collections, summary="图层集合列表",
            responses={200: {"content": {MEDIA_HTML: {}}}})
def collections(request: Request, fmt: Annotated[OutputFormat, Depends(output_format)],
                catalog: Annotated[Catalog, Depends(get_catalog)],
):
    docs = [collection_document(request, catalog, layer, tolerate_outage=True) for layer in catalog.layers]
    self_href = url(request, "collections")
    if fmt == "html":
        rows = [(html.link(with_query(url(request, "collection", collectionId=d["id"]), f="html"), d["id"]),
                 d["title"], d["kfqmap"]["group"], d["kfqmap"]["geometry_type"], d["kfqmap"]["features"],
                 html.link(with_query(url(request, "items", collectionId=d["id"]), f="html"), "要素"))
                for d in docs]
        return html.page("图层集合", html.table(["id", "名称", "分组", "几何类型", "要素数", ""], rows,
                                           raw_columns=(0, 5)),
                         json_href=with_query(self_href, f="json"), nav=[(url(request, "landing"), "首页")])
    return JSONResponse({"links": [
        {"href": self_href, "rel": "self", "type": MEDIA_JSON, "title": "图层集合"},
        {"href": with_query(self_href, f="html"), "rel": "alternate", "type": MEDIA_HTML, "title": "图层集合"}],
        "collections": docs})


@router.get("/collections/{collectionId}", name="collection", response_model=Collection, summary="一个图层集合",
            responses={200: {"content": {MEDIA_HTML: {}}}, 404: {"description": "没有这个图层"}})
def collection_route(request: Request, layer: Annotated[Layer, Depends(collection)],
                     fmt: Annotated[OutputFormat, Depends(output_format)],
                     catalog: Annotated[Catalog, Depends(get_catalog)]):
    doc = collection_document(request, catalog, layer)
    if fmt == "html":
        meta = [(k, v) for k, v in doc["kfqmap"].items() if k != "style"]
        return html.page(doc["title"], html.para(doc["description"]), html.table(["项目", "值"], meta),
                         html.link(with_query(url(request, "items", collectionId=layer.id), f="html"), "浏览要素"),
                         json_href=with_query(url(request, "collection", collectionId=layer.id), f="json"),
                         nav=[(with_query(url(request, "collections"), f="html"), "图层集合")])
    return JSONResponse(doc)


def _timestamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _page_links(request: Request, layer: Layer, page: F.ItemsPage) -> list[dict]:
    here = request.url
    self_href = str(here)
    out = [
        {"href": self_href, "rel": "self", "type": MEDIA_GEOJSON, "title": "本页"},
        {"href": str(here.include_query_params(f="html")), "rel": "alternate", "type": MEDIA_HTML, "title": "本页（HTML）"},
        {"href": url(request, "collection", collectionId=layer.id), "rel": "collection", "type": MEDIA_JSON,
         "title": layer.title_zh},
    ]
    if page.has_next:
        out.append({"href": str(here.include_query_params(offset=page.offset + page.limit, limit=page.limit)),
                    "rel": "next", "type": MEDIA_GEOJSON, "title": "下一页"})
    if page.has_prev:
        out.append({"href": str(here.include_query_params(offset=max(0, page.offset - page.limit), limit=page.limit)),
                    "rel": "prev", "type": MEDIA_GEOJSON, "title": "上一页"})
    return out


@router.get("/collections/{collectionId}/items", name="items", response_model=FeatureCollection,
            summary="图层要素（GeoJSON，可分页、按范围/时间/属性/CQL2 过滤）",
            responses={200: {"content": {MEDIA_GEOJSON: {}, MEDIA_HTML: {}}}, 404: {"description": "没有这个图层"}})
async def items(request: Request, layer: Annotated[Layer, Depends(collection)],
                index: Annotated[F.LayerIndex, Depends(layer_index)],
                query: Annotated[F.ItemsQuery, Depends(items_query)],
                fmt: Annotated[str, Depends(items_format)],
                asof: Annotated[str | None, Query(max_length=40, description=(
                    "图层在某一时刻的状态（由修改历史重建，仅内置数据库图层），如 2026-06-30T00:00:00Z；"
                    "无时区按北京时间；只与 limit/offset 同用"))] = None):
    if asof is not None:
        return await _items_asof(request, layer, query, asof)
    if fmt not in ("json", "html"):
        return await _download(request, layer, query, fmt)
    # cached pages are served on the event loop (no thread hop); CQL2, reprojection and cold chunks in a worker
    page = index.items(query) if index.is_quick(query) else await run_in_threadpool(index.items, query)
    links_ = _page_links(request, layer, page)
    headers = {"Content-Crs": f"<{query.crs.uri}>"}
    if fmt == "html":
        return _items_html(request, layer, index, page, links_)
    body = page.feature_collection({"timeStamp": _timestamp(), "links": links_})
    return GeoJSONResponse(body, headers=headers)


async def _items_asof(request: Request, layer: Layer, query: F.ItemsQuery, asof: str):
    """``items?asof=…``: the layer as it was then, rebuilt from the history (``kfqmap.history.layer_asof``)."""
    from kfqmap import editing, history

    others = sorted(set(request.query_params) - {"asof", "limit", "offset", "f"})
    if others:
        raise InvalidParameter(f"asof 只能与 limit/offset 同用，不支持 {', '.join(others)}", parameter="asof")
    when = history.parse_asof(asof)
    features = await run_in_threadpool(editing.asof, request.app.state.catalog.collection(layer.id), when)
    page = features[query.offset:query.offset + query.limit]
    return GeoJSONResponse({"type": "FeatureCollection", "features": page, "numberMatched": len(features),
                            "numberReturned": len(page), "timeStamp": _timestamp(), "asof": when,
                            "links": [{"href": str(request.url), "rel": "self", "type": MEDIA_GEOJSON,
                                       "title": f"{layer.title_zh}（{when} 时的状态）"}]},
                           headers={"Content-Crs": f"<{F.CRS84_URI}>"})


async def _download(request: Request, layer: Layer, query: F.ItemsQuery, fmt: str):
    """``items?f=gpkg`` (…): every feature the typed items query selects (bbox, datetime, property filters,
    CQL2), as a file, through the export endpoint's code; ``crs`` picks the file's CRS (default: the format's)."""
    from .export import build_request, export_response

    crs = query.crs.info.code if request.query_params.get("crs") else None
    req = build_request(layers=[layer.id], format=fmt, crs=crs)
    return await export_response(request, request.app.state.catalog, req, items=query)


def _items_html(request, layer, index, page, links_):
    names = index.property_names
    rows = []
    for raw in page.features:
        feature = orjson.loads(raw)
        fid = str(feature["id"])
        href = with_query(url(request, "item", collectionId=layer.id, featureId=fid), f="html")
        rows.append([html.link(href, fid)] + [feature["properties"].get(n) for n in names if n != "id"])
    nav = [(with_query(url(request, "collection", collectionId=layer.id), f="html"), layer.title_zh)]
    nav += [(with_query(link["href"], f="html"), link["title"]) for link in links_ if link["rel"] in ("prev", "next")]
    return html.page(f"{layer.title_zh} — 要素", html.para(
        f"共 {page.number_matched} 个匹配要素，本页 {page.number_returned} 个（offset {page.offset}，limit {page.limit}）。"),
        html.table(["id"] + [n for n in names if n != "id"], rows, raw_columns=(0,)),
        json_href=str(request.url.include_query_params(f="json")), nav=nav)


@router.get("/collections/{collectionId}/items/{featureId}", name="item", response_model=Feature,
            summary="一个要素（带 ETag：修改时 If-Match 所需的版本）",
            responses={200: {"content": {MEDIA_GEOJSON: {}, MEDIA_HTML: {}}},
                       304: {"description": "未修改（If-None-Match 与当前 ETag 相同）"},
                       404: {"description": "没有这个图层或要素"}})
async def item(request: Request, read: Annotated[FeatureRead, Depends(feature_read)], feature_id: FeatureId):
    layer, state, crs, fmt = read.layer, read.state, read.crs, read.fmt
    # every reader gets the feature's ETag, the value a writer sends in If-Match (issue 13), without a store
    # read on the warm path: the GeoPackage store's snapshot reads all ETags with the rows (a dict look-up here),
    # a pushdown layer reads it in the feature's own query, and one read once (kfqmap.editing.read_with_etag)
    # stays in the state's etag_cache for that version. A user who may edit the layer always reads body and ETag
    # from the store, so a change by psql or QGIS that the version poller has not noticed yet (≤ 1 s) cannot
    # turn their next write into a 412
    index, etag, raw = state.items, None, None
    coll = request.app.state.catalog.collection(layer.id)
    if coll.keeps_history:
        if getattr(state, "pushdown", False):
            raw, etag = await run_in_threadpool(index.feature_and_etag, feature_id, crs)
        else:
            editor = current_principal(request).can_edit(layer.id)
            if not editor:
                etag = (state.etags if state.etags is not None else state.etag_cache).get(feature_id)
            if etag is None and (editor or state.etags is None):   # (etags without this id: a 404 below)
                from kfqmap.editing import read_with_etag
                state, etag = await run_in_threadpool(read_with_etag, coll, feature_id)
                index = state.items
                if etag is not None:
                    state.etag_cache[feature_id] = etag
    if etag is not None and _not_modified(request, etag):
        return Response(status_code=304, headers={"ETag": f'"{etag}"' if fmt != "html" else f'W/"{etag}"'})
    # one feature: a dict look-up (or one small reprojection) in memory; a database query for a pushdown layer
    if raw is None:
        raw = index.feature(feature_id, crs) if index.in_memory else await run_in_threadpool(index.feature, feature_id, crs)
    self_href = url(request, "item", collectionId=layer.id, featureId=feature_id)
    links_ = [{"href": self_href, "rel": "self", "type": MEDIA_GEOJSON, "title": "本要素"},
              {"href": with_query(self_href, f="html"), "rel": "alternate", "type": MEDIA_HTML, "title": "本要素（HTML）"},
              {"href": url(request, "collection", collectionId=layer.id), "rel": "collection", "type": MEDIA_JSON,
               "title": layer.title_zh}]
    if fmt == "html":
        feature = orjson.loads(raw)
        rows = list(feature["properties"].items())
        page = html.page(f"{layer.title_zh} — {feature['properties'].get('name') or feature_id}",
                         html.table(["属性", "值"], rows),
                         html.para(f"几何：{(feature['geometry'] or {}).get('type', '无（非空间表）')}"),
                         json_href=with_query(self_href, f="json"),
                         nav=[(with_query(url(request, "items", collectionId=layer.id), f="html"), "全部要素")])
        if etag:         # weak: the HTML page is another representation of the same version
            page.headers["ETag"] = f'W/"{etag}"'
        return page
    body = raw[:-1] + b',"links":' + orjson.dumps(links_) + b"}"
    headers = {"Content-Crs": f"<{crs.uri}>"}
    if etag:
        headers["ETag"] = f'"{etag}"'
    return GeoJSONResponse(body, headers=headers)


def _not_modified(request: Request, etag: str) -> bool:
    """``If-None-Match`` names ``etag`` (weak comparison, RFC 9110 §13.1.2) or is ``*``."""
    header = request.headers.get("if-none-match")
    if not header:
        return False
    tags = {part.strip().removeprefix("W/").strip('"') for part in header.split(",")}
    return etag in tags or "*" in tags


@router.get("/collections/{collectionId}/queryables", name="queryables", response_model=Queryables,
            summary="可查询属性（JSON Schema）",
            responses={200: {"content": {"application/schema+json": {}, MEDIA_HTML: {}}}})
async def queryables(request: Request, layer: Annotated[Layer, Depends(collection)],
               index: Annotated[F.LayerIndex, Depends(layer_index)],
               fmt: Annotated[OutputFormat, Depends(output_format)]):
    self_href = url(request, "queryables", collectionId=layer.id)
    if fmt == "html":
        rows = [(name, spec.get("type", "geometry"), spec.get("x-ogc-role", "")) for name, spec in index.queryables.items()]
        return html.page(f"{layer.title_zh} — 可查询属性", html.table(["属性", "类型", "角色"], rows),
                         json_href=with_query(self_href, f="json"),
                         nav=[(with_query(url(request, "collection", collectionId=layer.id), f="html"), layer.title_zh)])
    return SchemaResponse({"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": self_href,
                           "type": "object", "title": layer.title_zh, "properties": index.queryables,
                           "additionalProperties": False})
