"""Pre-render a tileset into one file — PMTiles v3 or MBTiles 1.3 — for serving from disk or a CDN.

>>> from kfqmap.tileseed import seed
>>> stats = seed(engine, "plan", [10, 11, 12], "plan.pmtiles")          # doctest: +SKIP

Only tiles that hold data are written: candidate tiles come from the features' bounds at each zoom
(vectorised), candidates are encoded in chunks of neighbouring tiles — one vectorised pass per chunk for
polygon layers (``LayerSource.encode_many``), one by one otherwise — and empty ones are skipped. Tiles are gzip-compressed (as both
formats expect for MVT) and written in tile-id order (PMTiles "clustered"). With ``processes > 1`` the work
is shared by forked worker processes that inherit the prepared layers (copy-on-write); the parent writes.

A tileset of large PostGIS tables (pushdown layers, which are never read whole) takes another path: candidate
tiles from the database (``pushdown_candidates``) and tiles built by ``ST_AsMVT`` in batches of ``PUSHDOWN_BATCH``
per statement, ``processes`` connections at once (threads: the work runs in PostgreSQL).
"""
from __future__ import annotations

import multiprocessing as mp
import os
import sqlite3
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .errors import InvalidParameter
from .export import atomic_path
from .tiles import TileEngine, tiles_for_bounds

_ENGINE: TileEngine | None = None
_TILESET: str | None = None


@dataclass
class SeedStats:
    path: str
    tiles: int
    bytes: int
    seconds: float
    per_zoom: dict[int, int]
    max_tile_bytes: int


def candidate_tiles(engine: TileEngine, tileset: str, zooms: Iterable[int]) -> list[tuple[int, int, int]]:
    """Tiles (z, x, y) touched by some feature's bounds at the given zooms, sorted by PMTiles tile id."""
    from pmtiles.tile import zxy_to_tileid

    ts = engine.tileset(tileset)
    bounds = np.vstack([s.bounds for s in ts.sources if s.n]) if any(s.n for s in ts.sources) else np.zeros((0, 4))
    out = []
    for z in zooms:
        for x, y in tiles_for_bounds(bounds, z):
            out.append((z, int(x), int(y)))
    out.sort(key=lambda t: zxy_to_tileid(*t))
    return out


def _gzip(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, 31)
    return c.compress(data) + c.flush()


def _work(chunk: list[tuple[int, int, int]]) -> list[tuple[int, int, int, bytes, int]]:
    """Encode a chunk (tiles of one zoom, neighbours in tile-id order) in one pass where possible."""
    out = []
    ts = _ENGINE.tileset(_TILESET)
    by_zoom: dict[int, list[tuple[int, int]]] = {}
    for z, x, y in chunk:
        by_zoom.setdefault(z, []).append((x, y))
    for z, xy in by_zoom.items():
        done = ts.tiles_many(z, xy)
        for x, y in xy:
            data = done.get((x, y))
            if data:
                out.append((z, x, y, _gzip(data), len(data)))
    return out


def _init(engine: TileEngine, tileset: str) -> None:
    global _ENGINE, _TILESET
    _ENGINE, _TILESET = engine, tileset


class _PMTilesSink:
    def __init__(self, path: Path):
        from pmtiles.writer import Writer

        self.f = open(path, "wb")
        self.w = Writer(self.f)

    def add(self, z, x, y, data):
        from pmtiles.tile import zxy_to_tileid

        self.w.write_tile(zxy_to_tileid(z, x, y), data)

    def close(self, meta: dict):
        from pmtiles.tile import Compression, TileType

        w, s, e, n = meta["bounds"]
        header = {
            "tile_type": TileType.MVT, "tile_compression": Compression.GZIP,
            "min_zoom": meta["minzoom"], "max_zoom": meta["maxzoom"],
            "min_lon_e7": int(w * 1e7), "min_lat_e7": int(s * 1e7), "max_lon_e7": int(e * 1e7),
            "max_lat_e7": int(n * 1e7), "center_zoom": meta["center"][2],
            "center_lon_e7": int(meta["center"][0] * 1e7), "center_lat_e7": int(meta["center"][1] * 1e7),
        }
        self.w.finalize(header, {"name": meta["name"], "format": "pbf", "vector_layers": meta["vector_layers"],
                                 "description": meta.get("description", "")})
        self.f.close()


    def abort(self):
        self.f.close()


class _MBTilesSink:
    def __init__(self, path: Path):
        if path.exists():
            path.unlink()
        self.db = sqlite3.connect(path)
        self.db.executescript("""
            CREATE TABLE metadata (name TEXT, value TEXT);
            CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB);
        """)
        self.rows: list[tuple] = []

    def abort(self):
        self.db.close()

    def add(self, z, x, y, data):
        self.rows.append((z, x, (1 << z) - 1 - y, sqlite3.Binary(data)))   # MBTiles rows are TMS (y up)
        if len(self.rows) >= 2000:
            self._flush()

    def _flush(self):
        self.db.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)", self.rows)
        self.rows = []

    def close(self, meta: dict):
        import json

        self._flush()
        self.db.execute("CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row)")
        w, s, e, n = meta["bounds"]
        items = {
            "name": meta["name"], "format": "pbf", "type": "overlay", "version": "1.0.0",
            "description": meta.get("description", ""),
            "bounds": f"{w},{s},{e},{n}", "center": ",".join(str(v) for v in meta["center"]),
            "minzoom": str(meta["minzoom"]), "maxzoom": str(meta["maxzoom"]),
            "json": json.dumps({"vector_layers": meta["vector_layers"]}, ensure_ascii=False),
        }
        self.db.executemany("INSERT INTO metadata VALUES (?, ?)", list(items.items()))
        self.db.commit()
        self.db.close()


def seed(engine: TileEngine, tileset: str, zooms: list[int], out: str | Path, *, processes: int | None = None,
         progress: Callable[[int], None] | None = None, on_total: Callable[[int], None] | None = None) -> SeedStats:
    """Write every non-empty tile of ``tileset`` at ``zooms`` into ``out`` (.pmtiles or .mbtiles)."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".pmtiles", ".mbtiles"):
        raise InvalidParameter(f"输出文件 {out} 的扩展名应为 .pmtiles 或 .mbtiles", parameter="out")
    t0 = time.perf_counter()
    with atomic_path(out) as tmp:        # missing directory → InvalidParameter; a failure leaves nothing behind
        count, total_bytes, per_zoom, max_tile = _seed_into(engine, tileset, zooms, tmp, suffix, processes,
                                                            progress, on_total)
    return SeedStats(str(out), count, total_bytes, time.perf_counter() - t0, per_zoom, max_tile)


def _is_pushdown(ts) -> bool:
    """True for a tileset whose layers are all large PostGIS tables tiled by the database (``seed_candidates``)."""
    return bool(ts.sources) and all(hasattr(s, "seed_candidates") for s in ts.sources)


def pushdown_candidates(ts, zooms: Iterable[int]) -> list[tuple[int, int, int]]:
    """Candidate tiles of a pushdown tileset, sorted by PMTiles tile id: the tiles the features' boxes touch at the
    highest zoom, computed in the database (``seed_candidates``), and at each lower zoom their parents plus one ring
    of neighbours (a feature near a tile's edge also reaches the next tile's clip buffer): a superset of the
    non-empty tiles, found without reading the table into Python."""
    from pmtiles.tile import zxy_to_tileid

    zs = sorted(set(zooms))
    top: set[tuple[int, int]] = set()
    for s in ts.sources:
        top.update(s.seed_candidates(zs[-1]))
    out = [(zs[-1], x, y) for x, y in top]
    for z in zs[:-1]:
        shift, n = zs[-1] - z, 1 << z
        parents = {(x >> shift, y >> shift) for x, y in top}
        ring = {(px + dx, py + dy) for px, py in parents for dx in (-1, 0, 1) for dy in (-1, 0, 1)
                if 0 <= px + dx < n and 0 <= py + dy < n}
        out += [(z, x, y) for x, y in ring]
    out.sort(key=lambda t: zxy_to_tileid(*t))
    return out


def _work_pushdown(ts, z: int, xy: list[tuple[int, int]]) -> list[tuple[int, int, int, bytes, int]]:
    """One batch of one zoom: each layer's tiles in one SQL statement (``encode_batch``), joined and gzipped."""
    from .tiles.mvt import tile_message

    parts = [s.encode_batch(z, xy) for s in ts.sources]
    out = []
    for x, y in xy:
        layers = [p[(x, y)][0] for p in parts if (x, y) in p]
        if layers:
            data = tile_message(layers)
            if len(data) > ts.max_bytes:
                data = ts.tile(z, x, y)
            if data:
                out.append((z, x, y, _gzip(data), len(data)))
    return out


#: tiles per SQL statement when seeding a pushdown layer (round trips amortised; a batch stays a few MB)
PUSHDOWN_BATCH = 32


@dataclass
class _Written:
    """What went into the archive: tiles per zoom, their (gzip) bytes, the largest tile before compression."""
    sink: object
    per_zoom: dict[int, int]
    count: int = 0
    bytes: int = 0
    max_tile: int = 0

    def add(self, results: Iterable[tuple[int, int, int, bytes, int]]) -> None:
        for z, x, y, data, raw_len in results:
            self.sink.add(z, x, y, data)
            self.per_zoom[z] += 1
            self.bytes += len(data)
            self.max_tile = max(self.max_tile, raw_len)
            self.count += 1


def _seed_into(engine, tileset, zooms, out: Path, suffix, processes, progress, on_total):
    ts = engine.tileset(tileset)             # prepares every layer in this process (before any fork)
    pushdown = _is_pushdown(ts)
    tiles = pushdown_candidates(ts, zooms) if pushdown else candidate_tiles(engine, tileset, zooms)
    if on_total:
        on_total(len(tiles))
    sink = _PMTilesSink(out) if suffix == ".pmtiles" else _MBTilesSink(out)
    written = _Written(sink, {z: 0 for z in zooms})
    try:
        if pushdown:
            _seed_pushdown(ts, tiles, written, processes, progress)
        else:
            _seed_prepared(engine, tileset, tiles, written, processes, progress)
    except BaseException:
        sink.abort()
        raise
    _close_sink(sink, ts, tileset, zooms)
    return written.count, written.bytes, written.per_zoom, written.max_tile


def _seed_prepared(engine, tileset, tiles, written: _Written, processes, progress) -> None:
    """Chunks of neighbouring tiles encoded by this process's prepared layers, or by forked workers that inherit
    them (copy-on-write); the parent writes."""
    processes = processes if processes is not None else min(2, os.cpu_count() or 1)
    chunk = 128
    chunks = [tiles[i:i + chunk] for i in range(0, len(tiles), chunk)]
    if processes > 1 and len(chunks) > 1 and "fork" in mp.get_all_start_methods():
        ctx = mp.get_context("fork")
        with ctx.Pool(processes, initializer=_init, initargs=(engine, tileset)) as pool:
            for results, c in zip(pool.imap(_work, chunks), chunks):
                written.add(results)
                if progress:
                    progress(len(c))
    else:
        _init(engine, tileset)
        for c in chunks:
            written.add(_work(c))
            if progress:
                progress(len(c))


def _seed_pushdown(ts, tiles, written: _Written, processes, progress) -> None:
    """Batches of neighbouring tiles (one zoom each) encoded by the database over ``processes`` connections at
    once (threads: the work is PostgreSQL's ``ST_AsMVT``, Python only waits and gzips); written in tile-id order."""
    from concurrent.futures import ThreadPoolExecutor

    threads = max(1, processes if processes is not None else (os.cpu_count() or 1))
    batches: list[tuple[int, list[tuple[int, int]]]] = []
    for z, x, y in tiles:
        if not batches or batches[-1][0] != z or len(batches[-1][1]) >= PUSHDOWN_BATCH:
            batches.append((z, []))
        batches[-1][1].append((x, y))
    with ThreadPoolExecutor(threads, thread_name_prefix="kfqmap-seed") as pool:
        for (z, xy), results in zip(batches, pool.map(lambda b: _work_pushdown(ts, *b), batches)):
            written.add(results)
            if progress:
                progress(len(xy))


def _close_sink(sink, ts, tileset, zooms) -> None:
    tj = ts.tilejson("")
    zs = sorted(zooms)
    meta = {"name": tileset, "bounds": tj["bounds"], "minzoom": zs[0], "maxzoom": zs[-1],
            "center": [tj["center"][0], tj["center"][1], max(zs[0], min(zs[-1], 12))],
            "vector_layers": [dict(v, minzoom=zs[0], maxzoom=zs[-1]) for v in tj["vector_layers"]],
            "description": "KFQMap 昆山开发区“十四五”规划空间格局 矢量瓦片"}
    sink.close(meta)
