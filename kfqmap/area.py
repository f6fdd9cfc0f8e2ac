"""Areas and lengths of lon/lat geometries: ellipsoidal (CGCS2000) and Gauss-Krüger (EPSG:4549).

Measures only; the statistics of catalog layers built on them (per layer, per group, overlays, progress) are in
``kfqmap.stats``.

``ellipsoidal_area`` is the area KFQMap reports (椭球面积, ../shared/CONVENTIONS.md). It is vectorised: the
vertices of every polygon go through one numpy evaluation of the ellipsoidal Lambert azimuthal equal-area
projection centred on Kunshan (CGCS2000 ellipsoid, lon_0 = 121°E, lat_0 = 31.35°N; the same formulas as
PROJ's ``+proj=laea +ellps=GRS80``; in the hot loop the authalic latitude is a degree-7 polynomial and
sin/cos λ Taylor series, exact to ~4e-9 m inside ``LAEA_WINDOW``), then through one shoelace sum per ring
(``np.add.reduceat``). No Python loop runs per feature.

Accuracy against ``pyproj.Geod`` on the CGCS2000 ellipsoid (geodesic edges), measured in
``tests/kfqmap/test_area.py``:

* the projection is exactly equal-area, so the only difference is that an edge is straight in the
  projection but a geodesic on the ellipsoid; the relative difference grows with the square of the edge
  length, about 3e-9 × (longest edge in km)², whatever the position within ±40 km of the centre:
  parcels: < 1e-7 (2,000 random parcels of 0.1–55 ha: max 8e-8); a 2 km-edge block: ~1e-8;
  a 10 km-edge polygon: ~3e-7; a 28 km-edge square: ~2.5e-6 (hence the fallback);
* an edge longer than ``MAX_EDGE_M`` (10 km), or a vertex outside ``LAEA_WINDOW`` (Kunshan and its
  neighbours), sends that geometry to ``Geod`` instead (exact, ~110,000 features/s), so every
  reported area is within ~3e-7 of the geodesic one. Real boundaries (the city, the ETDZ) have short
  edges and stay on the fast path.
* below ~1,000 m², Geod's own rounding noise (~0.01 m²) dominates the difference.

Overlays (``intersection_area`` here, ``kfqmap.stats.overlay_pairs``) are computed in the same equal-area plane
(``to_equal_area``), so the parts of A inside and outside B add up to A. Large inputs are processed in
cache-sized chunks spread over threads (shapely and numpy release the GIL).

Lengths (``lengths_m``) are geodesic on the CGCS2000 ellipsoid (``Geod.inv`` on all segments at once).
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import shapely
from pyproj import Geod

from .crs import MEASURE_CRS, transform_geometry

# CGCS2000 ellipsoid: a = 6378137 m, f = 1/298.257222101 (GRS80 to well below 1 m²)
CGCS2000_A = 6378137.0
CGCS2000_F = 1 / 298.257222101
CGCS2000_GEOD = Geod(a=CGCS2000_A, f=CGCS2000_F)

#: centre of the equal-area projection (Kunshan ETDZ)
LON_0 = 121.0
LAT_0 = 31.35
#: the PROJ string of the same projection (for reference and tests)
EQUAL_AREA_PROJ = (f"+proj=laea +lat_0={LAT_0} +lon_0={LON_0} +x_0=0 +y_0=0 "
                   f"+a={CGCS2000_A} +rf=298.257222101 +units=m +no_defs")
#: geometries with an edge longer than this go to Geod (straight-vs-geodesic edge error ~3e-9·km²)
MAX_EDGE_M = 10_000.0
#: lon/lat window of the fast path (min lon, min lat, max lon, max lat); outside it: Geod
LAEA_WINDOW = (118.0, 29.0, 124.0, 34.0)

_POLYGON, _MULTIPOLYGON = 3, 6
_LINESTRING, _LINEARRING, _MULTILINESTRING = 1, 2, 5

# ---- constants of the ellipsoidal Lambert azimuthal equal-area projection (Snyder 1987, §24)
_E2 = CGCS2000_F * (2 - CGCS2000_F)
_E = np.sqrt(_E2)


def _q(sin_phi):
    es = _E * sin_phi
    return (1 - _E2) * (sin_phi / (1 - es * es) + np.arctanh(es) / _E)


_QP = float(_q(1.0))
_S0 = np.sin(np.radians(LAT_0))
_BETA1 = np.arcsin(float(_q(_S0)) / _QP)
_RQ = CGCS2000_A * np.sqrt(_QP / 2)
_M1 = np.cos(np.radians(LAT_0)) / np.sqrt(1 - _E2 * _S0 * _S0)
_D = CGCS2000_A * _M1 / (_RQ * np.cos(_BETA1))
_SB1, _CB1 = np.sin(_BETA1), np.cos(_BETA1)
_D2R = np.pi / 180.0


def _laea_unit(lon, lat):
    """The Kunshan equal-area projection up to an area-preserving scale: returns (x / (R_q·D), y·D / R_q).

    Planar areas in these units times ``_AREA_SCALE`` (= R_q²) are m². In-place numpy operations: this is the
    hot loop of ``ellipsoidal_area``.
    """
    lon = np.asarray(lon, dtype="float64")
    lat = np.asarray(lat, dtype="float64")
    lam = lon - LON_0
    lam *= _D2R
    s = lat * _D2R
    np.sin(s, out=s)                                   # sin φ
    es = s * _E
    t = np.arctanh(es)
    t *= 1 / _E
    es *= es
    np.subtract(1.0, es, out=es)                       # 1 − e² sin² φ
    sinb = np.divide(s, es, out=s)
    sinb += t
    sinb *= (1 - _E2) / _QP                            # sin β = q / q_p (authalic latitude)
    cosb = np.multiply(sinb, sinb, out=es)
    np.subtract(1.0, cosb, out=cosb)
    np.sqrt(cosb, out=cosb)
    cl = np.cos(lam)
    np.sin(lam, out=lam)                               # lam now holds sin λ
    return _azimuthal(sinb, cosb, lam, cl, scratch=t)


def _azimuthal(sinb, cosb, sinl, cosl, *, scratch):
    """The last step of both projections, in place: authalic sin β, cos β and sin λ, cos λ → (x, y) in the units
    of ``_laea_unit``. Overwrites every argument; ``scratch`` is any spare array of the same shape."""
    cosl *= cosb                                       # cos β cos λ
    b = np.multiply(cosl, _CB1, out=scratch)
    b += 1.0
    b += _SB1 * sinb
    np.divide(2.0, b, out=b)
    with np.errstate(invalid="ignore"):               # NaN only for vertices outside the window variant's range
        np.sqrt(b, out=b)                              # B / R_q
    x = np.multiply(b, cosb, out=cosb)
    x *= sinl
    sinb *= _CB1
    cosl *= _SB1
    sinb -= cosl
    sinb *= b
    return x, sinb


_AREA_SCALE = _RQ * _RQ


def _sinb_poly_coefficients(deg: int = 7) -> np.ndarray:
    """sin β (authalic latitude) as a polynomial in φ − φ0 over LAEA_WINDOW (Chebyshev-node fit; max error
    4e-16, i.e. machine precision: ~3e-9 m on the ground)."""
    phi0 = np.radians(LAT_0)
    lo, hi = np.radians(LAEA_WINDOW[1]) - phi0, np.radians(LAEA_WINDOW[3]) - phi0
    k = np.arange(200)
    d = (lo + hi) / 2 + (hi - lo) / 2 * np.cos((2 * k + 1) * np.pi / 400)
    s = np.sin(phi0 + d)
    es = _E * s
    exact = (1 - _E2) * (s / (1 - es * es) + np.arctanh(es) / _E) / _QP
    return np.polynomial.polynomial.polyfit(d, exact, deg)


_SINB_POLY = _sinb_poly_coefficients()


def _laea_unit_window(lon, lat):
    """``_laea_unit`` for vertices inside ``LAEA_WINDOW`` only, without transcendental functions: sin β is a
    degree-7 polynomial in φ − φ0, sin λ and cos λ their Taylor series (|λ| ≤ 0.053 rad: error < 1e-16).
    Vertices outside the window give meaningless numbers (their geometries go to Geod)."""
    lam = np.asarray(lon, dtype="float64") - LON_0
    lam *= _D2R
    d = np.asarray(lat, dtype="float64") - LAT_0
    d *= _D2R
    c = _SINB_POLY
    sinb = d * c[7]
    for k in range(6, 0, -1):
        sinb += c[k]
        sinb *= d
    sinb += c[0]
    l2 = lam * lam
    # sin λ = λ(1 − λ²/6 + λ⁴/120 − λ⁶/5040 + λ⁸/362880), cos λ = 1 − λ²/2 + λ⁴/24 − λ⁶/720 + λ⁸/40320
    sl = l2 * (1 / 362880)
    sl -= 1 / 5040
    sl *= l2
    sl += 1 / 120
    sl *= l2
    sl -= 1 / 6
    sl *= l2
    sl += 1.0
    sl *= lam
    cl = np.multiply(l2, 1 / 40320, out=lam)
    cl -= 1 / 720
    cl *= l2
    cl += 1 / 24
    cl *= l2
    cl -= 0.5
    cl *= l2
    cl += 1.0
    cosb = np.multiply(sinb, sinb, out=d)
    np.subtract(1.0, cosb, out=cosb)
    with np.errstate(invalid="ignore"):
        np.sqrt(cosb, out=cosb)
    return _azimuthal(sinb, cosb, sl, cl, scratch=l2)


def laea_xy(lon, lat):
    """Lon/lat (degrees, CGCS2000/WGS 84) → metres in the Kunshan equal-area projection (vectorised);
    the same numbers as PROJ's ``EQUAL_AREA_PROJ`` to ~1e-8 m."""
    x, y = _laea_unit(lon, lat)
    x *= _RQ * _D
    y *= _RQ / _D
    return x, y


# ------------------------------------------------------------------------------------------- helpers
def _as_array(geoms) -> tuple[np.ndarray, bool]:
    """Any geometry container → 1-d object array of shapely geometries (and whether the input was scalar)."""
    if isinstance(geoms, shapely.Geometry):
        return np.array([geoms], dtype=object), True
    values = getattr(geoms, "geometry", geoms)          # GeoDataFrame → its GeoSeries
    values = getattr(values, "values", values)          # GeoSeries → GeometryArray
    arr = np.asarray(values, dtype=object)
    if arr.ndim == 0:
        return arr.reshape(1), True
    return arr.ravel(), False


def _rings(geoms: np.ndarray, type_ids: np.ndarray, wanted: tuple[int, ...]):
    """Coordinates of every polygon ring, with, per coordinate, its ring number, and per ring its
    geometry index and whether it is a hole. Simple polygons (no holes) take a fast path: one ring each."""
    n_int = shapely.get_num_interior_rings(geoms)
    simple = (type_ids == _POLYGON) & (n_int == 0)
    complex_ = np.isin(type_ids, wanted) & ~simple
    idx_poly = np.flatnonzero(simple)
    coords, ring_of = shapely.get_coordinates(geoms[idx_poly], return_index=True)
    ring_geom = idx_poly
    ring_hole = np.zeros(len(idx_poly), dtype=bool)
    if complex_.any():
        idx_c = np.flatnonzero(complex_)
        parts, part_of = shapely.get_parts(geoms[idx_c], return_index=True)
        keep = shapely.get_type_id(parts) == _POLYGON
        parts, part_of = parts[keep], part_of[keep]
        rings, ring_part = shapely.get_rings(parts, return_index=True)
        n_rings = np.where(shapely.is_empty(parts), 0, shapely.get_num_interior_rings(parts) + 1)
        first = np.concatenate([[0], np.cumsum(n_rings)[:-1]])[n_rings > 0] if len(n_rings) else np.zeros(0, dtype=int)
        hole = np.ones(len(rings), dtype=bool)
        hole[first] = False
        c2, r2 = shapely.get_coordinates(rings, return_index=True)
        coords = np.concatenate([coords, c2])
        ring_of = np.concatenate([ring_of, r2 + len(ring_geom)])
        ring_geom = np.concatenate([ring_geom, idx_c[part_of[ring_part]]])
        ring_hole = np.concatenate([ring_hole, hole])
    return coords, ring_of, ring_geom, ring_hole


# large inputs are cut into chunks of this many geometries (cache-sized; run in threads)
_CHUNK = 16_384
_WORKERS = min(4, os.cpu_count() or 1)
_POOL: ThreadPoolExecutor | None = None
_POOL_PID = 0


def _pool() -> ThreadPoolExecutor:
    """The worker threads (created once per process: a forked child never reuses its parent's pool)."""
    global _POOL, _POOL_PID
    if _POOL is None or _POOL_PID != os.getpid():
        _POOL = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="kfqmap-area")
        _POOL_PID = os.getpid()
    return _POOL


def _geod_area(geom) -> float:
    return abs(CGCS2000_GEOD.geometry_area_perimeter(geom)[0])


# ------------------------------------------------------------------------------------------- areas
def ellipsoidal_area(geoms) -> np.ndarray:
    """Area in m² of each lon/lat geometry on the CGCS2000 ellipsoid (0 for points, lines and empties).

    Accepts a shapely geometry (returns a float), or a GeoSeries / GeoDataFrame / array / list (returns a
    float64 array in the same order). Vectorised; see the module docstring for the accuracy bound.
    """
    arr, scalar = _as_array(geoms)
    if len(arr) > _CHUNK:
        # cache-sized chunks (each array a few hundred KB) run ~25 % faster than one pass over 1M vertices,
        # and spread over threads (shapely and numpy release the GIL)
        chunks = [arr[i:i + _CHUNK] for i in range(0, len(arr), _CHUNK)]
        parts = _pool().map(_ellipsoidal_area, chunks) if _WORKERS > 1 and len(chunks) >= 4 else map(_ellipsoidal_area, chunks)
        out = np.concatenate(list(parts))
    else:
        out = _ellipsoidal_area(arr)
    return float(out[0]) if scalar else out


def _ellipsoidal_area(arr: np.ndarray) -> np.ndarray:
    out = np.zeros(len(arr), dtype="float64")
    if len(arr) == 0:
        return out
    type_ids = shapely.get_type_id(arr)
    n_int = shapely.get_num_interior_rings(arr)
    simple = (type_ids == _POLYGON) & (n_int == 0)
    slow = type_ids == 7                               # geometry collections: Geod
    idx = np.flatnonzero(simple)
    if len(idx):
        _simple_polygon_areas(arr, idx, out, slow)
    idx_c = np.flatnonzero(np.isin(type_ids, (_POLYGON, _MULTIPOLYGON)) & ~simple)
    if len(idx_c):
        _complex_polygon_areas(arr, idx_c, type_ids, out, slow)
    for i in np.flatnonzero(slow):   # rare: huge edges, far away, or geometry collections
        out[i] = _geod_area(arr[i]) if arr[i] is not None and not arr[i].is_empty else 0.0
    return out


def _outside_window(lon, lat) -> np.ndarray | None:
    """Per-coordinate flags for vertices outside ``LAEA_WINDOW`` (None when all are inside: the usual case)."""
    w = LAEA_WINDOW
    if lon.min() >= w[0] and lon.max() <= w[2] and lat.min() >= w[1] and lat.max() <= w[3]:
        return None
    return (lon < w[0]) | (lon > w[2]) | (lat < w[1]) | (lat > w[3])


def _simple_polygon_areas(arr, idx, out, slow) -> None:
    """Polygons without holes: one ring each, located by coordinate counts (no per-coordinate index)."""
    geoms = arr[idx]
    counts = shapely.get_num_coordinates(geoms)
    keep = counts > 0                                  # empty polygons: area 0
    if not keep.all():
        idx, geoms, counts = idx[keep], geoms[keep], counts[keep]
    if len(idx) == 0:
        return
    coords = shapely.get_coordinates(geoms)
    starts = np.zeros(len(counts), dtype=np.intp)
    np.cumsum(counts[:-1], out=starts[1:])
    lon, lat = coords[:, 0], coords[:, 1]
    outside = _outside_window(lon, lat)
    if outside is not None:
        slow[idx[np.logical_or.reduceat(outside, starts)]] = True
    x, y = _laea_unit_window(lon, lat)
    # shoelace: Σ x_i·y_{i+1} − x_{i+1}·y_i over each ring; the term that joins ring k to ring k+1 is zeroed
    cross = x[:-1] * y[1:]
    cross -= x[1:] * y[:-1]
    cross[(starts + counts - 1)[:-1]] = 0.0
    ring = np.add.reduceat(cross, starts) if len(cross) else np.zeros(len(starts))
    np.abs(ring, out=ring)
    ring *= 0.5 * _AREA_SCALE
    out[idx] = ring
    # long edges: only rings wider than MAX_EDGE_M can have one; check those rings' edges exactly
    kx, ky = _RQ * _D, _RQ / _D                        # unit projection → metres
    wide = ((np.maximum.reduceat(x, starts) - np.minimum.reduceat(x, starts)) * kx) ** 2 + \
           ((np.maximum.reduceat(y, starts) - np.minimum.reduceat(y, starts)) * ky) ** 2 > MAX_EDGE_M ** 2
    for k in np.flatnonzero(wide):
        sl = slice(starts[k], starts[k] + counts[k])
        if (((np.diff(x[sl]) * kx) ** 2 + (np.diff(y[sl]) * ky) ** 2) > MAX_EDGE_M ** 2).any():
            slow[idx[k]] = True


def _complex_polygon_areas(arr, idx_c, type_ids, out, slow) -> None:
    """Polygons with holes and multipolygons: every ring, shells minus holes."""
    sub = arr[idx_c]
    coords, ring_of, ring_geom, ring_hole = _rings(sub, type_ids[idx_c], (_POLYGON, _MULTIPOLYGON))
    if len(coords) == 0:
        return
    lon, lat = coords[:, 0], coords[:, 1]
    outside = _outside_window(lon, lat)
    if outside is not None:
        slow[idx_c[ring_geom[ring_of[outside]]]] = True
    x, y = _laea_unit_window(lon, lat)
    dx = np.diff(x)
    dy = np.diff(y)
    same = ring_of[:-1] == ring_of[1:]
    cross = x[:-1] * dy
    cross -= y[:-1] * dx
    cross[~same] = 0.0
    ring_area = np.abs(np.bincount(ring_of[:-1], weights=cross, minlength=len(ring_geom)))
    ring_area *= 0.5 * _AREA_SCALE
    out[idx_c] += np.bincount(ring_geom, weights=np.where(ring_hole, -ring_area, ring_area), minlength=len(idx_c))
    long_edge = same & ((dx * (_RQ * _D)) ** 2 + (dy * (_RQ / _D)) ** 2 > MAX_EDGE_M * MAX_EDGE_M)
    if long_edge.any():
        slow[idx_c[ring_geom[ring_of[:-1][long_edge]]]] = True


def to_equal_area(geoms):
    """Lon/lat geometries → the same in the Kunshan equal-area projection (metres, planar areas = ellipsoidal).

    Overlays (intersection, difference) are computed in this plane, where an edge means the same straight
    line that ``ellipsoidal_area`` assumes, so the parts of A inside and outside B add up to A exactly.
    (Computed in lon/lat instead, a new vertex on a 3 km east-west edge moves that edge's geodesic by
    ~0.1 m and the parts would disagree with A by ~1e-5.)
    """
    def fn(coords):
        x, y = laea_xy(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geoms, fn)


def intersection_area(a, b) -> np.ndarray:
    """Ellipsoidal area (m²) of a ∩ b for lon/lat geometries (element-wise, vectorised), computed in the
    equal-area plane (see ``to_equal_area``)."""
    return np.asarray(shapely.area(shapely.intersection(to_equal_area(a), to_equal_area(b))), dtype="float64")


def geodesic_area(geoms) -> np.ndarray:
    """Reference: area in m² on the CGCS2000 ellipsoid by ``pyproj.Geod`` (one call per geometry; slow)."""
    arr, scalar = _as_array(geoms)
    out = np.array([_geod_area(g) if g is not None and not g.is_empty else 0.0 for g in arr], dtype="float64")
    return float(out[0]) if scalar else out


def gk_area(geoms) -> np.ndarray:
    """Projected area in m² in EPSG:4549 (CGCS2000 3-degree Gauss-Krüger CM 120E) of lon/lat geometries."""
    arr, scalar = _as_array(geoms)
    if len(arr) == 0:
        return np.zeros(0)
    out = shapely.area(transform_geometry(arr, "EPSG:4326", MEASURE_CRS))
    out = np.nan_to_num(np.asarray(out, dtype="float64"))
    return float(out[0]) if scalar else out


def lengths_m(geoms) -> np.ndarray:
    """Geodesic length in metres on the CGCS2000 ellipsoid of each lon/lat geometry.

    Lines: their length; polygons: their perimeter (all rings); points: 0. One ``Geod.inv`` call over every
    segment of every geometry (vectorised).
    """
    arr, scalar = _as_array(geoms)
    out = np.zeros(len(arr), dtype="float64")
    if len(arr) == 0:
        return out
    type_ids = shapely.get_type_id(arr)
    # paths: simple linestrings directly; multi-part lines and polygons via their parts / rings
    simple = np.isin(type_ids, (_LINESTRING, _LINEARRING))
    idx = np.flatnonzero(simple)
    coords, path_of = shapely.get_coordinates(arr[idx], return_index=True)
    path_geom = idx
    multi = np.flatnonzero(np.isin(type_ids, (_MULTILINESTRING, 7)))
    if len(multi):
        parts, part_of = shapely.get_parts(arr[multi], return_index=True)
        keep = np.isin(shapely.get_type_id(parts), (_LINESTRING, _LINEARRING))
        c2, p2 = shapely.get_coordinates(parts[keep], return_index=True)
        coords = np.concatenate([coords, c2])
        path_of = np.concatenate([path_of, p2 + len(path_geom)])
        path_geom = np.concatenate([path_geom, multi[part_of[keep]]])
    rc, ring_of, ring_geom, _ = _rings(arr, type_ids, (_POLYGON, _MULTIPOLYGON))
    if len(rc):
        coords = np.concatenate([coords, rc])
        path_of = np.concatenate([path_of, ring_of + len(path_geom)])
        path_geom = np.concatenate([path_geom, ring_geom])
    if len(coords) < 2:
        return float(out[0]) if scalar else out
    same = path_of[:-1] == path_of[1:]
    _, _, dist = CGCS2000_GEOD.inv(coords[:-1, 0][same], coords[:-1, 1][same], coords[1:, 0][same], coords[1:, 1][same])
    seg_geom = path_geom[path_of[:-1][same]]
    out += np.bincount(seg_geom, weights=np.asarray(dist, dtype="float64"), minlength=len(arr))
    return float(out[0]) if scalar else out
