"""Statistics of catalog layers, built on the measures of ``kfqmap.area``: per feature and per layer
(``frame_stats``, ``layer_stats``), per group of the plan's structure (``group_stats``), overlays of two layers
(``overlay_pairs``, ``overlay_stats``) and progress against the plan's targets (``land_progress``,
``indicator_progress``, ``plan_figures``, ``progress``).

All return the pydantic models of ``kfqmap.models``; areas are ellipsoidal (CGCS2000, ``area.ellipsoidal_area``),
with the Gauss-Krüger EPSG:4549 area beside them where shown. Floor areas are never computed from polygons.
"""
from __future__ import annotations

import datetime

import numpy as np
import pandas as pd
import shapely

from .area import ellipsoidal_area, gk_area, lengths_m, to_equal_area
from .catalog import parse_figures
from .cql import parse_filter
from .errors import InvalidParameter
from .filters import filter_mask
from .models import (GROUPS, FeatureArea, GroupStats, IndicatorProgress, LandProgress, LayerStats, OverlayRow,
                     OverlayStats, PlanFigure, Progress, StatusRow, UnitInfo, YearRow, jsonable)
from .monitor import indicator_status
from .providers.postgis_pushdown import area_stats
from .query import layer_index
from .units import area_unit, mu_from_m2, round_area

#: shapely geometry type ids of polygons and of lines
_POLYGONAL = (int(shapely.GeometryType.POLYGON), int(shapely.GeometryType.MULTIPOLYGON))
_LINEAR = (int(shapely.GeometryType.LINESTRING), int(shapely.GeometryType.LINEARRING),
           int(shapely.GeometryType.MULTILINESTRING))

#: the plan's structure groups that statistics are reported for (models.GROUPS order)
PLAN_GROUPS = ("两轴三带", "两核多园", "一带四园", "更新地块", "低效用地")
#: properties shown beside each feature in per-feature statistics, when the layer has them
STAT_PROPERTIES = ("park_type", "park", "status", "year", "area_mu", "part", "river", "plan_status", "land_use",
                   "placeholder", "illustrative")
#: layers with more features than this get no union area (it would cost seconds) — noted in the result
UNION_MAX_FEATURES = 20_000
#: figure kinds that are land areas (comparable with polygons) and floor areas (never compared)
LAND_FIGURES = ("land_area",)
FLOOR_FIGURES = ("floor_area", "demolition_floor_area", "pv_area")


def _unit_info(unit):
    u = area_unit(unit)
    return u, UnitInfo(code=u.code, symbol_zh=u.symbol_zh, name_en=u.name_en, decimals=u.decimals)


def _in_unit(m2, u) -> float:
    return round_area(float(m2) / u.m2, u.code)


def _m2(v) -> float:
    return round(float(v), 1)


def _json_column(col) -> list:
    """A pandas column as a list of JSON-safe Python values (NaN / NA → None), converted column-wise."""
    if pd.api.types.is_bool_dtype(col) or (pd.api.types.is_integer_dtype(col) and not col.hasnans):
        return col.tolist()
    if pd.api.types.is_float_dtype(col):
        values = col.to_numpy(dtype="float64")
        out = values.tolist()
        for i in np.flatnonzero(~np.isfinite(values)):
            out[i] = None
        return out
    obj = col.astype(object).where(col.notna(), None).tolist()
    return [v if v is None or isinstance(v, (str, int, float, bool)) else jsonable(v) for v in obj]


def frame_stats(frame, unit: str = "mu", *, layer=None, layer_id: str = "file", features: bool = True):
    """Statistics of any lon/lat GeoDataFrame (EPSG:4326): per feature and in total (``LayerStats``).

    Polygons: ellipsoidal area (CGCS2000), Gauss-Krüger EPSG:4549 area beside it, area of the union;
    lines: geodesic length; points: count.
    """
    u, uinfo = _unit_info(unit)
    geoms = np.asarray(frame.geometry.values, dtype=object)
    types = shapely.get_type_id(geoms)
    poly = np.isin(types, _POLYGONAL)
    line = np.isin(types, _LINEAR)
    area = ellipsoidal_area(geoms) if poly.any() else np.zeros(len(geoms))
    gk = np.where(poly, gk_area(geoms), 0.0) if poly.any() else np.zeros(len(geoms))
    length = lengths_m(geoms) if (line.any() or poly.any()) else np.zeros(len(geoms))
    notes: list[str] = []
    rows = []
    if features:
        # whole columns first (rounded once, as Python objects), then one cheap model per feature
        ids = frame.index.astype(str).tolist()
        names = (frame["name"].astype("string").fillna("").tolist() if "name" in frame.columns else [""] * len(frame))
        props = {c: _json_column(frame[c]) for c in STAT_PROPERTIES if c in frame.columns}
        area_m2 = np.round(area, 1).tolist()
        gk_m2 = np.round(gk, 1).tolist()
        in_unit = np.round(area / u.m2, u.decimals).tolist()
        length_r = np.round(length, 1).tolist()
        polyl, linel = poly.tolist(), line.tolist()
        for i in range(len(frame)):   # building the result objects only: every number is computed above
            p_ = polyl[i]
            rows.append(FeatureArea.model_construct(
                id=ids[i], name=names[i] or None,
                area_m2=area_m2[i] if p_ else None, gk_area_m2=gk_m2[i] if p_ else None,
                area=in_unit[i] if p_ else None,
                length_m=length_r[i] if (linel[i] or p_) else None,
                properties={k: col[i] for k, col in props.items()}))
    total = float(area.sum())
    union_m2 = None
    if poly.any():
        if poly.sum() <= UNION_MAX_FEATURES:
            union = shapely.union_all(shapely.make_valid(geoms[poly]))
            union_m2 = float(ellipsoidal_area(union))
            if total > 0 and union_m2 < total * (1 - 1e-6):
                notes.append(f"要素之间有重叠：面积合计 {_in_unit(total, u)} {u.symbol_zh}，去重后 {_in_unit(union_m2, u)} {u.symbol_zh}")
        else:
            notes.append(f"要素超过 {UNION_MAX_FEATURES} 个，未计算去重面积")
    gk_total = float(gk.sum())
    lay = layer
    if lay is not None:
        if lay.schematic:
            notes.append(f"示意性图层：位置精度约 ±{lay.accuracy_m:g} 米，面积仅供参考" if lay.accuracy_m else "示意性图层，面积仅供参考")
        if lay.illustrative:
            notes.append("示例数据（illustrative）：几何与数值不是规划给定的")
    if lay is not None:
        geom_type = lay.geometry_type
    else:
        kinds = sorted(set(frame.geom_type.dropna())) if len(frame) else []
        geom_type = kinds[0] if len(kinds) == 1 else ("Mixed" if kinds else "None")
    return LayerStats(
        layer_id=lay.id if lay is not None else layer_id,
        title_zh=lay.title_zh if lay is not None else layer_id,
        title_en=lay.title_en if lay is not None else layer_id,
        group=lay.group if lay is not None else "额外",
        geometry_type=str(geom_type), unit=uinfo, count=int(len(frame)),
        area_m2=_m2(total) if poly.any() else None, area=_in_unit(total, u) if poly.any() else None,
        union_area_m2=_m2(union_m2) if union_m2 is not None else None,
        union_area=_in_unit(union_m2, u) if union_m2 is not None else None,
        gk_area_m2=_m2(gk_total) if poly.any() else None,
        gk_minus_ellipsoidal_pct=round((gk_total - total) / total * 100, 4) if poly.any() and total > 0 else None,
        length_m=round(float(length[line].sum()), 1) if line.any() else None,
        schematic=lay.schematic if lay is not None else False,
        illustrative=lay.illustrative if lay is not None else False,
        accuracy_m=lay.accuracy_m if lay is not None else None,
        features=rows, notes=notes)


def layer_stats(catalog, layer_id: str, unit: str = "mu", *, features: bool = True, filter=None):
    """Per-feature and total statistics of one catalog layer (``LayerStats``). See ``overlay_stats`` for
    "layer A inside each feature of layer B" (the CLI's and the server's ``by=``).

    ``filter`` (CQL2 text): statistics of the features that pass it only, e.g. ``year <= 2023`` for the
    viewer's time slider; a property the layer lacks is an ``InvalidFilter``."""
    layer = catalog.get(layer_id)
    if not layer.is_spatial:
        raise InvalidParameter(f"图层 '{layer_id}' 是指标表，没有几何；请用 kfqmap progress 查看指标", parameter="layer")
    if filter is not None and str(filter).strip():
        return _filtered_stats(catalog, layer, unit, filter, features=features)
    collection = catalog.collection(layer_id)
    if collection.pushdown:
        return _pushdown_stats(collection, unit)
    return frame_stats(catalog.read(layer_id), unit, layer=layer, features=features)


def _filtered_stats(catalog, layer, unit: str, filter, *, features: bool):
    """``layer_stats`` of the features passing a CQL2 filter (selected in SQL first for a pushdown layer)."""
    cf = parse_filter(filter)
    index = layer_index(catalog, layer.id, filter=cf)
    keep = filter_mask(index, cf, strict=True)
    out = frame_stats(index.frame[keep], unit, layer=layer, features=features)
    out.notes.insert(0, f"筛选条件：{cf.text}（{int(keep.sum()):,} 个要素）")
    return out


def _pushdown_stats(collection, unit: str):
    """Totals of a large PostGIS layer computed in the database (spheroid areas); no per-feature rows."""
    u, uinfo = _unit_info(unit)
    layer = collection.layer
    got = area_stats(collection.provider)
    polygonal = layer.is_polygonal
    notes = [f"大数据量图层：面积在数据库中按椭球面计算（ST_Area geography），共 {got['count']:,} 个要素；"
             "未列逐要素面积与去重面积，需要时请按范围导出"]
    return LayerStats(
        layer_id=layer.id, title_zh=layer.title_zh, title_en=layer.title_en, group=layer.group,
        geometry_type=layer.geometry_type, unit=uinfo, count=got["count"],
        area_m2=_m2(got["area_m2"]) if polygonal else None, area=_in_unit(got["area_m2"], u) if polygonal else None,
        length_m=round(got["length_m"], 1) if got["length_m"] else None, schematic=layer.schematic,
        illustrative=layer.illustrative, accuracy_m=layer.accuracy_m, notes=notes)


def group_stats(catalog, unit: str = "mu", *, groups=PLAN_GROUPS):
    """Statistics per group of the plan's structure (两轴三带 / 两核多园 / 一带四园 / 更新地块 / 低效用地):
    each layer's totals and the area the group's polygons cover together (overlaps counted once)."""
    u, uinfo = _unit_info(unit)
    out = []
    for group in groups:
        layers = [lyr for lyr in catalog.by_group(group) if lyr.is_spatial]
        if not layers:
            continue
        stats = [frame_stats(catalog.read(lyr.id), unit, layer=lyr, features=False) for lyr in layers]
        polys = [np.asarray(catalog.read(lyr.id).geometry.values, dtype=object) for lyr in layers if lyr.is_polygonal]
        union_m2 = None
        notes = []
        if polys:
            allp = np.concatenate(polys)
            if len(allp) <= UNION_MAX_FEATURES:
                union_m2 = float(ellipsoidal_area(shapely.union_all(shapely.make_valid(allp))))
            total = sum(s.area_m2 or 0.0 for s in stats)
            if union_m2 is not None and union_m2 < total * (1 - 1e-6):
                notes.append("组内图层互相重叠：覆盖面积（去重）小于各图层面积之和")
        lengths = [s.length_m for s in stats if s.length_m is not None]
        out.append(GroupStats(group=group, title_en=GROUPS.get(group, group), unit=uinfo, layers=stats,
                              count=sum(s.count for s in stats),
                              union_area_m2=_m2(union_m2) if union_m2 is not None else None,
                              union_area=_in_unit(union_m2, u) if union_m2 is not None else None,
                              length_m=round(sum(lengths), 1) if lengths else None, notes=notes))
    return out


# ------------------------------------------------------------------------------------------- overlay
def overlay_pairs(a_geoms, b_geoms, *, tree=None):
    """Vectorised overlay of two lon/lat geometry arrays (no per-feature Python loop).

    Returns ``(b_idx, a_idx, area_m2)``: one row per intersecting pair with the ellipsoidal area of
    A[a_idx] ∩ B[b_idx]. Everything after the envelope search happens in the equal-area plane
    (``to_equal_area``), so the pieces add up exactly to the parts of A they split: pairs where B contains A
    outright take A's own area (no intersection is computed); only pairs that cross B's boundary are
    intersected. ``tree`` may be an STRtree over ``a_geoms`` (lon/lat).
    """
    a = np.asarray(a_geoms, dtype=object)
    b = np.asarray(b_geoms, dtype=object)
    if len(a) == 0 or len(b) == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp), np.zeros(0)
    # envelope candidates, from boxes 1e-5° (~1 m) wider than B: edges straight in lon/lat and in the
    # plane differ by far less than that
    bounds = shapely.bounds(b) + np.array([-1e-5, -1e-5, 1e-5, 1e-5])
    qb = shapely.box(bounds[:, 0], bounds[:, 1], bounds[:, 2], bounds[:, 3])
    if tree is not None:
        bi, ai = tree.query(qb)                     # (b index, a index)
    elif len(b) <= len(a):
        ai, bi = shapely.STRtree(qb).query(a)       # small B: query every A against a tree of B's boxes
    else:
        bi, ai = shapely.STRtree(a).query(qb)
    if len(ai) == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp), np.zeros(0)
    b_ea = to_equal_area(b)
    shapely.prepare(b_ea)
    uniq, inv = np.unique(ai, return_inverse=True)
    a_ea = to_equal_area(a[uniq])
    A, B = a_ea[inv], b_ea[bi]
    hit = shapely.intersects(B, A)
    bi, ai, A, B = bi[hit], ai[hit], A[hit], B[hit]
    inside = shapely.contains_properly(B, A)
    area = shapely.area(A)
    cross = ~inside
    if cross.any():
        area[cross] = shapely.area(shapely.intersection(A[cross], B[cross]))
    order = np.lexsort((ai, bi))
    return bi[order], ai[order], np.asarray(area, dtype="float64")[order]


def overlay_stats(catalog, a: str, b: str, unit: str = "mu", *, dissolve: bool | None = None):
    """The area of layer A inside each feature of layer B, with the share of B it covers (``OverlayStats``).

    E.g. ``overlay_stats(cat, "low_efficiency_land", "parks")``: 低效用地 in each park. When A's features
    overlap each other, the covered area is the union of A's parts (``dissolve``; automatic for layers of up
    to ``UNION_MAX_FEATURES`` features), so a share never exceeds 100 %.
    """
    u, uinfo = _unit_info(unit)
    ia, ib = layer_index(catalog, a), layer_index(catalog, b)
    for lid, ix in ((a, ia), (b, ib)):
        if not ix.layer.is_spatial:
            raise InvalidParameter(f"图层 '{lid}' 没有几何，不能做叠加统计", parameter="layer")
    if not ib.layer.is_polygonal:
        raise InvalidParameter(f"图层 '{b}' 不是面状图层，无法计算“落在其中的面积”；请选面状图层（如 parks、cores）",
                               parameter="by")
    a_area = ia.area_m2
    b_area = ib.area_m2
    bi, ai, area = overlay_pairs(ia.geoms, ib.geoms, tree=ia.tree)
    if dissolve is None:
        dissolve = len(ia) <= UNION_MAX_FEATURES
    inside = np.bincount(bi, weights=area, minlength=len(ib))
    if dissolve and len(bi):
        # union of A's parts inside each B feature (overlapping A features counted once)
        for j in np.unique(bi):
            sel = ai[bi == j]
            if len(sel) > 1:
                union = shapely.union_all(shapely.make_valid(to_equal_area(ia.geoms[sel])))
                inside[j] = float(shapely.area(shapely.intersection(union, to_equal_area(ib.geoms[j]))))
    count = np.bincount(bi, minlength=len(ib))
    rows = []
    for j in range(len(ib)):
        sel = ai[bi == j]
        share = float(inside[j] / b_area[j]) if b_area[j] > 0 else 0.0
        rows.append(OverlayRow(
            id=str(ib.ids[j]), name=str(ib.names[j]) or None, area_m2=_m2(b_area[j]), area=_in_unit(b_area[j], u),
            inside_m2=_m2(inside[j]), inside=_in_unit(inside[j], u), share=round(min(share, 1.0), 6),
            percent=round(min(share, 1.0) * 100, 2), count=int(count[j]), ids=[str(ia.ids[i]) for i in sel]))
    # A inside the union of B (B features may overlap too)
    a_total = float(a_area.sum()) if ia.layer.is_polygonal else 0.0
    if ia.layer.is_polygonal and len(bi):
        ub = shapely.union_all(shapely.make_valid(ib.geoms)) if len(ib) <= UNION_MAX_FEATURES else None
        if ub is not None:
            _, _, in_union = overlay_pairs(ia.geoms, np.array([ub], dtype=object), tree=ia.tree)
            in_total = float(in_union.sum())
        else:
            in_total = float(area.sum())
    else:
        in_total = 0.0
    notes = []
    if not ia.layer.is_polygonal:
        notes.append(f"图层 '{a}' 不是面状图层：只统计落在每个要素中的 {ia.layer.title_zh} 个数，面积为 0")
    for ix in (ia, ib):
        if ix.layer.illustrative:
            notes.append(f"{ix.layer.title_zh}：示例数据（illustrative），不是规划给定的")
        elif ix.layer.schematic and ix.layer.accuracy_m:
            notes.append(f"{ix.layer.title_zh}：示意性边界，精度约 ±{ix.layer.accuracy_m:g} 米")
    outside = max(a_total - in_total, 0.0)
    return OverlayStats(a=a, b=b, a_title_zh=ia.layer.title_zh, b_title_zh=ib.layer.title_zh, unit=uinfo, rows=rows,
                        a_area_m2=_m2(a_total), a_area=_in_unit(a_total, u), inside_m2=_m2(in_total),
                        inside=_in_unit(in_total, u), outside_m2=_m2(outside), outside=_in_unit(outside, u),
                        notes=notes)


# ------------------------------------------------------------------------------------------- progress
LAND_LAYER = "low_efficiency_land"
LAND_TARGET_MU = 5000.0
PLAN_START, PLAN_END = 2021, 2025
DONE, DOING, TODO = "已完成", "实施中", "未启动"


def _figure_m2(value, unit) -> float | None:
    if value is None or unit is None:
        return None
    try:
        return float(value) * area_unit(unit).m2
    except Exception:
        return None


def _land_target(catalog) -> float:
    """The 5000亩 target: from the indicators row linked to the layer when there is one."""
    if "indicators" not in catalog.ids:
        return LAND_TARGET_MU
    ind = catalog.read("indicators")
    if "layer_id" in ind.columns and "target" in ind.columns:
        rows = ind[(ind["layer_id"] == LAND_LAYER) & ind["target"].notna()]
        if "unit" in ind.columns:
            rows = rows[rows["unit"].isin(["亩", "mu"])]
        if len(rows):
            return float(rows["target"].iloc[0])
    return LAND_TARGET_MU


def land_progress(catalog, year: int):
    """The 5000亩 low-efficiency land programme at ``year``: achieved, remaining, % (``LandProgress``)."""
    layer = catalog.get(LAND_LAYER)
    f = catalog.read(LAND_LAYER)
    target = _land_target(catalog)
    poly_mu = mu_from_m2(ellipsoidal_area(f.geometry.values))
    # the parcels' stated acreage; parcels without one count with their drawn area
    mu = f["area_mu"].astype("float64").fillna(pd.Series(poly_mu, index=f.index)) if "area_mu" in f.columns \
        else pd.Series(poly_mu, index=f.index)
    status = f["status"].astype("string").fillna("未知") if "status" in f.columns else None
    yr = f["year"].astype("float64") if "year" in f.columns else None
    done_all = (status == DONE).to_numpy(dtype=bool) if status is not None else np.zeros(len(f), bool)
    yv = yr.to_numpy() if yr is not None else np.full(len(f), np.nan)
    done_by = done_all & ~(yv > year)               # completed in or before ``year`` (no year: counted)
    muv = mu.to_numpy()
    achieved = float(muv[done_by].sum())
    doing = (status == DOING).to_numpy(dtype=bool) if status is not None else np.zeros(len(f), bool)
    in_progress = float(muv[doing | (done_all & ~done_by)].sum())
    identified = float(np.nansum(muv))
    not_started = float(muv[(status == TODO).to_numpy(dtype=bool)].sum()) if status is not None else 0.0
    frac = min(max((year - (PLAN_START - 1)) / (PLAN_END - PLAN_START + 1), 0.0), 1.0)
    planned = target * frac
    by_status = []
    if status is not None:
        for s in [DONE, DOING, TODO] + sorted(set(status) - {DONE, DOING, TODO}):
            m = (status == s).to_numpy(dtype=bool)
            if m.any() or s in (DONE, DOING, TODO):
                by_status.append(StatusRow(status=s, count=int(m.sum()), area_mu=round(float(muv[m].sum()), 2),
                                           polygon_area_mu=round(float(poly_mu[m].sum()), 2),
                                           share_of_target=round(float(muv[m].sum()) / target * 100, 2)))
    by_year = []
    cum = 0.0
    years = sorted({int(y) for y in yv[np.isfinite(yv)]} | set(range(PLAN_START, PLAN_END + 1)))
    for y in years:
        m = np.isfinite(yv) & (yv == y)
        done_y = float(muv[m & done_all].sum())
        cum += done_y
        py = target * min(max((y - (PLAN_START - 1)) / (PLAN_END - PLAN_START + 1), 0.0), 1.0)
        by_year.append(YearRow(year=y, count=int(m.sum()), completed_mu=round(done_y, 2),
                               cumulative_completed_mu=round(cum, 2), planned_cumulative_mu=round(py, 2),
                               in_progress_mu=round(float(muv[m & doing].sum()), 2)))
    if (~np.isfinite(yv)).any():
        m = ~np.isfinite(yv)
        by_year.append(YearRow(year=None, count=int(m.sum()), completed_mu=round(float(muv[m & done_all].sum()), 2),
                               cumulative_completed_mu=round(cum + float(muv[m & done_all].sum()), 2),
                               in_progress_mu=round(float(muv[m & doing].sum()), 2)))
    by_park = []
    if "park" in f.columns:
        park = f["park"].astype("string").fillna("（未注明）")
        for p in sorted(set(park)):
            m = (park == p).to_numpy(dtype=bool)
            by_park.append({"park": p, "count": int(m.sum()), "area_mu": round(float(muv[m].sum()), 2),
                            "achieved_mu": round(float(muv[m & done_by].sum()), 2)})
    notes = [f"目标：“十四五”期间完成低效用地再利用 {target:,.0f} 亩（{PLAN_START}–{PLAN_END}），按规划路径（匀速）{year} 年应完成 {planned:,.0f} 亩",
             "面积按地块属性 area_mu（亩）统计；polygon_area_mu 为所绘地块的椭球面积，供核对"]
    if layer.illustrative:
        notes.append("示例数据（illustrative）：地块、状态和年份均为示例，不是规划内容；规划只给出 5000 亩总目标")
    return LandProgress(
        layer_id=LAND_LAYER, target_mu=target, period=(PLAN_START, PLAN_END), year=year,
        achieved_mu=round(achieved, 2), in_progress_mu=round(in_progress, 2), not_started_mu=round(not_started, 2),
        identified_mu=round(identified, 2), remaining_mu=round(max(target - achieved, 0.0), 2),
        percent=round(achieved / target * 100, 2) if target else 0.0, planned_mu=round(planned, 2),
        on_track=achieved >= planned - 1e-9, polygon_area_mu=round(float(poly_mu.sum()), 2),
        by_status=by_status, by_year=by_year, by_park=by_park, illustrative=layer.illustrative, notes=notes)


_FLOOR_WORDS = ("建筑面积", "开发面积", "拆除", "综合体", "承载区", "载体")
#: solar panel area (光伏) is neither land nor floor area
_PV_WORDS = ("光伏",)


def indicator_progress(catalog, year: int):
    """Indicators (表2 and the text's targets) at ``year``: the status from the entered actuals
    (``kfqmap.monitor``; 无数据 without one) and the plan's path (规划路径) — the plan's pace, not progress.

    Floor areas (建筑面积/开发面积/拆除…) and solar panel areas (光伏) are listed as figures, with no path.
    表1 (the 13th plan's 2020 review) is not a 2025 target and is left out.
    """
    if "indicators" not in catalog.ids:
        return []
    report = indicator_status(catalog, year)
    out = []
    for s in report.indicators:
        if s.table == "表1":
            continue
        unit, name = s.unit, s.name
        area_unit_ = unit in ("万平方米", "平方米", "m2", "万㎡")
        if area_unit_ and any(w in name for w in _PV_WORDS):
            kind = "pv_area"
        elif area_unit_ and any(w in name for w in _FLOOR_WORDS):
            kind = "floor_area"
        elif s.value_2020 is not None and s.target is not None and s.target_year:
            kind = "trajectory"
        elif s.target is not None:
            kind = "target_only"
        else:
            kind = "no_target"
        path = s.plan_path if kind not in ("floor_area", "pv_area") else None
        out.append(IndicatorProgress(
            id=s.id, table=s.table, category=s.category, name=name, unit=unit, value_2020=s.value_2020,
            value_2020_text=s.value_2020_text, target=s.target, target_text=s.target_text,
            target_qualifier=s.qualifier, target_year=s.target_year, attribute=s.attribute,
            year=year, plan_path=round(path, 6) if path is not None else None, status=s.status,
            status_reason=s.reason, actual=s.value, actual_text=s.value_text, kind=kind,
            layer_id=s.layer_id, feature_id=s.feature_id))
    return out


def plan_figures(catalog):
    """Area figures the plan states for features (``figures`` property): land areas with the drawn polygon's
    area beside them, floor areas as stated figures only."""
    out = []
    for layer in catalog.layers:
        if not layer.is_spatial or layer.kind == "extra":
            continue
        f = catalog.read(layer.id)
        if "figures" not in f.columns:
            continue
        areas = None
        for i, val in enumerate(f["figures"].to_numpy(dtype=object)):
            for fig in parse_figures(val):
                kind = str(fig.get("kind"))
                if kind not in LAND_FIGURES + FLOOR_FIGURES:
                    continue
                value_m2 = _figure_m2(fig.get("value"), fig.get("unit"))
                drawn = ratio = None
                if kind in LAND_FIGURES and layer.is_polygonal:
                    if areas is None:
                        areas = ellipsoidal_area(f.geometry.values)
                    drawn = _m2(areas[i])
                    ratio = round(drawn / value_m2, 3) if value_m2 else None
                out.append(PlanFigure(layer_id=layer.id, feature_id=str(f.index[i]),
                                      name=str(f["name"].iloc[i]) if "name" in f.columns else None, kind=kind,
                                      value=fig.get("value"), unit=fig.get("unit"),
                                      value_m2=round(value_m2, 1) if value_m2 is not None else None,
                                      text=fig.get("text"), drawn_area_m2=drawn, drawn_over_stated=ratio))
    return out


def progress(catalog, year: int | None = None):
    """Where the data stands against the plan's targets at ``year`` (default: this year, within 2021–2025)."""
    if year is None:
        year = min(max(datetime.date.today().year, PLAN_START), PLAN_END)
    try:
        year = int(year)
    except (TypeError, ValueError):
        raise InvalidParameter(f"年份 '{year}' 不是整数", parameter="year") from None
    if year < 2020 or year > 2035:
        raise InvalidParameter(f"年份 {year} 不合理：应在 2020 到 2035 之间（规划期 {PLAN_START}–{PLAN_END}）", parameter="year")
    land = land_progress(catalog, year) if LAND_LAYER in catalog.ids else None
    notes = ["建筑面积（拆除建筑面积、开发面积等）只作为规划数字列出，从不与图斑面积比较"]
    if year > PLAN_END:
        notes.append(f"{year} 年已超出规划期（{PLAN_START}–{PLAN_END}），规划路径按目标值封顶")
    return Progress(year=year, land=land, indicators=indicator_progress(catalog, year), figures=plan_figures(catalog),
                    notes=notes)
