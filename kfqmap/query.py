"""Spatial queries over the catalog's layers: what is here, what is inside this outline, what lies within N
metres of that, the nearest K, and the viewer's name search.

Every layer gets one ``LayerIndex`` per data version (owned by the layer's ``Collection``): its
geometries in WGS 84 with an STRtree, the same in EPSG:4549 (metres) with a second STRtree for distance
queries, and the features' ellipsoidal areas. A query over 200,000 parcels touches only the tree's
candidates, so it answers in milliseconds.

>>> from kfqmap.catalog import load_catalog
>>> cat = load_catalog()
>>> at_point(cat, 121.0, 31.37, tolerance=50).hits            # doctest: +SKIP
>>> near(cat, "renewal_sites", "s1_stations", 500)            # doctest: +SKIP

Distances and buffers are measured in EPSG:4549 (CGCS2000 Gauss-Krüger CM 120E), as planners do; areas of
intersections are ellipsoidal (``kfqmap.area.ellipsoidal_area``).
"""
from __future__ import annotations

import json
import logging
import math
import threading
from functools import cached_property
from typing import Any, Iterable

import numpy as np
import shapely
from shapely.geometry import shape

from .area import ellipsoidal_area, intersection_area
from .crs import MEASURE_CRS, declared_crs, parse_crs, transform_geometry, transform_xy
from .cql import CompiledFilter, parse_filter
from .errors import InvalidGeometry, InvalidParameter
from .filters import check_filter_usable, filter_mask, missing_properties
from .models import QueryHit, QueryResult, SearchHit, jsonable
from .units import mu_from_m2

#: the largest distance / tolerance a query accepts (metres): the plan area is ~30 km across
MAX_DISTANCE_M = 50_000.0
MAX_K = 1000
PREDICATES = ("intersects", "within", "contains")

#: properties copied into query hits (besides id and name), when a layer has them
HIT_PROPERTIES = ("park_type", "park", "status", "year", "area_mu", "parcel_id", "current_use", "planned_use",
                  "part", "river", "functions", "plan_status", "role", "line", "seq", "axis_id", "illustrative",
                  "schematic", "accuracy_m", "source", "land_use", "placeholder")


# ------------------------------------------------------------------------------------------------ index
class LayerIndex:
    """One layer's geometries, trees and measures (built lazily, then reused by every query)."""

    def __init__(self, layer, frame):
        self.layer = layer
        self.frame = frame
        self.geoms = np.asarray(frame.geometry.values, dtype=object)
        self.ids = frame.index.astype(str).to_numpy()
        self.names = (frame["name"].astype("string").fillna("").to_numpy(dtype=object)
                      if "name" in frame.columns else np.full(len(frame), "", dtype=object))
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.geoms)

    @cached_property
    def bounds(self) -> tuple[float, float, float, float]:
        """WGS 84 bounds of the layer (NaN when empty)."""
        return tuple(float(v) for v in shapely.total_bounds(self.geoms))

    @cached_property
    def tree(self) -> shapely.STRtree:
        """STRtree over the WGS 84 geometries (topological predicates)."""
        return shapely.STRtree(self.geoms)

    @cached_property
    def geoms_4549(self) -> np.ndarray:
        return transform_geometry(self.geoms, "EPSG:4326", MEASURE_CRS)

    @cached_property
    def tree_4549(self) -> shapely.STRtree:
        """STRtree over the EPSG:4549 geometries (distances in metres)."""
        return shapely.STRtree(self.geoms_4549)

    @cached_property
    def area_m2(self) -> np.ndarray:
        return ellipsoidal_area(self.geoms)

    @cached_property
    def hit_columns(self) -> dict[str, np.ndarray]:
        """The ``HIT_PROPERTIES`` this layer has, as object arrays (fast per-row access for query hits)."""
        return {k: self.frame[k].to_numpy(dtype=object) for k in HIT_PROPERTIES if k in self.frame.columns}


#: metres per degree, a lower bound over Kunshan's latitudes (longitude degrees are shortest): turns a distance in
#: metres into a search box in degrees that is never too small (the exact test in EPSG:4549 follows)
_M_PER_DEGREE = 90_000.0


def layer_index(catalog, layer_id: str, *, area=None, filter=None) -> LayerIndex:
    """The layer's ``LayerIndex`` at the current data version, owned by its collection (raises ``LayerNotFound``).

    A pushdown layer (a large PostGIS table) has no whole index: with ``area`` (a WGS 84 geometry the query
    cannot reach beyond) and/or ``filter`` the candidates are selected in SQL and indexed for this query only
    (at most ``SELECT_MAX_ROWS``, else ``RequestTooLarge``); without either it raises ``RequestTooLarge``."""
    state = catalog.collection(layer_id).state()
    if getattr(state, "pushdown", False) and (area is not None or filter is not None):
        from .features import ItemsQuery

        return LayerIndex(state.layer, state.items.frame(ItemsQuery(filter=filter), area=area))
    return state.spatial


def _filter_view(catalog, layer_id: str):
    """What the filter rule needs of a layer (its columns), without loading a pushdown layer."""
    state = catalog.collection(layer_id).state()
    return state if getattr(state, "pushdown", False) else state.spatial


def _layer_bounds(catalog, layer_id: str) -> tuple[float, float, float, float]:
    state = catalog.collection(layer_id).state()
    if getattr(state, "pushdown", False):
        return state.items.bounds or (math.nan,) * 4
    return state.spatial.bounds


def _around(geom, metres: float):
    """A WGS 84 area that holds every point within ``metres`` of ``geom`` (a search area for pushdown layers)."""
    return shapely.buffer(geom, metres / _M_PER_DEGREE + 1e-6, quad_segs=4)


# ------------------------------------------------------------------------------------------------ parsing
def check_distance(value, *, parameter: str = "distance", allow_zero: bool = True) -> float:
    """A distance / tolerance in metres: finite, ≥ 0 (or > 0), ≤ ``MAX_DISTANCE_M``; else ``InvalidParameter``."""
    try:
        d = float(value)
    except (TypeError, ValueError):
        raise InvalidParameter(f"距离 '{value}' 不是数字（单位：米）", parameter=parameter) from None
    if not math.isfinite(d) or d < 0 or (d == 0 and not allow_zero) or d > MAX_DISTANCE_M:
        low = "0" if allow_zero else "大于 0"
        raise InvalidParameter(f"距离 {value} 米不合理：应在 {low} 到 {MAX_DISTANCE_M:,.0f} 米之间",
                               parameter=parameter)
    return d


def _check_k(k) -> int:
    try:
        n = int(k)
    except (TypeError, ValueError):
        raise InvalidParameter(f"k = '{k}' 不是整数", parameter="k") from None
    if n < 1 or n > MAX_K:
        raise InvalidParameter(f"k = {k} 不合理：应在 1 到 {MAX_K} 之间", parameter="k")
    return n


def parse_point(lon, lat, crs=None) -> shapely.Point:
    """A point given in any supported CRS → a WGS 84 shapely Point (raises InvalidParameter / InvalidCRS)."""
    info = parse_crs(crs)
    try:
        x, y = float(lon), float(lat)
    except (TypeError, ValueError):
        raise InvalidParameter(f"坐标 '{lon},{lat}' 不是数字", parameter="point") from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise InvalidParameter("坐标不是有限数值", parameter="point")
    if info.geographic and not (-180 <= x <= 180 and -90 <= y <= 90):
        raise InvalidParameter(f"坐标 {x},{y} 超出经纬度范围（经度在前，纬度在后）；如是投影坐标请指定坐标系，如 EPSG:4549",
                               parameter="point")
    lon84, lat84 = transform_xy(x, y, info, "EPSG:4326")
    lon84, lat84 = float(lon84), float(lat84)
    if not (math.isfinite(lon84) and math.isfinite(lat84) and -180 <= lon84 <= 180 and -90 <= lat84 <= 90):
        raise InvalidParameter(f"坐标 {x},{y} 在 {info.code} 中无效", parameter="point")
    return shapely.Point(lon84, lat84)


def _is_valid(geom) -> bool:
    try:
        return bool(geom.is_valid)
    except shapely.errors.GEOSException:
        return False


def _invalid_reason(geom) -> str:
    try:
        return shapely.is_valid_reason(geom)
    except shapely.errors.GEOSException:
        return "坐标无法处理"


def _numbers_only(value) -> bool:
    """True when every leaf of a GeoJSON ``coordinates`` array is a JSON number (not a bool, string or null)."""
    if isinstance(value, (list, tuple)):
        return all(_numbers_only(v) for v in value)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _shape(obj) -> shapely.Geometry:
    """``shapely.geometry.shape`` that refuses coordinates which are not numbers (shapely reads true as 1.0)."""
    if isinstance(obj, dict):
        if "coordinates" in obj and not _numbers_only(obj["coordinates"]):
            raise InvalidGeometry("GeoJSON 坐标必须是数字（不能是 true/false、字符串或 null）", parameter="geometry")
        for part in obj.get("geometries") or []:
            _shape(part)
    return shape(obj)


def _declared_crs(obj) -> str | None:
    if isinstance(obj, (str, bytes)):
        if b"kfqmap_crs" not in (obj.encode("utf-8", "ignore") if isinstance(obj, str) else obj):
            return None
        try:
            obj = json.loads(obj)
        except (ValueError, TypeError):
            return None
    return declared_crs(obj)


def parse_geometry(obj, crs=None) -> shapely.Geometry:
    """GeoJSON (text, dict: Geometry / Feature / FeatureCollection) or a shapely geometry in ``crs`` → a valid
    WGS 84 shapely geometry. A FeatureCollection becomes the union of its features. Raises ``InvalidGeometry``."""
    if crs is None and isinstance(obj, (str, bytes, dict)):
        crs = _declared_crs(obj)        # our own GCJ-02 / BD-09 exports say so (kfqmap_crs)
    info = parse_crs(crs)
    if isinstance(obj, shapely.Geometry):
        geom = obj
    else:
        data = obj
        if isinstance(obj, (str, bytes)):
            try:
                data = json.loads(obj)
            except (ValueError, TypeError) as exc:
                raise InvalidGeometry(f"GeoJSON 无法解析：{exc.__class__.__name__}（{str(exc)[:80]}）",
                                      parameter="geometry") from None
        if not isinstance(data, dict) or "type" not in data:
            raise InvalidGeometry("不是 GeoJSON 对象：需要含 \"type\" 的 Geometry、Feature 或 FeatureCollection",
                                  parameter="geometry")
        try:
            if data["type"] == "FeatureCollection":
                feats = data.get("features") or []
                numbered = [(i + 1, _shape(f["geometry"])) for i, f in enumerate(feats) if f.get("geometry")]
                if not numbered:
                    raise InvalidGeometry("FeatureCollection 中没有几何", parameter="geometry")
                for n, part in numbered:   # refused like a bare geometry, not repaired behind the user's back
                    if np.isfinite(shapely.get_coordinates(part)).all() and not _is_valid(part):
                        raise InvalidGeometry(f"第 {n} 个要素的几何无效：{_invalid_reason(part)}"
                                              "（例如自相交的多边形；请在 GIS 软件中修复后再试）", parameter="geometry")
                geom = shapely.union_all([part for _, part in numbered])
            elif data["type"] == "Feature":
                if not data.get("geometry"):
                    raise InvalidGeometry("Feature 没有几何 (geometry 为 null)", parameter="geometry")
                geom = _shape(data["geometry"])
            else:
                geom = _shape(data)
        except InvalidGeometry:
            raise
        except Exception as exc:
            raise InvalidGeometry(f"GeoJSON 几何无效：{str(exc)[:120] or exc.__class__.__name__}（检查 type 和 coordinates 的嵌套层数）",
                                  parameter="geometry") from None
    if geom is None or geom.is_empty:
        raise InvalidGeometry("几何为空", parameter="geometry")
    coords = shapely.get_coordinates(geom)
    if not np.isfinite(coords).all():
        raise InvalidGeometry("几何中有非数值坐标", parameter="geometry")
    if info.geographic and (np.abs(coords[:, 0]) > 180).any() | (np.abs(coords[:, 1]) > 90).any():
        raise InvalidGeometry(f"坐标超出经纬度范围（{info.code}，经度在前）；如果是投影坐标（米），请指定坐标系，如 EPSG:4549",
                              parameter="geometry")
    if not _is_valid(geom):
        raise InvalidGeometry(f"几何无效：{_invalid_reason(geom)}（例如自相交的多边形；请在 GIS 软件中修复后再试）",
                              parameter="geometry")
    if info.code != "EPSG:4326":
        geom = transform_geometry(geom, info, "EPSG:4326")
        ll = shapely.get_coordinates(geom)
        if not np.isfinite(ll).all() or (np.abs(ll[:, 0]) > 180).any() or (np.abs(ll[:, 1]) > 90).any():
            raise InvalidGeometry(f"几何坐标超出 {info.code} 的有效范围，无法换算为经纬度；请检查坐标与坐标系是否对应",
                                  parameter="geometry")
        try:
            if not geom.is_valid:
                geom = shapely.make_valid(geom)
        except shapely.errors.GEOSException:
            raise InvalidGeometry(f"几何在 {info.code} → WGS 84 换算后无效", parameter="geometry") from None
    return geom


class _LayerIds(list):
    """The layer ids a query runs on; ``skipped``: layers of the default set whose store failed (the query answers
    for the others and its ``note`` says which were left out)."""
    skipped: tuple[str, ...] = ()


def _layer_ids(catalog, layers) -> list[str]:
    if isinstance(layers, str):
        layers = [p.strip() for p in layers.split(",") if p.strip()]
    if not layers:                      # None, "", [] or ",,,": every spatial layer whose data can be read now
        ok, failed = catalog.readable([lyr.id for lyr in catalog.spatial_layers()], in_memory=True)
        ids = _LayerIds(ok)
        ids.skipped = tuple(failed)
        return ids
    out = []
    for lid in layers:
        layer = catalog.get(lid)
        if not layer.is_spatial:
            raise InvalidParameter(f"图层 '{lid}' 没有几何（是指标表），不能做空间查询", parameter="layers")
        out.append(lid)
    return out


def _compile(filter_) -> CompiledFilter | None:
    if filter_ is None or (isinstance(filter_, str) and not filter_.strip()):
        return None
    return filter_ if isinstance(filter_, CompiledFilter) else parse_filter(filter_)


def _filter_mask(index: LayerIndex, cf: CompiledFilter | None, *, strict: bool) -> np.ndarray | None:
    """Boolean array of features passing the filter (None = all), by the shared rule
    (``kfqmap.filters.filter_mask``: a layer lacking a property is a 400 alone, skipped among several)."""
    if cf is None:
        return None
    return filter_mask(index, cf, strict=strict)


_HIT_DEFAULTS = {k: None for k in ("distance_m", "intersection_m2", "intersection_mu", "share_of_feature",
                                    "near_id", "near_name")}


def _hit(index: LayerIndex, i: int, *, with_geometry: bool, **extra) -> QueryHit:
    props = {k: jsonable(col[i]) for k, col in index.hit_columns.items()}
    geom = shapely.geometry.mapping(index.geoms[i]) if with_geometry and index.geoms[i] is not None else None
    fields = dict(_HIT_DEFAULTS)
    for k, v in extra.items():
        fields[k] = v if v is None or k in ("near_id", "near_name") else float(v)
    # every value is built here with the right type: skip pydantic's validation (thousands of hits per query)
    return QueryHit.model_construct(layer_id=index.layer.id, layer_title_zh=index.layer.title_zh, id=str(index.ids[i]),
                                    name=str(index.names[i]) or None, properties=props,
                                    geometry=jsonable(geom) if geom else None, **fields)


#: a query this far (degrees) outside every queried layer's bounds gets a ``note`` when it finds nothing
FAR_DEGREES = 0.5


def _far_note(catalog, layer_ids: Iterable[str], where) -> str | None:
    """A hint for an empty result whose point/geometry (WGS 84) lies far outside the queried layers: the usual
    cause is a projected coordinate sent without its ``crs``, or lat/lon swapped."""
    boxes = np.array([_layer_bounds(catalog, lid) for lid in layer_ids], dtype="float64").reshape(-1, 4)
    boxes = boxes[~np.isnan(boxes).any(axis=1)]
    if len(boxes) == 0:
        return None
    w, s, e, n = boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max()
    x0, y0, x1, y1 = shapely.bounds(where)
    if x1 >= w - FAR_DEGREES and x0 <= e + FAR_DEGREES and y1 >= s - FAR_DEGREES and y0 <= n + FAR_DEGREES:
        return None
    c = shapely.centroid(where)
    return (f"查询位置换算为 WGS 84 后在 经度 {c.x:.4f}、纬度 {c.y:.4f}，远离所查图层（经度 {w:.2f}–{e:.2f}，纬度 "
            f"{s:.2f}–{n:.2f}）。请检查坐标顺序（先 x/经度，后 y/纬度；EPSG:4549/4528 为 东坐标,北坐标）和 crs 参数。")


def _result(kind: str, params: dict, hits: list[QueryHit], layer_ids: Iterable[str], *,
            catalog=None, where=None) -> QueryResult:
    """``catalog``/``where`` (the query's WGS 84 point or geometry): add a ``note`` when nothing was found far
    from the data."""
    per = {lid: 0 for lid in layer_ids}
    for h in hits:
        per[h.layer_id] = per.get(h.layer_id, 0) + 1
    note = _far_note(catalog, list(per), where) if not hits and catalog is not None and where is not None else None
    skipped = getattr(layer_ids, "skipped", ())
    if skipped:
        left_out = f"图层 {'、'.join(skipped)} 的数据源暂时无法读取，本次查询未包含。"
        note = left_out if note is None else f"{left_out}{note}"
    return QueryResult.model_construct(kind=kind, params=jsonable(params), count=len(hits), layers=per, hits=hits,
                                       note=note)


def _check_filter_known(catalog, ids: list[str], cf: CompiledFilter | None) -> None:
    """In a multi-layer query, a filter whose properties no queried layer has in full is a user mistake."""
    check_filter_usable([_filter_view(catalog, lid) for lid in ids], cf)


# ------------------------------------------------------------------------------------------------ queries
def at_point(catalog, lon, lat, *, crs=None, tolerance=0.0, layers=None, filter=None,
             with_geometry: bool = False) -> QueryResult:
    """Features of every (or the chosen) layer that contain the point or lie within ``tolerance`` metres.

    ``lon, lat`` are in ``crs`` (default WGS 84; also EPSG:4490/4549/4528/3857, GCJ-02, BD-09). Hits are
    ordered layer by layer, nearest first, with ``distance_m`` (0 inside a polygon).
    """
    tol = check_distance(tolerance, parameter="tolerance")
    pt = parse_point(lon, lat, crs)
    ids = _layer_ids(catalog, layers)
    cf = _compile(filter)
    _check_filter_known(catalog, ids, cf)
    pt_m = transform_geometry(pt, "EPSG:4326", MEASURE_CRS)
    hits: list[QueryHit] = []
    for lid in ids:
        index = layer_index(catalog, lid, area=_around(pt, tol))
        if len(index) == 0:
            continue
        if tol > 0:
            cand = index.tree_4549.query(pt_m, predicate="dwithin", distance=tol)
        else:
            cand = index.tree.query(pt, predicate="intersects")
        if len(cand) == 0:
            continue
        keep = _filter_mask(index, cf, strict=len(ids) == 1)
        if keep is not None:
            cand = cand[keep[cand]]
        dist = shapely.distance(index.geoms_4549[cand], pt_m) if tol > 0 else np.zeros(len(cand))
        if tol > 0:   # a point inside a polygon is at distance 0 whatever the projection's rounding
            inside = shapely.intersects(index.geoms[cand], pt)
            dist = np.where(inside, 0.0, dist)
        for j in np.argsort(dist, kind="stable"):
            hits.append(_hit(index, int(cand[j]), with_geometry=with_geometry, distance_m=round(float(dist[j]), 2)))
    params = {"lon": float(lon), "lat": float(lat), "crs": parse_crs(crs).code, "tolerance_m": tol,
              "wgs84": [pt.x, pt.y], "layers": ids, "filter": cf.text if cf else None}
    return _result("point", params, hits, ids, catalog=catalog, where=pt)


def in_geometry(catalog, geometry, *, crs=None, predicate: str = "intersects", layers=None, filter=None,
                with_geometry: bool = False) -> QueryResult:
    """Features that intersect / lie within / contain a user geometry (GeoJSON in any supported CRS).

    ``predicate`` is read as "feature <predicate> geometry": ``within`` = features inside the outline,
    ``contains`` = features that contain it. Each hit carries the ellipsoidal area of its part inside the
    geometry (m² and 亩) and that part's share of the feature.
    """
    pred = str(predicate).lower()
    if pred not in PREDICATES:
        raise InvalidParameter(f"未知的空间关系 '{predicate}'；可用：{', '.join(PREDICATES)}", parameter="predicate")
    geom = parse_geometry(geometry, crs)
    ids = _layer_ids(catalog, layers)
    cf = _compile(filter)
    _check_filter_known(catalog, ids, cf)
    # the tree's predicate is "geometry <pred> feature"; ours is "feature <pred> geometry"
    tree_pred = {"intersects": "intersects", "within": "contains", "contains": "within"}[pred]
    shapely.prepare(geom)
    hits: list[QueryHit] = []
    for lid in ids:
        index = layer_index(catalog, lid, area=geom)
        if len(index) == 0:
            continue
        cand = index.tree.query(geom, predicate=tree_pred)
        keep = _filter_mask(index, cf, strict=len(ids) == 1)
        if keep is not None and len(cand):
            cand = cand[keep[cand]]
        if len(cand) == 0:
            continue
        cand = np.sort(cand)
        is_poly = np.isin(shapely.get_type_id(index.geoms[cand]), (3, 6))
        inter_m2 = np.full(len(cand), np.nan)
        if is_poly.any():
            pc = cand[is_poly]
            if pred == "within":
                inter_m2[is_poly] = index.area_m2[pc]
            else:
                inter_m2[is_poly] = intersection_area(index.geoms[pc], geom)
        for j, i in enumerate(cand):
            extra = {}
            if is_poly[j]:
                a = float(index.area_m2[i])
                extra = {"intersection_m2": round(float(inter_m2[j]), 1),
                         "intersection_mu": round(float(mu_from_m2(inter_m2[j])), 2),
                         "share_of_feature": round(float(inter_m2[j] / a), 4) if a > 0 else None}
            hits.append(_hit(index, int(i), with_geometry=with_geometry, **extra))
    if crs is None and isinstance(geometry, (str, bytes, dict)):
        crs = _declared_crs(geometry)
    params = {"predicate": pred, "crs": parse_crs(crs).code, "layers": ids, "filter": cf.text if cf else None,
              "area_m2": round(float(ellipsoidal_area(geom)), 1), "bounds": list(geom.bounds)}
    return _result("geometry", params, hits, ids, catalog=catalog, where=geom)


def near(catalog, layer, near, distance, *, filter=None, near_filter=None,
         with_geometry: bool = False, with_buffer: bool = False, buffer_crs=None) -> QueryResult:
    """Features of ``layer`` (a layer id, a list, or None = every other spatial layer) within ``distance``
    metres of any feature of ``near`` (buffers measured in EPSG:4549). ``near_filter`` narrows the features of
    ``near`` (e.g. ``name = '昆山南站'``). Each hit names its nearest ``near`` feature and the distance to it;
    when ``layer`` includes ``near`` itself, a feature is never its own neighbour.
    ``with_buffer``: the result's ``buffer`` is the searched area (``near_buffer``) as a GeoJSON geometry in
    ``buffer_crs`` (default WGS 84; GCJ-02 for a map on an AMap basemap), for the viewer to draw the ring(s).
    """
    out_crs = parse_crs(buffer_crs or "EPSG:4326")
    d = check_distance(distance)
    ncf = _compile(near_filter)
    near_index = layer_index(catalog, near, filter=ncf)
    if not near_index.layer.is_spatial:
        raise InvalidParameter(f"图层 '{near}' 没有几何，不能做距离查询", parameter="near")
    chosen = _layer_ids(catalog, layer)
    ids = _LayerIds(lid for lid in chosen if layer or lid != near)
    ids.skipped = getattr(chosen, "skipped", ())
    cf = _compile(filter)
    _check_filter_known(catalog, ids, cf)
    src = np.arange(len(near_index))
    nkeep = _filter_mask(near_index, ncf, strict=True)
    if nkeep is not None:
        src = src[nkeep]
    src_geoms = near_index.geoms_4549[src]
    reach = _around(shapely.union_all(near_index.geoms[src]), d) if len(src) else None
    hits: list[QueryHit] = []
    for lid in ids:
        index = layer_index(catalog, lid, area=reach) if reach is not None else layer_index(catalog, lid)
        if len(index) == 0 or len(src) == 0:
            continue
        # pairs (near feature, target feature) within d, from the target layer's metric tree
        qi, ti = index.tree_4549.query(src_geoms, predicate="dwithin", distance=d)
        if lid == near and len(ti):               # a feature is not its own neighbour (compared by id: a pushdown
            other = index.ids[ti] != near_index.ids[src[qi]]   # layer's indexes are built per query)
            qi, ti = qi[other], ti[other]
        if len(ti) == 0:
            continue
        keep = _filter_mask(index, cf, strict=len(ids) == 1)
        if keep is not None:
            sel = keep[ti]
            qi, ti = qi[sel], ti[sel]
            if len(ti) == 0:
                continue
        dist = shapely.distance(index.geoms_4549[ti], src_geoms[qi])
        order = np.lexsort((dist, ti))                  # per target: nearest near-feature first
        ti_s, qi_s, d_s = ti[order], qi[order], dist[order]
        first = np.r_[True, ti_s[1:] != ti_s[:-1]]
        ti_u, qi_u, d_u = ti_s[first], qi_s[first], d_s[first]
        for j in np.argsort(d_u, kind="stable"):
            n_i = int(src[qi_u[j]])
            hits.append(_hit(index, int(ti_u[j]), with_geometry=with_geometry, distance_m=round(float(d_u[j]), 2),
                             near_id=str(near_index.ids[n_i]), near_name=str(near_index.names[n_i]) or None))
    params = {"layers": ids, "near": near, "distance_m": d, "filter": cf.text if cf else None,
              "near_filter": ncf.text if ncf else None, "near_count": int(len(src))}
    if with_buffer:
        params["buffer_crs"] = out_crs.code
    result = _result("near", params, hits, ids)
    if with_buffer and len(src) > BUFFER_MAX_FEATURES:
        left_out = f"参照要素有 {len(src):,} 个（超过 {BUFFER_MAX_FEATURES:,} 个），未返回查询范围（buffer）。"
        result.note = left_out if result.note is None else f"{result.note}{left_out}"
    elif with_buffer and len(src):
        result.buffer = near_buffer(src_geoms, d, crs=out_crs)
    return result


#: a near query's ``buffer`` is the union of one buffer per reference feature: beyond this many it is not built
#: (a union of tens of thousands of buffers costs seconds and draws as one blot anyway); the ``note`` says so
BUFFER_MAX_FEATURES = 5_000
#: segments per quarter circle of a drawn buffer ring: 16 keeps the ring within 0.2 % of the true distance
BUFFER_QUAD_SEGS = 16
#: the drawn ring is simplified to this many metres (a fraction of a screen pixel at the zoom it is read at)
BUFFER_SIMPLIFY_M = 0.5


def near_buffer(geoms_4549, distance: float, *, crs="EPSG:4326") -> dict[str, Any] | None:
    """The area within ``distance`` metres of the given EPSG:4549 geometries (union of their buffers, measured
    in EPSG:4549 as the query is) as a GeoJSON geometry in ``crs`` (default WGS 84); ``None`` for no geometries."""
    geoms = np.asarray(geoms_4549, dtype=object)
    geoms = geoms[~shapely.is_missing(geoms)]
    if not len(geoms):
        return None
    zone = shapely.union_all(shapely.buffer(geoms, float(distance), quad_segs=BUFFER_QUAD_SEGS))
    zone = shapely.simplify(zone, BUFFER_SIMPLIFY_M, preserve_topology=True)
    return jsonable(shapely.geometry.mapping(transform_geometry(zone, MEASURE_CRS, crs)))


def nearest(catalog, lon, lat, layer, k: int = 5, *, crs=None, filter=None, max_distance=None,
            with_geometry: bool = False) -> QueryResult:
    """The ``k`` features of ``layer`` nearest to a point, with distances in metres (EPSG:4549)."""
    n = _check_k(k)
    pt = parse_point(lon, lat, crs)
    maxd = check_distance(max_distance, parameter="max_distance") if max_distance is not None else None
    cf = _compile(filter)
    index = _nearest_index(catalog, layer, pt, n, maxd, cf)
    if not index.layer.is_spatial:
        raise InvalidParameter(f"图层 '{layer}' 没有几何，不能做最近查询", parameter="layer")
    pt_m = transform_geometry(pt, "EPSG:4326", MEASURE_CRS)
    keep = _filter_mask(index, cf, strict=True)
    hits: list[QueryHit] = []
    if len(index):
        if keep is None and maxd is None and n < len(index):
            # grow a search radius until it holds k features (the tree answers each step in microseconds)
            radius = 200.0
            while True:
                cand = index.tree_4549.query(pt_m, predicate="dwithin", distance=radius)
                if len(cand) >= n or radius > 4 * MAX_DISTANCE_M:
                    break
                radius *= 4
            if len(cand) < n:
                cand = np.arange(len(index))
        elif maxd is not None:
            cand = index.tree_4549.query(pt_m, predicate="dwithin", distance=maxd)
        else:
            cand = np.arange(len(index))
        if keep is not None:
            cand = cand[keep[cand]]
        dist = shapely.distance(index.geoms_4549[cand], pt_m)
        inside = shapely.intersects(index.geoms[cand], pt)
        dist = np.where(inside, 0.0, dist)
        order = np.lexsort((cand, dist))[:n]
        for j in order:
            hits.append(_hit(index, int(cand[j]), with_geometry=with_geometry, distance_m=round(float(dist[j]), 2)))
    params = {"lon": float(lon), "lat": float(lat), "crs": parse_crs(crs).code, "layer": layer, "k": n,
              "max_distance_m": maxd, "filter": cf.text if cf else None, "wgs84": [pt.x, pt.y]}
    return _result("nearest", params, hits, [layer], catalog=catalog, where=pt)


def _nearest_index(catalog, layer: str, pt, n: int, maxd: float | None, cf) -> LayerIndex:
    """The layer's index; for a pushdown layer, the features within ``maxd`` of the point, or within the
    smallest of a growing series of radii that holds ``n`` features passing the filter."""
    if not getattr(catalog.collection(layer).state(), "pushdown", False):
        return layer_index(catalog, layer)
    if maxd is not None:
        return layer_index(catalog, layer, area=_around(pt, maxd), filter=cf)
    radius = 200.0
    while True:
        index = layer_index(catalog, layer, area=_around(pt, radius), filter=cf)
        if len(index) >= n or radius > 4 * MAX_DISTANCE_M:
            return index
        radius *= 4


def select(catalog, layers, filter, *, with_geometry: bool = False) -> QueryResult:
    """Features of the given layer(s) that match a CQL2 filter (attribute and/or spatial), no other query."""
    ids = _layer_ids(catalog, layers)
    cf = _compile(filter)
    if cf is None:
        raise InvalidParameter("过滤条件为空", parameter="filter")
    _check_filter_known(catalog, ids, cf)
    hits: list[QueryHit] = []
    for lid in ids:
        view = _filter_view(catalog, lid)
        if getattr(view, "pushdown", False) and missing_properties(view, cf):
            continue          # the filter rule: among several layers, one lacking a property contributes nothing
        index = layer_index(catalog, lid, filter=cf)
        keep = _filter_mask(index, cf, strict=len(ids) == 1)
        for i in np.flatnonzero(keep):
            hits.append(_hit(index, int(i), with_geometry=with_geometry))
    return _result("filter", {"layers": ids, "filter": cf.text}, hits, ids)


#: text properties searched besides ``name`` (a hit there ranks after every name hit)
SEARCH_FIELDS = ("alt_name", "functions", "park", "river", "parcel_id")


def search_names(catalog, text, *, limit: int = 20, layers=None) -> list[SearchHit]:
    """Features whose name (or alternative name, functions, …) contains ``text``, case-insensitive.

    Ranked exact name match, then names starting with the text, then names containing it, then other
    fields; shorter names first within a rank. Each hit has the feature's bbox and a point on it for the
    viewer to fly to. Non-spatial layers (indicators) are searched too; their bbox is null.
    """
    q = str(text or "").strip()
    if not q:
        raise InvalidParameter("搜索内容为空", parameter="q")
    if len(q) > 100:
        raise InvalidParameter("搜索内容过长（最多 100 个字符）", parameter="q")
    try:
        limit = int(limit)
    except (TypeError, ValueError):
        raise InvalidParameter(f"limit = '{limit}' 不是整数", parameter="limit") from None
    if limit < 1 or limit > 500:
        raise InvalidParameter("limit 应在 1 到 500 之间", parameter="limit")
    ql = q.casefold()
    if layers is None:                  # every layer whose data can be read now
        ids, failed = catalog.readable(catalog.ids, in_memory=True)
        if failed:
            logging.getLogger("kfqmap.query").warning("search skipped layers whose store failed: %s", ", ".join(failed))
    else:
        ids = [p.strip() for p in (layers.split(",") if isinstance(layers, str) else layers) if p.strip()]
    found: list[tuple[int, int, int, SearchHit]] = []
    for order, lid in enumerate(ids):
        layer = catalog.get(lid)
        frame = catalog.read(lid)
        if "name" not in frame.columns or len(frame) == 0:
            continue
        names = frame["name"].astype("string").fillna("")
        low = names.str.casefold()
        rank = np.full(len(frame), 9)
        rank[low.str.contains(ql, regex=False).to_numpy(dtype=bool)] = 2
        rank[low.str.startswith(ql).to_numpy(dtype=bool)] = 1
        rank[(low == ql).to_numpy(dtype=bool)] = 0
        field = np.full(len(frame), "name", dtype=object)
        for col in SEARCH_FIELDS:
            if col in frame.columns:
                hit = frame[col].astype("string").fillna("").str.casefold().str.contains(ql, regex=False)
                hit = hit.to_numpy(dtype=bool) & (rank == 9)
                rank[hit] = 3
                field[hit] = col
        geoms = frame.geometry.values if layer.is_spatial else None
        for i in np.flatnonzero(rank < 9):
            bbox = center = None
            if geoms is not None and geoms[i] is not None and not geoms[i].is_empty:
                g = geoms[i]
                bbox = [round(v, 6) for v in g.bounds]
                p = g.representative_point() if g.geom_type in ("Polygon", "MultiPolygon") else g.interpolate(0.5, normalized=True) if "Line" in g.geom_type else g.centroid
                center = [round(p.x, 6), round(p.y, 6)]
            hit = SearchHit(layer_id=lid, layer_title_zh=layer.title_zh, group=layer.group, id=str(frame.index[i]),
                            name=str(names.iloc[i]), match=["exact", "prefix", "contains", "other_field"][rank[i]],
                            field=str(field[i]), bbox=bbox, center=center)
            found.append((int(rank[i]), len(hit.name), order, hit))
    found.sort(key=lambda t: (t[0], t[1], t[2]))
    return [t[3] for t in found[:limit]]


__all__ = ["LayerIndex", "layer_index", "at_point", "in_geometry", "near", "near_buffer", "nearest", "select", "search_names",
           "parse_point", "parse_geometry", "check_distance", "MAX_DISTANCE_M", "PREDICATES"]
