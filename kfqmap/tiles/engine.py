"""Tilesets and the engine a server or the CLI holds: which layers make a tileset, the size guard, TileJSON.

``TileEngine`` prepares each layer once, lazily and thread-safely (``LayerSource``); ``Tileset.tile`` joins the
layers' ``Layer`` messages into one tile and keeps every tile under ``MAX_TILE_BYTES``: a tile that encodes larger
is rebuilt with the (nested) feature sets of lower zooms, then with only the largest features of its biggest
layers (tippecanoe's drop-smallest-as-needed). No HTTP here; the server only wraps the bytes.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from ..errors import DataSourceError, InvalidParameter, LayerNotFound
from .encode import TILE_INDEX_MIN_ZOOM
from .geometry import BUFFER, DETAIL_ZOOM
from .mvt import EXTENT, tile_message
from .prepare import LayerSource
from .tilemath import MAX_ZOOM, MIN_ZOOM, check_tile

log = logging.getLogger("kfqmap.tiles")

#: how long a tileset's data version is trusted before the collections are asked again (seconds)
VERSION_TTL_S = 0.25

MAX_TILE_BYTES = 500_000      #: hard cap on an encoded (uncompressed) tile
PLAN_TILESET = "plan"


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
        data = tile_message(p for p, _ in parts)
        if len(data) <= self.max_bytes:
            return data
        # too big: first fall back to the (nested) feature sets of lower zooms ...
        levels = sorted({int(v) for s in self.sources for v in s.zoom_levels if v < min(z, DETAIL_ZOOM)},
                        reverse=True)
        for fz in levels:
            parts = [s.encode(z, x, y, feature_zoom=fz) for s in self.sources]
            data = tile_message(p for p, _ in parts)
            if len(data) <= self.max_bytes:
                return data
        # ... then keep only the largest features of the biggest layers (tippecanoe's drop-smallest-as-needed)
        limit = None
        while len(data) > self.max_bytes:
            n = max(cnt for _, cnt in parts)
            limit = max(1, int((limit or n) * self.max_bytes / len(data) * 0.9))
            parts = [s.encode(z, x, y, feature_zoom=levels[-1] if levels else None, limit=limit) if cnt > limit
                     else (p, cnt) for s, (p, cnt) in zip(self.sources, parts)]
            data = tile_message(p for p, _ in parts)
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
                data = tile_message(res[(x, y)][0] for res, _ in per_source if (x, y) in res)
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
    """Builds tiles for ``plan`` or any spatial collection from the layers' collections (which own the prepared
    ``LayerSource`` of each data version)."""

    def __init__(self, catalog):
        self.catalog = catalog
        self._versions: dict[str, tuple[float, str]] = {}

    def plan_layers(self) -> list:
        """The layers of the ``plan`` tileset, bottom to top (style.z, then catalog order)."""
        layers = [lyr for lyr in self.catalog.layers if lyr.is_spatial and lyr.kind != "extra"]
        return sorted(layers, key=lambda lyr: lyr.style.z)

    def source(self, layer_id: str) -> LayerSource:
        """The layer prepared for tiling at its current data version (owned by its collection, which passes the
        store's keys as MVT feature ids)."""
        layer = self.catalog.get(layer_id)
        if not layer.is_spatial:
            raise LayerNotFound(f"图层 '{layer_id}' 没有几何，不能切瓦片", parameter="collection")
        return self.catalog.collection(layer_id).state().tiles

    def _available_source(self, layer) -> LayerSource | None:
        try:
            return self.source(layer.id)
        except DataSourceError as exc:
            log.error("tiles: layer %s left out of the plan tileset: %s", layer.id, exc.message)
            return None

    def _version_of(self, layer_id: str, *, tolerate: bool) -> str:
        try:
            return self.catalog.collection(layer_id).version()
        except DataSourceError:
            if not tolerate:
                raise
            return "unavailable"

    def version(self, name: str) -> str:
        """The data version of tileset ``name`` (its layers' versions joined): part of every tile's cache key and
        ETag. Remembered for ``VERSION_TTL_S`` (the collections' own rhythm), so a warm tile costs one lookup."""
        now = time.monotonic()
        hit = self._versions.get(name)
        if hit is not None and now - hit[0] < VERSION_TTL_S:
            return hit[1]
        ids = [lyr.id for lyr in self.plan_layers()] if name == PLAN_TILESET else [self.catalog.get(name).id]
        version = "|".join(self._version_of(i, tolerate=name == PLAN_TILESET) for i in ids)
        self._versions[name] = (now, version)
        return version

    def tileset_ids(self) -> list[str]:
        return [PLAN_TILESET] + [lyr.id for lyr in self.catalog.layers if lyr.is_spatial]

    def tileset(self, name: str) -> Tileset:
        if name == PLAN_TILESET:     # a layer whose data cannot be read now is left out (logged), not the map
            return Tileset(PLAN_TILESET, [src for src in map(self._available_source, self.plan_layers()) if src])
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
            if src is None or not hasattr(src, "_tile_idx") or getattr(src, "fast_paths", None) is None:
                return False
            if src.detailed and z < DETAIL_ZOOM and (z, EXTENT) not in src._simple:
                return False
            if (src.fast_paths and z >= TILE_INDEX_MIN_ZOOM and (z, EXTENT, BUFFER) not in src._tile_idx
                    and len(src._tile_idx) < 8):
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
