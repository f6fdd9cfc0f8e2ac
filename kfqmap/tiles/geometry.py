"""Geometry → MVT command integers, on flat (ragged) coordinate arrays: quantising to the tile grid, ring clean-up and
orientation, line parts, points, and the clipping of features that reach beyond a tile.

Why ragged arrays: a tile of parcels holds up to ``FEATURE_BUDGET`` (2,500) polygons, and per-polygon shapely calls
and object arrays would cost more than the whole numpy pass, so everything after the clip works on
``shapely.to_ragged_array``'s coordinates and offsets with numpy: repeated points, the closing point, degenerate
rings and ring orientation (MVT 2.1: exterior clockwise in y-down tile space, holes anticlockwise) are all decided
per ring with ``bincount``s, not per feature.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import shapely

from .mvt import LINE, POINT, POLYGON, zigzag
from .tilemath import TileBounds

BUFFER = 64                   #: clip buffer, tile units (as PostGIS ST_AsMVTGeom's default)
LOOSE_CLIP = 0.25             #: features within this fraction of a tile beyond its edge are not clipped
DETAIL_ZOOM = 16              #: at and above this zoom geometry is exact (below it, simplified by one tile unit)


def quantise(coords: np.ndarray, b: TileBounds, extent: int) -> tuple[np.ndarray, np.ndarray]:
    sx = extent / (b.right - b.left)
    sy = extent / (b.top - b.bottom)
    x = np.rint((coords[:, 0] - b.left) * sx).astype(np.int64)
    y = np.rint((b.top - coords[:, 1]) * sy).astype(np.int64)
    return x, y


class Ragged(NamedTuple):
    """(Multi)polygons as flat arrays: coords, ring/polygon/geometry offsets (MultiPolygon layout)."""

    coords: np.ndarray
    ring_off: np.ndarray
    poly_off: np.ndarray
    geom_off: np.ndarray


def ragged_polygons(geoms: np.ndarray) -> Ragged:
    if len(geoms) == 0:
        z = np.zeros(1, dtype=np.int64)
        return Ragged(np.zeros((0, 2)), z, z, z)
    gtype, coords, offsets = shapely.to_ragged_array(geoms)
    if len(offsets) == 2:                                        # Polygon: one polygon per geometry
        ring_off, poly_off = offsets
        geom_off = np.arange(len(poly_off), dtype=np.int64)
    else:
        ring_off, poly_off, geom_off = offsets
    return Ragged(coords, np.asarray(ring_off, dtype=np.int64), np.asarray(poly_off, dtype=np.int64),
                   np.asarray(geom_off, dtype=np.int64))


def ranges(start: np.ndarray, stop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated ``arange(start[i], stop[i])`` and the new offsets (vectorised)."""
    n = stop - start
    off = np.zeros(len(n) + 1, dtype=np.int64)
    np.cumsum(n, out=off[1:])
    idx = np.arange(off[-1]) - np.repeat(off[:-1] - start, n)
    return idx, off


def take_ragged(r: Ragged, sel: np.ndarray, simple: bool = False) -> Ragged:
    """The sub-ragged-array of geometries ``sel`` (vectorised gather, no shapely call).

    ``simple``: every geometry is one polygon with one ring (one gather instead of three).
    """
    if simple:
        pts, ring_rel = ranges(r.ring_off[sel], r.ring_off[sel + 1])
        one = np.arange(len(sel) + 1, dtype=np.int64)
        return Ragged(r.coords[pts], ring_rel, one, one)
    polys, geom_off = ranges(r.geom_off[sel], r.geom_off[sel + 1])
    rings, poly_rel = ranges(r.poly_off[polys], r.poly_off[polys + 1])
    pts, ring_rel = ranges(r.ring_off[rings], r.ring_off[rings + 1])
    return Ragged(r.coords[pts], ring_rel, poly_rel, geom_off)


def concat_ragged(a: Ragged, b: Ragged) -> Ragged:
    return Ragged(np.concatenate([a.coords, b.coords]),
                   np.concatenate([a.ring_off, a.ring_off[-1] + b.ring_off[1:]]),
                   np.concatenate([a.poly_off, a.poly_off[-1] + b.poly_off[1:]]),
                   np.concatenate([a.geom_off, a.geom_off[-1] + b.geom_off[1:]]))


def polygon_runs(rag: Ragged, owner: np.ndarray, b: TileBounds | None, extent: int, xy=None, simple=False):
    """Rings of (multi)polygons as runs: (x, y, run_len, run_owner); rings oriented and cleaned.

    ``xy``: coordinates already quantised (integer x, y per point), e.g. for many tiles at once.
    ``simple``: every geometry is one polygon with one ring (``take_ragged(..., simple=True)``): the
    ring → polygon → geometry bookkeeping is skipped.
    """
    coords, ring_off, poly_off, geom_off = rag
    nrings = len(ring_off) - 1
    ring_len = ring_off[1:] - ring_off[:-1]
    if not simple:
        poly_of_ring = np.repeat(np.arange(len(poly_off) - 1), np.diff(poly_off))
        geom_of_poly = np.repeat(np.arange(len(geom_off) - 1), np.diff(geom_off))
        is_ext = np.zeros(nrings, dtype=bool)
        is_ext[poly_off[:-1][np.diff(poly_off) > 0]] = True

    x, y = quantise(coords, b, extent) if xy is None else xy
    ring_of_pt = np.repeat(np.arange(nrings), ring_len)
    keep = np.ones(len(x), dtype=bool)
    keep[ring_off[1:] - 1] = False                               # the closing point
    same = np.zeros(len(x), dtype=bool)
    same[1:] = (x[1:] == x[:-1]) & (y[1:] == y[:-1]) & (ring_of_pt[1:] == ring_of_pt[:-1])
    keep &= ~same
    idx = np.flatnonzero(keep)
    r = ring_of_pt[idx]
    cnt = np.bincount(r, minlength=nrings)
    # last kept point equal to the first kept point of its ring → drop it
    start = np.cumsum(cnt) - cnt
    has = cnt > 0
    first = idx[start[has]]
    last = idx[(start + cnt - 1)[has]]
    dup_last = (x[first] == x[last]) & (y[first] == y[last]) & (cnt[has] > 1)
    if dup_last.any():
        keep[last[dup_last]] = False
        idx = np.flatnonzero(keep)
        r = ring_of_pt[idx]
        cnt = np.bincount(r, minlength=nrings)
        start = np.cumsum(cnt) - cnt
    px, py = x[idx], y[idx]
    # shoelace per ring (y down): positive = clockwise on screen = exterior in MVT 2.1
    nxt = np.arange(len(idx)) + 1
    ends = start + cnt                                            # exclusive
    if len(idx):
        wrap = ends[cnt > 0] - 1
        nxt[wrap] = start[cnt > 0]
    cross = px * py[nxt] - px[nxt] * py if len(idx) else np.zeros(0, np.int64)
    area = np.bincount(r, weights=cross, minlength=nrings)
    ring_ok = (cnt >= 3) & (area != 0)
    if simple:                                   # every ring is its polygon's exterior
        flip = ring_ok & (area < 0)
    else:
        poly_ok = np.zeros(len(poly_off) - 1, dtype=bool)
        ext_rings = np.flatnonzero(is_ext)
        poly_ok[poly_of_ring[ext_rings]] = ring_ok[ext_rings]
        ring_ok &= poly_ok[poly_of_ring]
        flip = ring_ok & ((is_ext & (area < 0)) | (~is_ext & (area > 0)))
    # reverse the flipped rings in place (positions within the ring mirrored)
    order = np.arange(len(idx))
    if flip.any():
        pt_flip = flip[r]
        pos = order - start[r]
        order = np.where(pt_flip, start[r] + cnt[r] - 1 - pos, order)
    keep_pt = ring_ok[r]
    order = order[keep_pt]
    run_len = cnt[ring_ok]
    ok_rings = ring_ok.nonzero()[0]
    run_owner = owner[ok_rings] if simple else owner[geom_of_poly[poly_of_ring[ok_rings]]]
    return px[order], py[order], run_len, run_owner


def line_runs(geoms: np.ndarray, owner: np.ndarray, b: TileBounds, extent: int):
    gtype, coords, offsets = shapely.to_ragged_array(geoms)
    if len(offsets) == 1:
        part_off = np.asarray(offsets[0], dtype=np.int64)
        geom_of_part = np.arange(len(part_off) - 1)
    else:
        part_off = np.asarray(offsets[0], dtype=np.int64)
        geom_off = np.asarray(offsets[1], dtype=np.int64)
        geom_of_part = np.repeat(np.arange(len(geom_off) - 1), np.diff(geom_off))
    nparts = len(part_off) - 1
    x, y = quantise(coords, b, extent)
    part_of_pt = np.repeat(np.arange(nparts), np.diff(part_off))
    keep = np.ones(len(x), dtype=bool)
    keep[1:] = ~((x[1:] == x[:-1]) & (y[1:] == y[:-1]) & (part_of_pt[1:] == part_of_pt[:-1]))
    cnt = np.bincount(part_of_pt[keep], minlength=nparts)
    ok = cnt >= 2
    keep &= ok[part_of_pt]
    return x[keep], y[keep], cnt[ok], owner[geom_of_part[ok]]


def command_stream(px, py, run_len, run_owner, kind: int):
    """MVT command integers for runs (rings, line parts, or one MultiPoint per owner) and their owners."""
    npts = len(px)
    if npts == 0:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    pt_owner = np.repeat(run_owner, run_len)
    dx = np.empty(npts, np.int64)
    dy = np.empty(npts, np.int64)
    dx[0], dy[0] = px[0], py[0]
    dx[1:] = px[1:] - px[:-1]
    dy[1:] = py[1:] - py[:-1]
    newf = np.zeros(npts, dtype=bool)
    newf[0] = True
    newf[1:] = pt_owner[1:] != pt_owner[:-1]
    dx[newf], dy[newf] = px[newf], py[newf]          # the cursor starts at (0, 0) for every feature
    extra = {POLYGON: 3, LINE: 2, POINT: 1}[kind]
    run_total = 2 * run_len + extra
    run_start = np.cumsum(run_total) - run_total
    out = np.empty(int(run_total.sum()), dtype=np.uint64)
    pt_run_start = np.repeat(run_start, run_len)
    rank = np.arange(npts) - np.repeat(np.cumsum(run_len) - run_len, run_len)
    if kind == POINT:
        out[run_start] = (1 | (run_len << 3)).astype(np.uint64)
        pos = pt_run_start + 1 + 2 * rank
    else:
        out[run_start] = np.uint64(1 | (1 << 3))
        out[run_start + 3] = (2 | ((run_len - 1) << 3)).astype(np.uint64)
        pos = pt_run_start + 1 + 2 * rank + (rank >= 1)
        if kind == POLYGON:
            out[run_start + run_total - 1] = np.uint64(7 | (1 << 3))
    out[pos] = zigzag(dx)
    out[pos + 1] = zigzag(dy)
    return out, np.repeat(run_owner, run_total)


def clean(geoms: np.ndarray, family: np.ndarray, fast: np.ndarray | None) -> np.ndarray:
    """Mask of geometries to keep after clipping; GeometryCollections reduced to the feature's family."""
    tid = shapely.get_type_id(geoms)
    gc = np.flatnonzero(tid == 7)
    for i in gc:
        parts = shapely.get_parts(geoms[i])
        ptid = shapely.get_type_id(parts)
        if family[i] == POLYGON:
            keep = [p for p, t in zip(parts, ptid) if t in (3, 6)]
            geoms[i] = shapely.MultiPolygon(list(shapely.get_parts(np.array(keep, dtype=object)))) if keep else None
        elif family[i] == LINE:
            keep = [p for p, t in zip(parts, ptid) if t in (1, 5)]
            geoms[i] = shapely.MultiLineString(list(shapely.get_parts(np.array(keep, dtype=object)))) if keep else None
        else:
            keep = [p for p, t in zip(parts, ptid) if t in (0, 4)]
            geoms[i] = shapely.MultiPoint(list(shapely.get_parts(np.array(keep, dtype=object)))) if keep else None
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if fast is not None:
        ok |= fast
    return ok


def valid_on_grid(geoms: np.ndarray, b: TileBounds, extent: int, buffer: int) -> np.ndarray:
    """Polygons clipped to tile ``b`` plus ``buffer``, made valid *after* quantisation to the tile's grid (returns a
    new array, EPSG:3857).

    ``shapely.clip_by_rect`` gives valid rings, but a clipped ring runs along the clip box, and a vertex within half
    a unit of that edge lands on it when quantised: the ring then doubles back over itself (admin_boundaries id 4
    in tile 10/855/418 did, at the buffer edge; 8 tiles of the plan layers z10–16 did). So the polygons with a
    vertex that rounding moves onto the box edge are found with numpy, quantised as the encoder will quantise them
    (``rint``) and checked by GEOS; the invalid ones are replaced by GEOS's snap-rounded, valid version on the same
    integer grid (``shapely.set_precision(grid_size=1)``), mapped back to metres so that ``quantise`` gives exactly
    those integers. The others are untouched, and so are their bytes; unclipped polygons never come here (their
    fast paths stay as they are). Checking every clipped polygon with GEOS instead cost 8–20 % of a ``plan`` tile
    at z10–14 (admin boundaries are clipped in nearly every tile).
    """
    if len(geoms) == 0:
        return geoms
    sx = extent / (b.right - b.left)
    sy = extent / (b.top - b.bottom)

    def to_tile(c):
        return np.column_stack(((c[:, 0] - b.left) * sx, (b.top - c[:, 1]) * sy))

    coords, owner = shapely.get_coordinates(geoms, return_index=True)
    t = to_tile(coords)
    r = np.rint(t)
    edge = (r == -buffer) | (r == extent + buffer)
    moved = np.abs(t - r) > 1e-6
    suspect = np.zeros(len(geoms), dtype=bool)
    suspect[owner[(edge & moved).any(axis=1)]] = True
    if not suspect.any():
        return geoms
    bad = np.zeros(len(geoms), dtype=bool)
    idx = np.flatnonzero(suspect)
    bad[idx] = ~shapely.is_valid(shapely.transform(geoms[idx], lambda c: np.rint(to_tile(c))))
    if not bad.any():
        return geoms
    out = geoms.copy()
    # a source ring may itself be invalid, and set_precision needs valid input
    src = shapely.make_valid(shapely.transform(geoms[bad], to_tile))
    try:
        fixed = shapely.set_precision(src, 1.0)
    except shapely.errors.GEOSException:         # rare topology failures: one by one, rint + make_valid last
        fixed = np.empty(len(src), dtype=object)
        for k, g in enumerate(src):
            try:
                fixed[k] = shapely.set_precision(g, 1.0)
            except shapely.errors.GEOSException:
                fixed[k] = shapely.make_valid(shapely.transform(g, np.rint))
    out[bad] = shapely.transform(fixed, lambda c: np.column_stack((b.left + c[:, 0] / sx, b.top - c[:, 1] / sy)))
    return out
