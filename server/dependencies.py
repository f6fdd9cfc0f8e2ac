"""One dependency per request parameter. Each validates once, through the same kfqmap parser the CLI uses,
and returns a typed value (a Layer, a BBox, an OutputCRS, a compiled filter...), never a raw string.
Errors are kfqmap errors naming the parameter; ``server/errors.py`` turns them into 400/404 problem+json.

The parsers are quick and never block, so they are ``async def``: FastAPI then runs them on the event loop
instead of hopping to a worker thread for each (a dozen hops per items request cost more than the query).
``layer_index`` sends only a layer's first read (or a re-read after a data change) to a worker thread.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from kfqmap import features as F
from kfqmap.catalog import Catalog
from kfqmap.errors import InvalidCRS, InvalidParameter
from kfqmap.models import Layer

OutputFormat = Literal["json", "html"]

_JSON_TYPES = ("application/json", "application/geo+json", "application/schema+json", "application/problem+json",
               "application/vnd.oai.openapi+json")


# ------------------------------------------------------------------------------------------ app state
async def get_catalog(request: Request) -> Catalog:
    return request.app.state.catalog


CollectionIdPath = Annotated[str, Path(alias="collectionId", description="图层（集合）id，如 cores、parks",
                                       max_length=64)]
CrsQuery = Annotated[str | None, Query(description=(
    "输出坐标系（OGC API Features Part 2）：CRS84（默认）、EPSG 4490/4549/4528/3857 的 OGC URI，或扩展 "
    "GCJ-02 https://kfqmap.example/def/crs/GCJ-02（高德/腾讯底图）。EPSG 系统按其定义的轴序输出。"),
    max_length=200)]
FormatQuery = Annotated[Literal["json", "html", "geojson"] | None,
                        Query(description="输出格式：json（默认；要素为 GeoJSON）或 html。未给出时按 Accept 头协商。")]


async def collection(request: Request, collection_id: CollectionIdPath) -> Layer:
    """The catalog layer named in the path, or 404 (LayerNotFound)."""
    return request.app.state.catalog.get(collection_id)


async def layer_state(request: Request, layer: Annotated[Layer, Depends(collection)]):
    """The layer's ``kfqmap.collection.LayerState`` (or ``PushdownState``) at the current data version. Only a use
    that has to ask the provider or read the data (first use, after a change) runs in a worker thread."""
    return await _state(request, layer)


async def _state(request: Request, layer: Layer):
    collection = request.app.state.catalog.collection(layer.id)
    if collection.is_current():
        return collection.state()
    return await run_in_threadpool(collection.state)


async def layer_index(request: Request, layer: Annotated[Layer, Depends(collection)]) -> F.LayerIndex:
    """The layer's ``kfqmap.features.LayerIndex`` at the current data version (see ``layer_state``)."""
    return (await layer_state(request, layer)).items


@dataclass(frozen=True)
class FeatureRead:
    """What one feature's page needs: its layer, the layer's state (index, ETags), the output CRS and format."""
    layer: Layer
    state: object
    crs: F.OutputCRS
    fmt: OutputFormat


async def feature_read(request: Request, collection_id: CollectionIdPath, crs: CrsQuery = None,
                       f: FormatQuery = None) -> FeatureRead:
    """The parameters of ``/collections/{id}/items/{fid}`` in one dependency, parsed by the same functions as
    ``collection``, ``layer_state``, ``crs_param`` and ``output_format``: the most frequent read of all, and
    FastAPI spends a resolution pass on each dependency (five of them took more time than the answer)."""
    layer = request.app.state.catalog.get(collection_id)
    return FeatureRead(layer, await _state(request, layer), F.parse_output_crs(crs, parameter="crs"),
                       _format(request, f))


# ------------------------------------------------------------------------------------------ formats
def wants_html(request: Request) -> bool:
    """True when the Accept header prefers text/html over JSON (browsers do; curl, GDAL, QGIS do not)."""
    html_q, json_q = 0.0, 0.0
    for part in request.headers.get("accept", "").split(","):
        media, _, params = part.strip().partition(";")
        media = media.strip().lower()
        q = 1.0
        for p in params.split(";"):
            k, _, v = p.strip().partition("=")
            if k == "q":
                try:
                    q = float(v)
                except ValueError:
                    q = 0.0
        if media == "text/html":
            html_q = max(html_q, q)
        elif media in _JSON_TYPES or media.endswith("+json") or media in ("*/*", "application/*"):
            json_q = max(json_q, q)
    return html_q > json_q


async def output_format(request: Request, f: FormatQuery = None) -> OutputFormat:
    return _format(request, f)


def _format(request: Request, f: str | None) -> OutputFormat:
    if f is not None:
        return "html" if f == "html" else "json"
    return "html" if wants_html(request) else "json"


#: download formats offered on /collections/{id}/items through ``f=`` (files, not pages: no paging applies)
ITEMS_DOWNLOAD_FORMATS = ("gpkg", "shapefile", "kml", "fgb", "csv", "dxf", "xlsx")


async def items_format(
    request: Request,
    f: Annotated[str | None, Query(max_length=32, description=(
        "输出格式：json（默认，GeoJSON 分页）、html，或下载文件 " + "、".join(ITEMS_DOWNLOAD_FORMATS)
        + "（下载包含全部匹配要素，不分页；坐标系按 crs，默认按格式）。未给出时按 Accept 头协商。"))] = None,
) -> str:
    """``f`` on items: the page formats of ``output_format`` plus the export formats a GIS user downloads."""
    if f is None or f in ("json", "html", "geojson"):
        return await output_format(request, f)
    if f in ITEMS_DOWNLOAD_FORMATS:
        return f
    raise InvalidParameter(f"参数 f 的值 '{f[:32]}' 不可用；可选：json、html、geojson、" + "、".join(ITEMS_DOWNLOAD_FORMATS),
                           parameter="f")


# ------------------------------------------------------------------------------------------ CRS / bbox
async def crs_param(crs: CrsQuery = None) -> F.OutputCRS:
    return F.parse_output_crs(crs, parameter="crs")


async def bbox_crs_param(
    bbox_crs: Annotated[str | None, Query(alias="bbox-crs", description="bbox 的坐标系（默认 CRS84），取值同 crs",
                                          max_length=200)] = None,
) -> F.OutputCRS:
    return F.parse_output_crs(bbox_crs, parameter="bbox-crs")


async def bbox_param(
    bbox_crs: Annotated[F.OutputCRS, Depends(bbox_crs_param)],
    bbox: Annotated[str | None, Query(description="范围 minx,miny,maxx,maxy（bbox-crs 轴序；默认 CRS84 经度,纬度）",
                                      max_length=400)] = None,
) -> F.BBox | None:
    return F.parse_bbox(bbox, bbox_crs, parameter="bbox")


# ------------------------------------------------------------------------------------------ time / paging
async def datetime_param(
    datetime: Annotated[str | None, Query(description=(
        "时间过滤：RFC 3339 时间、日期、年份，或 start/end 区间（开放端 ..）。作用于图层的时间属性"
        "（low_efficiency_land.year、indicators.target_year）；年份代表整个自然年。"), max_length=100)] = None,
) -> F.TimeInterval | None:
    return F.parse_datetime(datetime, parameter="datetime")


@dataclass(frozen=True)
class Paging:
    limit: int
    offset: int


async def paging(
    limit: Annotated[int, Query(ge=1, json_schema_extra={"maximum": F.MAX_LIMIT}, description=(
        f"每页要素数，默认 {F.DEFAULT_LIMIT}，最大 {F.MAX_LIMIT}（更大的值按 {F.MAX_LIMIT} 分页，不报错）"))]
    = F.DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, le=F.MAX_OFFSET, description="跳过的要素数（分页）")] = 0,
) -> Paging:
    return Paging(F.parse_limit(limit), offset)


# ------------------------------------------------------------------------------------------ filtering
FILTER_LANGS = ("cql2-text", "cql2-json")


async def filter_param(
    filter: Annotated[str | None, Query(description=(
        "CQL2 过滤（OGC API Features Part 3）：比较、LIKE、IN、BETWEEN、S_INTERSECTS、S_DWITHIN（距离单位：米）"),
        max_length=20000)] = None,
    filter_lang: Annotated[str | None, Query(alias="filter-lang", description="cql2-text（默认）或 cql2-json",
                                             max_length=20)] = None,
    filter_crs: Annotated[str | None, Query(alias="filter-crs", description="过滤表达式中几何的坐标系（默认 CRS84）",
                                            max_length=200)] = None,
):
    """The compiled CQL2 filter (``kfqmap.cql.CompiledFilter``), or None."""
    lang = (filter_lang or "cql2-text").strip().lower()
    if lang not in FILTER_LANGS:
        raise InvalidParameter(f"不支持的 filter-lang '{filter_lang}'，可用：{', '.join(FILTER_LANGS)}",
                               parameter="filter-lang")
    crs = None
    if filter_crs is not None:
        crs = F.parse_output_crs(filter_crs, parameter="filter-crs")
        if crs.north_first:
            raise InvalidCRS("filter-crs 须为经度,纬度（x,y）轴序的坐标系，如 CRS84、EPSG:3857、gcj02"
                             "（filter-crs must be x,y ordered）", parameter="filter-crs")
    if filter is None or not filter.strip():
        return None
    from kfqmap.cql import parse_filter
    return parse_filter(filter, lang, crs=crs.info.code if crs else None)


#: query parameters of /collections/{id}/items other than property equality filters
ITEMS_PARAMETERS = frozenset({"f", "bbox", "bbox-crs", "crs", "datetime", "limit", "offset", "filter",
                              "filter-lang", "filter-crs", "sortby", "asof"})


async def property_filters(request: Request, index: Annotated[F.LayerIndex, Depends(layer_index)]) -> dict[str, str]:
    """``?name=value`` equality filters on queryables; any other unknown parameter is a 400."""
    params = {k: v for k, v in request.query_params.items() if k not in ITEMS_PARAMETERS}
    return F.check_properties(index, params)


async def sortby_param(
    index: Annotated[F.LayerIndex, Depends(layer_index)],
    sortby: Annotated[str | None, Query(max_length=500, description=(
        "排序：逗号分隔的属性名，前加 - 为降序，如 sortby=year,-area_mu（缺失值排在最后）"))] = None,
) -> tuple:
    return F.parse_sortby(sortby, index.property_names)


async def items_query(
    bbox: Annotated[F.BBox | None, Depends(bbox_param)],
    crs: Annotated[F.OutputCRS, Depends(crs_param)],
    when: Annotated[F.TimeInterval | None, Depends(datetime_param)],
    page: Annotated[Paging, Depends(paging)],
    compiled: Annotated[object, Depends(filter_param)],
    properties: Annotated[dict[str, str], Depends(property_filters)],
    sortby: Annotated[tuple, Depends(sortby_param)],
) -> F.ItemsQuery:
    """All item-selection parameters bundled into one ``kfqmap.features.ItemsQuery``."""
    return F.ItemsQuery(bbox=bbox, datetime=when, properties=properties, filter=compiled, limit=page.limit,
                        offset=page.offset, crs=crs, sortby=sortby)
