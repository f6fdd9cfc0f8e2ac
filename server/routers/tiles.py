"""Vector (MVT) and raster (PNG) tiles, TileJSON, and OGC API – Tiles (tile matrix sets, collection tilesets).

Routes (tilesets: ``plan`` = every spatial plan and context layer as its own MVT layer; or any collection id,
including extra layers such as ``parcels``):

* ``/tiles/{tileset}/{z}/{x}/{y}.mvt``, ``/tiles/{tileset}/{z}/{x}/{y}.png``, ``…/{y}@2x.png`` (512 px)
* ``/tiles/{tileset}/tilejson.json`` (TileJSON 3.0.0)
* ``/tileMatrixSets``, ``/tileMatrixSets/WebMercatorQuad``
* ``/collections/{collectionId}/tiles``, ``/collections/{collectionId}/tiles/WebMercatorQuad``,
  ``/collections/{collectionId}/tiles/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}`` (``?f=mvt|png``)

Documented behaviour: zoom 0–22 (``kfqmap.tiles.MIN_ZOOM``/``MAX_ZOOM``); x/y inside the matrix of that zoom;
anything else → 400 problem+json naming ``z``/``x``/``y`` (or ``tileMatrix``/``tileRow``/``tileCol``); a
format other than ``.mvt``/``.png``/``@2x.png`` → 400 naming ``format``; an unknown tileset → 404.
A tile with no feature → **204 No Content** (with ETag and Cache-Control, so it is cached like any other).
Every tile carries a strong ETag that includes the layers' data version (``If-None-Match`` → 304) and
``Cache-Control: public, no-cache`` (clients keep tiles but revalidate, so an edit shows at once); MVT
is sent gzip-compressed (bytes compressed once, kept in the LRU) when ``Accept-Encoding`` allows gzip.
``?asof=`` on the MVT of one layer: the layer as it was then (``kfqmap.asof``; docs/editing.md).
"""
from __future__ import annotations

import logging
import threading
from urllib.parse import unquote

import morecantile
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from kfqmap.errors import InvalidParameter, KFQMapError, LayerNotFound, TileOutOfRange
from ..tilecache import CachedTile, TileCache, TileCacheSettings, TileService
from kfqmap.tiles import MAX_ZOOM, MIN_ZOOM, PLAN_TILESET, TileEngine, check_tile, lonlat_to_mercator

from ..responses import JSONResponse

router = APIRouter(tags=["Tiles（瓦片）"])

TMS_ID = "WebMercatorQuad"
TMS_URI = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
MEDIA_MVT = "application/vnd.mapbox-vector-tile"
MEDIA_PNG = "image/png"
REL_TILESETS_VECTOR = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"
REL_TILESETS_MAP = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-map"
REL_TILING_SCHEMES = "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes"
REL_TILING_SCHEME = "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"

CONFORMS_TO = [
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/png",
    "http://www.opengis.net/spec/tms/2.0/conf/tilematrixset",
    "http://www.opengis.net/spec/tms/2.0/conf/json-tilematrixset",
]

#: zooms listed in tileMatrixSetLimits (clients such as GDAL pick from these); z17–22 are still served
LIMITS_MAXZOOM = 16

_lock = threading.Lock()


# ------------------------------------------------------------------------------------------ state
def tile_service(request: Request) -> TileService:
    """The app's TileService (engine + LRU), created on first use."""
    return _service(request.app.state)


def _service(state) -> TileService:
    service = getattr(state, "tile_service", None)
    if service is None:
        with _lock:
            service = getattr(state, "tile_service", None)
            if service is None:
                service = TileService(TileEngine(state.catalog), TileCache.from_settings(state.tile_settings))
                state.tile_service = service
    return service


def links(request: Request) -> list[dict]:
    return [
        {"href": str(request.url_for("tile_matrix_sets")), "rel": REL_TILING_SCHEMES, "type": "application/json",
         "title": "瓦片矩阵集（tile matrix sets）"},
        {"href": _tilejson_href(request, PLAN_TILESET), "rel": "tiles", "type": "application/json",
         "title": "规划图矢量瓦片 TileJSON"},
        {"href": str(request.url_for("style", style_id="plan")), "rel": "stylesheet",
         "type": "application/vnd.mapbox.style+json", "title": "规划图样式（MapLibre）"},
    ]


def collection_links(request: Request, collection_id: str) -> list[dict]:
    """Links a collection document should carry so that OGC clients (GDAL OGCAPI) find its tiles."""
    href = str(request.url_for("collection_tilesets", collectionId=collection_id))
    return [{"href": href, "rel": REL_TILESETS_VECTOR, "type": "application/json", "title": "矢量瓦片集"}]


# ------------------------------------------------------------------------------------------ warm fast path
class TileCacheMiddleware:
    """Answers well-formed GET ``/tiles/{tileset}/{z}/{x}/{y}.(mvt|png|@2x.png)`` before routing.

    A hit costs one path split, one dict lookup and two ``send`` calls with headers computed when the tile
    was built: routing, dependency injection and response objects are skipped. A miss is built in the
    thread pool and sent the same way. Anything the library refuses (bad zoom, unknown tileset...) and
    every other URL go down the normal stack, where the routes answer with problem+json.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan" and "app" in scope and not getattr(self, "_warming", False):
            self._warming = True
            _start_warm_up(scope["app"].state)
        if scope["type"] == "http" and scope["method"] == "GET":
            path = scope["path"]
            root = scope.get("root_path", "")
            if root and path.startswith(root):
                path = path[len(root):]
            key = (_cache_key(path) if path.startswith("/tiles/") and "app" in scope
                   and b"asof" not in scope.get("query_string", b"") else None)     # ?asof=: the route
            if key is not None:
                service = _service(scope["app"].state)
                try:
                    tile = service.cached(*key)
                except KFQMapError:         # unknown tileset, store down: the routes answer with problem+json
                    tile = None
                if tile is None:
                    try:   # build it (see _build); any mistake goes down the normal stack for its 4xx
                        tile = await _build(service, key[0], key[1], key[2], key[3], key[4], key[5])
                    except KFQMapError:
                        tile = None
                if tile is not None:
                    await _send_raw(scope, send, tile)
                    return
        await self.app(scope, receive, send)


def _start_warm_up(state) -> None:
    """At start-up (lifespan), prepare every spatial layer for tiling in a daemon thread, so that the first
    tile request does not pay for reading and indexing a large layer. ``KFQMAP_TILE_WARM_UP=false`` skips it."""
    if not state.tile_settings.tile_warm_up:
        return

    def run():
        service = _service(state)
        for layer in state.catalog.spatial_layers():
            try:
                service.engine.source(layer.id)
            except Exception:   # a broken layer must not stop the server; its tile requests report the error
                logging.getLogger("kfqmap.server").exception("tile warm-up failed for %s", layer.id)

    threading.Thread(target=run, name="kfqmap-tiles-warm-up", daemon=True).start()


#: app.py adds every class listed here with ``app.add_middleware``
MIDDLEWARE = [TileCacheMiddleware]


def _cache_key(path: str):
    parts = path.split("/")
    if len(parts) != 6:
        return None
    _, _, tileset, z, x, name = parts
    stem, dot, ext = name.rpartition(".")
    scale = 1
    if ext == "png" and stem.endswith("@2x"):
        stem, scale = stem[:-3], 2
    elif ext not in ("mvt", "png"):
        return None
    if not (_ascii_int(z) and _ascii_int(x) and _ascii_int(stem)):
        return None
    return (tileset, ext, int(z), int(x), int(stem), scale)   # TileService.get's arguments


async def _send_raw(scope, send, tile: CachedTile) -> None:
    inm = accept = None
    for k, v in scope["headers"]:
        if k == b"if-none-match":
            inm = v.decode("latin-1")
        elif k == b"accept-encoding":
            accept = v
    if inm is not None and (tile.etag in inm or inm.strip() == "*"):
        status, body, headers = 304, b"", tile.headers_304
    elif tile.empty:
        status, body, headers = 204, b"", tile.headers_304
    elif tile.gzipped is not None and accept is not None and b"gzip" in accept:
        status, body, headers = 200, tile.gzipped, tile.headers_gzip
    else:
        status, body, headers = 200, tile.data, tile.headers
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# ------------------------------------------------------------------------------------------ responses
class _TileResponse(Response):
    """A response whose headers were computed once, when the tile entered the cache."""

    def __init__(self, status: int, body: bytes, raw_headers: list[tuple[bytes, bytes]]):
        self.status_code = status
        self.body = body
        self.background = None
        self.raw_headers = raw_headers


def _send(request: Request, tile: CachedTile) -> Response:
    inm = request.headers.get("if-none-match")
    if inm is not None and (inm == tile.etag or tile.etag in inm or inm.strip() == "*"):
        return _TileResponse(304, b"", tile.headers_304)
    if tile.empty:
        return _TileResponse(204, b"", tile.headers_304)
    if tile.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
        return _TileResponse(200, tile.gzipped, tile.headers_gzip)
    return _TileResponse(200, tile.data, tile.headers)


def _ascii_int(text: str) -> bool:
    """ASCII digits only, at most 10 (``str.isdigit`` also accepts '²' and '١', which ``int`` then refuses or reads)."""
    return 0 < len(text) <= 10 and text.isascii() and text.isdigit()


def _int(value: str, name: str) -> int:
    if not _ascii_int(value):
        raise TileOutOfRange(f"{name} 必须是不超过 10 位的非负整数（ASCII 数字），收到 '{value[:20]}'", parameter=name)
    return int(value)


def _parse_tile_name(tile: str) -> tuple[str, str, int]:
    """``"12.mvt"`` → ("12", "mvt", 1); ``"12@2x.png"`` → ("12", "png", 2); else InvalidParameter(format)."""
    stem, dot, ext = tile.rpartition(".")
    if not dot or ext not in ("mvt", "pbf", "png"):
        raise InvalidParameter(f"不支持的瓦片格式 '{tile}'：应为 {{y}}.mvt、{{y}}.png 或 {{y}}@2x.png", parameter="format")
    scale = 1
    if stem.endswith("@2x"):
        if ext != "png":
            raise InvalidParameter("@2x 只用于 PNG 瓦片", parameter="format")
        stem, scale = stem[:-3], 2
    return stem, ("png" if ext == "png" else "mvt"), scale


def _tilejson_href(request: Request, tileset: str) -> str:
    return str(request.url_for("tilejson", tileset=tileset))


def _tile_template(request: Request, tileset: str, ext: str = "mvt") -> str:
    return unquote(str(request.url_for("tile", tileset=tileset, z="{z}", x="{x}", tile="{y}." + ext)))


# ------------------------------------------------------------------------------------------ XYZ tiles
# Path parameters are parsed by ``_int``/``_parse_tile_name`` (so a mistake names z/x/y or format in a 400), and
# typed for the OpenAPI document through ``json_schema_extra``: what the document promises is what is accepted.
Zoom = Annotated[str, Path(description=f"缩放级别 {MIN_ZOOM}–{MAX_ZOOM}",
                           json_schema_extra={"type": "integer", "minimum": MIN_ZOOM, "maximum": MAX_ZOOM})]
TileIndex = Annotated[str, Path(description="瓦片列号/行号（0 至 2^z−1）",
                                json_schema_extra={"type": "integer", "minimum": 0})]
TileName = Annotated[str, Path(description="行号加格式：{y}.mvt、{y}.png 或 {y}@2x.png",
                               json_schema_extra={"pattern": r"^[0-9]{1,10}(\.mvt|\.pbf|\.png|@2x\.png)$"})]
TilesetId = Annotated[str, Path(description="瓦片集：plan（全部规划图层）或图层 id", max_length=64)]
AsOf = Annotated[str | None, Query(max_length=40, description=(
    "单个图层在某一时刻的状态（由修改历史重建，仅可编辑的内置数据库图层；仅 MVT），如 2026-06-30T00:00:00Z 或 "
    "2026-06-30；无时区按北京时间"))]

@router.get("/tiles/{tileset}/tilejson.json", name="tilejson", summary="TileJSON 3.0.0",
            response_class=JSONResponse)
def tilejson(request: Request, tileset: str):
    ts = tile_service(request).engine.tileset(tileset)
    return JSONResponse(ts.tilejson(
        _tile_template(request, tileset),
        description="昆山开发区“十四五”规划空间格局 矢量瓦片（MVT 2.1，extent 4096）",
        attribution="昆山开发区“十四五”规划（示意）",
        version="1.0.0",
    ))


@router.get("/tiles/{tileset}/{z}/{x}/{tile}", name="tile", summary="矢量瓦片（.mvt）或栅格瓦片（.png、@2x.png）",
            responses={200: {"content": {MEDIA_MVT: {}, MEDIA_PNG: {}}}, 204: {"description": "此瓦片内没有要素"},
                       304: {"description": "未修改（If-None-Match）"}})
async def tile(request: Request, tileset: TilesetId, z: Zoom, x: TileIndex, tile: TileName, asof: AsOf = None):
    # async on purpose: a cached tile is one dict lookup on the event loop (no thread hop);
    # only a miss goes to the thread pool to be built
    service = tile_service(request)
    stem, fmt, scale = _parse_tile_name(tile)
    zi, xi, yi = _int(z, "z"), _int(x, "x"), _int(stem, "y")
    if asof is not None:
        return await _asof(request, service, tileset, fmt, zi, xi, yi, asof)
    return _send(request, await _get(service, tileset, fmt, zi, xi, yi, scale))


async def _asof(request: Request, service: TileService, tileset: str, fmt: str, z: int, x: int, y: int,
                asof: str) -> Response:
    """``?asof=``: the MVT of one layer as it was then (``kfqmap.asof``, rebuilt from the history)."""
    from kfqmap.history import parse_asof

    when = parse_asof(asof)
    if fmt != "mvt":
        raise InvalidParameter("asof 只用于矢量瓦片（.mvt）；栅格瓦片只有当前状态", parameter="asof")
    return _send(request, await run_in_threadpool(service.asof, tileset, z, x, y, when))


async def _get(service: TileService, tileset: str, fmt: str, z: int, x: int, y: int, scale: int) -> CachedTile:
    cached = service.cached(tileset, fmt, z, x, y, scale)
    if cached is not None:
        return cached
    return await _build(service, tileset, fmt, z, x, y, scale)


async def _build(service: TileService, tileset: str, fmt: str, z: int, x: int, y: int, scale: int) -> CachedTile:
    """A cache miss. High-zoom MVT of prepared layers (a few ms at most) is built right here on the event loop:
    handing it to the thread pool and back costs two thread wake-ups, more than the tile on a loaded machine.
    Anything that may be slow (low zooms, PNG, a layer still being prepared) goes to the thread pool."""
    if service.cheap(tileset, fmt, z):
        return service.build(tileset, fmt, z, x, y, scale)
    return await run_in_threadpool(service.build, tileset, fmt, z, x, y, scale)


# ------------------------------------------------------------------------------------------ OGC API – Tiles
def _tms():
    return morecantile.tms.get(TMS_ID)


def _check_tms(tile_matrix_set_id: str) -> None:
    if tile_matrix_set_id != TMS_ID:
        raise LayerNotFound(f"没有瓦片矩阵集 '{tile_matrix_set_id}'；可用：{TMS_ID}", parameter="tileMatrixSetId")


@router.get("/tileMatrixSets", name="tile_matrix_sets", summary="瓦片矩阵集列表")
def tile_matrix_sets(request: Request):
    href = str(request.url_for("tile_matrix_set", tileMatrixSetId=TMS_ID))
    return JSONResponse({"tileMatrixSets": [{
        "id": TMS_ID, "title": _tms().title, "uri": TMS_URI,
        "links": [{"href": href, "rel": "self", "type": "application/json", "title": TMS_ID},
                  {"href": href, "rel": REL_TILING_SCHEME, "type": "application/json", "title": TMS_ID}]}]})


@router.get("/tileMatrixSets/{tileMatrixSetId}", name="tile_matrix_set", summary="瓦片矩阵集定义")
def tile_matrix_set(tileMatrixSetId: str):
    _check_tms(tileMatrixSetId)
    return JSONResponse(_tms_document())


def _tms_document() -> dict:
    """OGC TMS 2.0 JSON (morecantile), plus the TMS 1.0 members (``type``, ``identifier``, ``supportedCRS``,
    ``tileMatrix``) that GDAL 3.6's OGCAPI driver parses; clients of either version read what they know."""
    tms = _tms()
    doc = tms.model_dump(mode="json", exclude_none=True)
    doc.update({
        "type": "TileMatrixSetType",
        "identifier": TMS_ID,
        "supportedCRS": "http://www.opengis.net/def/crs/EPSG/0/3857",
        "tileMatrix": [{"type": "TileMatrixType", "identifier": m["id"], "scaleDenominator": m["scaleDenominator"],
                        "topLeftCorner": m["pointOfOrigin"], "tileWidth": m["tileWidth"],
                        "tileHeight": m["tileHeight"], "matrixWidth": m["matrixWidth"],
                        "matrixHeight": m["matrixHeight"]} for m in doc["tileMatrices"]],
    })
    return doc


@router.get("/collections/{collectionId}/tiles", name="collection_tilesets", summary="图层的瓦片集列表")
def collection_tilesets(request: Request, collectionId: str):
    tile_service(request).engine.tileset(collectionId)
    self_href = str(request.url_for("collection_tilesets", collectionId=collectionId))
    return JSONResponse({"links": [{"href": self_href, "rel": "self", "type": "application/json", "title": "瓦片集列表"}],
                         "tilesets": [_tileset_doc(request, collectionId, brief=True)]})


@router.get("/collections/{collectionId}/tiles/{tileMatrixSetId}", name="collection_tileset", summary="图层的瓦片集")
def collection_tileset(request: Request, collectionId: str, tileMatrixSetId: str):
    _check_tms(tileMatrixSetId)
    tile_service(request).engine.tileset(collectionId)
    return JSONResponse(_tileset_doc(request, collectionId))


@router.get("/collections/{collectionId}/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}",
            name="collection_tile", summary="图层的一个瓦片（OGC API – Tiles）",
            responses={200: {"content": {MEDIA_MVT: {}, MEDIA_PNG: {}}}, 204: {"description": "此瓦片内没有要素"}})
async def collection_tile(request: Request, collectionId: TilesetId, tileMatrixSetId: str, tileMatrix: Zoom,
                          tileRow: TileIndex, tileCol: TileIndex,
                          f: Literal["mvt", "png"] = Query("mvt", description="mvt（默认）或 png"),
                          asof: AsOf = None):
    _check_tms(tileMatrixSetId)
    if f not in ("mvt", "png"):
        raise InvalidParameter(f"不支持的格式 f={f}；可用 mvt、png", parameter="f")
    z, row, col = _int(tileMatrix, "tileMatrix"), _int(tileRow, "tileRow"), _int(tileCol, "tileCol")
    try:
        check_tile(z, col, row)
    except TileOutOfRange as exc:
        exc.parameter = {"z": "tileMatrix", "x": "tileCol", "y": "tileRow"}.get(exc.parameter, exc.parameter)
        raise
    if asof is not None:
        return await _asof(request, tile_service(request), collectionId, f, z, col, row, asof)
    return _send(request, await _get(tile_service(request), collectionId, f, z, col, row, 1))


def _tileset_doc(request: Request, collection_id: str, *, brief: bool = False) -> dict:
    engine = tile_service(request).engine
    ts = engine.tileset(collection_id)
    self_href = str(request.url_for("collection_tileset", collectionId=collection_id, tileMatrixSetId=TMS_ID))
    template = unquote(str(request.url_for(
        "collection_tile", collectionId=collection_id, tileMatrixSetId=TMS_ID,
        tileMatrix="{tileMatrix}", tileRow="{tileRow}", tileCol="{tileCol}")))
    doc = {
        "title": collection_id,
        "dataType": "vector",
        "crs": "http://www.opengis.net/def/crs/EPSG/0/3857",
        "tileMatrixSetURI": TMS_URI,
        "links": [
            {"href": self_href, "rel": "self", "type": "application/json", "title": "瓦片集"},
            {"href": str(request.url_for("tile_matrix_set", tileMatrixSetId=TMS_ID)), "rel": REL_TILING_SCHEME,
             "type": "application/json", "title": TMS_ID},
            {"href": template, "rel": "item", "type": MEDIA_MVT, "templated": True, "title": "MVT 瓦片"},
            {"href": template + "?f=png", "rel": "item", "type": MEDIA_PNG, "templated": True, "title": "PNG 瓦片"},
        ],
    }
    if brief:
        return doc
    w, s, e, n = ts.bounds
    # ``extent`` and a tilesets link let GDAL's OGCAPI driver (≥ 3.7.1) open this document directly. GDAL
    # computes the tile range of each zoom from ``extent`` *in the tile matrix set's CRS* (it does not reproject
    # it), so here — unlike in the Features collection document, where OGC API Features fixes CRS84 — the
    # extent is given in EPSG:3857, with its ``crs`` saying so.
    x0, y0, x1, y1 = (float(v) for v in (*lonlat_to_mercator(w, s), *lonlat_to_mercator(e, n)))
    doc["extent"] = {"spatial": {"bbox": [[x0, y0, x1, y1]], "crs": "http://www.opengis.net/def/crs/EPSG/0/3857"}}
    doc["links"] += collection_links(request, collection_id)
    doc["boundingBox"] = {"lowerLeft": [w, s], "upperRight": [e, n],
                          "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}
    doc["tileMatrixSetLimits"] = _limits(ts.bounds, ts.minzoom, LIMITS_MAXZOOM)
    doc["layers"] = [{"id": vl["id"], "dataType": "vector", "propertiesSchema": {
        "type": "object", "properties": {k: {"type": {"Number": "number", "Boolean": "boolean"}.get(v, "string")}
                                         for k, v in vl["fields"].items()}}} for vl in ts.vector_layers()]
    doc["minzoom"], doc["maxzoom"] = MIN_ZOOM, MAX_ZOOM
    return doc


def _limits(bounds, minzoom: int, maxzoom: int) -> list[dict]:
    tms = _tms()
    out = []
    for z in range(minzoom, maxzoom + 1):
        ul = tms.tile(bounds[0], bounds[3], z)
        lr = tms.tile(bounds[2], bounds[1], z)
        out.append({"tileMatrix": str(z), "minTileRow": ul.y, "maxTileRow": lr.y,
                    "minTileCol": ul.x, "maxTileCol": lr.x})
    return out
