"""Vector tiles (Mapbox Vector Tile 2.1) for catalog layers, on morecantile's WebMercatorQuad.

>>> from kfqmap.catalog import load_catalog
>>> from kfqmap.tiles import TileEngine
>>> engine = TileEngine(load_catalog())
>>> data = engine.tile("plan", 13, 6853, 3348)      # bytes of one MVT (b"" when the tile holds nothing)

How a tile is made (no HTTP here; the server only wraps the bytes):

1. Each layer is prepared once (``LayerSource``): geometries are projected to EPSG:3857 with the
   closed-form Web Mercator formula, their bounds kept in an array and indexed by a shapely STRtree;
   properties are turned into one MVT value table per layer (``figures`` and other nested values become
   JSON strings, since MVT cannot hold nested values); every feature gets a **minimum zoom** (below).
2. Per tile: the STRtree gives the candidates, features below their minimum zoom are skipped, geometry is
   simplified (tolerance one tile unit, only below z16 and only for layers with detailed geometry), clipped to
   the tile plus a 64-unit buffer (features that reach less than a quarter tile beyond the edge are sent whole:
   clipping them buys nothing, renderers clip at the tile edge), quantised to the 4096 grid,
   de-duplicated, rings re-oriented as MVT 2.1 requires (exterior clockwise in y-down tile space) and
   degenerate rings dropped.
3. Encoding is done here with numpy (zigzag deltas, command integers, varints): no per-feature Python.
   ``LayerSource.encode_many`` does the same for many tiles of one zoom in a single pass (each feature paired
   with every tile it touches); ``kfqmap tiles seed`` uses it for polygon layers.
4. Layers of one-ring polygons (parcels) also keep, per zoom that has a tile index (z ≥ 13, unsimplified), every
   polygon's geometry encoded once on the zoom's global pixel grid (``_pre_geometry``, built with the index:
   ~0.4 s and ~12 MB per zoom for 200,000 parcels): in a tile only the first MoveTo point of an unclipped polygon
   depends on the tile, so a tile is its features' heads (id, tags, lengths, first point) around those
   pre-encoded tails, with clipped features encoded as in 2. Same bytes as 2–3 (points whose rounding could
   differ are checked per tile, with a fallback to 2–3).

Feature dropping at low zooms (tippecanoe-like, ``--drop-densest-as-needed`` in spirit): working down from
z15, a zoom keeps every feature of the zoom above unless some tile would hold more than
``FEATURE_BUDGET`` features (counted by centroid); then the layer is **thinned on a grid** of
``DROP_GRID`` × ``DROP_GRID`` cells per tile, keeping in each cell the feature with the largest area
(length for lines). The kept sets are nested (a feature visible at z is visible at every zoom above), so
tiles agree across their edges. The small plan layers never reach the budget and are never thinned. As a
last guard, a tile that still encodes to more than ``MAX_TILE_BYTES`` is rebuilt with the feature set of
the zoom below (and so on), so no tile exceeds 500 KB.
"""
from __future__ import annotations

import json
import math
import struct
import time
from dataclasses import dataclass
from typing import Iterable, NamedTuple

import numpy as np
import pandas as pd
import shapely

from .errors import InvalidParameter, LayerNotFound, TileOutOfRange

#: how long a tileset's data version is trusted before the collections are asked again (seconds)
VERSION_TTL_S = 0.25

EXTENT = 4096                 #: MVT grid size
BUFFER = 64                   #: clip buffer, tile units (as PostGIS ST_AsMVTGeom's default)
MIN_ZOOM, MAX_ZOOM = 0, 22    #: documented zoom range of every tileset
LOOSE_CLIP = 0.25             #: features within this fraction of a tile beyond its edge are not clipped
DETAIL_ZOOM = 16              #: at and above this zoom geometry is exact (no simplification)
FEATURE_BUDGET = 2500         #: thinning starts at a zoom where a tile would hold more features than this
DROP_GRID = 48                #: thinning keeps one feature per (tile / DROP_GRID)² cell
MAX_TILE_BYTES = 500_000      #: hard cap on an encoded (uncompressed) tile
UNCLIPPED_FAST_PATH = True    #: encode tiles whose candidates are all unclipped ragged polygons without shapely
TILE_INDEX_MIN_ZOOM = 13      #: from this zoom on, a layer keeps a tile → candidates index per zoom (built once)
PRE_ENCODED_GEOMETRY = True   #: with that index, one-ring polygon layers also keep each zoom's geometry encoded once
PLAN_TILESET = "plan"

R = 6378137.0
ORIGIN = math.pi * R          # 20037508.342789244

_POINT, _LINE, _POLYGON = 1, 2, 3


class TileBounds(NamedTuple):
    """A tile's projected bounds in EPSG:3857 metres: left, bottom, right, top."""

    left: float
    bottom: float
    right: float
    top: float


# ---------------------------------------------------------------------------------------------- tile maths
def check_tile(z: int, x: int, y: int, *, minzoom: int = MIN_ZOOM, maxzoom: int = MAX_ZOOM) -> None:
    """Raise ``TileOutOfRange`` (naming the parameter) unless z/x/y is a tile of WebMercatorQuad in range."""
    if not (minzoom <= z <= maxzoom):
        raise TileOutOfRange(f"缩放级别 z={z} 超出范围 {minzoom}–{maxzoom}", parameter="z")
    n = 1 << z
    if not (0 <= x < n):
        raise TileOutOfRange(f"瓦片列号 x={x} 超出 z={z} 的范围 0–{n - 1}", parameter="x")
    if not (0 <= y < n):
        raise TileOutOfRange(f"瓦片行号 y={y} 超出 z={z} 的范围 0–{n - 1}", parameter="y")


def tile_bounds(z: int, x: int, y: int) -> TileBounds:
    """Bounds of tile z/x/y in EPSG:3857 (same numbers as morecantile's WebMercatorQuad ``xy_bounds``)."""
    size = 2 * ORIGIN / (1 << z)
    left = -ORIGIN + x * size
    top = ORIGIN - y * size
    return TileBounds(left, top - size, left + size, top)


def lonlat_to_mercator(lon, lat):
    """WGS 84 lon/lat (degrees, arrays) → EPSG:3857 x/y metres (latitude clamped to ±85.0511°)."""
    lon = np.asarray(lon, dtype="float64")
    lat = np.clip(np.asarray(lat, dtype="float64"), -85.05112877980659, 85.05112877980659)
    x = np.radians(lon) * R
    y = np.log(np.tan(np.pi / 4 + np.radians(lat) / 2)) * R
    return x, y


def mercator_to_lonlat(x, y):
    x = np.asarray(x, dtype="float64")
    y = np.asarray(y, dtype="float64")
    return np.degrees(x / R), np.degrees(2 * np.arctan(np.exp(y / R)) - np.pi / 2)


def tile_pixel(lon: float, lat: float, z: int, x: int, y: int, extent: int = EXTENT) -> tuple[float, float]:
    """Where lon/lat falls inside tile z/x/y, in tile units (y down), unrounded."""
    mx, my = lonlat_to_mercator(lon, lat)
    b = tile_bounds(z, x, y)
    return (float((mx - b.left) / (b.right - b.left) * extent), float((b.top - my) / (b.top - b.bottom) * extent))


def tiles_for_bounds(bounds3857: np.ndarray, z: int) -> np.ndarray:
    """Unique (x, y) tiles at zoom ``z`` touched by the given n×4 EPSG:3857 bounds (vectorised)."""
    if len(bounds3857) == 0:
        return np.empty((0, 2), dtype=np.int64)
    n = 1 << z
    size = 2 * ORIGIN / n
    x0 = np.clip(np.floor((bounds3857[:, 0] + ORIGIN) / size), 0, n - 1).astype(np.int64)
    x1 = np.clip(np.floor((bounds3857[:, 2] + ORIGIN) / size), 0, n - 1).astype(np.int64)
    y0 = np.clip(np.floor((ORIGIN - bounds3857[:, 3]) / size), 0, n - 1).astype(np.int64)
    y1 = np.clip(np.floor((ORIGIN - bounds3857[:, 1]) / size), 0, n - 1).astype(np.int64)
    nx, ny = x1 - x0 + 1, y1 - y0 + 1
    count = nx * ny
    owner = np.repeat(np.arange(len(count)), count)
    rank = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    xs = x0[owner] + rank % nx[owner]
    ys = y0[owner] + rank // nx[owner]
    keys = np.unique(xs * n + ys)
    return np.column_stack([keys // n, keys % n])


# ---------------------------------------------------------------------------------------------- protobuf bits
def _zigzag(v: np.ndarray) -> np.ndarray:
    v = v.astype(np.int64)
    return ((v << 1) ^ (v >> 63)).astype(np.uint64)


_VARINT_LIMITS = np.array([1 << (7 * k) for k in range(1, 10)], dtype=np.uint64)


def _varint_sizes(v: np.ndarray) -> np.ndarray:
    """Bytes of each varint (one binary search per value in the 9 limits: one numpy call, any size)."""
    return np.searchsorted(_VARINT_LIMITS, np.asarray(v, dtype=np.uint64), side="right") + 1


def encode_varints(v: np.ndarray) -> bytes:
    """Protobuf varints of a uint64 array, concatenated (vectorised)."""
    if len(v) == 0:
        return b""
    return _varint_array(np.asarray(v, dtype=np.uint64))[0].tobytes()


def _varint_array(v: np.ndarray, nb: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 array of the concatenated varints, bytes per value); ``nb``: the sizes, if already known."""
    if nb is None:
        nb = _varint_sizes(v)
    pos = np.cumsum(nb) - nb
    out = np.empty(int(pos[-1] + nb[-1]), dtype=np.uint8)
    out[pos] = ((v & np.uint64(0x7F)) | ((nb > 1).astype(np.uint64) << np.uint64(7))).astype(np.uint8)
    idx = np.flatnonzero(nb > 1)
    k = 1
    while len(idx):
        vv = v[idx] >> np.uint64(7 * k)
        more = nb[idx] > k + 1
        out[pos[idx] + k] = ((vv & np.uint64(0x7F)) | (more.astype(np.uint64) << np.uint64(7))).astype(np.uint8)
        idx = idx[more]
        k += 1
    return out, nb


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field_bytes(field: int, payload: bytes) -> bytes:
    return _varint((field << 3) | 2) + _varint(len(payload)) + payload


def _value_message(v) -> bytes | None:
    """One MVT ``Value`` message (without the layer's field header); None for null values."""
    if v is None:
        return None
    if isinstance(v, (bool, np.bool_)):
        return b"\x38" + (b"\x01" if v else b"\x00")
    if isinstance(v, (int, np.integer)):
        v = int(v)
        if v >= 0:
            return b"\x28" + _varint(v)                                 # uint_value
        return b"\x30" + _varint(((v << 1) ^ (v >> 63)) & 0xFFFFFFFFFFFFFFFF)  # sint_value
    if isinstance(v, (float, np.floating)):
        if math.isnan(v):
            return None
        if float(v).is_integer() and abs(v) < 2**53:
            return _value_message(int(v))
        return b"\x19" + struct.pack("<d", float(v))                  # double_value
    if isinstance(v, (list, dict, tuple)):
        v = json.dumps(v, ensure_ascii=False)
    elif isinstance(v, (pd.Timestamp,)) or hasattr(v, "isoformat"):
        v = v.isoformat()
    elif pd.isna(v) if not isinstance(v, str) else False:
        return None
    raw = str(v).encode("utf-8")
    return b"\x0a" + _varint(len(raw)) + raw                           # string_value


def _concat_items(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Per item, the concatenation of its segment in each part (each part: uint8 buffer, lengths per item)."""
    total = np.zeros(len(parts[0][1]), dtype=np.int64)
    for _, ln in parts:
        total += ln
    start = np.cumsum(total) - total
    out = np.empty(int(total.sum()), dtype=np.uint8)
    offset = np.zeros(len(total), dtype=np.int64)
    for buf, ln in parts:
        dest = np.repeat(start + offset - (np.cumsum(ln) - ln), ln) + np.arange(int(ln.sum()))
        out[dest] = buf
        offset += ln
    return out, total


def _const(byte: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full(n, byte, dtype=np.uint8), np.ones(n, dtype=np.int64)


def _value_entries(uniques: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Layer ``values`` entries (field 4 + length + Value message) for an array of distinct values, vectorised
    for strings, integers, floats and booleans (else one by one). Returns (buffer, lengths, kept mask)."""
    n = len(uniques)
    keep = np.ones(n, dtype=bool)
    msgs = None
    if n == 0:
        return np.zeros(0, np.uint8), np.zeros(0, np.int64), keep
    kind = uniques.dtype.kind
    if kind == "b":
        msgs = _concat_items([_const(0x38, n), (uniques.astype(np.uint8), np.ones(n, dtype=np.int64))])
    elif kind in "iu":
        v = uniques.astype(np.int64)
        if (v >= 0).all():
            msgs = _concat_items([_const(0x28, n), _varint_array(v.astype(np.uint64))])
        else:
            msgs = _concat_items([_const(0x30, n), _varint_array(_zigzag(v))])
    elif kind == "f":
        v = uniques.astype(np.float64)
        keep = np.isfinite(v)
        v = v[keep]
        m = len(v)
        if m and (v == np.round(v)).all() and np.abs(v).max() < 2**53:
            iv = v.astype(np.int64)
            msgs = (_concat_items([_const(0x28, m), _varint_array(iv.astype(np.uint64))]) if (iv >= 0).all()
                    else _concat_items([_const(0x30, m), _varint_array(_zigzag(iv))]))
        else:
            msgs = _concat_items([_const(0x19, m), (v.astype("<f8").view(np.uint8), np.full(m, 8, dtype=np.int64))])
    elif all(isinstance(u, str) for u in uniques):
        raw = [u.encode("utf-8") for u in uniques]
        ln = np.fromiter((len(r) for r in raw), dtype=np.int64, count=n)
        msgs = _concat_items([_const(0x0A, n), _varint_array(ln.astype(np.uint64)),
                              (np.frombuffer(b"".join(raw), dtype=np.uint8), ln)])
    if msgs is None:                       # mixed or unusual values: one by one
        chunks = []
        for i, u in enumerate(uniques):
            m = _value_message(u)
            if m is None:
                keep[i] = False
            else:
                chunks.append(_field_bytes(4, m))
        ln = np.fromiter((len(c) for c in chunks), dtype=np.int64, count=len(chunks))
        return np.frombuffer(b"".join(chunks), dtype=np.uint8), ln, keep
    mbuf, mlen = msgs
    k = len(mlen)
    return (*_concat_items([_const(0x22, k), _varint_array(mlen.astype(np.uint64)), (mbuf, mlen)]), keep)


def _field_type(series: pd.Series) -> str:
    """TileJSON vector_layers field type: Number, Boolean or String."""
    if pd.api.types.is_bool_dtype(series):
        return "Boolean"
    if pd.api.types.is_numeric_dtype(series):
        return "Number"
    sample = series.dropna()
    if len(sample) and all(isinstance(v, (bool, np.bool_)) for v in sample.iloc[:50]):
        return "Boolean"
    if len(sample) and all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
                           for v in sample.iloc[:50]):
        return "Number"
    return "String"


# ---------------------------------------------------------------------------------------------- geometry → commands
def _quantise(coords: np.ndarray, b: TileBounds, extent: int) -> tuple[np.ndarray, np.ndarray]:
    sx = extent / (b.right - b.left)
    sy = extent / (b.top - b.bottom)
    x = np.rint((coords[:, 0] - b.left) * sx).astype(np.int64)
    y = np.rint((b.top - coords[:, 1]) * sy).astype(np.int64)
    return x, y


class _Ragged(NamedTuple):
    """(Multi)polygons as flat arrays: coords, ring/polygon/geometry offsets (MultiPolygon layout)."""

    coords: np.ndarray
    ring_off: np.ndarray
    poly_off: np.ndarray
    geom_off: np.ndarray


def _ragged_polygons(geoms: np.ndarray) -> _Ragged:
    if len(geoms) == 0:
        z = np.zeros(1, dtype=np.int64)
        return _Ragged(np.zeros((0, 2)), z, z, z)
    gtype, coords, offsets = shapely.to_ragged_array(geoms)
    if len(offsets) == 2:                                        # Polygon: one polygon per geometry
        ring_off, poly_off = offsets
        geom_off = np.arange(len(poly_off), dtype=np.int64)
    else:
        ring_off, poly_off, geom_off = offsets
    return _Ragged(coords, np.asarray(ring_off, dtype=np.int64), np.asarray(poly_off, dtype=np.int64),
                   np.asarray(geom_off, dtype=np.int64))


def _ranges(start: np.ndarray, stop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated ``arange(start[i], stop[i])`` and the new offsets (vectorised)."""
    n = stop - start
    off = np.zeros(len(n) + 1, dtype=np.int64)
    np.cumsum(n, out=off[1:])
    idx = np.arange(off[-1]) - np.repeat(off[:-1] - start, n)
    return idx, off


def _take_ragged(r: _Ragged, sel: np.ndarray, simple: bool = False) -> _Ragged:
    """The sub-ragged-array of geometries ``sel`` (vectorised gather, no shapely call).

    ``simple``: every geometry is one polygon with one ring (one gather instead of three).
    """
    if simple:
        pts, ring_rel = _ranges(r.ring_off[sel], r.ring_off[sel + 1])
        one = np.arange(len(sel) + 1, dtype=np.int64)
        return _Ragged(r.coords[pts], ring_rel, one, one)
    polys, geom_off = _ranges(r.geom_off[sel], r.geom_off[sel + 1])
    rings, poly_rel = _ranges(r.poly_off[polys], r.poly_off[polys + 1])
    pts, ring_rel = _ranges(r.ring_off[rings], r.ring_off[rings + 1])
    return _Ragged(r.coords[pts], ring_rel, poly_rel, geom_off)


def _concat_ragged(a: _Ragged, b: _Ragged) -> _Ragged:
    return _Ragged(np.concatenate([a.coords, b.coords]),
                   np.concatenate([a.ring_off, a.ring_off[-1] + b.ring_off[1:]]),
                   np.concatenate([a.poly_off, a.poly_off[-1] + b.poly_off[1:]]),
                   np.concatenate([a.geom_off, a.geom_off[-1] + b.geom_off[1:]]))


def _polygon_runs(rag: _Ragged, owner: np.ndarray, b: TileBounds | None, extent: int, xy=None, simple=False):
    """Rings of (multi)polygons as runs: (x, y, run_len, run_owner); rings oriented and cleaned.

    ``xy``: coordinates already quantised (integer x, y per point), e.g. for many tiles at once.
    ``simple``: every geometry is one polygon with one ring (``_take_ragged(..., simple=True)``): the
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

    x, y = _quantise(coords, b, extent) if xy is None else xy
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


def _line_runs(geoms: np.ndarray, owner: np.ndarray, b: TileBounds, extent: int):
    gtype, coords, offsets = shapely.to_ragged_array(geoms)
    if len(offsets) == 1:
        part_off = np.asarray(offsets[0], dtype=np.int64)
        geom_of_part = np.arange(len(part_off) - 1)
    else:
        part_off = np.asarray(offsets[0], dtype=np.int64)
        geom_off = np.asarray(offsets[1], dtype=np.int64)
        geom_of_part = np.repeat(np.arange(len(geom_off) - 1), np.diff(geom_off))
    nparts = len(part_off) - 1
    x, y = _quantise(coords, b, extent)
    part_of_pt = np.repeat(np.arange(nparts), np.diff(part_off))
    keep = np.ones(len(x), dtype=bool)
    keep[1:] = ~((x[1:] == x[:-1]) & (y[1:] == y[:-1]) & (part_of_pt[1:] == part_of_pt[:-1]))
    cnt = np.bincount(part_of_pt[keep], minlength=nparts)
    ok = cnt >= 2
    keep &= ok[part_of_pt]
    return x[keep], y[keep], cnt[ok], owner[geom_of_part[ok]]


def _command_stream(px, py, run_len, run_owner, kind: int):
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
    extra = {_POLYGON: 3, _LINE: 2, _POINT: 1}[kind]
    run_total = 2 * run_len + extra
    run_start = np.cumsum(run_total) - run_total
    out = np.empty(int(run_total.sum()), dtype=np.uint64)
    pt_run_start = np.repeat(run_start, run_len)
    rank = np.arange(npts) - np.repeat(np.cumsum(run_len) - run_len, run_len)
    if kind == _POINT:
        out[run_start] = (1 | (run_len << 3)).astype(np.uint64)
        pos = pt_run_start + 1 + 2 * rank
    else:
        out[run_start] = np.uint64(1 | (1 << 3))
        out[run_start + 3] = (2 | ((run_len - 1) << 3)).astype(np.uint64)
        pos = pt_run_start + 1 + 2 * rank + (rank >= 1)
        if kind == _POLYGON:
            out[run_start + run_total - 1] = np.uint64(7 | (1 << 3))
    out[pos] = _zigzag(dx)
    out[pos + 1] = _zigzag(dy)
    return out, np.repeat(run_owner, run_total)


class _PreGeom(NamedTuple):
    """One zoom's geometry of every one-ring polygon of a layer's ragged arrays, encoded once (``_pre_geometry``)."""

    scale: float         # pixels per metre at this zoom (global pixel = rint((x + ORIGIN)·scale), rint((ORIGIN − y)·scale))
    x0: np.ndarray       # per polygon: its first emitted point on the global grid
    y0: np.ndarray
    start: np.ndarray    # per polygon: offset of its encoded tail in ``buf``
    length: np.ndarray   # per polygon: bytes of the tail; -1 when the ring collapses at this zoom (no geometry)
    buf: np.ndarray      # uint8: LineTo command, zigzag deltas and ClosePath of every polygon, as varints
    safe: np.ndarray     # per polygon: no coordinate near a rounding tie, so no tile can quantise it differently


def _pre_geometry(rag: _Ragged, z: int, extent: int) -> _PreGeom:
    """Encode the rings of a one-ring-per-geometry ragged array once for zoom ``z``.

    Inside a tile, a point's quantised position is its position on the zoom's global pixel grid minus the tile's
    offset (``x·extent``, ``y·extent``), up to float rounding: ``LayerSource._encode_pre`` checks that equality
    for every point of a tile and falls back to the ordinary path when it does not hold. Given it, everything
    the encoder derives from a ring — repeated points dropped, orientation, degenerate rings, zigzag deltas —
    is the same in every tile (the ring is translated by whole pixels; here each ring is taken relative to its
    own first point, so the integers stay small and the shoelace sums exact as in a tile), and only the first
    MoveTo point depends on the tile.

    That equality can only fail for a coordinate whose global pixel position lies within float error of a
    rounding tie (x.5): the tile path's error (tile edge and width rounded in metres, then scaled) and this
    one's (``c + ORIGIN`` rounded, then scaled) are each of the order of 1e-12·2^z px (the two differed by at
    most 6e-8 px at z16 and 7e-6 px at z22 over the 200,000 bench parcels). A polygon none of whose coordinates
    lies within ``2^z·1e-10`` px of a tie (~60× that) is marked ``safe`` and its points need no per-tile
    check; tiles holding any other polygon check every point.
    """
    size = 2 * ORIGIN / (1 << z)
    s = extent / size
    c = rag.coords
    fx = (c[:, 0] + ORIGIN) * s
    fy = (ORIGIN - c[:, 1]) * s
    gx = np.rint(fx).astype(np.int64)
    gy = np.rint(fy).astype(np.int64)
    margin = (1 << z) * 1e-10
    near = (np.abs(fx - np.floor(fx) - 0.5) < margin) | (np.abs(fy - np.floor(fy) - 0.5) < margin)
    nr = len(rag.ring_off) - 1
    pt_ring = np.repeat(np.arange(nr), np.diff(rag.ring_off))
    safe = np.bincount(pt_ring[near], minlength=nr) == 0
    ring_len = np.diff(rag.ring_off)
    first = np.minimum(rag.ring_off[:-1], max(len(c) - 1, 0))
    tx = np.repeat(gx[first], ring_len) if len(c) else gx
    ty = np.repeat(gy[first], ring_len) if len(c) else gy
    px, py, rl, ro = _polygon_runs(rag, np.arange(nr), None, extent, xy=(gx - tx, gy - ty), simple=True)
    x0 = np.zeros(nr, dtype=np.int64)
    y0 = np.zeros(nr, dtype=np.int64)
    start = np.zeros(nr, dtype=np.int64)
    length = np.full(nr, -1, dtype=np.int64)
    if len(rl) == 0:
        return _PreGeom(s, x0, y0, start, length, np.zeros(0, np.uint8), safe)
    pfirst = np.cumsum(rl) - rl
    x0[ro] = px[pfirst] + gx[first[ro]]
    y0[ro] = py[pfirst] + gy[first[ro]]
    geom, _ = _command_stream(px, py, rl, ro, _POLYGON)
    run_total = 2 * rl + 3
    run_start = np.cumsum(run_total) - run_total
    tail = np.ones(len(geom), dtype=bool)
    tail[run_start] = tail[run_start + 1] = tail[run_start + 2] = False     # MoveTo and its (tile-dependent) point
    buf, nb = _varint_array(geom[tail])
    bpos = np.concatenate(([0], np.cumsum(nb)))
    tstart = run_start - 3 * np.arange(len(rl))                             # each run's first tail value
    start[ro] = bpos[tstart]
    length[ro] = bpos[tstart + 2 * rl] - bpos[tstart]
    return _PreGeom(s, x0, y0, start, length, buf, safe)


# ---------------------------------------------------------------------------------------------- layers
@dataclass
class _Values:
    buf: np.ndarray      # uint8: every value as a layer field-4 entry, concatenated
    start: np.ndarray    # int64 offsets into buf
    length: np.ndarray   # int64


def _covered_tiles(bounds: np.ndarray, ntile: int, size: float, pad: float):
    """Tiles each feature's bounds (3857, grown by ``pad``) reach at a zoom of ``ntile`` × ``ntile`` tiles.

    Returns ``(count per feature, expand)``; ``expand()`` gives ``(owner, key)`` arrays, one row per
    (feature, tile) pair, with ``key = x * ntile + y`` — computed only when the caller wants the pairs.
    """
    x0 = np.clip(np.floor((bounds[:, 0] - pad + ORIGIN) / size), 0, ntile - 1).astype(np.int64)
    x1 = np.clip(np.floor((bounds[:, 2] + pad + ORIGIN) / size), 0, ntile - 1).astype(np.int64)
    y0 = np.clip(np.floor((ORIGIN - bounds[:, 3] - pad) / size), 0, ntile - 1).astype(np.int64)
    y1 = np.clip(np.floor((ORIGIN - bounds[:, 1] + pad) / size), 0, ntile - 1).astype(np.int64)
    nx = x1 - x0 + 1
    cnt = nx * (y1 - y0 + 1)

    def expand() -> tuple[np.ndarray, np.ndarray]:
        owner = np.repeat(np.arange(len(bounds)), cnt)
        rank = np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        return owner, (x0[owner] + rank % nx[owner]) * ntile + (y0[owner] + rank // nx[owner])

    return cnt, expand


class LayerSource:
    """One layer prepared for tiling: 3857 geometry, bounds, STRtree, value table and minimum zooms."""

    def __init__(self, name: str, frame, *, detailed: bool | None = None):
        import geopandas as gpd  # noqa: F401  (frame is a GeoDataFrame)

        self.name = name
        self._frame = frame                                 # the catalog's cached frame (attributes on demand)
        geoms4326 = np.asarray(frame.geometry.values, dtype=object)
        present = ~(shapely.is_missing(geoms4326) | shapely.is_empty(geoms4326))
        self.rows = np.flatnonzero(present)                 # row positions in the frame
        geoms = shapely.transform(geoms4326[present], lambda c: np.column_stack(lonlat_to_mercator(c[:, 0], c[:, 1])))
        self.geoms = geoms
        self.n = len(geoms)
        self.bounds = shapely.bounds(geoms) if self.n else np.zeros((0, 4))
        self.tree = shapely.STRtree(geoms)
        tid = shapely.get_type_id(geoms)
        self.family = np.select([np.isin(tid, (0, 4)), np.isin(tid, (1, 2, 5))], [_POINT, _LINE], _POLYGON).astype(np.int8)
        ncoords = shapely.get_num_coordinates(geoms)
        polys = np.flatnonzero(np.isin(tid, (3, 6)))
        self._rag = _ragged_polygons(geoms[polys]) if len(polys) else None
        self._rag_simple = bool(self._rag is not None and len(self._rag.ring_off) == len(self._rag.geom_off))
        self._rag_index = np.full(self.n, -1, dtype=np.int64)
        self._rag_index[polys] = np.arange(len(polys))
        self._simple: dict[tuple[int, int], np.ndarray] = {}
        self._tile_idx: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray] | None] = {}
        self._pre: dict[tuple[int, int], _PreGeom] = {}
        self._fid_nb: np.ndarray | None = None
        self._all_valid = False
        self.detailed = bool(detailed if detailed is not None else (self.n and ncoords.mean() > 12))
        self.fids = (self.rows + 1).astype(np.uint64)       # MVT feature id = row number (1-based)
        self._prepare_properties(frame.iloc[self.rows])
        self.priority = np.where(self.family == _POLYGON, shapely.area(geoms), shapely.length(geoms)) \
            if self.n else np.zeros(0)
        self.minzoom = self._minzooms()
        self.zoom_levels = np.unique(self.minzoom)
        if self.n:
            b = self.bounds
            lon0, lat0 = mercator_to_lonlat(b[:, 0].min(), b[:, 1].min())
            lon1, lat1 = mercator_to_lonlat(b[:, 2].max(), b[:, 3].max())
            self.lonlat_bounds = (float(lon0), float(lat0), float(lon1), float(lat1))
        else:
            self.lonlat_bounds = (-180.0, -85.0511, 180.0, 85.0511)

    def column(self, name: str) -> np.ndarray:
        """Values of one attribute, aligned with ``self.geoms`` (None where the layer lacks the column)."""
        if name not in self._frame.columns:
            return np.full(self.n, None, dtype=object)
        return self._frame[name].to_numpy(dtype=object)[self.rows]

    # ------------------------------------------------------------------ properties
    def _prepare_properties(self, frame) -> None:
        cols = [c for c in frame.columns if c != frame.geometry.name]
        self.keys = cols
        self.key_bytes = [_field_bytes(3, c.encode("utf-8")) for c in cols]
        self.fields = {c: _field_type(frame[c]) for c in cols}
        vidx = np.full((len(frame), len(cols)), -1, dtype=np.int64)
        bufs: list[np.ndarray] = []
        lens: list[np.ndarray] = []
        offset = 0
        for k, col in enumerate(cols):
            series = frame[col]
            values = series.to_numpy()
            if series.dtype == object or not isinstance(values, np.ndarray):
                values = series.to_numpy(dtype=object)
                # nested values (``figures``) become JSON strings: MVT holds no nested values
                values = np.array([json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict, tuple)) else v
                                   for v in values], dtype=object)
            codes, uniques = pd.factorize(values, use_na_sentinel=True)
            uniques = np.asarray(uniques)
            buf, ln, keep = _value_entries(uniques)
            remap = np.full(len(uniques) + 1, -1, dtype=np.int64)
            remap[np.flatnonzero(keep)] = offset + np.arange(int(keep.sum()))
            offset += int(keep.sum())
            bufs.append(buf)
            lens.append(ln)
            vidx[:, k] = remap[codes]                       # codes == -1 → remap[-1] == -1
        self.vidx = vidx
        lengths = np.concatenate(lens) if lens else np.zeros(0, np.int64)
        self.values = _Values(np.concatenate(bufs) if bufs else np.zeros(0, np.uint8),
                              np.cumsum(lengths) - lengths, lengths)

    # ------------------------------------------------------------------ dropping
    def _minzooms(self) -> np.ndarray:
        minzoom = np.zeros(self.n, dtype=np.int8)
        if self.n <= FEATURE_BUDGET:
            return minzoom
        priority = self.priority
        cx = (self.bounds[:, 0] + self.bounds[:, 2]) / 2 + ORIGIN
        cy = ORIGIN - (self.bounds[:, 1] + self.bounds[:, 3]) / 2
        kept = np.arange(self.n)
        minzoom[:] = DETAIL_ZOOM
        for z in range(DETAIL_ZOOM - 1, -1, -1):
            ntiles = 1 << z
            size = 2 * ORIGIN / ntiles
            tx = np.floor(cx[kept] / size).astype(np.int64)
            ty = np.floor(cy[kept] / size).astype(np.int64)
            _, counts = np.unique(tx * ntiles + ty, return_counts=True)
            if counts.max() > FEATURE_BUDGET:
                g = ntiles * DROP_GRID
                cell = size / DROP_GRID
                key = (np.floor(cx[kept] / cell).astype(np.int64) * g
                       + np.floor(cy[kept] / cell).astype(np.int64))
                order = np.lexsort((-priority[kept], key))
                skey = key[order]
                firsts = np.ones(len(order), dtype=bool)
                firsts[1:] = skey[1:] != skey[:-1]
                kept = np.sort(kept[order[firsts]])
            minzoom[kept] = z
        return minzoom

    def _simplified(self, z: int, extent: int) -> np.ndarray:
        """The layer simplified with a tolerance of one tile unit at zoom ``z`` (cached per zoom)."""
        key = (z, extent)
        cached = self._simple.get(key)
        if cached is None:
            tol = 2 * ORIGIN / (1 << z) / extent
            cached = shapely.simplify(self.geoms, tol, preserve_topology=True)
            if len(self._simple) < 32:
                self._simple[key] = cached
        return cached

    def tile_index(self, z: int, extent: int = EXTENT, buffer: int = BUFFER) -> tuple[np.ndarray, np.ndarray] | None:
        """Zoom ``z``'s tile → candidates index (built once per zoom, vectorised): every (tile key ``x·2^z + y``,
        feature) pair where the feature's bounds reach the tile plus its buffer and the feature is shown at ``z``,
        sorted by tile then feature; a tile's candidates are one slice (no STRtree query, filter or sort).
        None (the STRtree is used) when features span too many tiles at this zoom or 8 zooms are indexed."""
        key = (z, extent, buffer)
        if key in self._tile_idx:
            return self._tile_idx[key]
        feats = np.arange(self.n) if z >= DETAIL_ZOOM else np.flatnonzero(self.minzoom <= z)
        ntile = 1 << z
        size = 2 * ORIGIN / ntile
        pad = size * buffer / extent
        cnt, expand = _covered_tiles(self.bounds[feats], ntile, size, pad)
        result = None
        if int(cnt.sum()) <= 4 * max(len(feats), 1) and len(self._tile_idx) < 8:
            owner, pkey = expand()
            pfeat = feats[owner]
            order = np.lexsort((pfeat, pkey))
            result = (pkey[order], pfeat[order])
            if PRE_ENCODED_GEOMETRY and self._rag_simple and not (self.detailed and z < DETAIL_ZOOM):
                self._pre[(z, extent)] = _pre_geometry(self._rag, z, extent)
        self._tile_idx[key] = result
        return result

    # ------------------------------------------------------------------ many tiles at once (seeding)
    def batchable(self, z: int | None = None) -> bool:
        """Polygon layers without simplification (at ``z``) can encode many tiles of a zoom in one pass."""
        simplified = self.detailed and (z is None or z < DETAIL_ZOOM)
        return bool(self.n and self._rag is not None and not simplified and (self._rag_index >= 0).all())

    def encode_many(self, z: int, tiles: np.ndarray, *, extent: int = EXTENT,
                    buffer: int = BUFFER) -> tuple[dict[tuple[int, int], tuple[bytes, int]], set[tuple[int, int]]]:
        """Encode many tiles of zoom ``z`` (k×2 array of x, y) in one pass: the same bytes-for-meaning as
        ``encode`` (every key is listed in each tile). Returns ``({(x, y): (layer bytes, n)}, slow)``;
        ``slow`` (tiles to encode one by one) is empty today and kept for layers this pass cannot handle."""
        out: dict[tuple[int, int], tuple[bytes, int]] = {}
        ntile = 1 << z
        size = 2 * ORIGIN / ntile
        pad = size * buffer / extent
        req = np.unique(tiles[:, 0].astype(np.int64) * ntile + tiles[:, 1].astype(np.int64))
        # candidates: the STRtree over the requested tiles' overall extent (plus the buffer)
        rx, ry = req // ntile, req % ntile
        feats = np.sort(self.tree.query(shapely.box(-ORIGIN + rx.min() * size - pad, ORIGIN - (ry.max() + 1) * size - pad,
                                                    -ORIGIN + (rx.max() + 1) * size + pad, ORIGIN - ry.min() * size + pad)))
        if z < DETAIL_ZOOM:
            feats = feats[self.minzoom[feats] <= z]
        owner, pkey = _covered_tiles(self.bounds[feats], ntile, size, pad)[1]()
        pfeat = feats[owner]
        keep = np.isin(pkey, req)
        pkey, pfeat = pkey[keep], pfeat[keep]
        slow: set[tuple[int, int]] = set()
        if len(pkey) == 0:
            return out, slow
        order = np.lexsort((pfeat, pkey))
        pkey, pfeat = pkey[order], pfeat[order]
        npair = len(pkey)
        left = -ORIGIN + (pkey // ntile) * size
        top = ORIGIN - (pkey % ntile) * size
        # features reaching further than LOOSE_CLIP beyond their tile are clipped (per pair), as in encode()
        big = np.flatnonzero((self.bounds[pfeat, 0] < left - LOOSE_CLIP * size)
                             | (self.bounds[pfeat, 2] > left + size + LOOSE_CLIP * size)
                             | (self.bounds[pfeat, 1] < top - size - LOOSE_CLIP * size)
                             | (self.bounds[pfeat, 3] > top + LOOSE_CLIP * size))
        small = np.ones(npair, dtype=bool)
        small[big] = False
        small_idx = np.flatnonzero(small)
        rag = _take_ragged(self._rag, self._rag_index[pfeat[small_idx]], self._rag_simple)
        pair_of_geom = small_idx
        if len(big):
            clipped = np.array([shapely.clip_by_rect(self.geoms[pfeat[i]], left[i] - pad, top[i] - size - pad,
                                                     left[i] + size + pad, top[i] + pad) for i in big], dtype=object)
            fam = np.full(len(big), _POLYGON, dtype=np.int8)
            ok = _clean(clipped, fam, None)
            if ok.any():
                rag = _concat_ragged(rag, _ragged_polygons(clipped[ok]))
                pair_of_geom = np.concatenate([small_idx, big[ok]])
        # geometry: quantise each point against its pair's own tile
        gpts = rag.ring_off[rag.poly_off[rag.geom_off]]
        pt_pair = np.repeat(pair_of_geom, np.diff(gpts))
        scale = extent / size
        X = np.rint((rag.coords[:, 0] - left[pt_pair]) * scale).astype(np.int64)
        Y = np.rint((top[pt_pair] - rag.coords[:, 1]) * scale).astype(np.int64)
        px, py, rl, ro = _polygon_runs(rag, pair_of_geom, None, extent, xy=(X, Y))
        geom, gown = _command_stream(px, py, rl, ro, _POLYGON)
        if len(gown) > 1 and (np.diff(gown) < 0).any():
            o = np.argsort(gown, kind="stable")
            geom, gown = geom[o], gown[o]
        if len(geom) == 0:
            return out, slow
        present = gown[np.concatenate(([True], gown[1:] != gown[:-1]))]     # gown is sorted
        remap = np.full(npair, -1, dtype=np.int64)
        remap[present] = np.arange(len(present))
        gown = remap[gown]
        pkey, pfeat = pkey[present], pfeat[present]
        npair = len(pkey)
        tiles_u, tstart = np.unique(pkey, return_index=True)
        tile_of_pair = np.searchsorted(tiles_u, pkey)
        # tags: every key listed; values local to each tile
        V = self.vidx[pfeat]
        valid = V >= 0
        rows, cols = np.nonzero(valid)
        nv = max(len(self.values.length), 1)
        comp = tile_of_pair[rows] * nv + V[rows, cols]
        ukeys = np.unique(comp)
        utile = ukeys // nv
        ufirst = np.searchsorted(utile, np.arange(len(tiles_u)))
        vlocal = np.searchsorted(ukeys, comp) - ufirst[tile_of_pair[rows]]
        tags = np.empty(2 * len(rows), dtype=np.uint64)
        tags[0::2] = cols
        tags[1::2] = vlocal
        tag_owner = np.repeat(rows, 2)
        types = np.full(npair, _POLYGON, dtype=np.uint64)
        stream, fstart, snb = _feature_stream(self.fids[pfeat], types, tags, tag_owner, geom, gown, npair)
        fbytes, nb = _varint_array(stream, snb)
        bpos = np.concatenate(([0], np.cumsum(nb)))
        tile_bstart = bpos[fstart[tstart]]
        tile_bend = np.append(tile_bstart[1:], bpos[-1])
        # values bytes per tile
        vals = self.values
        g = ukeys % nv
        L = vals.length[g]
        S = vals.start[g]
        vbuf = vals.buf[np.repeat(S - (np.cumsum(L) - L), L) + np.arange(int(L.sum()))]
        vpos = np.concatenate(([0], np.cumsum(L)))
        vstart = vpos[ufirst]
        vend = np.append(vstart[1:], vpos[-1])
        nfeat_tile = np.diff(np.append(tstart, npair))
        head = b"\x78\x02" + b"\x0a" + _varint(len(self.name.encode())) + self.name.encode("utf-8")
        keys = b"".join(self.key_bytes)
        tail = b"\x28" + _varint(extent)
        fb = fbytes.tobytes()
        vb = vbuf.tobytes()
        for i, k in enumerate(tiles_u):
            layer = head + fb[tile_bstart[i]:tile_bend[i]] + keys + vb[vstart[i]:vend[i]] + tail
            out[(int(k // ntile), int(k % ntile))] = (layer, int(nfeat_tile[i]))
        return out, slow

    # ------------------------------------------------------------------ encoding
    def encode(self, z: int, x: int, y: int, *, feature_zoom: int | None = None, limit: int | None = None,
               extent: int = EXTENT, buffer: int = BUFFER) -> tuple[bytes, int]:
        """This layer's MVT ``Layer`` message for tile z/x/y (b"" if empty) and its feature count.

        ``feature_zoom`` picks the feature set of another zoom (lower = fewer features); default ``z``.
        ``limit`` keeps at most that many candidates, largest first (the size guard's last resort).
        """
        if self.n == 0:
            return b"", 0
        b = tile_bounds(z, x, y)
        pad = (b.right - b.left) * buffer / extent
        box = (b.left - pad, b.bottom - pad, b.right + pad, b.top + pad)
        idx = (self.tile_index(z, extent, buffer) if feature_zoom is None and limit is None
               and z >= TILE_INDEX_MIN_ZOOM else None)
        if idx is not None:
            # the zoom's candidates of this tile: already filtered by minimum zoom and sorted
            keys, feats = idx
            lo, hi = keys.searchsorted(np.array([(x << z) + y, (x << z) + y + 1], dtype=np.int64))
            cand = feats[lo:hi]
        else:
            cand = self.tree.query(shapely.box(*box))
            if len(cand) == 0:
                return b"", 0
            fz = z if feature_zoom is None else feature_zoom
            if fz < DETAIL_ZOOM:
                cand = cand[self.minzoom[cand] <= fz]
            if limit is not None and len(cand) > limit:
                cand = cand[np.argsort(-self.priority[cand], kind="stable")[:limit]]
            cand = np.sort(cand)
        if len(cand) == 0:
            return b"", 0
        simplify = self.detailed and z < DETAIL_ZOOM
        bb = self.bounds[cand]
        # features that stay within LOOSE_CLIP of the tile are sent whole (renderers clip at the tile edge);
        # anything larger is clipped to the tile plus the buffer
        loose = (b.right - b.left) * LOOSE_CLIP
        inside = ((bb[:, 0] >= b.left - loose) & (bb[:, 1] >= b.bottom - loose)
                  & (bb[:, 2] <= b.right + loose) & (bb[:, 3] <= b.top + loose))
        fast = None
        if not simplify and self._rag is not None:
            fast = inside & (self._rag_index[cand] >= 0)
            pre = self._pre.get((z, extent)) if idx is not None and UNCLIPPED_FAST_PATH else None
            if pre is not None and fast.any():
                # the zoom's geometry is pre-encoded: unclipped polygons come from it, the others are clipped here
                others = None
                if not fast.all():
                    opos = np.flatnonzero(~fast)
                    oc, geom, gown = self._streams(cand[opos], inside[opos], None, self.geoms[cand[opos]], b, box,
                                                   extent, buffer)
                    others = (opos, geom, opos[np.searchsorted(cand[opos], oc)][gown] if len(gown) else gown)
                res = self._encode_pre(pre, cand, x, y, b, extent, others)
                if res is not None:
                    return res
            if UNCLIPPED_FAST_PATH and fast.all():
                # the common high-zoom case: every candidate is an unclipped polygon of the layer's ragged
                # arrays, so no object array, no shapely call, no clip; owners come out in order (no re-sort)
                rag = _take_ragged(self._rag, self._rag_index[cand], self._rag_simple)
                px, py, rl, ro = _polygon_runs(rag, np.arange(len(cand)), b, extent, simple=self._rag_simple)
                geom, gown = _command_stream(px, py, rl, ro, _POLYGON)
                return self._layer_message(cand, geom, gown, extent)
            geoms = np.empty(len(cand), dtype=object)
            geoms[~fast] = self.geoms[cand[~fast]]
        elif simplify:
            geoms = self._simplified(z, extent)[cand]
        else:
            geoms = self.geoms[cand]
        cand, geom, gown = self._streams(cand, inside, fast, geoms, b, box, extent, buffer)
        return self._layer_message(cand, geom, gown, extent)

    def _streams(self, cand: np.ndarray, inside: np.ndarray, fast: np.ndarray | None, geoms: np.ndarray,
                 b: TileBounds, box: tuple, extent: int, buffer: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Command integers of ``cand`` (``geoms``: their geometries, None where ``fast``: taken from the ragged
        arrays): features beyond ``inside`` clipped to ``box``, emptied ones dropped. Returns (the candidates
        left, command integers, their owners as positions in those candidates, ascending)."""
        if not inside.all():
            geoms = geoms.copy()
            out = ~inside
            geoms[out] = shapely.clip_by_rect(geoms[out], *box)
            keep = _clean(geoms, self.family[cand], fast)
            geoms, cand, inside = geoms[keep], cand[keep], inside[keep]
            fast = fast[keep] if fast is not None else None
            if len(cand) == 0:
                return cand, np.zeros(0, np.uint64), np.zeros(0, np.int64)
        fam = self.family[cand]
        streams, owners = [], []
        local = np.arange(len(cand))
        for kind in (_POLYGON, _LINE, _POINT):
            m = fam == kind
            if not m.any():
                continue
            if kind == _POLYGON:
                if fast is not None:
                    # unclipped, unsimplified polygons come straight from the layer's ragged arrays
                    fm = m & fast
                    sm = m & ~fast
                    rag = _take_ragged(self._rag, self._rag_index[cand[fm]], self._rag_simple)
                    rag = _concat_ragged(rag, _ragged_polygons(geoms[sm]))
                    own = np.concatenate([local[fm], local[sm]])
                else:
                    rag, own = _ragged_polygons(geoms[m]), local[m]
                px, py, rl, ro = _polygon_runs(rag, own, b, extent)
            elif kind == _LINE:
                px, py, rl, ro = _line_runs(geoms[m], local[m], b, extent)
            else:
                coords, gi = shapely.get_coordinates(geoms[m], return_index=True)
                px, py = _quantise(coords, b, extent)
                lim = (px >= -buffer) & (px <= extent + buffer) & (py >= -buffer) & (py <= extent + buffer)
                px, py, gi = px[lim], py[lim], gi[lim]
                ro_all = local[m][gi]
                if len(ro_all):
                    chg = np.ones(len(ro_all), dtype=bool)
                    chg[1:] = ro_all[1:] != ro_all[:-1]
                    ro = ro_all[chg]
                    rl = np.diff(np.append(np.flatnonzero(chg), len(ro_all)))
                else:
                    ro, rl = ro_all, np.zeros(0, np.int64)
            s, o = _command_stream(px, py, rl, ro, kind)
            streams.append(s)
            owners.append(o)
        geom = np.concatenate(streams)
        gown = np.concatenate(owners)
        if len(gown) > 1 and (np.diff(gown) < 0).any():
            order = np.argsort(gown, kind="stable")
            geom, gown = geom[order], gown[order]
        return cand, geom, gown

    def _encode_pre(self, pre: "_PreGeom", cand: np.ndarray, x: int, y: int, b: TileBounds, extent: int,
                    others: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> tuple[bytes, int] | None:
        """The Layer message of a tile from the zoom's pre-encoded geometry (``_pre_geometry``), where only the first
        MoveTo point of each polygon depends on the tile.

        ``cand``: the tile's candidates (sorted); all are unclipped one-ring polygons unless ``others`` is given:
        ``(positions in cand, command integers, their owners as positions in cand, ascending)`` of the candidates
        encoded the ordinary way (the clipped ones). Unless every pre-encoded polygon is ``safe`` (no coordinate
        near a rounding tie), every point is quantised against this tile as ``encode`` does and compared with its
        pre-quantised position moved by the tile's offset; on any difference None is returned and the caller
        encodes the tile the ordinary way, so the bytes are always the ordinary path's bytes."""
        ox, oy = x * extent, y * extent
        if others is None:
            pc = cand
        else:
            opos, ogeom, oown = others
            is_pre = np.ones(len(cand), dtype=bool)
            is_pre[opos] = False
            pc = cand[is_pre]
        ri = self._rag_index[pc]
        if not pre.safe[ri].all():
            ring_off = self._rag.ring_off
            s0 = ring_off[ri]
            npt = ring_off[ri + 1] - s0
            off = np.cumsum(npt) - npt
            pts = np.arange(int(off[-1] + npt[-1])) - np.repeat(off - s0, npt)
            c = self._rag.coords[pts]
            lx, ly = _quantise(c, b, extent)
            gx = np.rint((c[:, 0] + ORIGIN) * pre.scale).astype(np.int64)      # as in _pre_geometry
            gy = np.rint((ORIGIN - c[:, 1]) * pre.scale).astype(np.int64)
            if not (np.array_equal(lx, gx - ox) and np.array_equal(ly, gy - oy)):
                return None
        tlen = pre.length[ri]                             # -1: the ring collapses at this zoom (no geometry)
        if others is None:
            ispre = None
            has = tlen >= 0
            if not has.all():
                cand, ri, tlen = cand[has], ri[has], tlen[has]
                if len(cand) == 0:
                    return b"", 0
        else:
            # merge: pre-encoded features and ordinarily encoded ones (their whole geometry is the "tail")
            gnb = _varint_sizes(ogeom)
            gbytes = _varint_array(ogeom, gnb)[0] if len(ogeom) else np.zeros(0, np.uint8)
            glen = np.bincount(oown, weights=gnb, minlength=len(cand)).astype(np.int64)
            tl_all = np.where(glen > 0, glen, -1)
            tl_all[is_pre] = tlen
            ri_all = np.zeros(len(cand), dtype=np.int64)
            ri_all[is_pre] = ri
            has = tl_all >= 0
            cand, ispre, tlen, ri = cand[has], is_pre[has], tl_all[has], ri_all[has]
            if len(cand) == 0:
                return b"", 0
        nfeat = len(cand)
        zx = _zigzag(pre.x0[ri] - ox)
        zy = _zigzag(pre.y0[ri] - oy)
        if self._fid_nb is None:
            self._fid_nb = _varint_sizes(self.fids)
            self._all_valid = bool(len(self.keys)) and bool((self.vidx >= 0).all())
        fids = self.fids[cand]
        fnb = self._fid_nb[cand]
        sz = _varint_sizes(np.concatenate([zx, zy]))
        zxnb, zynb = sz[:nfeat], sz[nfeat:]
        movelen = 1 + zxnb + zynb                          # MoveTo(1) x y, ahead of the pre-encoded tail
        if ispre is not None:
            movelen = np.where(ispre, movelen, 0)
        geomlen = movelen + tlen
        if self._all_valid:
            # every feature has every key: one row of varints per feature, columns filled whole
            K = len(self.keys)
            gvals = self.vidx[cand].ravel()
            srt = np.sort(gvals)
            used_vals = srt[np.concatenate(([True], srt[1:] != srt[:-1]))]
            vloc = np.searchsorted(used_vals, gvals).astype(np.uint64)
            used_keys = np.arange(K)
            vnb = _varint_sizes(vloc).reshape(nfeat, K)
            knb = _varint_sizes(used_keys)
            tagslen = vnb.sum(axis=1) + int(knb.sum())
            sz = _varint_sizes(np.concatenate([tagslen, geomlen]).astype(np.uint64))
            tlnb, glnb = sz[:nfeat], sz[nfeat:]
            featlen = 1 + fnb + 1 + tlnb + tagslen + 2 + 1 + glnb + geomlen
            flnb = _varint_sizes(featlen)
            # a row: 0x12 len 0x08 id 0x12 tagslen (key value)… 0x18 3 0x22 geomlen MoveTo(1) x y
            m = 6 + 2 * K
            row = np.zeros(m + 7, dtype=np.uint64)
            row[[0, 2, 4, m, m + 1, m + 2, m + 4]] = (0x12, 0x08, 0x12, 0x18, _POLYGON, 0x22, 9)
            row[6:m:2] = used_keys
            rnb = np.ones(m + 7, dtype=np.int64)
            rnb[6:m:2] = knb
            S = np.empty((nfeat, m + 7), dtype=np.uint64)
            S[:] = row
            NB = np.empty((nfeat, m + 7), dtype=np.int64)
            NB[:] = rnb
            S[:, 7:m:2] = vloc.reshape(nfeat, K)
            NB[:, 7:m:2] = vnb
            for c, v, n_ in ((1, featlen, flnb), (3, fids, fnb), (5, tagslen, tlnb), (m + 3, geomlen, glnb),
                             (m + 5, zx, zxnb), (m + 6, zy, zynb)):
                S[:, c] = v
                NB[:, c] = n_
            if ispre is not None:
                S[:, m + 1] = self.family[cand]           # the ordinarily encoded ones may be lines or points
            if ispre is None or ispre.all():
                stream, nb = S.ravel(), NB.ravel()
            else:
                sel = np.ones(S.shape, dtype=bool)
                sel[~ispre, m + 4:] = False
                stream, nb = S[sel], NB[sel]
        else:
            tags, tag_owner, used_vals, used_keys = self._tags(cand)
            nt = np.bincount(tag_owner, minlength=nfeat) if len(tags) else np.zeros(nfeat, np.int64)
            tnb = _varint_sizes(tags) if len(tags) else np.zeros(0, np.int64)
            tagslen = np.bincount(tag_owner, weights=tnb, minlength=nfeat).astype(np.int64) if len(tags) else nt
            sz = _varint_sizes(np.concatenate([tagslen, geomlen]).astype(np.uint64))
            tlnb, glnb = sz[:nfeat], sz[nfeat:]
            featlen = 1 + fnb + 1 + tlnb + tagslen + 2 + 1 + glnb + geomlen
            flnb = _varint_sizes(featlen)
            # head of each feature as varints: 0x12 len 0x08 id 0x12 tagslen tags… 0x18 3 0x22 geomlen MoveTo(1) x y
            count = 10 + nt + (3 if ispre is None else 3 * ispre)
            fstart = np.cumsum(count) - count
            stream = np.empty(int(fstart[-1] + count[-1]), dtype=np.uint64)
            nb = np.ones(len(stream), dtype=np.int64)
            stream[fstart] = 0x12
            stream[fstart + 1] = featlen
            nb[fstart + 1] = flnb
            stream[fstart + 2] = 0x08
            stream[fstart + 3] = fids
            nb[fstart + 3] = fnb
            stream[fstart + 4] = 0x12
            stream[fstart + 5] = tagslen
            nb[fstart + 5] = tlnb
            if len(tags):
                tpos = np.arange(len(tags)) + np.repeat(fstart + 6 - (np.cumsum(nt) - nt), nt)
                stream[tpos] = tags
                nb[tpos] = tnb
            mid = fstart + 6 + nt
            stream[mid] = 0x18
            stream[mid + 1] = _POLYGON if ispre is None else self.family[cand].astype(np.uint64)
            stream[mid + 2] = 0x22
            stream[mid + 3] = geomlen
            nb[mid + 3] = glnb
            mp = mid if ispre is None else mid[ispre]
            stream[mp + 4] = 9                                 # MoveTo, count 1
            stream[mp + 5] = zx if ispre is None else zx[ispre]
            nb[mp + 5] = zxnb if ispre is None else zxnb[ispre]
            stream[mp + 6] = zy if ispre is None else zy[ispre]
            nb[mp + 6] = zynb if ispre is None else zynb[ispre]
        head = _varint_array(stream, nb)[0]
        total = 1 + flnb + featlen                           # bytes of each feature, head + tail
        hlen = total - tlen
        bstart = np.cumsum(total) - total
        out = np.empty(int(bstart[-1] + total[-1]), dtype=np.uint8)
        hoff = np.cumsum(hlen) - hlen
        out[np.arange(len(head)) + np.repeat(bstart - hoff, hlen)] = head
        if ispre is None:
            toff = np.cumsum(tlen) - tlen
            rank = np.arange(int(toff[-1] + tlen[-1])) - np.repeat(toff, tlen)
            out[rank + np.repeat(bstart + hlen, tlen)] = pre.buf[rank + np.repeat(pre.start[ri], tlen)]
        else:
            for part in (ispre, ~ispre):
                tl, ts = tlen[part], (bstart + hlen)[part]
                if not len(tl):
                    continue
                toff = np.cumsum(tl) - tl
                rank = np.arange(int(toff[-1] + tl[-1])) - np.repeat(toff, tl)
                dest = rank + np.repeat(ts, tl)
                out[dest] = pre.buf[rank + np.repeat(pre.start[ri[part]], tl)] if part is ispre else gbytes
        return self._layer_bytes(out.tobytes(), used_vals, used_keys, extent), nfeat

    def _tags(self, feats: np.ndarray):
        """Tags of ``feats`` (key and value numbers local to the tile, grouped by feature), their owners (local
        feature numbers), and the global value and key numbers the tile uses (sorted)."""
        V = self.vidx[feats]
        valid = V >= 0
        rows, cols = np.nonzero(valid)
        gvals = V[rows, cols]
        srt = np.sort(gvals)
        used_vals = srt[np.concatenate(([True], srt[1:] != srt[:-1]))] if len(srt) else srt
        vlocal = np.searchsorted(used_vals, gvals)
        used_keys = np.flatnonzero(valid.any(axis=0))
        if len(used_keys) == len(self.keys):
            kl = cols
        else:
            klocal = np.full(len(self.keys), -1, dtype=np.int64)
            klocal[used_keys] = np.arange(len(used_keys))
            kl = klocal[cols]
        tags = np.empty(2 * len(rows), dtype=np.uint64)
        tags[0::2] = kl
        tags[1::2] = vlocal
        return tags, np.repeat(rows, 2), used_vals, used_keys

    def _layer_bytes(self, features: bytes, used_vals: np.ndarray, used_keys: np.ndarray, extent: int) -> bytes:
        """The Layer message around encoded features: version, name, features, the used keys and values, extent."""
        vals = self.values
        if len(used_vals):
            L = vals.length[used_vals]
            S = vals.start[used_vals]
            gather = np.repeat(S - (np.cumsum(L) - L), L) + np.arange(int(L.sum()))
            values = vals.buf[gather].tobytes()
        else:
            values = b""
        keys = b"".join(self.key_bytes[k] for k in used_keys)
        name = self.name.encode("utf-8")
        return (b"\x78\x02" + b"\x0a" + _varint(len(name)) + name + features + keys + values
                + b"\x28" + _varint(extent))

    def _layer_message(self, cand: np.ndarray, geom: np.ndarray, gown: np.ndarray, extent: int) -> tuple[bytes, int]:
        """The Layer message from the command stream ``geom`` of the candidates ``cand`` (``gown``: local owner of
        each command integer, ascending): features without geometry left are dropped; tags, keys, values."""
        if len(geom) == 0:
            return b"", 0
        # local feature numbers that kept some geometry (gown is sorted: runs, not np.unique's hash)
        present = gown[np.concatenate(([True], gown[1:] != gown[:-1]))]
        nfeat = len(present)
        remap = np.full(len(cand), -1, dtype=np.int64)
        remap[present] = np.arange(nfeat)
        gown = remap[gown]
        feats = cand[present]
        types = self.family[feats].astype(np.uint64)   # _POINT/_LINE/_POLYGON are MVT's GeomType numbers

        tags, tag_owner, used_vals, used_keys = self._tags(feats)
        stream, _, snb = _feature_stream(self.fids[feats], types, tags, tag_owner, geom, gown, nfeat)
        features = _varint_array(stream, snb)[0].tobytes()
        return self._layer_bytes(features, used_vals, used_keys, extent), nfeat


def _feature_stream(fids, types, tags, tag_owner, geom, gown, nfeat):
    """The varint values of ``nfeat`` Feature messages (each with its layer field header), each feature's first
    position in that stream, and the byte size of every value (so the stream's varints need not be sized twice).
    ``tags``/``geom`` are grouped by owner (0..nfeat-1)."""
    gnb = _varint_sizes(geom)
    tnb = _varint_sizes(tags) if len(tags) else np.zeros(0, np.int64)
    geomlen = np.bincount(gown, weights=gnb, minlength=nfeat).astype(np.int64)
    tagslen = np.bincount(tag_owner, weights=tnb, minlength=nfeat).astype(np.int64)
    ng = np.bincount(gown, minlength=nfeat)
    nt = np.bincount(tag_owner, minlength=nfeat)
    # sizes of the fid, tags-length and geometry-length varints in one call
    sz = _varint_sizes(np.concatenate([np.asarray(fids, dtype=np.uint64), tagslen.astype(np.uint64),
                                       geomlen.astype(np.uint64)]))
    fnb, tlnb, glnb = sz[:nfeat], sz[nfeat:2 * nfeat], sz[2 * nfeat:]
    featlen = 1 + fnb + 1 + tlnb + tagslen + 2 + 1 + glnb + geomlen
    count = 10 + nt + ng
    fstart = np.cumsum(count) - count
    total = int(count.sum())
    stream = np.empty(total, dtype=np.uint64)
    nb = np.ones(total, dtype=np.int64)            # field headers and the geometry type: one byte each
    stream[fstart] = 0x12
    stream[fstart + 1] = featlen.astype(np.uint64)
    nb[fstart + 1] = _varint_sizes(featlen)
    stream[fstart + 2] = 0x08
    stream[fstart + 3] = fids
    nb[fstart + 3] = fnb
    stream[fstart + 4] = 0x12
    stream[fstart + 5] = tagslen.astype(np.uint64)
    nb[fstart + 5] = tlnb
    if len(tags):
        trank = np.arange(len(tags)) - np.repeat(np.cumsum(nt) - nt, nt)
        tpos = fstart[tag_owner] + 6 + trank
        stream[tpos] = tags
        nb[tpos] = tnb
    mid = fstart + 6 + nt
    stream[mid] = 0x18
    stream[mid + 1] = types.astype(np.uint64)
    stream[mid + 2] = 0x22
    stream[mid + 3] = geomlen.astype(np.uint64)
    nb[mid + 3] = glnb
    grank = np.arange(len(geom)) - np.repeat(np.cumsum(ng) - ng, ng)
    gpos = mid[gown] + 4 + grank
    stream[gpos] = geom
    nb[gpos] = gnb
    return stream, fstart, nb


def _clean(geoms: np.ndarray, family: np.ndarray, fast: np.ndarray | None) -> np.ndarray:
    """Mask of geometries to keep after clipping; GeometryCollections reduced to the feature's family."""
    tid = shapely.get_type_id(geoms)
    gc = np.flatnonzero(tid == 7)
    for i in gc:
        parts = shapely.get_parts(geoms[i])
        ptid = shapely.get_type_id(parts)
        if family[i] == _POLYGON:
            keep = [p for p, t in zip(parts, ptid) if t in (3, 6)]
            geoms[i] = shapely.MultiPolygon(list(shapely.get_parts(np.array(keep, dtype=object)))) if keep else None
        elif family[i] == _LINE:
            keep = [p for p, t in zip(parts, ptid) if t in (1, 5)]
            geoms[i] = shapely.MultiLineString(list(shapely.get_parts(np.array(keep, dtype=object)))) if keep else None
        else:
            keep = [p for p, t in zip(parts, ptid) if t in (0, 4)]
            geoms[i] = shapely.MultiPoint(list(shapely.get_parts(np.array(keep, dtype=object)))) if keep else None
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if fast is not None:
        ok |= fast
    return ok


# ---------------------------------------------------------------------------------------------- tilesets
def _tile_message(layers: Iterable[bytes]) -> bytes:
    return b"".join(_field_bytes(3, lb) for lb in layers if lb)


@dataclass
class Tileset:
    """A named set of layers served together: ``plan`` (every spatial plan/context layer) or one collection."""

    name: str
    sources: list[LayerSource]
    minzoom: int = MIN_ZOOM
    maxzoom: int = MAX_ZOOM
    max_bytes: int = MAX_TILE_BYTES

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        bs = [s.lonlat_bounds for s in self.sources if s.n]
        if not bs:
            return (-180.0, -85.0511, 180.0, 85.0511)
        a = np.array(bs)
        return (float(a[:, 0].min()), float(a[:, 1].min()), float(a[:, 2].max()), float(a[:, 3].max()))

    def tile(self, z: int, x: int, y: int) -> bytes:
        """The encoded MVT for z/x/y (b"" when no layer has a feature there). Raises TileOutOfRange."""
        check_tile(z, x, y, minzoom=self.minzoom, maxzoom=self.maxzoom)
        parts = [s.encode(z, x, y) for s in self.sources]
        data = _tile_message(p for p, _ in parts)
        if len(data) <= self.max_bytes:
            return data
        # too big: first fall back to the (nested) feature sets of lower zooms ...
        levels = sorted({int(v) for s in self.sources for v in s.zoom_levels if v < min(z, DETAIL_ZOOM)},
                        reverse=True)
        for fz in levels:
            parts = [s.encode(z, x, y, feature_zoom=fz) for s in self.sources]
            data = _tile_message(p for p, _ in parts)
            if len(data) <= self.max_bytes:
                return data
        # ... then keep only the largest features of the biggest layers (tippecanoe's drop-smallest-as-needed)
        limit = None
        while len(data) > self.max_bytes:
            n = max(cnt for _, cnt in parts)
            limit = max(1, int((limit or n) * self.max_bytes / len(data) * 0.9))
            parts = [s.encode(z, x, y, feature_zoom=levels[-1] if levels else None, limit=limit) if cnt > limit
                     else (p, cnt) for s, (p, cnt) in zip(self.sources, parts)]
            data = _tile_message(p for p, _ in parts)
        return data

    def tiles_many(self, z: int, xy: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """Non-empty tiles among ``xy`` at zoom ``z``: polygon layers (parcels, boundaries at z16) are encoded in
        one vectorised pass per layer, the others tile by tile. Same size guard as ``tile``."""
        if len(xy) < 4:
            out = {}
            for x, y in xy:
                data = self.tile(z, x, y)
                if data:
                    out[(x, y)] = data
            return out
        arr = np.array(xy, dtype=np.int64)
        per_source = []
        for s in self.sources:
            if s.batchable(z):
                per_source.append(s.encode_many(z, arr))
            else:
                one = {}
                for x, y in xy:
                    res = s.encode(z, x, y)
                    if res[0]:
                        one[(x, y)] = res
                per_source.append((one, set()))
        out = {}
        for x, y in xy:
            if any((x, y) in slow for _, slow in per_source):
                data = self.tile(z, x, y)
            else:
                data = _tile_message(res[(x, y)][0] for res, _ in per_source if (x, y) in res)
                if len(data) > self.max_bytes:
                    data = self.tile(z, x, y)
            if data:
                out[(x, y)] = data
        return out

    def vector_layers(self) -> list[dict]:
        return [{"id": s.name, "fields": dict(s.fields), "minzoom": self.minzoom, "maxzoom": self.maxzoom}
                for s in self.sources]

    def tilejson(self, tiles_url: str, **extra) -> dict:
        """TileJSON 3.0.0 for this tileset; ``tiles_url`` is the absolute z/x/y template."""
        w, s, e, n = self.bounds
        center_zoom = max(self.minzoom, min(12, self.maxzoom))
        doc = {
            "tilejson": "3.0.0",
            "name": self.name,
            "scheme": "xyz",
            "tiles": [tiles_url],
            "minzoom": self.minzoom,
            "maxzoom": self.maxzoom,
            "bounds": [w, s, e, n],
            "center": [(w + e) / 2, (s + n) / 2, center_zoom],
            "vector_layers": self.vector_layers(),
        }
        doc.update(extra)
        return doc


class TileEngine:
    """Prepares layers lazily (thread-safe) and builds tiles for ``plan`` or any spatial collection."""

    def __init__(self, catalog):
        self.catalog = catalog
        self._versions: dict[str, tuple[float, str]] = {}

    def plan_layers(self) -> list:
        """The layers of the ``plan`` tileset, bottom to top (style.z, then catalog order)."""
        layers = [lyr for lyr in self.catalog.layers if lyr.is_spatial and lyr.kind != "extra"]
        return sorted(layers, key=lambda lyr: lyr.style.z)

    def source(self, layer_id: str) -> LayerSource:
        """The layer prepared for tiling at its current data version (owned by its collection)."""
        layer = self.catalog.get(layer_id)
        if not layer.is_spatial:
            raise LayerNotFound(f"图层 '{layer_id}' 没有几何，不能切瓦片", parameter="collection")
        return self.catalog.collection(layer_id).state().tiles

    def version(self, name: str) -> str:
        """The data version of tileset ``name`` (its layers' versions joined): part of every tile's cache key and
        ETag. Remembered for ``VERSION_TTL_S`` (the collections' own rhythm), so a warm tile costs one lookup."""
        now = time.monotonic()
        hit = self._versions.get(name)
        if hit is not None and now - hit[0] < VERSION_TTL_S:
            return hit[1]
        ids = [lyr.id for lyr in self.plan_layers()] if name == PLAN_TILESET else [self.catalog.get(name).id]
        version = "|".join(self.catalog.collection(i).version() for i in ids)
        self._versions[name] = (now, version)
        return version

    def tileset_ids(self) -> list[str]:
        return [PLAN_TILESET] + [lyr.id for lyr in self.catalog.layers if lyr.is_spatial]

    def tileset(self, name: str) -> Tileset:
        if name == PLAN_TILESET:
            return Tileset(PLAN_TILESET, [self.source(lyr.id) for lyr in self.plan_layers()])
        try:
            self.catalog.get(name)
        except LayerNotFound:
            raise LayerNotFound(f"没有名为 '{name}' 的瓦片集。可用：{', '.join(self.tileset_ids())}",
                                parameter="tileset") from None
        return Tileset(name, [self.source(name)])

    def tile(self, name: str, z: int, x: int, y: int) -> bytes:
        return self.tileset(name).tile(z, x, y)

    def prepared(self, name: str, z: int) -> bool:
        """True when every layer of tileset ``name`` is prepared, with its per-zoom simplification for ``z`` if
        it needs one: a tile then costs no one-off work (a server may build it without a thread hop).
        Never prepares anything itself; False for unknown names."""
        if name == PLAN_TILESET:
            ids = [lyr.id for lyr in self.plan_layers()]
        else:
            ids = [name]
        for layer_id in ids:
            try:
                collection = self.catalog.collection(layer_id)
            except LayerNotFound:
                return False
            if not collection.is_current():
                return False
            src = collection.state().__dict__.get("tiles")       # prepared already? (never prepares here)
            if src is None:
                return False
            if src.detailed and z < DETAIL_ZOOM and (z, EXTENT) not in src._simple:
                return False
            if z >= TILE_INDEX_MIN_ZOOM and (z, EXTENT, BUFFER) not in src._tile_idx and len(src._tile_idx) < 8:
                return False
        return True


def parse_zooms(text: str) -> list[int]:
    """``"10-16"`` or ``"12"`` or ``"10,12,14"`` → sorted zoom list (InvalidParameter otherwise)."""
    out: set[int] = set()
    try:
        for part in str(text).split(","):
            part = part.strip()
            if "-" in part:
                a, b = (int(v) for v in part.split("-", 1))
                if a > b:
                    raise InvalidParameter(f"缩放级别范围 '{part}' 颠倒了：应写成 {b}-{a}（从小到大）",
                                           parameter="zooms")
                out.update(range(a, b + 1))
            elif part:
                out.add(int(part))
    except ValueError:
        raise InvalidParameter(f"缩放级别 '{text}' 格式不对，应为 10-16 或 10,12,14", parameter="zooms") from None
    if not out or min(out) < MIN_ZOOM or max(out) > MAX_ZOOM:
        raise InvalidParameter(f"缩放级别 '{text}' 超出 {MIN_ZOOM}–{MAX_ZOOM}", parameter="zooms")
    return sorted(out)
