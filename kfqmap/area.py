"""Areas and lengths of lon/lat geometries: ellipsoidal (CGCS2000) and Gauss-Krüger (EPSG:4549).

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

Overlays (``overlay_pairs``, ``intersection_area``) are computed in the same equal-area plane
(``to_equal_area``), so the parts of A inside and outside B add up to A. Large inputs are processed in
cache-sized chunks spread over threads (shapely and numpy release the GIL).

Lengths (``lengths_m``) are geodesic on the CGCS2000 ellipsoid (``Geod.inv`` on all segments at once).
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import shapely
from pyproj import Geod

from .catalog import parse_figures
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


# =========================================================================================== statistics
#: the plan's structure groups that statistics are reported for (catalog.GROUPS order)
PLAN_GROUPS = ("两轴三带", "两核多园", "一带四园", "更新地块", "低效用地")
#: properties shown beside each feature in per-feature statistics, when the layer has them
STAT_PROPERTIES = ("park_type", "park", "status", "year", "area_mu", "part", "river", "plan_status", "land_use")
#: layers with more features than this get no union area (it would cost seconds) — noted in the result
UNION_MAX_FEATURES = 20_000
#: figure kinds that are land areas (comparable with polygons) and floor areas (never compared)
LAND_FIGURES = ("land_area",)
FLOOR_FIGURES = ("floor_area", "demolition_floor_area", "pv_area")


def _unit_info(unit):
    from .models import UnitInfo
    from .units import area_unit
    u = area_unit(unit)
    return u, UnitInfo(code=u.code, symbol_zh=u.symbol_zh, name_en=u.name_en, decimals=u.decimals)


def _in_unit(m2, u) -> float:
    from .units import round_area
    return round_area(float(m2) / u.m2, u.code)


def _m2(v) -> float:
    return round(float(v), 1)


def _json_column(col) -> list:
    """A pandas column as a list of JSON-safe Python values (NaN / NA → None), converted column-wise."""
    from .models import jsonable
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
    from .models import FeatureArea, LayerStats
    u, uinfo = _unit_info(unit)
    geoms = np.asarray(frame.geometry.values, dtype=object)
    types = shapely.get_type_id(geoms)
    poly = np.isin(types, (_POLYGON, _MULTIPOLYGON))
    line = np.isin(types, (_LINESTRING, _LINEARRING, _MULTILINESTRING))
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


def layer_stats(catalog, layer_id: str, unit: str = "mu", *, features: bool = True):
    """Per-feature and total statistics of one catalog layer (``LayerStats``). See ``overlay_stats`` for
    "layer A inside each feature of layer B" (the CLI's and the server's ``by=``)."""
    layer = catalog.get(layer_id)
    if not layer.is_spatial:
        from .errors import InvalidParameter
        raise InvalidParameter(f"图层 '{layer_id}' 是指标表，没有几何；请用 kfqmap progress 查看指标", parameter="layer")
    return frame_stats(catalog.read(layer_id), unit, layer=layer, features=features)


def group_stats(catalog, unit: str = "mu", *, groups=PLAN_GROUPS):
    """Statistics per group of the plan's structure (两轴三带 / 两核多园 / 一带四园 / 更新地块 / 低效用地):
    each layer's totals and the area the group's polygons cover together (overlaps counted once)."""
    from .catalog import GROUPS
    from .models import GroupStats
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
    from .errors import InvalidParameter
    from .models import OverlayRow, OverlayStats
    from .query import layer_index
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
    from .units import area_unit
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
    from .models import LandProgress, StatusRow, YearRow
    from .units import mu_from_m2
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
    notes = [f"目标：“十四五”期间完成低效用地再利用 {target:,.0f} 亩（{PLAN_START}–{PLAN_END}），按直线进度 {year} 年应完成 {planned:,.0f} 亩",
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


_FLOOR_WORDS = ("建筑面积", "开发面积", "拆除", "综合体", "承载区", "载体", "光伏")


def trajectory(value_2020, target, target_year, year):
    """Straight line from the 2020 value to the target: value at ``year`` (clamped to 2020..target_year)."""
    if value_2020 is None or target is None or target_year is None or target_year <= 2020:
        return None
    t = min(max(year, 2020), target_year)
    return value_2020 + (target - value_2020) * (t - 2020) / (target_year - 2020)


def indicator_progress(catalog, year: int):
    """Indicators (表2 and the text's targets): 2020 value vs target and the straight-line value at ``year``.

    Floor areas (建筑面积/开发面积/拆除…) are listed as figures (kind ``floor_area``), with no trajectory.
    表1 (the 13th plan's 2020 review) is not a 2025 target and is left out.
    """
    from .models import IndicatorProgress, jsonable
    if "indicators" not in catalog.ids:
        return []
    ind = catalog.read("indicators")
    out = []

    def num(v):
        v = jsonable(v)
        return float(v) if isinstance(v, (int, float)) else None

    def text(v):
        v = jsonable(v)
        return None if v is None else str(v)

    for _, r in ind.iterrows():   # ~100 table rows, not geometry: a loop is fine here
        table = text(r.get("table"))
        if table == "表1":
            continue
        v0, tgt = num(r.get("value_2020")), num(r.get("target"))
        ty = num(r.get("target_year"))
        ty = int(ty) if ty is not None else None
        name = text(r.get("name")) or ""
        unit = text(r.get("unit"))
        floor = unit in ("万平方米", "平方米", "m2", "万㎡") and any(w in name for w in _FLOOR_WORDS)
        if floor:
            kind, traj = "floor_area", None
        elif v0 is not None and tgt is not None and ty:
            kind, traj = "trajectory", trajectory(v0, tgt, ty, year)
        elif tgt is not None:
            kind, traj = "target_only", None
        else:
            kind, traj = "no_target", None
        out.append(IndicatorProgress(
            id=str(r.get("id")), table=table, category=text(r.get("category")), name=name, unit=unit,
            value_2020=v0, value_2020_text=text(r.get("value_2020_text")), target=tgt, target_text=text(r.get("target_text")),
            target_qualifier=text(r.get("target_qualifier")), target_year=ty, attribute=text(r.get("attribute")),
            year=year if traj is not None else None, trajectory=round(traj, 4) if traj is not None else None,
            kind=kind, layer_id=text(r.get("layer_id")), feature_id=text(r.get("feature_id"))))
    return out


def plan_figures(catalog):
    """Area figures the plan states for features (``figures`` property): land areas with the drawn polygon's
    area beside them, floor areas as stated figures only."""
    from .models import PlanFigure
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
    import datetime

    from .errors import InvalidParameter
    from .models import Progress
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
        notes.append(f"{year} 年已超出规划期（{PLAN_START}–{PLAN_END}），直线进度按目标值封顶")
    return Progress(year=year, land=land, indicators=indicator_progress(catalog, year), figures=plan_figures(catalog),
                    notes=notes)
