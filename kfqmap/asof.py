"""Vector tiles of one layer as it was at a past instant (issue 13: "tiles … for a past date").

The layer is rebuilt from the history (``kfqmap.editing.asof_frame``) and prepared for tiling through the same
encoder as today's tiles (``kfqmap.tiles.LayerSource`` / ``Tileset``), once per (layer, instant, data version):
a small LRU keeps the last few prepared states, so panning a map of 2025-12-31 rebuilds nothing. Features that
still exist keep their store key as MVT feature id; one deleted since gets a stable id derived from its feature
id (above ``DELETED_FID_BASE``, clear of store keys).

>>> from kfqmap.catalog import load_catalog
>>> tiles = AsofTiles(load_catalog())
>>> tiles.tile("low_efficiency_land", "2026-06-30T00:00:00.000Z", 14, 13716, 6695)   # doctest: +SKIP
"""
from __future__ import annotations

import threading
import zlib
from collections import OrderedDict

import numpy as np

from .errors import InvalidParameter, LayerNotFound
from .tiles import LayerSource, Tileset

#: prepared past states kept (each is one layer's frame and tile preparation: the plan's layers are small)
CACHE_SIZE = 8
#: MVT ids of features deleted since ``when`` start here (store keys are far below)
DELETED_FID_BASE = 1 << 40


class AsofTiles:
    """``tile(layer_id, when, z, x, y)`` → MVT bytes of the layer at ``when`` (UTC, ``history.parse_time``)."""

    def __init__(self, catalog, size: int = CACHE_SIZE):
        self.catalog = catalog
        self.size = size
        self._sources: OrderedDict[tuple[str, str, str], LayerSource] = OrderedDict()
        self._lock = threading.Lock()

    def version(self, layer_id: str) -> str:
        """The layer's current data version (part of the cache key and the tile's ETag)."""
        return self.catalog.collection(layer_id).version()

    def source(self, layer_id: str, when: str) -> LayerSource:
        """The layer at ``when`` prepared for tiling (cached per layer, instant and data version)."""
        layer = self.catalog.get(layer_id)
        if not layer.is_spatial:
            raise LayerNotFound(f"图层 '{layer_id}' 没有几何，不能切瓦片", parameter="collection")
        collection = self.catalog.collection(layer_id)
        key = (layer_id, when, collection.version())
        with self._lock:
            hit = self._sources.get(key)
            if hit is not None:
                self._sources.move_to_end(key)
                return hit
        from .editing import asof_frame

        state = collection.state()
        frame = asof_frame(collection, when)          # InvalidParameter(asof) for a layer without history
        source = LayerSource(layer_id, frame, fids=_fids(frame, state))
        with self._lock:
            self._sources[key] = source
            while len(self._sources) > self.size:
                self._sources.popitem(last=False)
        return source

    def tile(self, layer_id: str, when: str, z: int, x: int, y: int) -> bytes:
        """The encoded MVT (b"" when empty), with today's size guard (``Tileset.tile``)."""
        return Tileset(layer_id, [self.source(layer_id, when)]).tile(z, x, y)


def check_tileset(name: str, plan_tileset: str) -> None:
    """``asof`` is for one layer's tiles: the whole plan at a past date is many layers' histories."""
    if name == plan_tileset:
        raise InvalidParameter(f"asof 只能用于单个图层的瓦片（/tiles/{{图层 id}}/…），不能用于 {plan_tileset}",
                               parameter="asof")


def _fids(frame, state) -> np.ndarray:
    """MVT ids: the store key of each feature that still exists, a stable id for one deleted since."""
    known: dict[str, int] = {}
    if not getattr(state, "pushdown", False):
        known = dict(zip(state.frame["id"].astype(str), (int(v) for v in state.fids)))
    ids = frame["id"].astype(str)
    return np.array([known.get(i, DELETED_FID_BASE + zlib.crc32(i.encode())) for i in ids], dtype=np.uint64)
