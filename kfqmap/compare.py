"""Comparison (对比分析) of two states of a layer, or of two layers: features added, removed and changed
(geometry and attributes), with the land gained and lost in 亩, summarised per feature of a zone layer
(parks, cores…).

``compare_frames(a, b, key="id", zones=None)`` is the whole computation on two GeoDataFrames in WGS 84 (a layer
now and an imported version, two states from history, two layers); ``compare(catalog, a, b, by=…)`` takes layer
ids. Features are matched by ``key`` (the OGC feature id by default). A matched feature is *changed* when its
geometry differs (``shapely.equals`` — the same shape drawn with other vertices is not a change — and some point
moved by more than ``GEOMETRY_TOLERANCE_M``, 1 cm, so a round trip through EPSG:4549 is not a change) or a property
common to both sides differs. Areas are ellipsoidal (CGCS2000) and every difference is computed in the same
equal-area plane as ``kfqmap.area`` (``to_equal_area``), so for each feature ``area_b − area_a = gained − lost``.

Totals add the features' gains and losses (overlapping features count each); ``by_zone`` splits the same gains and
losses by the zone features they fall in (a gain outside every zone is listed under “（区外）”).
"""
from __future__ import annotations

from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.geometry
from pydantic import BaseModel, Field

from .area import ellipsoidal_area, to_equal_area
from .crs import parse_crs, transform_geometry
from .errors import InvalidGeometry, InvalidParameter
from .models import jsonable
from .units import mu_from_m2

#: a shape whose every point stays within this distance (Hausdorff, metres) is the same shape
GEOMETRY_TOLERANCE_M = 0.01
#: properties never compared (store bookkeeping, not the feature's content)
IGNORED = frozenset({"fid", "geometry", "geom"})
OUTSIDE = "（区外）"


class AttributeChange(BaseModel):
    name: str
    a: Any = None
    b: Any = None


class FeatureChange(BaseModel):
    id: str
    name: str | None = None
    change: Literal["added", "removed", "changed"]
    geometry_changed: bool = False
    attributes: list[AttributeChange] = Field(default_factory=list)
    area_a_mu: float | None = Field(None, description="ellipsoidal area in A, 亩 (polygons only)")
    area_b_mu: float | None = None
    gained_mu: float = Field(0.0, description="area in B that was not in A (this feature), 亩")
    lost_mu: float = Field(0.0, description="area in A that is not in B (this feature), 亩")
    geometry: dict | None = Field(None, description="with_geometry: GeoJSON (WGS 84) — B's shape, A's for a removed one")
    geometry_a: dict | None = Field(None, description="with_geometry, changed shapes: A's shape")


class ZoneChange(BaseModel):
    zone_id: str
    zone_name: str | None = None
    added: int = 0
    removed: int = 0
    changed: int = 0
    gained_mu: float = 0.0
    lost_mu: float = 0.0


class Comparison(BaseModel):
    a: str
    b: str
    key: str
    counts: dict[str, int] = Field(description="added, removed, changed, unchanged")
    gained_mu: float
    lost_mu: float
    net_mu: float = Field(description="gained − lost")
    features: list[FeatureChange] = Field(description="every added, removed or changed feature")
    by: str | None = Field(None, description="the zone layer of by_zone")
    by_zone: list[ZoneChange] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


def _keys(frame, key: str) -> pd.Index:
    if key in frame.columns:
        values = frame[key]
        if values.isna().any():
            raise InvalidParameter(f"比较键 {key} 有空值（every feature needs a {key}）", parameter="key")
        idx = pd.Index(values.astype(str))
    elif key == "id":
        idx = pd.Index(frame.index.astype(str))
    else:
        raise InvalidParameter(f"比较键 {key} 不是两边都有的属性（unknown key property）", parameter="key")
    if idx.has_duplicates:
        dup = idx[idx.duplicated()][0]
        raise InvalidParameter(f"比较键 {key} 不唯一：'{dup}' 出现多次（the key must be unique）", parameter="key")
    return idx


def _text(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _same(x, y) -> bool:
    """Equal values, or the same value written differently (2023 and 2023.0, True and "True" — a file round trip
    through GeoJSON/Shapefile changes types, not content)."""
    x, y = jsonable(x), jsonable(y)
    return x == y or _text(x) == _text(y)


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    t = shapely.get_type_id(geoms)
    return (t == 3) | (t == 6)


def compare_frames(a, b, *, a_label: str = "A", b_label: str = "B", key: str = "id", zones=None,
                   zones_label: str | None = None, with_geometry: bool = False) -> Comparison:
    """Compare GeoDataFrames ``a`` (before) and ``b`` (after), both EPSG:4326 (see the module doc)."""
    ka, kb = _keys(a, key), _keys(b, key)
    ga = np.asarray(a.geometry.values, dtype=object)
    gb = np.asarray(b.geometry.values, dtype=object)
    ea_a = to_equal_area(ga)
    ea_b = to_equal_area(gb)
    pos_a = {k: i for i, k in enumerate(ka)}
    pos_b = {k: i for i, k in enumerate(kb)}
    common = [k for k in ka if k in pos_b]
    added = [k for k in kb if k not in pos_a]
    removed = [k for k in ka if k not in pos_b]
    props = [c for c in a.columns if c in b.columns and c not in IGNORED and c != a.geometry.name
             and c != b.geometry.name]

    # the pieces of geometry gained and lost, per feature, in the equal-area plane
    area_a = ellipsoidal_area(ga)
    area_b = ellipsoidal_area(gb)
    poly_a, poly_b = _polygonal(ga), _polygonal(gb)
    ia = np.array([pos_a[k] for k in common], dtype=int)
    ib = np.array([pos_b[k] for k in common], dtype=int)
    geom_changed = ~np.asarray(shapely.equals(ga[ia], gb[ib]), dtype=bool) if len(common) else np.zeros(0, bool)
    if geom_changed.any():   # a round trip through another CRS moves vertices by nanometres: not a change
        k = np.flatnonzero(geom_changed)
        moved = np.asarray(shapely.hausdorff_distance(ea_a[ia[k]], ea_b[ib[k]]), dtype=float)
        geom_changed[k[np.nan_to_num(moved, nan=np.inf) <= GEOMETRY_TOLERANCE_M]] = False
    both_poly = poly_a[ia] & poly_b[ib] if len(common) else np.zeros(0, bool)
    gain_geom = np.full(len(common), None, dtype=object)
    loss_geom = np.full(len(common), None, dtype=object)
    sel = geom_changed & both_poly
    if sel.any():
        gain_geom[sel] = shapely.difference(ea_b[ib[sel]], ea_a[ia[sel]])
        loss_geom[sel] = shapely.difference(ea_a[ia[sel]], ea_b[ib[sel]])

    changes: list[FeatureChange] = []
    pieces: list[tuple[str, Any, Any]] = []       # (change, gained piece, lost piece) in the equal-area plane
    name_col = "name" if "name" in props or "name" in b.columns or "name" in a.columns else None

    def name_of(frame, i):
        return str(frame[name_col].iloc[i]) if name_col and name_col in frame.columns and \
            jsonable(frame[name_col].iloc[i]) is not None else None

    unchanged = 0
    for j, k in enumerate(common):
        i_a, i_b = ia[j], ib[j]
        attrs = [AttributeChange(name=c, a=jsonable(a[c].iloc[i_a]), b=jsonable(b[c].iloc[i_b]))
                 for c in props if c != key and not _same(a[c].iloc[i_a], b[c].iloc[i_b])]
        if not geom_changed[j] and not attrs:
            unchanged += 1
            continue
        g_m2 = float(shapely.area(gain_geom[j])) if gain_geom[j] is not None else 0.0
        l_m2 = float(shapely.area(loss_geom[j])) if loss_geom[j] is not None else 0.0
        changes.append(FeatureChange(
            id=k, name=name_of(b, i_b), change="changed", geometry_changed=bool(geom_changed[j]), attributes=attrs,
            area_a_mu=_mu(area_a[i_a]) if poly_a[i_a] else None, area_b_mu=_mu(area_b[i_b]) if poly_b[i_b] else None,
            gained_mu=_mu(g_m2), lost_mu=_mu(l_m2)))
        pieces.append(("changed", gain_geom[j], loss_geom[j]))
    for k in added:
        i = pos_b[k]
        changes.append(FeatureChange(id=k, name=name_of(b, i), change="added",
                                     area_b_mu=_mu(area_b[i]) if poly_b[i] else None,
                                     gained_mu=_mu(area_b[i]) if poly_b[i] else 0.0))
        pieces.append(("added", ea_b[i] if poly_b[i] else None, None))
    for k in removed:
        i = pos_a[k]
        changes.append(FeatureChange(id=k, name=name_of(a, i), change="removed",
                                     area_a_mu=_mu(area_a[i]) if poly_a[i] else None,
                                     lost_mu=_mu(area_a[i]) if poly_a[i] else 0.0))
        pieces.append(("removed", None, ea_a[i] if poly_a[i] else None))

    gained = sum(c.gained_mu for c in changes)
    lost = sum(c.lost_mu for c in changes)
    notes = ["面积为 CGCS2000 椭球面积（亩）；差异在等积平面中计算，每个要素的 B 面积 − A 面积 = 增加 − 减少"]
    if common == [] and ka.size and kb.size:
        notes.append(f"两边没有相同的 {key}：全部按新增/删除计（两个不同图层的比较）")
    by_zone = _by_zone(zones, pieces) if zones is not None else []
    if with_geometry:
        for f in changes:
            if f.change == "removed":
                f.geometry = _geojson(ga[pos_a[f.id]])
            else:
                f.geometry = _geojson(gb[pos_b[f.id]])
                if f.change == "changed" and f.geometry_changed:
                    f.geometry_a = _geojson(ga[pos_a[f.id]])
    return Comparison(a=a_label, b=b_label, key=key,
                      counts={"added": len(added), "removed": len(removed),
                              "changed": sum(1 for c in changes if c.change == "changed"), "unchanged": unchanged},
                      gained_mu=round(gained, 2), lost_mu=round(lost, 2), net_mu=round(gained - lost, 2),
                      features=changes, by=zones_label, by_zone=by_zone, notes=notes)


def _geojson(g) -> dict | None:
    if g is None or shapely.is_empty(g):
        return None
    return shapely.geometry.mapping(g)


def _mu(m2) -> float:
    return round(float(mu_from_m2(float(m2))), 2)


def _by_zone(zones, pieces) -> list[ZoneChange]:
    zg = to_equal_area(np.asarray(zones.geometry.values, dtype=object))
    names = zones["name"].astype(str).tolist() if "name" in zones.columns else [None] * len(zones)
    ids = [str(i) for i in (zones["id"] if "id" in zones.columns else zones.index)]
    rows = {zid: ZoneChange(zone_id=zid, zone_name=n) for zid, n in zip(ids, names)}
    outside = ZoneChange(zone_id=OUTSIDE, zone_name=OUTSIDE)
    union = shapely.union_all(zg) if len(zg) else None
    for change, gain, loss in pieces:
        touched: set[str] = set()
        for piece, attr in ((gain, "gained_mu"), (loss, "lost_mu")):
            if piece is None or shapely.is_empty(piece):
                continue
            inside = np.asarray(shapely.area(shapely.intersection(zg, piece)), dtype=float)
            for zid, m2 in zip(ids, inside):
                if m2 > 0:
                    setattr(rows[zid], attr, round(getattr(rows[zid], attr) + float(mu_from_m2(m2)), 2))
                    touched.add(zid)
            rest = float(shapely.area(shapely.difference(piece, union))) if union is not None else float(shapely.area(piece))
            if rest > 1e-6:
                setattr(outside, attr, round(getattr(outside, attr) + float(mu_from_m2(rest)), 2))
                touched.add(OUTSIDE)
        for zid in touched:
            z = outside if zid == OUTSIDE else rows[zid]
            setattr(z, change, getattr(z, change) + 1)
    out = [z for z in rows.values() if z.gained_mu or z.lost_mu or z.added or z.removed or z.changed]
    if outside.gained_mu or outside.lost_mu:
        out.append(outside)
    return out


#: features an uploaded version may have (POST /compare; a request body is at most 2 MB anyway)
MAX_UPLOAD_FEATURES = 50_000


def frame_from_geojson(doc, *, crs=None, parameter: str = "b"):
    """A GeoJSON FeatureCollection (an imported version of a layer) → GeoDataFrame in EPSG:4326, checked: a
    FeatureCollection of features with valid geometries, coordinates in ``crs`` (default WGS 84)."""
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise InvalidGeometry("需要 GeoJSON FeatureCollection（a FeatureCollection is needed）", parameter=parameter)
    feats = doc["features"]
    if not feats:
        raise InvalidGeometry("FeatureCollection 中没有要素", parameter=parameter)
    if len(feats) > MAX_UPLOAD_FEATURES:
        raise InvalidParameter(f"要素过多：{len(feats)} 个（最多 {MAX_UPLOAD_FEATURES} 个）", parameter=parameter)
    try:
        frame = gpd.GeoDataFrame.from_features(feats, crs=4326)
    except Exception as exc:        # shapely/geopandas raise several kinds for broken GeoJSON
        raise InvalidGeometry(f"GeoJSON 无法解析：{str(exc)[:120]}", parameter=parameter) from None
    geoms = np.asarray(frame.geometry.values, dtype=object)
    if crs is not None:
        geoms = transform_geometry(geoms, parse_crs(crs), "EPSG:4326")
        frame = frame.set_geometry(gpd.GeoSeries(geoms, index=frame.index, crs=4326))
    coords = shapely.get_coordinates(geoms)
    if len(coords) and (not np.isfinite(coords).all() or (np.abs(coords[:, 0]) > 180).any()
                        or (np.abs(coords[:, 1]) > 90).any()):
        raise InvalidGeometry("坐标不是经纬度：请用 crs 给出坐标系（如 EPSG:4549）", parameter="crs")
    bad = np.flatnonzero(~shapely.is_valid(geoms) & ~shapely.is_missing(geoms))
    if len(bad):
        raise InvalidGeometry(f"第 {bad[0] + 1} 个要素的几何无效：{shapely.is_valid_reason(geoms[bad[0]])}",
                              parameter=parameter)
    ids = [f.get("id") if isinstance(f, dict) else None for f in feats]
    if "id" not in frame.columns and all(i is not None for i in ids):
        frame["id"] = [str(i) for i in ids]
    return frame


def compare_upload(catalog, a: str, doc, *, crs=None, key: str = "id", by: str | None = None,
                   with_geometry: bool = False) -> Comparison:
    """Layer ``a`` (the current state) against an uploaded version ``doc`` (a GeoJSON FeatureCollection)."""
    zones = _zones(catalog, by)
    return compare_frames(catalog.read(a), frame_from_geojson(doc, crs=crs), a_label=a, b_label="上传的版本",
                          key=key, zones=zones, zones_label=by, with_geometry=with_geometry)


def _zones(catalog, by):
    if by is None:
        return None
    layer = catalog.get(by)
    if not layer.is_polygonal:
        raise InvalidParameter(f"汇总图层 {by} 不是面图层（by must be a polygon layer）", parameter="by")
    return catalog.read(by)


def compare(catalog, a: str, b: str, *, key: str = "id", by: str | None = None,
            with_geometry: bool = False) -> Comparison:
    """Compare catalog layers ``a`` (before) and ``b`` (after); ``by``: a polygon layer to summarise by."""
    fa, fb = catalog.read(a), catalog.read(b)
    zones = _zones(catalog, by)
    return compare_frames(fa, fb, a_label=a, b_label=b, key=key, zones=zones, zones_label=by,
                          with_geometry=with_geometry)
