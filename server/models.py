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
