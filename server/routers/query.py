"""Spatial queries and name search (non-OGC JSON), thin over ``kfqmap.query``.

* ``GET /query/point?lon=&lat=&crs=&tolerance=&layers=a,b&filter=`` — what is here (within ``tolerance`` m)
* ``POST /query/geometry`` — body ``{"geometry": GeoJSON, "crs": "EPSG:4326", "predicate": "intersects|within|contains",
  "layers": [..], "filter": "cql2"}``: features intersecting / inside / containing a drawn outline, with areas
* ``GET /query/near?layer=&near=&distance=&filter=&near_filter=&buffer=&buffer_crs=`` — features of ``layer`` (one id
  or a comma-separated list) within ``distance`` m of ``near``; ``buffer=true`` adds the searched area (GeoJSON, in
  ``buffer_crs``: WGS 84 by default)
* ``GET /query/nearest?lon=&lat=&layer=&k=`` — the k nearest features
* ``GET /search?q=`` — name search for the viewer

Distances are metres (EPSG:4549). Bounds: request bodies ≤ 2 MB (``APISettings.max_body_bytes``, else 413);
at most ``limit`` hits are returned (default 1000, max 10,000) — ``count`` is the full number and
``truncated`` says when hits were cut. ``f=geojson`` returns the hits as a GeoJSON FeatureCollection
(``geometry=true`` to include WGS 84 geometries).
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from kfqmap import query as Q
from kfqmap.catalog import Catalog

from ..dependencies import get_catalog
from ..models import check_geojson
from ..responses import GeoJSONResponse, JSONResponse

router = APIRouter(tags=["查询 Queries"])

DEFAULT_HITS = 1000
MAX_HITS = 10_000

Lon = Annotated[float, Query(description="经度（或 crs 中的 x）", allow_inf_nan=False)]
Lat = Annotated[float, Query(description="纬度（或 crs 中的 y）", allow_inf_nan=False)]
Crs = Annotated[str | None, Query(description="点坐标的坐标系：EPSG:4326（默认）、4490、4549、4528、3857、gcj02、bd09",
                                  max_length=200)]
Layers = Annotated[str | None, Query(description="逗号分隔的图层 id（默认：全部空间图层）", max_length=2000)]
Filter = Annotated[str | None, Query(description="CQL2 文本过滤", max_length=20000)]
Format = Annotated[Literal["json", "geojson"], Query(description="json（QueryResult，默认）或 geojson（要素集合）")]
WithGeometry = Annotated[bool, Query(description="geojson 输出时附带要素几何（WGS 84）")]
Limit = Annotated[int, Query(ge=1, le=MAX_HITS, description=f"最多返回的命中数（默认 {DEFAULT_HITS}，最大 {MAX_HITS}）")]


def _format(result, f: str, limit: int):
    count = result.count
    result.hits = result.hits[:limit]
    if f == "geojson":
        doc = result.to_geojson()
        doc.update({"numberMatched": count, "numberReturned": len(result.hits)})
        if result.note:
            doc["note"] = result.note       # a foreign member (RFC 7946 §6.1), as in the JSON answer
        if getattr(result, "buffer", None):
            doc["buffer"] = result.buffer   # the near query's searched area, likewise a foreign member
        return GeoJSONResponse(doc)
    doc = result.model_dump(mode="json")
    doc.update({"returned": len(result.hits), "truncated": count > limit})
    return JSONResponse(doc)


@router.get("/query/point", name="query_point", summary="点查询：此处有哪些要素")
def query_point(catalog: Annotated[Catalog, Depends(get_catalog)], lon: Lon, lat: Lat, crs: Crs = None,
                tolerance: Annotated[float, Query(description="容差（米，0–50000）", allow_inf_nan=False)] = 0.0,
                layers: Layers = None, filter: Filter = None, f: Format = "json", geometry: WithGeometry = False,
                limit: Limit = DEFAULT_HITS):
    return _format(Q.at_point(catalog, lon, lat, crs=crs, tolerance=tolerance, layers=layers, filter=filter,
                              with_geometry=geometry), f, limit)


class GeometryQuery(BaseModel):
    """Body of ``POST /query/geometry``."""

    model_config = ConfigDict(extra="forbid")

    geometry: dict[str, Any] = Field(description="GeoJSON Geometry、Feature 或 FeatureCollection")
    crs: str | None = Field(None, max_length=200, description="geometry 的坐标系（默认 EPSG:4326）")
    predicate: Literal["intersects", "within", "contains"] = "intersects"
    layers: list[str] | None = Field(None, max_length=100, description="图层 id 列表（默认全部空间图层）")
    filter: str | None = Field(None, max_length=20000, description="CQL2 文本过滤")


@router.post("/query/geometry", name="query_geometry", summary="范围查询：与绘制的图形相交/在其内/包含它的要素")
def query_geometry(catalog: Annotated[Catalog, Depends(get_catalog)], body: Annotated[GeometryQuery, Body()],
                   f: Format = "json", geometry: WithGeometry = False, limit: Limit = DEFAULT_HITS):
    check_geojson(body.geometry)
    return _format(Q.in_geometry(catalog, body.geometry, crs=body.crs, predicate=body.predicate, layers=body.layers,
                                 filter=body.filter, with_geometry=geometry), f, limit)


@router.get("/query/near", name="query_near", summary="邻近查询：距某图层要素 N 米以内的要素")
def query_near(catalog: Annotated[Catalog, Depends(get_catalog)],
               near: Annotated[str, Query(description="参照图层 id（如 s1_stations）", max_length=64)],
               distance: Annotated[float, Query(description="距离（米，0–50000）", allow_inf_nan=False)],
               layer: Layers = None, filter: Filter = None,
               near_filter: Annotated[str | None, Query(description="参照图层的 CQL2 过滤", max_length=20000)] = None,
               f: Format = "json", geometry: WithGeometry = False, limit: Limit = DEFAULT_HITS,
               buffer: Annotated[bool, Query(description="附带查询范围（参照要素 distance 米缓冲区，GeoJSON）")] = False,
               buffer_crs: Annotated[str | None, Query(description="查询范围的坐标系（默认 WGS 84；高德底图用 GCJ-02）",
                                                       max_length=200)] = None):
    return _format(Q.near(catalog, layer, near, distance, filter=filter, near_filter=near_filter,
                          with_geometry=geometry, with_buffer=buffer, buffer_crs=buffer_crs), f, limit)


@router.get("/query/nearest", name="query_nearest", summary="最近查询：离某点最近的 k 个要素")
def query_nearest(catalog: Annotated[Catalog, Depends(get_catalog)], lon: Lon, lat: Lat,
                  layer: Annotated[str, Query(description="图层 id", max_length=64)],
                  k: Annotated[int, Query(description=f"个数（1–{Q.MAX_K}）")] = 5, crs: Crs = None,
                  filter: Filter = None,
                  max_distance: Annotated[float | None, Query(description="最大距离（米）", allow_inf_nan=False)] = None,
                  f: Format = "json", geometry: WithGeometry = False):
    return _format(Q.nearest(catalog, lon, lat, layer, k, crs=crs, filter=filter, max_distance=max_distance,
                             with_geometry=geometry), f, MAX_HITS)


@router.get("/search", name="search", summary="按名称搜索要素（含指标表）")
def search(catalog: Annotated[Catalog, Depends(get_catalog)],
           q: Annotated[str, Query(description="搜索文字（名称、功能、园区…）", max_length=100)],
           limit: Annotated[int, Query(ge=1, le=500, description="最多返回条数（默认 20）")] = 20,
           layers: Layers = None):
    hits = Q.search_names(catalog, q, limit=limit, layers=layers)
    return JSONResponse({"q": q, "count": len(hits), "hits": [h.model_dump(mode="json") for h in hits]})
