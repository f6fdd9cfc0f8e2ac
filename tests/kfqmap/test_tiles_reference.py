"""kfqmap.tiles against references it does not share code with, on whole tiles of every plan layer, z10–16.

1. Each sampled non-empty tile is decoded with mapbox-vector-tile and compared with the source features read from
   the catalog, projected with pyproj and placed on the tile with morecantile's bounds, then clipped by shapely to
   the tile's buffer box: same features (ids → frame rows), same properties, and decoded geometry within
   ``TOLERANCE`` tile units (Hausdorff distance; the reference is shapely's ``clip_by_rect`` to the buffer box,
   except for features within ``LOOSE_CLIP`` of the tile, which the encoder documents that it sends whole).
2. Every polygon of every plan tile z10–14 is decoded from its raw command stream: every ring has non-zero area,
   each polygon starts with an exterior ring that is clockwise in tile coordinates (MVT 2.1, y down: positive
   shoelace sum) followed by anticlockwise holes, and the polygon shapely builds from them is valid.
"""
from __future__ import annotations

import json
import math

import mapbox_vector_tile
import morecantile
import numpy as np
import pandas as pd
import pytest
import shapely
from mapbox_vector_tile.Mapbox import vector_tile_pb2
from pyproj import Transformer
from shapely.geometry import shape

from kfqmap.catalog import load_catalog
from kfqmap.tiles import BUFFER, DETAIL_ZOOM, EXTENT, LOOSE_CLIP, PLAN_TILESET, TileEngine, tiles_for_bounds

TMS = morecantile.tms.get("WebMercatorQuad")
TO_3857 = Transformer.from_crs(4326, 3857, always_xy=True)
ZOOMS = range(10, 17)
PER_ZOOM = 40                 #: tiles sampled per zoom and tileset (deterministically)
#: decoded geometry vs the source's clip, tile units: quantisation moves a point ≤ √½ ≈ 0.71; below z16 detailed
#: layers are also simplified with a tolerance of one unit (≤ 1 more)
TOLERANCE = {"exact": 1.0, "simplified": 1.75}
#: a source feature may be missing from a tile only if its clipped extent there is below this (collapsed rings,
#: lines shorter than a unit)
COLLAPSE = 2.0
EDGE = 4.0                    #: see _within


@pytest.fixture(scope="module")
def engine():
    return TileEngine(load_catalog())


@pytest.fixture(scope="module")
def frames(engine):
    """Per plan layer: the catalog frame, its geometry in EPSG:3857 by pyproj (independent of kfqmap.tiles)."""
    out = {}
    for lyr in engine.plan_layers():
        frame = engine.catalog.read(lyr.id)
        geoms = shapely.transform(np.asarray(frame.geometry.values, dtype=object),
                                  lambda c: np.column_stack(TO_3857.transform(c[:, 0], c[:, 1])))
        out[lyr.id] = (frame, geoms)
    return out


def _tileset_names():
    engine = TileEngine(load_catalog())
    return [PLAN_TILESET] + [lyr.id for lyr in engine.plan_layers()]


def _sample_tiles(engine, name: str, z: int) -> list[tuple[int, int]]:
    """Up to PER_ZOOM tiles that some feature (with the buffer) reaches, evenly spread over the sorted list."""
    sources = [s for s in engine.tileset(name).sources if s.n]
    pad = TMS.matrix(z).cellSize * 256 * BUFFER / EXTENT
    bounds = np.concatenate([s.bounds for s in sources]) + np.array([-pad, -pad, pad, pad])
    tiles = [tuple(map(int, t)) for t in tiles_for_bounds(bounds, z)]
    if len(tiles) > PER_ZOOM:
        tiles = [tiles[i] for i in np.linspace(0, len(tiles) - 1, PER_ZOOM).round().astype(int)]
    return tiles


def _expected_value(v):
    """A frame value as MVT carries it (None: not in the tile)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, (list, dict, tuple)):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, pd.Timestamp) or hasattr(v, "isoformat"):
        return v.isoformat()
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return v


def _to_tile(geom, z, x, y):
    b = TMS.xy_bounds(x, y, z)
    sx, sy = EXTENT / (b.right - b.left), EXTENT / (b.top - b.bottom)
    return shapely.transform(geom, lambda c: np.column_stack(((c[:, 0] - b.left) * sx, (b.top - c[:, 1]) * sy)))


def _sent_whole(geom) -> bool:
    """The documented rule: a feature within LOOSE_CLIP of a tile beyond its edges is not clipped."""
    loose = LOOSE_CLIP * EXTENT
    b = shapely.bounds(geom)
    return bool(b[0] >= -loose and b[1] >= -loose and b[2] <= EXTENT + loose and b[3] <= EXTENT + loose)


def _outline(g):
    return g.boundary if g.geom_type in ("Polygon", "MultiPolygon") else g


def _within(a, b, tol: float, clipped: bool) -> float:
    """0 if every point of a's outline (vertices, and every 4 units along edges) lies within ``tol`` of b's outline,
    else the largest such distance (tile units). Where the feature was clipped, points within EDGE of the buffer
    box are skipped: a clip edge crossed at a shallow angle moves the crossing point along the edge by
    (offset / sin angle), which says nothing about the encoder."""
    pts = shapely.get_coordinates(shapely.segmentize(_outline(a), 4.0))
    if clipped:
        lo, hi = -BUFFER + EDGE, EXTENT + BUFFER - EDGE
        pts = pts[(pts[:, 0] > lo) & (pts[:, 0] < hi) & (pts[:, 1] > lo) & (pts[:, 1] < hi)]
    if not len(pts):
        return 0.0
    zone = _outline(b).buffer(tol, quad_segs=4)
    shapely.prepare(zone)
    outside = ~shapely.contains_xy(zone, pts[:, 0], pts[:, 1])
    if not outside.any():
        return 0.0
    return float(shapely.distance(shapely.points(pts[outside]), _outline(b)).max())


def _drop_tiny(g):
    """The reference without parts and holes under COLLAPSE units across (the encoder drops collapsed rings)."""
    def big(r):
        b = shapely.bounds(r)
        return max(b[2] - b[0], b[3] - b[1]) >= COLLAPSE
    if g.geom_type in ("Polygon", "MultiPolygon"):
        polys = [shapely.Polygon(p.exterior, [h for h in p.interiors if big(h)])
                 for p in shapely.get_parts(g) if big(p.exterior)]
        return shapely.MultiPolygon(polys) if polys else shapely.Polygon()
    if g.geom_type in ("LineString", "MultiLineString"):
        lines = [ln for ln in shapely.get_parts(g) if big(ln)]
        return shapely.MultiLineString(lines) if lines else shapely.LineString()
    return g


def _check_layer(layer_id, decoded, frame, geoms, z, x, y, detailed):
    box = shapely.box(-BUFFER, -BUFFER, EXTENT + BUFFER, EXTENT + BUFFER)
    tol = TOLERANCE["simplified" if detailed and z < DETAIL_ZOOM else "exact"]
    seen = set()
    for f in decoded["features"]:
        row = int(f["id"]) - 1                     # MVT id = row number + 1 (the default fids)
        assert 0 <= row < len(frame), (layer_id, f["id"])
        seen.add(row)
        want = {k: _expected_value(v) for k, v in frame.iloc[row].drop(frame.geometry.name).items()}
        want = {k: v for k, v in want.items() if v is not None}
        assert f["properties"] == want, (layer_id, z, x, y, row)
        ours = shape(f["geometry"])
        ref = _to_tile(geoms[row], z, x, y)
        clipped = not _sent_whole(ref)
        if clipped:
            ref = shapely.clip_by_rect(ref, *box.bounds)
        d = max(_within(ours, ref, tol, clipped), _within(_drop_tiny(ref), ours, tol, clipped))
        assert d <= tol, (layer_id, z, x, y, row, d)
    # every source feature that reaches the buffer box with some size is in the tile
    tile_geoms = shapely.clip_by_rect(_to_tile(geoms, z, x, y), *box.bounds)
    for row in np.flatnonzero(~shapely.is_empty(tile_geoms) & ~shapely.is_missing(tile_geoms)):
        if row in seen:
            continue
        b = shapely.bounds(tile_geoms[row])
        assert max(b[2] - b[0], b[3] - b[1]) < COLLAPSE, (layer_id, z, x, y, int(row), "missing")


@pytest.mark.parametrize("name", _tileset_names())
def test_tiles_match_the_sources(engine, frames, name):
    checked = 0
    for z in ZOOMS:
        for x, y in _sample_tiles(engine, name, z):
            data = engine.tile(name, z, x, y)
            if not data:
                continue
            tile = mapbox_vector_tile.decode(data, default_options={"y_coord_down": True})
            expected_layers = {s.name for s in engine.tileset(name).sources}
            assert set(tile) <= expected_layers
            for layer_id, decoded in tile.items():
                assert decoded["extent"] == EXTENT
                frame, geoms = frames[layer_id]
                _check_layer(layer_id, decoded, frame, geoms, z, x, y, engine.source(layer_id).detailed)
            checked += 1
    assert checked > 0


# ------------------------------------------------------------------------------------------ validity and winding
def _rings(geometry: list[int]) -> list[np.ndarray]:
    """Rings of a polygon feature's command stream, as integer tile coordinates (the cursor carried across)."""
    rings, cur, i, cx, cy = [], None, 0, 0, 0
    while i < len(geometry):
        cmd, count = geometry[i] & 7, geometry[i] >> 3
        i += 1
        if cmd == 7:
            rings.append(np.array(cur, dtype=np.int64))
            cur = None
            continue
        assert cmd in (1, 2), cmd
        if cmd == 1:
            assert count == 1 and cur is None
            cur = []
        for _ in range(count):
            dx, dy = geometry[i], geometry[i + 1]
            i += 2
            cx += (dx >> 1) ^ -(dx & 1)
            cy += (dy >> 1) ^ -(dy & 1)
            cur.append((cx, cy))
    assert cur is None, "ring without ClosePath"
    return rings


def _area2(ring: np.ndarray) -> int:
    x, y = ring[:, 0], ring[:, 1]
    return int((x * np.roll(y, -1) - np.roll(x, -1) * y).sum())


def check_polygons(data: bytes) -> int:
    """Assert MVT 2.1 winding and shapely validity for every polygon feature of a tile; returns how many."""
    tile = vector_tile_pb2.tile()
    tile.ParseFromString(data)
    n = 0
    for layer in tile.layers:
        for f in layer.features:
            if f.type != 3:                            # POLYGON
                continue
            polys = []
            for ring in _rings(list(f.geometry)):
                assert len(ring) >= 3, (layer.name, f.id)
                a = _area2(ring)
                assert a != 0, (layer.name, f.id, "zero-area ring")
                if a > 0:                              # exterior: clockwise on screen (y down)
                    polys.append([ring])
                else:
                    assert polys, (layer.name, f.id, "polygon starts with a hole")
                    polys[-1].append(ring)
            assert polys
            geom = shapely.MultiPolygon([shapely.Polygon(p[0], p[1:]) for p in polys])
            assert shapely.is_valid(geom), (layer.name, f.id, shapely.is_valid_reason(geom))
            n += 1
    return n


def test_clipped_polygon_at_the_buffer_edge_is_valid(engine):
    """admin_boundaries id 4 came out self-intersecting in 10/855/418 (a vertex rounded onto the clip edge)."""
    data = engine.tile("admin_boundaries", 10, 855, 418)
    feats = mapbox_vector_tile.decode(data, default_options={"y_coord_down": True})["admin_boundaries"]["features"]
    assert any(f["id"] == 4 for f in feats)
    assert check_polygons(data) >= 1


@pytest.mark.parametrize("z", [10, 11, 12, 13, 14])
def test_every_plan_polygon_is_valid_and_wound_as_mvt_says(engine, z):
    sources = [s for s in engine.tileset(PLAN_TILESET).sources if s.n]
    pad = TMS.matrix(z).cellSize * 256 * BUFFER / EXTENT
    bounds = np.concatenate([s.bounds for s in sources]) + np.array([-pad, -pad, pad, pad])
    polygons = 0
    for x, y in tiles_for_bounds(bounds, z):
        data = engine.tile(PLAN_TILESET, z, int(x), int(y))
        if data:
            polygons += check_polygons(data)
    assert polygons > 0
