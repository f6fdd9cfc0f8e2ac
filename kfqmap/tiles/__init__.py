"""Vector tiles (Mapbox Vector Tile 2.1) for catalog layers, on morecantile's WebMercatorQuad.

>>> from kfqmap.catalog import load_catalog
>>> from kfqmap.tiles import TileEngine
>>> engine = TileEngine(load_catalog())
>>> data = engine.tile("plan", 13, 6853, 3348)      # bytes of one MVT (b"" when the tile holds nothing)

One module per job (read them in this order):

- ``tilemath``: z/x/y ⇄ EPSG:3857 ⇄ lon/lat, constants read from morecantile's WebMercatorQuad.
- ``mvt``: the wire format — varints, zigzag, ``Value`` messages, feature streams, layer and tile framing (numpy).
- ``geometry``: geometry → command integers on ragged arrays; ring clean-up, orientation, clipping repair.
- ``prepare``: ``LayerSource``, a layer prepared once (projection, STRtree, value table, feature ids, thinning).
- ``encode``: one layer's ``Layer`` message for one tile; ``batch``: many tiles in one pass (seeding);
  ``pre``: pre-encoded geometry of one-ring polygon layers.
- ``engine``: ``Tileset`` (the size guard, TileJSON) and ``TileEngine`` (what the server and CLI hold).

The fast paths (tile index, unclipped polygons without shapely, pre-encoded geometry) sit behind one switch,
``LayerSource.fast_paths``; each gives the general path's bytes. ``tests/kfqmap/test_tiles_reference.py`` decodes
sampled tiles of every plan layer, z10–16, with mapbox-vector-tile and compares them with shapely's own clip of the
source features.
"""
from __future__ import annotations

from .engine import MAX_TILE_BYTES, PLAN_TILESET, TileEngine, Tileset, parse_zooms
from .geometry import BUFFER, DETAIL_ZOOM, LOOSE_CLIP
from .mvt import EXTENT, encode_varints, tile_message
from .prepare import DROP_GRID, FEATURE_BUDGET, LayerSource
from .encode import TILE_INDEX_MIN_ZOOM
from .tilemath import (MAX_ZOOM, MIN_ZOOM, ORIGIN, R, TMS, TileBounds, check_tile, lonlat_tile,
                       lonlat_to_mercator, mercator_to_lonlat, tile_bounds, tile_pixel, tiles_for_bounds)

__all__ = [
    "BUFFER", "DETAIL_ZOOM", "DROP_GRID", "EXTENT", "FEATURE_BUDGET", "LOOSE_CLIP", "MAX_TILE_BYTES", "MAX_ZOOM",
    "MIN_ZOOM", "ORIGIN", "PLAN_TILESET", "R", "TILE_INDEX_MIN_ZOOM", "TMS", "LayerSource", "TileBounds",
    "TileEngine", "Tileset", "check_tile", "encode_varints", "lonlat_tile", "lonlat_to_mercator",
    "mercator_to_lonlat", "parse_zooms", "tile_bounds", "tile_message", "tile_pixel", "tiles_for_bounds",
]
