"""Response models: they document the API (OpenAPI) and build the metadata documents.

Feature collections are written as pre-encoded GeoJSON (``kfqmap.features``) for speed; their model here
only documents the shape.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Link(BaseModel):
    href: str
    rel: str
    type: str | None = None
    title: str | None = None
    hreflang: str | None = None


class CRSExtension(BaseModel):
    """A coordinate system KFQMap offers beyond EPSG (GCJ-02, BD-09)."""

    uri: str
    code: str
    name_zh: str
    name_en: str
    note: str


class LandingPage(BaseModel):
    title: str
    description: str
    links: list[Link]
    limits: dict[str, Any] = Field(default_factory=dict, description="文档化的请求与结果大小上限")
    crs_extensions: list[CRSExtension] = Field(default_factory=list, alias="kfqmap:crsExtensions")

    model_config = ConfigDict(populate_by_name=True)


class Conformance(BaseModel):
    conformsTo: list[str]


class SpatialExtent(BaseModel):
    bbox: list[list[float]]
    crs: str = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


class TemporalExtent(BaseModel):
    interval: list[list[str | None]]
    trs: str = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"


class Extent(BaseModel):
    spatial: SpatialExtent | None = None
    temporal: TemporalExtent | None = None


class Collection(BaseModel):
    id: str
    title: str
    description: str
    links: list[Link]
    extent: Extent | None = None
    itemType: str = "feature"
    crs: list[str]
    storageCrs: str
    kfqmap: dict[str, Any] = Field(default_factory=dict, description="KFQMap 图层元数据（分组、规划章节、样式…）")


class Collections(BaseModel):
    links: list[Link]
    collections: list[Collection]


class FeatureCollection(BaseModel):
    """GeoJSON FeatureCollection (RFC 7946) with OGC paging members."""

    type: str = "FeatureCollection"
    features: list[dict[str, Any]]
    numberMatched: int
    numberReturned: int
    timeStamp: str
    links: list[Link]


class Feature(BaseModel):
    type: str = "Feature"
    id: str
    geometry: dict[str, Any] | None
    properties: dict[str, Any]
    links: list[Link] = Field(default_factory=list)


class Queryables(BaseModel):
    """JSON Schema of the properties usable in ``filter`` and as ``?name=value`` filters."""

    model_config = ConfigDict(populate_by_name=True)

    schema_: str = Field("https://json-schema.org/draft/2020-12/schema", alias="$schema")
    id_: str = Field(alias="$id")
    type: str = "object"
    title: str
    properties: dict[str, Any]
    additionalProperties: bool = False


# ------------------------------------------------------------------------------------------ request bodies
_GEOMETRY_DEPTH = {"Point": 1, "MultiPoint": 2, "LineString": 2, "MultiLineString": 3, "Polygon": 3,
                   "MultiPolygon": 4}
_MAX_NESTING = 8


def check_geojson(value: Any, *, parameter: str = "geometry", _depth: int = 0) -> None:
    """Check a request's GeoJSON (Geometry, Feature or FeatureCollection) has the shape RFC 7946 gives it —
    objects where objects belong, arrays of numbers as positions — before any geometry code reads it, so a
    malformed body gets a plain Chinese ``InvalidGeometry`` instead of a Python error text."""
    from kfqmap.errors import InvalidGeometry

    def fail(reason: str):
        raise InvalidGeometry(f"GeoJSON 结构无效：{reason}", parameter=parameter)

    if _depth > _MAX_NESTING:
        fail("嵌套过深")
    if not isinstance(value, dict):
        fail("应为 JSON 对象")
    kind = value.get("type")
    if kind == "FeatureCollection":
        features = value.get("features")
        if not isinstance(features, list) or not features:
            fail("FeatureCollection 的 features 应为非空数组")
        for feature in features:
            if not isinstance(feature, dict) or feature.get("type") != "Feature":
                fail("features 中的每一项都应为 Feature 对象")
            check_geojson(feature, parameter=parameter, _depth=_depth + 1)
    elif kind == "Feature":
        if not isinstance(value.get("geometry"), dict):
            fail("Feature 的 geometry 应为几何对象")
        check_geojson(value["geometry"], parameter=parameter, _depth=_depth + 1)
    elif kind == "GeometryCollection":
        parts = value.get("geometries")
        if not isinstance(parts, list) or not parts:
            fail("GeometryCollection 的 geometries 应为非空数组")
        for part in parts:
            check_geojson(part, parameter=parameter, _depth=_depth + 1)
    elif kind in _GEOMETRY_DEPTH:
        coordinates = value.get("coordinates")
        _check_positions(coordinates, _GEOMETRY_DEPTH[kind], kind, fail)
        lines = [coordinates] if kind == "LineString" else coordinates if kind == "MultiLineString" else []
        rings = (coordinates if kind == "Polygon" else [r for p in coordinates for r in p] if kind == "MultiPolygon"
                 else [])
        if any(len(line) < 2 for line in lines):
            fail("线至少需要 2 个坐标点")
        if any(len(ring) < 4 for ring in rings):
            fail("多边形的每个环至少需要 4 个坐标点（首尾相同）")
    else:
        fail(f"不支持的 type '{str(kind)[:40]}'（应为 Geometry、Feature 或 FeatureCollection）")


def _check_positions(node: Any, depth: int, kind: str, fail) -> None:
    if depth == 1:
        if (not isinstance(node, list) or len(node) not in (2, 3)
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in node)):
            fail(f"{kind} 的坐标应为 [经度, 纬度] 数字数组")
        return
    if not isinstance(node, list):
        fail(f"{kind} 的 coordinates 嵌套层数不对")
    for child in node:
        _check_positions(child, depth - 1, kind, fail)
