"""kfqmap.tiles.tilemath against morecantile's WebMercatorQuad, on many tiles: the numpy fast paths must give
morecantile's answers (bounds, tile of a point, tiles of a box, matrix sizes, projection)."""
from __future__ import annotations

import math

import morecantile
import numpy as np
import pytest

from kfqmap.tiles import tilemath as TM

TMS = morecantile.tms.get("WebMercatorQuad")


def _random_tiles(n: int, seed: int = 3):
    rng = np.random.default_rng(seed)
    out = [(0, 0, 0), (22, 0, 0), (22, (1 << 22) - 1, (1 << 22) - 1)]
    for _ in range(n):
        z = int(rng.integers(0, TM.MAX_ZOOM + 1))
        out.append((z, int(rng.integers(0, 1 << z)), int(rng.integers(0, 1 << z))))
    return out


def test_constants_come_from_the_tms():
    m0 = TMS.matrix(0)
    assert (-TM.ORIGIN, TM.ORIGIN) == tuple(m0.pointOfOrigin)
    assert TM.R == 6378137.0 and TM.ORIGIN == math.pi * TM.R
    assert TM.MAX_LAT == pytest.approx(TMS.bbox.top, abs=1e-9)
    for z in range(TM.MAX_ZOOM + 1):
        m = TMS.matrix(z)
        assert TM.matrix_width(z) == m.matrixWidth == m.matrixHeight
        assert TM.tile_span(z) == m.cellSize * m.tileWidth


def test_tile_bounds_equal_morecantile():
    for z, x, y in _random_tiles(400):
        want = TMS.xy_bounds(x, y, z)
        got = TM.tile_bounds(z, x, y)
        assert np.allclose(got, tuple(want), rtol=0, atol=1e-6), (z, x, y)
        # the corner in lon/lat agrees with morecantile's projection
        ul = TMS.ul(x, y, z)
        lon, lat = TM.mercator_to_lonlat(got.left, got.top)
        assert float(lon) == pytest.approx(ul.x, abs=1e-9) and float(lat) == pytest.approx(ul.y, abs=1e-9)


def test_projection_equals_morecantile():
    rng = np.random.default_rng(5)
    lon = rng.uniform(-180, 180, 500)
    lat = rng.uniform(-85, 85, 500)
    mx, my = TM.lonlat_to_mercator(lon, lat)
    for i in range(0, 500, 7):
        want = TMS.xy(lon[i], lat[i])
        assert mx[i] == pytest.approx(want.x, abs=1e-6) and my[i] == pytest.approx(want.y, abs=1e-6)
    back = TM.mercator_to_lonlat(mx, my)
    assert np.allclose(back[0], lon, atol=1e-9) and np.allclose(back[1], lat, atol=1e-9)


def test_tile_of_a_point_equals_morecantile():
    rng = np.random.default_rng(9)
    for _ in range(600):
        lon, lat = float(rng.uniform(-179.9, 179.9)), float(rng.uniform(-85, 85))
        z = int(rng.integers(0, TM.MAX_ZOOM + 1))
        t = TMS.tile(lon, lat, z)
        assert TM.lonlat_tile(lon, lat, z) == (t.x, t.y)


@pytest.mark.parametrize("z", [0, 3, 8, 10, 12, 13, 14, 16])
def test_tiles_for_bounds_equal_morecantile(z):
    rng = np.random.default_rng(z)
    for _ in range(12):
        lon0 = float(rng.uniform(120.5, 121.3))
        lat0 = float(rng.uniform(31.0, 31.6))
        w, h = rng.uniform(0.001, 0.08, 2)
        lon1, lat1 = lon0 + float(w), lat0 + float(h)
        x0, y0 = TM.lonlat_to_mercator(lon0, lat0)
        x1, y1 = TM.lonlat_to_mercator(lon1, lat1)
        got = {tuple(map(int, t)) for t in TM.tiles_for_bounds(np.array([[x0, y0, x1, y1]]), z)}
        want = {(t.x, t.y) for t in TMS.tiles(lon0, lat0, lon1, lat1, [z])}
        assert got == want


def test_check_tile_uses_the_matrix():
    for z in (0, 5, 22):
        n = TMS.matrix(z).matrixWidth
        TM.check_tile(z, n - 1, n - 1)
        with pytest.raises(Exception):
            TM.check_tile(z, n, 0)
