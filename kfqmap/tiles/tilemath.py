"""Tile maths on morecantile's WebMercatorQuad: the one place KFQMap turns lon/lat, metres and z/x/y into each other.

morecantile defines the tile matrix set (origin, cell sizes, matrix widths, its CRS); every constant here is read
from it once, at import. The functions below then use the closed-form formulas, on numpy arrays where it matters,
because morecantile answers one tile per call through pydantic models and pyproj (measured here: ``xy_bounds``
31 µs against 4 µs for ``tile_bounds``; ``tile`` of a point 1.1 ms), while the tile engine projects every vertex of
a layer and asks for the tiles of every feature of a layer at once.
``tests/kfqmap/test_tiles_math.py`` checks these functions against morecantile on many tiles.

WebMercatorQuad's matrices are powers of two, so tile sizes are exact: ``tile_span(z)`` equals morecantile's
``cellSize × tileWidth`` for every zoom to the last bit (checked at import).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import morecantile
import numpy as np
from pyproj import CRS

from ..errors import TileOutOfRange

TMS = morecantile.tms.get("WebMercatorQuad")
MIN_ZOOM, MAX_ZOOM = 0, 22    #: documented zoom range of every tileset

#: half the width of the projected world in EPSG:3857 metres (20037508.342789244); the origin is (−ORIGIN, ORIGIN)
ORIGIN = -float(TMS.matrix(0).pointOfOrigin[0])
#: the sphere radius of the projection (6378137 m): the semi-major axis of the TMS CRS's ellipsoid
R = float(CRS.from_user_input(TMS.crs.srs).ellipsoid.semi_major_metre)
#: latitude of the top of the matrix (85.0511…°): Web Mercator is clamped here
MAX_LAT = math.degrees(2 * math.atan(math.exp(ORIGIN / R)) - math.pi / 2)

_SPANS = tuple(float(TMS.matrix(z).cellSize) * TMS.matrix(z).tileWidth for z in range(MAX_ZOOM + 1))
_WIDTHS = tuple(int(TMS.matrix(z).matrixWidth) for z in range(MAX_ZOOM + 1))
assert all(s == 2 * ORIGIN / (1 << z) and w == 1 << z for z, (s, w) in enumerate(zip(_SPANS, _WIDTHS))), \
    "WebMercatorQuad is no longer a power-of-two quadtree: kfqmap.tiles.tilemath must follow morecantile"


class TileBounds(NamedTuple):
    """A tile's projected bounds in EPSG:3857 metres: left, bottom, right, top."""

    left: float
    bottom: float
    right: float
    top: float


def matrix_width(z: int) -> int:
    """Tiles across (and down) the matrix of zoom ``z``."""
    return _WIDTHS[z] if 0 <= z <= MAX_ZOOM else 1 << z


def tile_span(z: int) -> float:
    """Width (= height) of one tile of zoom ``z`` in EPSG:3857 metres."""
    return _SPANS[z] if 0 <= z <= MAX_ZOOM else 2 * ORIGIN / (1 << z)


def check_tile(z: int, x: int, y: int, *, minzoom: int = MIN_ZOOM, maxzoom: int = MAX_ZOOM) -> None:
    """Raise ``TileOutOfRange`` (naming the parameter) unless z/x/y is a tile of WebMercatorQuad in range."""
    if not (minzoom <= z <= maxzoom):
        raise TileOutOfRange(f"缩放级别 z={z} 超出范围 {minzoom}–{maxzoom}", parameter="z")
    n = matrix_width(z)
    if not (0 <= x < n):
        raise TileOutOfRange(f"瓦片列号 x={x} 超出 z={z} 的范围 0–{n - 1}", parameter="x")
    if not (0 <= y < n):
        raise TileOutOfRange(f"瓦片行号 y={y} 超出 z={z} 的范围 0–{n - 1}", parameter="y")


def tile_bounds(z: int, x: int, y: int) -> TileBounds:
    """Bounds of tile z/x/y in EPSG:3857 (morecantile's ``TMS.xy_bounds(x, y, z)``, to ~1e-9 m)."""
    size = tile_span(z)
    left = -ORIGIN + x * size
    top = ORIGIN - y * size
    return TileBounds(left, top - size, left + size, top)


def lonlat_to_mercator(lon, lat):
    """WGS 84 lon/lat (degrees, arrays) → EPSG:3857 x/y metres (latitude clamped to ±``MAX_LAT``)."""
    lon = np.asarray(lon, dtype="float64")
    lat = np.clip(np.asarray(lat, dtype="float64"), -MAX_LAT, MAX_LAT)
    x = np.radians(lon) * R
    y = np.log(np.tan(np.pi / 4 + np.radians(lat) / 2)) * R
    return x, y


def mercator_to_lonlat(x, y):
    """EPSG:3857 x/y metres (arrays) → WGS 84 lon/lat degrees."""
    x = np.asarray(x, dtype="float64")
    y = np.asarray(y, dtype="float64")
    return np.degrees(x / R), np.degrees(2 * np.arctan(np.exp(y / R)) - np.pi / 2)


def lonlat_tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The x/y of the tile holding lon/lat at zoom ``z`` (morecantile's ``TMS.tile``; clamped to the matrix)."""
    mx, my = lonlat_to_mercator(lon, lat)
    n, size = matrix_width(z), tile_span(z)
    x = int(math.floor((float(mx) + ORIGIN) / size))
    y = int(math.floor((ORIGIN - float(my)) / size))
    return min(max(x, 0), n - 1), min(max(y, 0), n - 1)


def tile_pixel(lon: float, lat: float, z: int, x: int, y: int, extent: int = 4096) -> tuple[float, float]:
    """Where lon/lat falls inside tile z/x/y, in tile units (y down), unrounded."""
    mx, my = lonlat_to_mercator(lon, lat)
    b = tile_bounds(z, x, y)
    return (float((mx - b.left) / (b.right - b.left) * extent), float((b.top - my) / (b.top - b.bottom) * extent))


def tile_ranges(bounds3857: np.ndarray, z: int, pad: float = 0.0):
    """Per n×4 EPSG:3857 box (grown by ``pad`` metres): the first and last tile column and row it touches at zoom
    ``z``, clamped to the matrix (x0, x1, y0, y1 int64 arrays)."""
    n, size = matrix_width(z), tile_span(z)
    x0 = np.clip(np.floor((bounds3857[:, 0] - pad + ORIGIN) / size), 0, n - 1).astype(np.int64)
    x1 = np.clip(np.floor((bounds3857[:, 2] + pad + ORIGIN) / size), 0, n - 1).astype(np.int64)
    y0 = np.clip(np.floor((ORIGIN - bounds3857[:, 3] - pad) / size), 0, n - 1).astype(np.int64)
    y1 = np.clip(np.floor((ORIGIN - bounds3857[:, 1] + pad) / size), 0, n - 1).astype(np.int64)
    return x0, x1, y0, y1


def covered_tiles(bounds3857: np.ndarray, z: int, pad: float = 0.0):
    """Tiles each box (grown by ``pad``) reaches at zoom ``z``: ``(count per box, expand)``; ``expand()`` gives
    ``(owner, key)`` arrays, one row per (box, tile) pair, ``key = x · 2^z + y`` — computed only when wanted."""
    n = matrix_width(z)
    x0, x1, y0, y1 = tile_ranges(bounds3857, z, pad)
    nx = x1 - x0 + 1
    cnt = nx * (y1 - y0 + 1)

    def expand() -> tuple[np.ndarray, np.ndarray]:
        owner = np.repeat(np.arange(len(bounds3857)), cnt)
        rank = np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        return owner, (x0[owner] + rank % nx[owner]) * n + (y0[owner] + rank // nx[owner])

    return cnt, expand


def tiles_for_bounds(bounds3857: np.ndarray, z: int) -> np.ndarray:
    """Unique (x, y) tiles at zoom ``z`` touched by the given n×4 EPSG:3857 bounds (vectorised), sorted by x, y."""
    if len(bounds3857) == 0:
        return np.empty((0, 2), dtype=np.int64)
    n = matrix_width(z)
    keys = np.unique(covered_tiles(np.asarray(bounds3857, dtype="float64"), z)[1]()[1])
    return np.column_stack([keys // n, keys % n])
