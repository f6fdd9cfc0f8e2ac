"""The data model: the catalog's ``Layer``/``Style`` (and the plan's ``GROUPS``), and the pydantic result models
of the analysis functions (area statistics, progress, queries, name search).

The library returns these; the server serialises them as they are (``model_dump(mode="json")``) and the CLI
prints them as tables, JSON or CSV. Areas are always given in m² (ellipsoidal, CGCS2000) and, where a unit is
chosen, also in that unit, rounded by ``kfqmap.units.round_area``. Floor areas (建筑面积) are never computed
from polygons: they appear only as figures the plan states.
"""
from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field


# ------------------------------------------------------------------------------------------------ catalog
#: the plan's structure, in the order the viewer shows it
GROUPS: dict[str, str] = {
    "两轴三带": "Two axes, three belts",
    "两核多园": "Two cores, many parks",
    "一带四园": "One belt, four parks (Xiajia River sci-tech corridor)",
    "更新地块": "Urban renewal and key sites",
    "低效用地": "Low-efficiency land redevelopment",
    "背景": "Context (boundaries, water, roads, rail)",
    "指标": "Indicators (non-spatial tables)",
    "额外": "Extra layers (not part of the plan)",
}

GeometryType = Literal["Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon", "None"]


class Style(BaseModel):
    """A layer's default look, shared by the web viewer, raster tiles, folium, KML and DXF."""

    fill: str | None = None           # "#rrggbb" for polygons / point markers
    fill_opacity: float = 0.35
    stroke: str = "#333333"
    stroke_width: float = 1.5
    dash: list[float] | None = None   # e.g. [4, 2] for schematic outlines
    radius: float = 5.0               # point markers, px
    label: bool = True                # draw the feature's name
    z: int = 0                        # drawing order (higher on top)
    # optional per-category look: features whose ``category_field`` property equals a key of ``categories``
    # take that entry's fill/stroke/dash (e.g. parks by ``park_type``); renderers may ignore it
    category_field: str | None = None
    categories: dict[str, dict[str, Any]] | None = None


class Layer(BaseModel):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title_zh: str
    title_en: str
    group: str
    kind: Literal["plan", "context", "table", "extra"] = "plan"
    geometry_type: GeometryType
    source: str = "geojson"
    file: str
    plan_section: str
    description: str
    schematic: bool = True
    illustrative: bool = False
    accuracy_m: float | None = None   # typical positional uncertainty of the layer's features
    style: Style = Field(default_factory=Style)

    @property
    def is_spatial(self) -> bool:
        return self.geometry_type != "None"

    @property
    def is_polygonal(self) -> bool:
        return self.geometry_type in ("Polygon", "MultiPolygon")


# ------------------------------------------------------------------------------------------------ results
def jsonable(value: Any) -> Any:
    """numpy / pandas scalars → plain Python; NaN / NA → None; lists and dicts recursively."""
    if value is None:
        return None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return None if math.isnan(v) or math.isinf(v) else v
    try:
        import pandas as pd
        if value is pd.NA or value is pd.NaT:
            return None
        if isinstance(value, pd.Timestamp):
            return value.isoformat()
    except ImportError:  # pragma: no cover
        pass
    return value


class UnitInfo(BaseModel):
    code: str = Field(description="canonical unit code: m2, wan_m2, ha, mu, km2")
    symbol_zh: str
    name_en: str
    decimals: int = Field(description="display rounding used for values in this unit")


# ------------------------------------------------------------------------------------------------ statistics
class FeatureArea(BaseModel):
    """One feature's measures."""

    id: str
    name: str | None = None
    area_m2: float | None = Field(None, description="ellipsoidal area on the CGCS2000 ellipsoid, m²")
    gk_area_m2: float | None = Field(None, description="projected area in EPSG:4549 (Gauss-Krüger CM 120E), m²")
    area: float | None = Field(None, description="ellipsoidal area in the chosen unit, rounded")
    length_m: float | None = Field(None, description="geodesic length (lines) or perimeter (polygons), m")
    properties: dict[str, Any] = Field(default_factory=dict, description="a few identifying properties")


class LayerStats(BaseModel):
    layer_id: str
    title_zh: str
    title_en: str
    group: str
    geometry_type: str
    unit: UnitInfo
    count: int
    area_m2: float | None = Field(None, description="sum of the features' ellipsoidal areas, m² (polygons)")
    area: float | None = Field(None, description="the same in the chosen unit, rounded")
    union_area_m2: float | None = Field(None, description="area of the union (overlaps counted once), m²")
    union_area: float | None = None
    gk_area_m2: float | None = Field(None, description="sum of EPSG:4549 projected areas, m²")
    gk_minus_ellipsoidal_pct: float | None = Field(None, description="(Gauss-Krüger − ellipsoidal) / ellipsoidal, %")
    length_m: float | None = Field(None, description="sum of geodesic lengths, m (lines)")
    schematic: bool = True
    illustrative: bool = False
    accuracy_m: float | None = None
    features: list[FeatureArea] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class GroupStats(BaseModel):
    group: str
    title_en: str
    unit: UnitInfo
    layers: list[LayerStats] = Field(default_factory=list, description="per layer, without per-feature rows")
    count: int = 0
    union_area_m2: float | None = Field(None, description="area covered by the group's polygons, overlaps once")
    union_area: float | None = None
    length_m: float | None = None
    notes: list[str] = Field(default_factory=list)


class OverlayRow(BaseModel):
    """Layer A inside one feature of layer B."""

    id: str
    name: str | None = None
    area_m2: float = Field(description="ellipsoidal area of the B feature, m²")
    area: float
    inside_m2: float = Field(description="area of A inside this B feature, m² (each A part counted once)")
    inside: float
    share: float = Field(description="inside / area of the B feature, 0..1")
    percent: float
    count: int = Field(description="number of A features that intersect this B feature")
    ids: list[str] = Field(default_factory=list, description="ids of those A features")


class OverlayStats(BaseModel):
    a: str
    b: str
    a_title_zh: str
    b_title_zh: str
    unit: UnitInfo
    rows: list[OverlayRow]
    a_area_m2: float
    a_area: float
    inside_m2: float = Field(description="A inside the union of B, m²")
    inside: float
    outside_m2: float = Field(description="A outside every B feature, m²")
    outside: float
    notes: list[str] = Field(default_factory=list)


# ------------------------------------------------------------------------------------------------ progress
class StatusRow(BaseModel):
    status: str
    count: int
    area_mu: float = Field(description="sum of the parcels' area_mu attribute, 亩")
    polygon_area_mu: float = Field(description="sum of the parcels' ellipsoidal polygon areas, 亩")
    share_of_target: float = Field(description="area_mu / target, %")


class YearRow(BaseModel):
    year: int | None
    count: int
    completed_mu: float = Field(description="亩 completed (status 已完成) in that year")
    cumulative_completed_mu: float
    planned_cumulative_mu: float | None = Field(None, description="straight-line plan: target × (year − 2020) / 5")
    in_progress_mu: float = Field(0.0, description="亩 in progress (实施中) scheduled for that year")


class LandProgress(BaseModel):
    layer_id: str
    target_mu: float
    period: tuple[int, int] = (2021, 2025)
    year: int = Field(description="the year the figures are taken at (completions up to and including it)")
    achieved_mu: float
    in_progress_mu: float
    not_started_mu: float
    identified_mu: float = Field(description="all parcels of the layer (area_mu attribute)")
    remaining_mu: float = Field(description="target − achieved (≥ 0)")
    percent: float = Field(description="achieved / target, %")
    planned_mu: float = Field(description="straight-line plan at ``year``")
    on_track: bool
    polygon_area_mu: float = Field(description="ellipsoidal area of all drawn parcels, 亩")
    by_status: list[StatusRow]
    by_year: list[YearRow]
    by_park: list[dict[str, Any]] = Field(default_factory=list)
    illustrative: bool = False
    notes: list[str] = Field(default_factory=list)


class IndicatorProgress(BaseModel):
    id: str
    table: str | None = None
    category: str | None = None
    name: str
    unit: str | None = None
    value_2020: float | None = None
    value_2020_text: str | None = None
    target: float | None = None
    target_text: str | None = None
    target_qualifier: str | None = None
    target_year: int | None = None
    attribute: str | None = None
    year: int | None = Field(None, description="the year of the status and the plan's path value")
    plan_path: float | None = Field(None, description="规划路径: the plan's straight line from the 2020 value to the target "
                                                       "at ``year`` — the plan's pace, not an achievement")
    status: str = Field("无数据", description="from the actuals (kfqmap.monitor): 达标 | 正常 | 预警 | 滞后 | 超限 | 无数据 | "
                                             "待核定 | 不适用; never derived from the path alone")
    status_reason: str = ""
    actual: float | None = Field(None, description="the value judged at ``year`` (actual, running total or mean)")
    actual_text: str | None = None
    kind: Literal["trajectory", "target_only", "floor_area", "pv_area", "no_target"] = "trajectory"
    layer_id: str | None = None
    feature_id: str | None = None


class PlanFigure(BaseModel):
    """A figure the plan states for a feature. Land areas are compared with the drawn polygon; floor areas
    (建筑面积, 开发面积, 拆除建筑面积) are only reported, never compared with a polygon."""

    layer_id: str
    feature_id: str
    name: str | None = None
    kind: str
    value: float | None = None
    unit: str | None = None
    value_m2: float | None = Field(None, description="the stated value in m² (area figures only)")
    text: str | None = None
    drawn_area_m2: float | None = Field(None, description="ellipsoidal area of the drawn polygon (land_area only)")
    drawn_over_stated: float | None = Field(None, description="drawn / stated (land_area only)")


class Progress(BaseModel):
    year: int
    land: LandProgress | None = None
    indicators: list[IndicatorProgress] = Field(default_factory=list)
    figures: list[PlanFigure] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


# ------------------------------------------------------------------------------------------------ queries
class QueryHit(BaseModel):
    layer_id: str
    layer_title_zh: str
    id: str
    name: str | None = None
    distance_m: float | None = Field(None, description="distance in metres (EPSG:4549) to the query point / geometry / nearest `near` feature")
    intersection_m2: float | None = Field(None, description="ellipsoidal area of the part inside the query geometry, m²")
    intersection_mu: float | None = None
    share_of_feature: float | None = Field(None, description="intersection / feature area, 0..1")
    near_id: str | None = Field(None, description="the nearest feature of the `near` layer (near queries)")
    near_name: str | None = None
    properties: dict[str, Any] = Field(default_factory=dict)
    geometry: dict[str, Any] | None = Field(None, description="GeoJSON geometry (WGS 84), when asked for")


class QueryResult(BaseModel):
    kind: Literal["point", "geometry", "near", "nearest", "filter"]
    params: dict[str, Any] = Field(default_factory=dict)
    count: int
    layers: dict[str, int] = Field(default_factory=dict, description="hits per layer")
    hits: list[QueryHit] = Field(default_factory=list)
    note: str | None = Field(None, description="a hint when nothing was found because the query lies far from "
                                               "the data (usually a wrong crs or swapped coordinates)")
    buffer: dict[str, Any] | None = Field(None, description="near queries asked with buffer=true: the searched "
                                                            "area (within distance of the near features) as a "
                                                            "WGS 84 GeoJSON geometry")

    def to_geojson(self) -> dict[str, Any]:
        """A GeoJSON FeatureCollection of the hits (geometry null unless the query asked for it)."""
        feats = []
        for h in self.hits:
            props = {"layer_id": h.layer_id, "layer": h.layer_title_zh, "id": h.id, "name": h.name}
            for key in ("distance_m", "intersection_m2", "intersection_mu", "share_of_feature", "near_id", "near_name"):
                if getattr(h, key) is not None:
                    props[key] = getattr(h, key)
            props.update({k: v for k, v in h.properties.items() if k not in props})
            feats.append({"type": "Feature", "id": f"{h.layer_id}.{h.id}", "geometry": h.geometry,
                          "properties": props})
        return {"type": "FeatureCollection", "features": feats}


class SearchHit(BaseModel):
    layer_id: str
    layer_title_zh: str
    group: str
    id: str
    name: str
    match: Literal["exact", "prefix", "contains", "other_field"]
    field: str = "name"
    bbox: list[float] | None = Field(None, description="[west, south, east, north] in WGS 84")
    center: list[float] | None = Field(None, description="[lon, lat] of a point on the feature")
