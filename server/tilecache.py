"""An in-memory LRU of encoded tiles, each stored ready to send: raw bytes, gzip bytes and a strong ETag.

The warm path of the tile server is one ``dict`` lookup (``TileCache.get``) that returns a ``CachedTile``
whose header tuples are computed once, when the tile is first built. No HTTP framework is imported here:
headers are plain ``(name, value)`` byte pairs that any ASGI server can send.

Empty tiles are cached too (``CachedTile.empty``), so a 204 is as cheap as a 200.
"""
from __future__ import annotations

import gzip
import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Hashable

from pydantic_settings import BaseSettings, SettingsConfigDict

from kfqmap.render import TileRenderer
from kfqmap.tiles import check_tile

MEDIA_TYPES = {
    "mvt": "application/vnd.mapbox-vector-tile",
    "png": "image/png",
}
#: MVT tiles at this zoom and above (of prepared layers) are cheap enough to build without a thread hop;
#: z14 stays in the pool: inline it was ~7 % faster at c=1 but ~10 % fewer req/s at c=8 (its gzip and large
#: numpy steps release the GIL and overlap with the event loop when built in a thread)
INLINE_MIN_ZOOM = 15
#: browsers, nginx and CDNs may store a tile but must revalidate it (If-None-Match → 304) before each use: the
#: ETag includes the data version, so an edited layer's tiles refresh at once instead of after an hour
CACHE_CONTROL = "public, no-cache"
#: a tile of a layer as it was well in the past (``?asof=``): that state does not change, keep it an hour
ASOF_CACHE_CONTROL = "public, max-age=3600"


def etag_for(data: bytes, salt: str = "") -> str:
    """A strong ETag (quoted) for the bytes of a tile (and an optional salt, e.g. the data version)."""
    h = hashlib.blake2b(data, digest_size=12)
    if salt:
        h.update(salt.encode())
    return '"' + h.hexdigest() + '"'


@dataclass
class CachedTile:
    """One tile, as sent: bytes, optional gzip bytes, ETag and precomputed header lists."""

    data: bytes
    media_type: str
    etag: str
    gzipped: bytes | None = None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)       # identity encoding
    headers_gzip: list[tuple[bytes, bytes]] = field(default_factory=list)  # Content-Encoding: gzip
    headers_304: list[tuple[bytes, bytes]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return len(self.data) == 0

    @property
    def size(self) -> int:
        return len(self.data) + (len(self.gzipped) if self.gzipped else 0)


def make_tile(data: bytes, fmt: str, *, gzip_level: int = 1, salt: str = "",
              cache_control: str = CACHE_CONTROL) -> CachedTile:
    """Build a ``CachedTile`` for ``fmt`` ("mvt" or "png"): MVT bytes are also gzipped once, here."""
    media = MEDIA_TYPES[fmt]
    etag = etag_for(data, salt)
    # level 1: ~4× faster than 6 for a few % more bytes (the bytes are compressed once, then cached)
    gz = gzip.compress(data, compresslevel=gzip_level, mtime=0) if (fmt == "mvt" and data) else None
    common = [(b"etag", etag.encode()), (b"cache-control", cache_control.encode())]
    if fmt == "mvt":
        common.append((b"vary", b"Accept-Encoding"))
    headers = [(b"content-type", media.encode()), (b"content-length", str(len(data)).encode())] + common
    headers_gzip = []
    if gz is not None:
        headers_gzip = [(b"content-type", media.encode()), (b"content-length", str(len(gz)).encode()),
                        (b"content-encoding", b"gzip")] + common
    return CachedTile(data, media, etag, gz, headers, headers_gzip, list(common))


class TileCacheSettings(BaseSettings):
    """``KFQMAP_TILE_CACHE_SIZE`` (tiles kept, 0 = no cache: every request renders),
    ``KFQMAP_TILE_CACHE_MB`` (memory bound) and ``KFQMAP_TILE_WARM_UP`` (prepare layers at start-up).
    Read when a server is created, never at import time."""

    model_config = SettingsConfigDict(env_prefix="KFQMAP_")

    tile_cache_size: int = 100_000
    tile_cache_mb: int = 256
    tile_warm_up: bool = True          # the server prepares every layer for tiling at start-up


class TileCache:
    """A thread-safe LRU keyed by anything hashable (e.g. ``("plan", "mvt", z, x, y)``), bounded in bytes."""

    def __init__(self, max_bytes: int = 256 * 1024 * 1024, max_items: int = 100_000):
        self.max_bytes = max_bytes
        self.max_items = max_items
        self._data: OrderedDict[Hashable, CachedTile] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._data)

    @property
    def nbytes(self) -> int:
        return self._bytes

    def get(self, key: Hashable) -> CachedTile | None:
        """The cached tile or None. O(1); the LRU order is refreshed without taking the lock when possible."""
        tile = self._data.get(key)
        if tile is None:
            self.misses += 1
            return None
        self.hits += 1
        try:
            self._data.move_to_end(key)
        except KeyError:   # evicted by another thread in between
            pass
        return tile

    @classmethod
    def from_settings(cls, settings: TileCacheSettings | None = None) -> "TileCache":
        settings = settings or TileCacheSettings()
        return cls(max_bytes=settings.tile_cache_mb * 1024 * 1024, max_items=settings.tile_cache_size)

    def put(self, key: Hashable, tile: CachedTile) -> CachedTile:
        if self.max_items <= 0:
            return tile
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= old.size
            self._data[key] = tile
            self._bytes += tile.size
            while self._data and (self._bytes > self.max_bytes or len(self._data) > self.max_items):
                _, ev = self._data.popitem(last=False)
                self._bytes -= ev.size
        return tile

    def get_or_build(self, key: Hashable, build: Callable[[], CachedTile]) -> CachedTile:
        tile = self.get(key)
        if tile is None:
            tile = self.put(key, build())
        return tile

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0


class TileService:
    """Tiles as served: engine (MVT) + renderer (PNG) behind one LRU. No HTTP here.

    ``get(tileset, fmt, z, x, y, scale)`` returns a ``CachedTile``; a second call for the same tile is a dict
    lookup. Raises the library's errors (``TileOutOfRange``, ``LayerNotFound``) for bad requests.
    """

    def __init__(self, engine, cache: TileCache | None = None, *, salt: str = ""):
        self.engine = engine
        self.cache = cache if cache is not None else TileCache.from_settings()
        self.salt = salt
        self._renderers: dict = {}
        self._asof = None                  # kfqmap.asof.AsofTiles, made on first use
        self._lock = threading.Lock()

    def renderer(self, tileset: str):
        r = self._renderers.get(tileset)
        if r is None:
            with self._lock:
                r = self._renderers.get(tileset)
                if r is None:
                    r = self._renderers[tileset] = TileRenderer(self.engine, tileset)
        return r

    def cheap(self, tileset: str, fmt: str, z: int) -> bool:
        """True when building this tile is short, bounded work (an MVT at ``INLINE_MIN_ZOOM`` or above of
        layers already prepared): a server can build it on its event loop instead of paying two thread
        hand-offs (which, on a loaded machine, cost more than the tile)."""
        if fmt != "mvt" or z < INLINE_MIN_ZOOM:
            return False
        prepared = getattr(self.engine, "prepared", None)
        try:
            return bool(prepared is not None and prepared(tileset, z))
        except Exception:
            return False

    def key(self, tileset: str, fmt: str, z: int, x: int, y: int, scale: int = 1) -> tuple:
        """The cache key of a tile: its address and the tileset's data version (so an edit is never served
        stale; tiles of older versions age out of the LRU)."""
        return (tileset, fmt, scale, z, x, y, self.engine.version(tileset))

    def cached(self, tileset: str, fmt: str, z: int, x: int, y: int, scale: int = 1) -> CachedTile | None:
        """The tile if it is in the cache at the current data version, else None (never builds)."""
        return self.cache.get(self.key(tileset, fmt, z, x, y, scale))

    def get(self, tileset: str, fmt: str, z: int, x: int, y: int, scale: int = 1) -> CachedTile:
        tile = self.cached(tileset, fmt, z, x, y, scale)
        if tile is not None:
            return tile
        return self.build(tileset, fmt, z, x, y, scale)

    def asof(self, tileset: str, z: int, x: int, y: int, when: str) -> CachedTile:
        """The MVT of one layer as it was at ``when`` (``kfqmap.asof``), in the same LRU, keyed by the instant and
        the layer's data version. A state well in the past does not change (the history is append-only), so it
        may be kept an hour without revalidation; an instant close to now is revalidated like today's tiles."""
        from datetime import datetime, timedelta, timezone

        from kfqmap.asof import AsofTiles, check_tileset
        from kfqmap.tiles import PLAN_TILESET

        check_tileset(tileset, PLAN_TILESET)
        check_tile(z, x, y)
        asof_tiles = self._asof
        if asof_tiles is None:
            with self._lock:
                asof_tiles = self._asof = self._asof or AsofTiles(self.engine.catalog)
        key = (tileset, "mvt-asof", 1, z, x, y, f"{asof_tiles.version(tileset)}@{when}")
        tile = self.cache.get(key)
        if tile is not None:
            return tile
        data = asof_tiles.tile(tileset, when, z, x, y)
        past = datetime.fromisoformat(when.replace("Z", "+00:00")) < datetime.now(timezone.utc) - timedelta(minutes=5)
        return self.cache.put(key, make_tile(data, "mvt", salt=self.salt + key[-1],
                                             cache_control=ASOF_CACHE_CONTROL if past else CACHE_CONTROL))

    def build(self, tileset: str, fmt: str, z: int, x: int, y: int, scale: int = 1) -> CachedTile:
        """Build (and cache) a tile without looking in the cache first (the caller just did)."""
        key = self.key(tileset, fmt, z, x, y, scale)
        if fmt == "mvt":
            data = self.engine.tile(tileset, z, x, y)
        else:
            check_tile(z, x, y)
            self.engine.tileset(tileset)          # LayerNotFound for an unknown tileset
            data = self.renderer(tileset).render(z, x, y, scale=scale)
        return self.cache.put(key, make_tile(data, fmt, salt=self.salt + key[-1]))
