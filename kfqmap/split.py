"""分割: cut a polygonal feature with a line into several features, in one transaction with its history.

The geometry (``split_polygonal``) is shapely's: every polygon the line crosses is cut by polygonizing its
boundary noded with the line (``shapely.ops.split``), which handles holes (a line through a hole cuts both
sides) and lines that run along an edge or through a vertex; a sliver under ``MIN_PART_M2`` joins its neighbour.
Polygons of a multipolygon that the line does not cut stay whole. The result is one outline per resulting feature, largest first: the original feature keeps the
largest piece together with the parts the line does not touch, and each other piece becomes a new feature.

The edit (``split_ops``): an ``update`` of the original's geometry (with the caller's ``If-Match``) and one
``create`` per other piece carrying a copy of the original's properties — except the ones the write schema marks
``readOnly`` (the feature ``id``, which must stay unique: the store numbers the new features, ``<layer>-<n>``).
Every op is checked like any other write (``feature_checks.check_feature``) and applied by ``editing.apply``, so
versions, ETags and history rows are those of a ``POST …/transactions``.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, mapping, shape
from shapely.ops import split as shapely_split

from . import editing
from .area import ellipsoidal_area
from .errors import InvalidFeature, PreconditionFailed
from .feature_checks import check_feature, feature_schema, parse_geometry, writable
from .features import OutputCRS
from .providers.base import ChangeContext, WriteOp, WriteResult
from .providers.gpkg import local_context

#: a line end this close to the polygon's boundary (degrees, ≈ 10 cm) is taken to reach it: the viewer's
#: snapped ends sit on a vertex or edge as the client saw it, and the client's coordinates are rounded to 1e-7°
#: (and, under the 高德 basemap, converted GCJ-02 → WGS 84), so an end "on" the boundary may lie a hair inside
REACH_DEG = 1e-6
#: a piece smaller than this (m², ellipsoidal) is a sliver — a line passing a hair beside a corner it was meant to go
#: through (a snapped point from a tile's copy of a neighbour is quantised to ~0.1 m) — and stays with the piece it
#: shares the longest border with, instead of becoming a feature of its own; no planned parcel is under 1 m²
MIN_PART_M2 = 1.0
_POLYGONAL = ("Polygon", "MultiPolygon")


@dataclass(frozen=True)
class SplitPlan:
    """The ops of one split (an update, then the creates) and what a 修改说明 says about it."""

    ops: list[WriteOp]
    feature_id: str
    name: str | None

    @property
    def parts(self) -> int:
        return len(self.ops)

    @property
    def note(self) -> str:
        """The default 修改说明: ``分割：<name>（<id>）分为 3 个面``."""
        who = f"{self.name}（{self.feature_id}）" if self.name else self.feature_id
        return f"分割：{who}分为 {self.parts} 个面"


# ------------------------------------------------------------------------------------------ geometry
def parse_line(value: Any, crs: OutputCRS | None = None):
    """The cutting line of a request (GeoJSON LineString/MultiLineString in ``crs``) → shapely, WGS 84."""
    if not isinstance(value, dict):
        raise InvalidFeature("请求体须含分割线 {\"line\": {\"type\": \"LineString\", …}}", parameter="line")
    line = parse_geometry(value, crs, parameter="line")
    if line.geom_type not in ("LineString", "MultiLineString"):
        raise InvalidFeature(f"分割线须为 LineString 或 MultiLineString，收到 {line.geom_type}", parameter="line")
    if line.length == 0:
        raise InvalidFeature("分割线至少需要 2 个不同的点（a line needs two distinct points）", parameter="line")
    return line


def _reach(line: LineString, polygon) -> LineString:
    """``line`` with each end that lies inside ``polygon`` within ``REACH_DEG`` of its boundary carried
    ``2 × REACH_DEG`` further along its last segment, so that it crosses the boundary it was drawn to."""
    coords = [tuple(c[:2]) for c in line.coords]
    boundary = polygon.boundary
    for end, prev in ((0, 1), (len(coords) - 1, len(coords) - 2)):
        p, q = np.array(coords[end]), np.array(coords[prev])
        step = p - q
        norm = float(np.hypot(*step))
        if norm == 0 or not polygon.contains(Point(p)) or boundary.distance(Point(p)) > REACH_DEG:
            continue
        coords[end] = tuple(p + step / norm * 2 * REACH_DEG)
    return LineString(coords)


def _cut(polygon, line) -> list:
    """The pieces of one polygon cut by ``line`` (one piece when it is not cut), slivers merged away."""
    lines = [_reach(part, polygon) for part in shapely.get_parts(line)]
    splitter = lines[0] if len(lines) == 1 else shapely.multilinestrings(lines)
    pieces = [p for p in shapely.get_parts(shapely_split(polygon, splitter)) if p.geom_type == "Polygon" and p.area > 0]
    pieces = _merge_slivers(pieces)
    return pieces if len(pieces) >= 2 else [polygon]


def _merge_slivers(pieces: list) -> list:
    """``pieces`` with each one under ``MIN_PART_M2`` joined to the piece it shares the longest border with (a sliver
    next to another sliver waits for that one to be joined first); nothing is dropped, so the areas still add up."""
    areas = ellipsoidal_area(np.array(pieces, dtype=object)) if pieces else np.array([])
    keep = [p for p, a in zip(pieces, areas) if a >= MIN_PART_M2]
    slivers = [p for p, a in zip(pieces, areas) if a < MIN_PART_M2]
    if not keep:
        return [shapely.union_all(pieces)] if pieces else []
    while slivers:
        left = []
        for sliver in slivers:
            border = [sliver.boundary.intersection(k.boundary).length for k in keep]
            i = int(np.argmax(border))
            if border[i] > 0:
                keep[i] = shapely.union(keep[i], sliver)
            else:
                left.append(sliver)
        if len(left) == len(slivers):
            return keep + left          # slivers touching no piece along a border (not seen): kept as they are
        slivers = left
    return keep


def split_polygonal(geometry, line) -> list:
    """The outlines a polygon or multipolygon is split into by ``line`` (both WGS 84), largest first: the first
    is the largest piece plus every polygon the line does not cut (the original feature keeps it), each other one
    a piece. Raises ``InvalidFeature`` (HTTP 422) when the line does not divide the geometry into two or more parts.
    """
    if geometry is None or geometry.geom_type not in _POLYGONAL:
        raise InvalidFeature("只能分割面要素（Polygon / MultiPolygon）", parameter="geometry")
    if not line.intersects(geometry):
        raise InvalidFeature("分割线与要素不相交：请画一条穿过该面的线（the line misses the feature）", parameter="line")
    whole, pieces = [], []
    for polygon in shapely.get_parts(geometry):
        cut = _cut(polygon, line) if line.intersects(polygon) else [polygon]
        (pieces if len(cut) > 1 else whole).extend(cut)
    if not pieces:
        raise InvalidFeature("分割线没有把要素分成两部分：线须从面外穿过面到面外（两端都在面外，或落在边界上）"
                             "（the line does not cut the feature into two or more parts）", parameter="line")
    order = np.argsort(-ellipsoidal_area(np.array(pieces, dtype=object)), kind="stable")
    pieces = [pieces[i] for i in order]
    multi = geometry.geom_type == "MultiPolygon"
    kept = [pieces[0], *whole]
    outlines = [MultiPolygon(kept) if multi or len(kept) > 1 else kept[0]]
    outlines += [MultiPolygon([p]) if multi else p for p in pieces[1:]]
    return outlines


# ------------------------------------------------------------------------------------------ the edit
def split_ops(collection, feature_id: str, line: Any, *, if_match: str | None,
              crs: OutputCRS | None = None) -> SplitPlan:
    """The ops that split feature ``feature_id`` of ``collection`` with ``line`` (GeoJSON in ``crs``), checked.

    ``if_match``: the ETag the client's split is based on (None: any version); a stale one raises
    ``PreconditionFailed`` before anything is computed, and the same ETag is checked again inside the transaction.
    """
    writable(collection)
    _, feature, etag = collection.provider.feature(feature_id)
    if if_match is not None and if_match != etag:
        raise PreconditionFailed(f"要素 {feature_id} 已被他人修改（当前版本 {etag}，你的版本 {if_match}）；请重新读取后再分割"
                                 "（precondition failed: the feature changed）", current_etag=etag, feature_id=feature_id)
    cutting = parse_line(line, crs)
    outlines = split_polygonal(shape(feature["geometry"]) if feature.get("geometry") else None,
                               cutting)
    read_only = {name for name, spec in feature_schema(collection)["properties"].items() if spec.get("readOnly")}
    copied = {k: v for k, v in (feature.get("properties") or {}).items() if k not in read_only}
    ops = [WriteOp("update", feature_id=feature_id, if_match=if_match or etag,
                   feature=check_feature(collection, {"geometry": mapping(outlines[0])}, partial=True))]
    ops += [WriteOp("create", feature=check_feature(collection, {"type": "Feature", "geometry": mapping(outline),
                                                                   "properties": dict(copied)}))
            for outline in outlines[1:]]
    return SplitPlan(ops, feature_id, (feature.get("properties") or {}).get("name"))


def split_feature(collection, feature_id: str, line: Any, *, if_match: str | None = None,
                  crs: OutputCRS | None = None, context: ChangeContext | None = None) -> WriteResult:
    """Split and write in one transaction (from Python: ``split_feature(catalog.collection("parcels"), "p1",
    {"type": "LineString", ...})``); the history rows carry ``context.note`` or ``SplitPlan.note``."""
    plan = split_ops(collection, feature_id, line, if_match=if_match, crs=crs)
    context = context or local_context()
    if not context.note:
        context = replace(context, note=plan.note)
    return editing.apply(collection, plan.ops, context)
