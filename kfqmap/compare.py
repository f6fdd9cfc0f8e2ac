"""对比分析 — compare two states of a layer, or two layers: features added, removed and changed, with the areas
gained and lost (ellipsoidal, CGCS2000) and a summary by the plan's parks and cores.

Two sides, each a GeoDataFrame in EPSG:4326 with an ``id`` column (a layer now, a file, or — with the editing
history — a layer as it was at a time). Features are paired by

* ``match="key"`` (default): equal values of ``key`` (default ``id``) — two states of one layer, or an imported
  version that keeps the keys;
* ``match="overlap"``: two different layers (the plan's 更新地块 against a 现状用地 layer): polygons whose common
  area is at least ``OVERLAP_SHARE`` of the smaller one, each feature in at most one pair, largest overlaps first.

A pair is **changed** when its geometry differs (not ``equals_exact`` within ``GEOMETRY_TOLERANCE_DEG``) or any
attribute both sides have differs (numbers compared to 1e-9 relative, empty = empty); the rest are **unchanged**.
For a changed polygon, **gained** is the area of after − before and **lost** the area of before − after; an added
feature gains its whole area, a removed one loses it. Zone rows give the gained/lost area inside each feature of
the zone layers (``parks``, ``cores``). Features flagged ``placeholder``/``illustrative`` on either side are
counted, so a comparison of placeholder outlines is never read as a measured change.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .area import ellipsoidal_area
from .errors import InvalidParameter
from .models import jsonable
from .units import area_unit, round_area

#: two vertices closer than this (degrees, ≈ 1 mm) are the same vertex
GEOMETRY_TOLERANCE_DEG = 1e-8
#: overlap matching: the common area must be at least this share of the smaller feature
OVERLAP_SHARE = 0.5
#: layers whose features summarise a comparison by place
ZONE_LAYERS = ("parks", "cores")
#: attributes never compared (bookkeeping, not content)
IGNORED_FIELDS = frozenset({"id", "fid", "geometry"})
MATCHES = ("key", "overlap")
POLYGONAL = (3, 6)


@dataclass
class Side:
    """One side of a comparison: a label for people, the layer id (if any) and the features (EPSG:4326)."""

    label: str
    frame: gpd.GeoDataFrame
    layer_id: str | None = None


@dataclass
class Change:
    change: str                    # added | removed | changed | unchanged
    id_a: str | None
    id_b: str | None
    name: str | None
    fields: list[str] = field(default_factory=list)      # attributes that differ
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    geometry_changed: bool = False
    area_a_m2: float = 0.0
    area_b_m2: float = 0.0
    gained_m2: float = 0.0
    lost_m2: float = 0.0
    placeholder: bool = False
    geometry_a: Any = None
    geometry_b: Any = None


@dataclass
class ZoneRow:
    layer: str
    zone_id: str
    zone_name: str
    gained_m2: float
    lost_m2: float
    placeholder: bool


@dataclass
class Comparison:
    a: str
    b: str
    match: str
    key: str | None
    unit: str
    changes: list[Change]
    zones: list[ZoneRow]

    def count(self, kind: str) -> int:
        return sum(1 for c in self.changes if c.change == kind)

    def total(self, attr: str, kinds=("added", "removed", "changed")) -> float:
        return float(sum(getattr(c, attr) for c in self.changes if c.change in kinds))

    @property
    def placeholders(self) -> int:
        return sum(1 for c in self.changes if c.placeholder and c.change != "unchanged")

    def summary(self) -> dict[str, Any]:
        u = area_unit(self.unit)
        gained, lost = self.total("gained_m2"), self.total("lost_m2")
        return {
            "added": self.count("added"), "removed": self.count("removed"), "changed": self.count("changed"),
            "unchanged": self.count("unchanged"),
            "gained": round_area(gained / u.m2, u.code), "lost": round_area(lost / u.m2, u.code),
            "net": round_area((gained - lost) / u.m2, u.code),
            "gained_m2": round(gained, 1), "lost_m2": round(lost, 1),
            "placeholder_changes": self.placeholders,
        }

    def to_dict(self, *, unchanged: bool = False) -> dict[str, Any]:
        """The JSON answer (``/compare``): sides, rule, summary, one row per difference, zone rows."""
        u = area_unit(self.unit)

        def a(m2):
            return round_area(m2 / u.m2, u.code)

        rows = [{"change": c.change, "id_a": c.id_a, "id_b": c.id_b, "name": c.name, "fields": c.fields,
                 "before": jsonable(c.before), "after": jsonable(c.after), "geometry_changed": c.geometry_changed,
                 "area_a": a(c.area_a_m2), "area_b": a(c.area_b_m2), "gained": a(c.gained_m2), "lost": a(c.lost_m2),
                 "placeholder": c.placeholder}
                for c in self.changes if unchanged or c.change != "unchanged"]
        zones = [{"layer": z.layer, "zone_id": z.zone_id, "zone_name": z.zone_name, "gained": a(z.gained_m2),
                  "lost": a(z.lost_m2), "net": a(z.gained_m2 - z.lost_m2), "placeholder": z.placeholder}
                 for z in self.zones]
        return {"a": self.a, "b": self.b, "match": self.match, "key": self.key,
                "unit": {"code": u.code, "symbol_zh": u.symbol_zh}, "summary": self.summary(), "changes": rows,
                "zones": zones, "rules": RULES_ZH}

    def to_geojson(self) -> dict[str, Any]:
        """The differences as features for the map: added (after), removed (before), changed (after), and the
        gained/lost parts of changed polygons (``part`` = gained|lost)."""
        feats = []
        for c in self.changes:
            if c.change == "unchanged":
                continue
            geom = c.geometry_a if c.change == "removed" else c.geometry_b
            props = {"change": c.change, "id_a": c.id_a, "id_b": c.id_b, "name": c.name, "fields": c.fields,
                     "gained_m2": round(c.gained_m2, 1), "lost_m2": round(c.lost_m2, 1), "placeholder": c.placeholder}
            feats.append(_feature(geom, props))
            if c.change == "changed" and c.geometry_changed and _polygonal(c.geometry_a) and _polygonal(c.geometry_b):
                for part, g in (("gained", shapely.difference(c.geometry_b, c.geometry_a)),
                                ("lost", shapely.difference(c.geometry_a, c.geometry_b))):
                    if not g.is_empty:
                        feats.append(_feature(g, {**props, "change": part, "part": part}))
        return {"type": "FeatureCollection", "features": feats,
                "kfqmap:comparison": {"a": self.a, "b": self.b, "match": self.match, "summary": self.summary()}}


RULES_ZH = (f"配对：match=key 按字段值相同配对；match=overlap 按重叠面积 ≥ 较小要素的 {int(OVERLAP_SHARE * 100)}% 配对（一对一，"
            "重叠大者优先）。变化：几何不同（容差约 1 毫米）或双方共有的属性值不同。新增面积 = 新增要素面积 + 变化要素新增部分；"
            "减少面积 = 删除要素面积 + 变化要素减少部分；面积为 CGCS2000 椭球面积。标为占位/示例的要素单独计数，不代表实测变化。")


def _feature(geom, props) -> dict[str, Any]:
    return {"type": "Feature", "geometry": None if geom is None or geom.is_empty else shapely.geometry.mapping(geom),
            "properties": props}


def _polygonal(geom) -> bool:
    return geom is not None and not geom.is_empty and shapely.get_type_id(geom) in POLYGONAL


def _areas(geoms: np.ndarray) -> np.ndarray:
    out = np.zeros(len(geoms))
    if len(geoms) == 0:
        return out
    poly = np.array([_polygonal(g) for g in geoms], dtype=bool)
    if poly.any():
        out[poly] = ellipsoidal_area(geoms[poly])
    return out


def _same_value(x, y) -> bool:
    x_na = x is None or (isinstance(x, float) and math.isnan(x)) or (x is pd.NA) or (isinstance(x, str) and x == "")
    y_na = y is None or (isinstance(y, float) and math.isnan(y)) or (y is pd.NA) or (isinstance(y, str) and y == "")
    if x_na or y_na:
        return x_na and y_na
    x_bool, y_bool = isinstance(x, (bool, np.bool_)), isinstance(y, (bool, np.bool_))
    if x_bool or y_bool:       # a flag column with a gap comes back as 1.0/NaN: True and 1.0 are the same value
        return _as_flag(x) is not None and _as_flag(x) == _as_flag(y)
    if isinstance(x, (int, float, np.number)) and isinstance(y, (int, float, np.number)):
        return math.isclose(float(x), float(y), rel_tol=1e-9, abs_tol=1e-12)
    return jsonable(x) == jsonable(y)


def _as_flag(v) -> bool | None:
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, float, np.number)) and float(v) in (0.0, 1.0):
        return bool(v)
    if isinstance(v, str) and v.strip().lower() in ("true", "false", "1", "0"):
        return v.strip().lower() in ("true", "1")
    return None


def _flag(row: dict) -> bool:
    return _as_flag(row.get("placeholder")) is True or _as_flag(row.get("illustrative")) is True


def _records(frame: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    table = pd.DataFrame(frame[[c for c in frame.columns if c != frame.geometry.name]])
    return table.astype(object).where(table.notna(), None).to_dict("records")


def _check_side(side: Side) -> None:
    if not isinstance(side.frame, gpd.GeoDataFrame):
        raise InvalidParameter(f"{side.label} 不是要素数据", parameter="a")


def compare_frames(a: Side, b: Side, *, match: str = "key", key: str | None = "id", unit: str = "mu",
                   zones: list[tuple[str, gpd.GeoDataFrame]] | None = None) -> Comparison:
    """Compare side ``a`` (before / the plan) with side ``b`` (after / the status)."""
    if match not in MATCHES:
        raise InvalidParameter(f"未知的配对方式 '{match}'；可用：key（按字段）、overlap（按重叠）", parameter="match")
    area_unit(unit)                                   # InvalidParameter for an unknown unit
    for side in (a, b):
        _check_side(side)
    key = (key or "id") if match == "key" else None
    if key is not None:
        for side, param in ((a, "a"), (b, "b")):
            if key not in side.frame.columns:
                raise InvalidParameter(f"{side.label} 没有配对字段 {key}；可用字段："
                                       f"{', '.join(c for c in side.frame.columns if c != side.frame.geometry.name)}",
                                       parameter="key")
            values = side.frame[key].astype("string")
            if values.isna().any() or values.duplicated().any():
                dup = values[values.duplicated()].dropna()
                what = f"重复值 '{dup.iloc[0]}'" if len(dup) else "空值"
                raise InvalidParameter(f"{side.label} 的配对字段 {key} 有{what}，不能按字段配对；请换字段或用 match=overlap",
                                       parameter="key")
    ga = np.asarray(a.frame.geometry.values, dtype=object)
    gb = np.asarray(b.frame.geometry.values, dtype=object)
    area_a, area_b = _areas(ga), _areas(gb)
    ra, rb = _records(a.frame), _records(b.frame)
    pairs = _pairs_by_key(a.frame, b.frame, key) if key is not None else _pairs_by_overlap(ga, gb, area_a, area_b)
    common = [c for c in a.frame.columns if c in b.frame.columns and c != a.frame.geometry.name
              and c != b.frame.geometry.name and c not in IGNORED_FIELDS]
    changes: list[Change] = []
    paired_a, paired_b = set(), set()
    for i, j in pairs:
        paired_a.add(i)
        paired_b.add(j)
        x, y = ga[i], gb[j]
        geometry_changed = not _same_geometry(x, y)
        fields = [c for c in common if not _same_value(ra[i].get(c), rb[j].get(c))]
        gained = lost = 0.0
        if geometry_changed and _polygonal(x) and _polygonal(y):
            gained, lost = (float(v) for v in _areas(np.array([shapely.difference(y, x), shapely.difference(x, y)],
                                                              dtype=object)))
        elif geometry_changed:
            gained, lost = float(area_b[j]), float(area_a[i])
        kind = "changed" if geometry_changed or fields else "unchanged"
        changes.append(Change(kind, _id(ra[i]), _id(rb[j]), _name(rb[j]) or _name(ra[i]), fields,
                              {c: ra[i].get(c) for c in fields}, {c: rb[j].get(c) for c in fields},
                              geometry_changed, float(area_a[i]), float(area_b[j]), gained, lost,
                              _flag(ra[i]) or _flag(rb[j]), x, y))
    for i in range(len(ga)):
        if i not in paired_a:
            changes.append(Change("removed", _id(ra[i]), None, _name(ra[i]), area_a_m2=float(area_a[i]),
                                  lost_m2=float(area_a[i]), placeholder=_flag(ra[i]), geometry_a=ga[i]))
    for j in range(len(gb)):
        if j not in paired_b:
            changes.append(Change("added", None, _id(rb[j]), _name(rb[j]), area_b_m2=float(area_b[j]),
                                  gained_m2=float(area_b[j]), placeholder=_flag(rb[j]), geometry_b=gb[j]))
    order = {"added": 0, "removed": 1, "changed": 2, "unchanged": 3}
    changes.sort(key=lambda c: (order[c.change], str(c.id_b or c.id_a)))
    return Comparison(a.label, b.label, match, key, unit, changes, _zone_rows(changes, zones or []))


def _id(row: dict) -> str | None:
    v = row.get("id")
    return None if v is None else str(v)


def _name(row: dict) -> str | None:
    v = row.get("name")
    return None if v is None or v == "" else str(v)


def _same_geometry(x, y) -> bool:
    if x is None or y is None:
        return x is None and y is None
    if x.is_empty or y.is_empty:
        return x.is_empty and y.is_empty
    return bool(shapely.equals_exact(shapely.normalize(x), shapely.normalize(y), GEOMETRY_TOLERANCE_DEG))


def _pairs_by_key(fa: gpd.GeoDataFrame, fb: gpd.GeoDataFrame, key: str) -> list[tuple[int, int]]:
    pos_b = {str(v): j for j, v in enumerate(fb[key].astype("string"))}
    return [(i, pos_b[str(v)]) for i, v in enumerate(fa[key].astype("string")) if str(v) in pos_b]


def _pairs_by_overlap(ga, gb, area_a, area_b) -> list[tuple[int, int]]:
    """One-to-one pairs of polygons overlapping by ≥ OVERLAP_SHARE of the smaller one, largest overlaps first."""
    if len(ga) == 0 or len(gb) == 0:
        return []
    ok_b = np.array([_polygonal(g) for g in gb], dtype=bool)
    tree = shapely.STRtree(np.where(ok_b, gb, None))
    ia, ib = tree.query(np.array([g if _polygonal(g) else None for g in ga], dtype=object), predicate="intersects")
    if len(ia) == 0:
        return []
    common = _areas(shapely.intersection(ga[ia], gb[ib]))
    smaller = np.minimum(area_a[ia], area_b[ib])
    good = (smaller > 0) & (common >= OVERLAP_SHARE * smaller)
    ia, ib, common = ia[good], ib[good], common[good]
    pairs, used_a, used_b = [], set(), set()
    for k in np.argsort(-common, kind="stable"):
        i, j = int(ia[k]), int(ib[k])
        if i not in used_a and j not in used_b:
            pairs.append((i, j))
            used_a.add(i)
            used_b.add(j)
    return pairs


def _zone_rows(changes: list[Change], zones: list[tuple[str, gpd.GeoDataFrame]]) -> list[ZoneRow]:
    """Gained and lost area inside each zone feature (parks, cores)."""
    gains, losses = [], []
    for c in changes:
        if c.change == "added" and _polygonal(c.geometry_b):
            gains.append(c.geometry_b)
        elif c.change == "removed" and _polygonal(c.geometry_a):
            losses.append(c.geometry_a)
        elif c.change == "changed" and c.geometry_changed and _polygonal(c.geometry_a) and _polygonal(c.geometry_b):
            gains.append(shapely.difference(c.geometry_b, c.geometry_a))
            losses.append(shapely.difference(c.geometry_a, c.geometry_b))
    rows: list[ZoneRow] = []
    if not gains and not losses:
        return rows
    gain = np.array(gains, dtype=object)
    loss = np.array(losses, dtype=object)
    for layer_id, frame in zones:
        records = _records(frame)
        for geom, rec in zip(frame.geometry.values, records):
            if not _polygonal(geom):
                continue
            g = float(_areas(shapely.intersection(gain, geom)).sum()) if len(gain) else 0.0
            lo = float(_areas(shapely.intersection(loss, geom)).sum()) if len(loss) else 0.0
            if g > 0.05 or lo > 0.05:          # < 0.05 m²: edge noise
                rows.append(ZoneRow(layer_id, str(rec.get("id")), str(rec.get("name") or rec.get("id")), g, lo,
                                    _flag(rec)))
    return rows


# ------------------------------------------------------------------ sides from a catalog
def parse_side(catalog, spec: str, *, parameter: str) -> Side:
    """``layer`` (the layer now) or ``layer@TIME`` (the layer as it was at TIME, rebuilt from the editing history;
    TIME as ``history.parse_time`` reads it: ``2026-06-30``, ``2026-06-30T08:00:00Z``; without a zone 北京时间)
    → a Side. Files are read by the CLI."""
    text = (spec or "").strip()
    if not text:
        raise InvalidParameter(f"请指定要对比的图层（{parameter}）", parameter=parameter)
    layer_id, at, when = text.partition("@")
    layer = catalog.get(layer_id.strip())               # LayerNotFound for an unknown id
    if not layer.is_spatial:
        raise InvalidParameter(f"图层 {layer.id} 没有几何，不能做对比分析", parameter=parameter)
    if not at:
        return Side(f"{layer.title_zh}（{layer.id}，当前）", catalog.read(layer.id), layer.id)
    from .editing import asof_frame
    from .history import beijing, parse_time

    stamp = parse_time(when, parameter=parameter)
    if stamp is None:
        raise InvalidParameter(f"{parameter}：@ 后面要写时间，如 {layer.id}@2026-06-30", parameter=parameter)
    frame = asof_frame(catalog.collection(layer.id), stamp)   # ReadOnlyLayer for a file layer (no history)
    return Side(f"{layer.title_zh}（{layer.id}，{beijing(stamp)} 北京时间）", frame, layer.id)


def zone_frames(catalog) -> list[tuple[str, gpd.GeoDataFrame]]:
    out = []
    for lid in ZONE_LAYERS:
        try:
            out.append((lid, catalog.read(lid)))
        except Exception:            # noqa: BLE001 - a zone layer that cannot be read just gives no zone rows
            continue
    return out


def compare(catalog, a: str | Side, b: str | Side, *, match: str = "key", key: str | None = "id",
            unit: str = "mu") -> Comparison:
    """Compare two layers of the catalog (or Sides made elsewhere, e.g. from a file)."""
    side_a = a if isinstance(a, Side) else parse_side(catalog, a, parameter="a")
    side_b = b if isinstance(b, Side) else parse_side(catalog, b, parameter="b")
    return compare_frames(side_a, side_b, match=match, key=key, unit=unit, zones=zone_frames(catalog))


__all__ = ["Side", "Change", "Comparison", "compare", "compare_frames", "parse_side", "MATCHES"]
