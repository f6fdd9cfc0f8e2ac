"""kfqmap.tiles.pre: per-zoom pre-encoded geometry (``pre_geometry`` / ``LayerSource._encode_pre``) gives the bytes of
the ordinary encoder for every tile — all-unclipped tiles, tiles mixing clipped and unclipped features, rings that
collapse, reversed rings, repeated points, null properties, lines and points among the polygons — and falls back
to the ordinary path when a point could round differently."""
from __future__ import annotations

import geopandas as gpd
import mapbox_vector_tile
import numpy as np
import pytest
import shapely

from kfqmap import tiles as T


def _parcels(n_side: int = 40, *, nulls: bool = False, extras: bool = False, seed: int = 7) -> gpd.GeoDataFrame:
    """One-ring parcels around 121.0 E 31.35 N: jittered quads and hexagons, every third ring reversed, some with
    a repeated vertex, some tiny (collapse at z13), some large (clipped at z16/z17)."""
    rng = np.random.default_rng(seed)
    lon0, lat0, step = 121.0, 31.35, 0.0006
    geoms = []
    for i in range(n_side):
        for j in range(n_side):
            cx, cy = lon0 + i * step, lat0 + j * step
            k = i * n_side + j
            r = step * (0.45 if k % 17 else 0.004)                  # a few tiny parcels
            if k % 97 == 5:
                r = step * 3.5                                      # a few large, overlapping ones
            nv = 6 if k % 3 == 0 else 4
            ang = np.sort(rng.uniform(0, 2 * np.pi, nv))
            xs = cx + r * np.cos(ang) * rng.uniform(0.7, 1.0, nv)
            ys = cy + r * np.sin(ang) * rng.uniform(0.7, 1.0, nv)
            pts = list(zip(xs, ys))
            if k % 11 == 3:
                pts.insert(2, pts[1])                               # repeated vertex
            if k % 3 == 1:
                pts = pts[::-1]                                     # clockwise in lon/lat
            geoms.append(shapely.Polygon(pts))
    n = len(geoms)
    data = {"id": np.arange(1, n + 1), "kind": np.array(["工业", "居住", "绿地", "商业"])[np.arange(n) % 4],
            "area": np.round(rng.uniform(100, 9000, n), 2), "name": [f"地块{k:05d}" for k in range(n)]}
    if nulls:
        data["note"] = [None if k % 5 else f"备注{k % 7}" for k in range(n)]
    if extras:
        geoms[10] = shapely.Point(lon0 + 10 * step, lat0 + 3 * step)
        geoms[50] = shapely.LineString([(lon0, lat0), (lon0 + 8 * step, lat0 + 9 * step)])
    return gpd.GeoDataFrame(data, geometry=geoms, crs=4326)


@pytest.fixture(scope="module", params=["plain", "nulls", "extras"])
def parcels(request):
    frame = _parcels(nulls=request.param == "nulls", extras=request.param == "extras")
    return T.LayerSource(f"parcels_{request.param}", frame)


def _tiles_around(src, z):
    tiles = T.tiles_for_bounds(src.bounds, z)
    return sorted({(int(x) + dx, int(y) + dy) for x, y in tiles for dx in (-1, 0, 1) for dy in (-1, 0, 1)})


def _ordinary(src, z, x, y):
    saved = src._pre
    src._pre = {}
    try:
        return src.encode(z, x, y)
    finally:
        src._pre = saved


@pytest.mark.parametrize("z", [13, 14, 15, 16, 17])
def test_pre_encoded_matches_ordinary_path(parcels, monkeypatch, z):
    src = parcels
    assert src._rag_simple
    assert src.tile_index(z) is not None and (z, T.EXTENT) in src._pre
    used = {"whole": 0, "mixed": 0}
    real = T.LayerSource._encode_pre

    def spy(self, pre, cand, x, y, b, extent, others=None):
        res = real(self, pre, cand, x, y, b, extent, others)
        if res is not None and res[1]:
            used["mixed" if others is not None else "whole"] += 1
        return res

    monkeypatch.setattr(T.LayerSource, "_encode_pre", spy)
    for x, y in _tiles_around(src, z):
        fast = src.encode(z, x, y)
        assert fast == _ordinary(src, z, x, y), (z, x, y)
        if fast[0]:
            mapbox_vector_tile.decode(T.tile_message([fast[0]]))
    assert used["whole"] + used["mixed"] > 0
    if z >= 15:
        assert used["whole"] > 0 and used["mixed"] > 0    # large parcels are clipped next to pre-encoded ones


def test_collapsed_rings_have_no_geometry_at_low_zoom():
    src = T.LayerSource("p", _parcels())
    src.tile_index(13)
    pre = src._pre[(13, T.EXTENT)]
    assert (pre.length < 0).any() and (pre.length >= 0).mean() > 0.9


def test_unsafe_points_are_checked_and_fall_back(monkeypatch):
    """A polygon marked unsafe is checked point by point; a disagreeing point sends the tile down the ordinary path."""
    src = T.LayerSource("p", _parcels(20))
    z = 16
    src.tile_index(z)
    pre = src._pre[(z, T.EXTENT)]
    x, y = (int(v) for v in T.tiles_for_bounds(src.bounds[:1], z)[0])
    want = _ordinary(src, z, x, y)
    safe = pre.safe.copy()
    safe[0] = False
    # pretend every polygon of the tile rounds differently on the global grid (a scale off by a hair)
    src._pre[(z, T.EXTENT)] = pre._replace(scale=pre.scale * (1 + 1e-9), safe=safe)
    calls = []
    real = T.LayerSource._encode_pre
    monkeypatch.setattr(T.LayerSource, "_encode_pre", lambda *a, **k: calls.append(r := real(*a, **k)) or r)
    try:
        assert src.encode(z, x, y) == want
        assert calls and calls[0] is None
    finally:
        src._pre[(z, T.EXTENT)] = pre


def test_coordinate_on_a_rounding_tie_is_unsafe():
    z = 16
    size = 2 * T.ORIGIN / (1 << z)
    s = T.EXTENT / size
    mx0 = np.floor((T.lonlat_to_mercator(121.0, 31.35)[0] + T.ORIGIN) * s) + 0.5   # a tie on the global grid
    lon = float(T.mercator_to_lonlat(mx0 / s - T.ORIGIN, 0.0)[0])
    tie = shapely.Polygon([(lon, 31.35), (lon + 0.0004, 31.35), (lon + 0.0004, 31.3504), (lon, 31.3504)])
    other = shapely.box(121.01, 31.36, 121.0104, 31.3604)
    src = T.LayerSource("t", gpd.GeoDataFrame({"id": [1, 2]}, geometry=[tie, other], crs=4326))
    src.tile_index(z)
    pre = src._pre[(z, T.EXTENT)]
    assert not pre.safe[0] and pre.safe[1]
    for x, y in _tiles_around(src, z):
        assert src.encode(z, x, y) == _ordinary(src, z, x, y)
