"""Geometry checks of an import (WGS 84 geometries): the target's geometry family, validity with ``make_valid``
repair, empties, duplicates, slivers and features outside the zone; area and overlap with existing layers.

Slivers: polygons under ``SLIVER_M2`` (1 m²) or thinner than ``SLIVER_COMPACTNESS`` (4πA/P² < 0.01, a strip
100 times longer than wide); reported as warnings. Duplicates: equal after ``shapely.normalize``; warnings.
Outside the zone (``placement.ZONE``): errors.
"""
from __future__ import annotations

import numpy as np
import shapely

from ..area import ellipsoidal_area, lengths_m
from .placement import ZONE
from .report import ImportReport

FAMILIES = {"Polygon": ("Polygon", "MultiPolygon"), "LineString": ("LineString", "MultiLineString"),
            "Point": ("Point", "MultiPoint")}
_FAMILY_OF = {t: fam for fam, types in FAMILIES.items() for t in types}
_TYPE_IDS = {"Polygon": (3, 6), "LineString": (1, 5), "Point": (0, 4)}
SLIVER_M2 = 1.0
SLIVER_COMPACTNESS = 0.01


def family(geometry_type: str) -> str | None:
    return _FAMILY_OF.get(geometry_type)


def dominant_family(geoms) -> str | None:
    """Polygons if any, else lines, else points (the default target family of a new layer)."""
    present = {_FAMILY_OF.get(g.geom_type) for g in geoms if g is not None and not g.is_empty}
    return next((f for f in ("Polygon", "LineString", "Point") if f in present), None)


def _extract(geom, fam: str):
    """The parts of ``geom`` of family ``fam`` (a GeometryCollection from make_valid), or None."""
    parts = shapely.get_parts(geom)
    keep = [p for p in parts if shapely.get_type_id(p) in _TYPE_IDS[fam]]
    if not keep:
        return None
    flat = []
    for p in keep:
        flat.extend(shapely.get_parts(p))
    if len(flat) == 1:
        return flat[0]
    multi = {"Polygon": shapely.MultiPolygon, "LineString": shapely.MultiLineString, "Point": shapely.MultiPoint}
    return multi[fam](flat)


def check_geometries(geoms: np.ndarray, labels: list[str], fam: str, report: ImportReport) -> np.ndarray:
    """The indexes of the rows to import (their geometries repaired in place in ``geoms``); fills ``report``."""
    geoms[:] = shapely.force_2d(geoms)
    keep: list[int] = []
    left_out: dict[str, int] = {}
    for i, g in enumerate(geoms):
        if g is None or g.is_empty:
            report.empty.append(labels[i])
            continue
        if _FAMILY_OF.get(g.geom_type) != fam and g.geom_type != "GeometryCollection":
            left_out[g.geom_type] = left_out.get(g.geom_type, 0) + 1
            continue
        if not g.is_valid:
            reason = shapely.is_valid_reason(g)
            fixed = _extract(shapely.make_valid(g), fam)
            repaired = fixed is not None and not fixed.is_empty and fixed.is_valid
            report.invalid.append({"feature": labels[i], "reason": reason, "repaired": repaired})
            if not repaired:
                report.errors.append(f"{labels[i]} 的几何无效且无法修复：{reason}")
                continue
            geoms[i] = fixed
        elif g.geom_type == "GeometryCollection":
            fixed = _extract(g, fam)
            if fixed is None:
                left_out[g.geom_type] = left_out.get(g.geom_type, 0) + 1
                continue
            geoms[i] = fixed
        keep.append(i)
    report.other_types_left_out = left_out
    idx = np.asarray(keep, dtype=int)
    if report.empty:
        report.warnings.append(f"{len(report.empty)} 个要素没有几何，不导入")
    if left_out:
        names = "、".join(f"{k} {v} 个" for k, v in left_out.items())
        report.warnings.append(f"目标图层是{ {'Polygon': '面', 'LineString': '线', 'Point': '点'}[fam] }图层，{names}不导入")
    if not len(idx):
        return idx
    kept = geoms[idx]
    normal = shapely.to_wkb(shapely.normalize(kept))
    seen: dict[bytes, int] = {}
    for j, w in enumerate(normal):
        if w in seen:
            report.duplicates.append([labels[idx[seen[w]]], labels[idx[j]]])
        else:
            seen[w] = j
    if report.duplicates:
        report.warnings.append(f"{len(report.duplicates)} 组要素几何完全相同（重复）")
    if fam == "Polygon":
        areas = ellipsoidal_area(kept)
        perims = lengths_m(shapely.boundary(kept))
        with np.errstate(all="ignore"):
            compact = 4 * np.pi * areas / np.maximum(perims, 1e-9) ** 2
        report.slivers = [labels[idx[j]] for j in np.flatnonzero((areas < SLIVER_M2) | (compact < SLIVER_COMPACTNESS))]
        if report.slivers:
            report.warnings.append(f"{len(report.slivers)} 个面极小或极狭长（碎片），请核对")
        report.area_m2 = float(areas.sum())
        report.area_mu = report.area_m2 * 3 / 2000
    if fam == "LineString":
        report.length_m = float(np.sum(lengths_m(kept)))
    points = shapely.point_on_surface(kept)
    zone = shapely.box(*ZONE)
    outside = np.flatnonzero(~shapely.contains(zone, points))
    report.outside_zone = [labels[idx[j]] for j in outside]
    if len(outside):
        report.errors.append(f"{len(outside)} 个要素在昆山范围之外（如 {report.outside_zone[0]}）：请检查坐标系")
    return idx


def overlaps(catalog, geoms: np.ndarray, *, skip: str | None = None) -> list[dict]:
    """Area (亩) of the import inside each polygon layer of the catalog (read from memory only), leaving out the
    background group (administrative boundaries and the like cover everything).

    ∪ᵢⱼ (layer feature j ∩ imported feature i) over the intersecting pairs is (∪ layer) ∩ (∪ import): only the
    pieces that overlap are unioned, never the whole import (20,000 imported parcels: 5 s → well under 1 s when
    few of them touch a layer)."""
    if not len(geoms):
        return []
    tree = shapely.STRtree(geoms)
    ids = [layer.id for layer in catalog.spatial_layers()
           if layer.is_polygonal and layer.id != skip and layer.group != "背景"]
    readable, _failed = catalog.readable(ids, in_memory=True)
    out = []
    for lid in readable:
        frame = catalog.read(lid)
        other = np.asarray(frame.geometry.values, dtype=object)
        other = other[~shapely.is_missing(other) & ~shapely.is_empty(other)]
        if not len(other):
            continue
        other_idx, import_idx = tree.query(other, predicate="intersects")
        if not len(other_idx):
            continue
        layer_part = other[other_idx]
        bad = ~shapely.is_valid(layer_part)
        if bad.any():
            layer_part[bad] = shapely.make_valid(layer_part[bad])
        inter = shapely.union_all(shapely.intersection(layer_part, geoms[import_idx]))
        area = float(ellipsoidal_area(inter)) if not inter.is_empty else 0.0
        if area > 0.5:
            out.append({"layer": lid, "title": catalog.get(lid).title_zh, "area_mu": round(area * 3 / 2000, 2)})
    return sorted(out, key=lambda o: -o["area_mu"])
