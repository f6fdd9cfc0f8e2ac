"""Library-level tile benchmark on the synthetic parcels: cold/warm ms per zoom, tile sizes, seed time.

    .venv/bin/python bench/bench_tiles.py                     # N=200000, zooms 10,12,14,16, 50 tiles per zoom
    .venv/bin/python bench/bench_tiles.py -n 2000 --seed-zooms 10-16

No HTTP: this is the cost of ``kfqmap.tiles`` itself, to put beside PostGIS ``ST_AsMVT`` in-database times
(ANCHORS.md: p50 ≈ 2 ms z14, ≈ 20 ms z12, ≈ 200 ms z10 for N=200000). The tile list is the one
``measure.py`` uses (tiles covering the dataset bbox, at most ``--per-zoom`` per zoom, seeded sample).
cold = ``Tileset.tile`` with no cache; warm = ``TileService.get`` after a first call (a dict lookup).
``--scan`` encodes every tile of z10–13 to report the largest tile; ``--seed-zooms`` times ``tiles seed``.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pyogrio  # noqa: E402

from server.tilecache import TileCache, TileService  # noqa: E402
from kfqmap.tiles import LayerSource, Tileset, parse_zooms, tiles_for_bounds  # noqa: E402


def tiles_for_bbox(bbox, zooms, per_zoom, seed=1):
    """The same list as shared/bench-anchors/measure.py."""
    def lonlat_to_tile(lon, lat, z):
        n = 2 ** z
        x = int((lon + 180.0) / 360.0 * n)
        y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
        return min(max(x, 0), n - 1), min(max(y, 0), n - 1)

    rng = random.Random(seed)
    out = []
    for z in zooms:
        x0, y0 = lonlat_to_tile(bbox[0], bbox[3], z)
        x1, y1 = lonlat_to_tile(bbox[2], bbox[1], z)
        allt = [(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
        if per_zoom and len(allt) > per_zoom:
            allt = rng.sample(allt, per_zoom)
        out.extend(sorted(allt))
    return out


class _Engine:
    """A minimal engine (one tileset) so TileService and tileseed can run without a catalog."""

    def __init__(self, ts: Tileset):
        self.ts = ts

    def tileset(self, name):
        return self.ts

    def tile(self, name, z, x, y):
        return self.ts.tile(z, x, y)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=200000)
    ap.add_argument("--data", default="/tmp/bench/data")
    ap.add_argument("--zooms", default="10,12,14,16")
    ap.add_argument("--per-zoom", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3, help="cold passes over the list (median of per-pass p50)")
    ap.add_argument("--scan", action="store_true", help="encode every tile at z10-13 and report the largest")
    ap.add_argument("--seed-zooms", default="", help="e.g. 10-16: time kfqmap.tileseed.seed to a PMTiles file")
    ap.add_argument("--processes", type=int, default=None)
    ap.add_argument("--tippecanoe", default="", help="path to tippecanoe: build the anchor's tiles in the same run")
    ap.add_argument("--json", default="", help="append the result as one JSON line to this file")
    a = ap.parse_args()

    base = Path(a.data)
    meta = json.loads((base / f"parcels_{a.n}.meta.json").read_text())
    t0 = time.perf_counter()
    frame = pyogrio.read_dataframe(base / f"parcels_{a.n}.gpkg")
    t_read = time.perf_counter() - t0
    t0 = time.perf_counter()
    src = LayerSource(f"parcels_{a.n}", frame)
    t_prep = time.perf_counter() - t0
    ts = Tileset(src.name, [src])
    zooms = parse_zooms(a.zooms)
    tiles = tiles_for_bbox(meta["bbox"], zooms, a.per_zoom)
    result = {"n": a.n, "read_s": round(t_read, 3), "prepare_s": round(t_prep, 3), "zooms": {}}
    print(f"N={a.n}: read {t_read:.2f} s, prepare (3857 + STRtree + values + minzoom) {t_prep:.2f} s")

    for z in zooms:
        zt = [t for t in tiles if t[0] == z]
        p50s, cpu50s, sizes, feats = [], [], [], []
        for _ in range(a.repeats):
            ms, cpu = [], []
            for _, x, y in zt:
                t, c = time.perf_counter(), time.process_time()
                data = ts.tile(z, x, y)
                cpu.append((time.process_time() - c) * 1000)
                ms.append((time.perf_counter() - t) * 1000)
                sizes.append(len(data))
            p50s.append(statistics.median(ms))
            cpu50s.append(statistics.median(cpu))
        for _, x, y in zt:
            feats.append(src.encode(z, x, y)[1])
        service = TileService(_Engine(ts), TileCache())
        for _, x, y in zt:
            service.get(src.name, "mvt", z, x, y)
        wms = []
        for _ in range(5):
            for _, x, y in zt:
                t = time.perf_counter()
                service.get(src.name, "mvt", z, x, y)
                wms.append((time.perf_counter() - t) * 1e6)
        row = {"tiles": len(zt), "cold_p50_ms": round(statistics.median(p50s), 3),
               "cold_cpu_p50_ms": round(statistics.median(cpu50s), 3),
               "cold_pass_p50s": [round(v, 3) for v in p50s], "warm_p50_us": round(statistics.median(wms), 2),
               "bytes_median": int(statistics.median(sizes)), "bytes_max": max(sizes),
               "features_median": int(statistics.median(feats)), "features_max": max(feats)}
        result["zooms"][z] = row
        print(f"z{z:<2} {len(zt):3d} tiles  cold p50 {row['cold_p50_ms']:8.2f} ms (CPU {row['cold_cpu_p50_ms']:.2f})  warm p50 {row['warm_p50_us']:6.2f} µs  "
              f"bytes median {row['bytes_median']:7d} max {row['bytes_max']:7d}  features median {row['features_median']}")

    if a.scan:
        biggest = (0, None)
        for z in range(10, 14):
            for x, y in tiles_for_bounds(src.bounds, z):
                size = len(ts.tile(z, int(x), int(y)))
                biggest = max(biggest, (size, (z, int(x), int(y))))
        result["scan_max_bytes"] = {"bytes": biggest[0], "tile": biggest[1]}
        print(f"largest tile z10-13: {biggest[0]} bytes at {biggest[1]}")

    if a.seed_zooms:
        import resource
        import subprocess
        from kfqmap.tileseed import seed
        out = Path(f"/tmp/bench/kfqmap_parcels_{a.n}.pmtiles")
        out.parent.mkdir(parents=True, exist_ok=True)
        if a.tippecanoe:
            # the anchor's build, in this run, so the ratio is measured under the same load
            t = time.perf_counter()
            subprocess.run([a.tippecanoe, "-q", "-f", "-o", str(out.with_suffix(".tippecanoe.pmtiles")), "-l",
                            "parcels", "-Z10", "-z16", "--drop-densest-as-needed",
                            str(base / f"parcels_{a.n}.geojson")], check=True)
            result["tippecanoe_s"] = round(time.perf_counter() - t, 2)
            print(f"tippecanoe z10-16 (same run): {result['tippecanoe_s']:.1f} s")
        r0 = resource.getrusage(resource.RUSAGE_SELF).ru_utime + resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
        stats = seed(_Engine(ts), src.name, parse_zooms(a.seed_zooms), out, processes=a.processes)
        r1 = resource.getrusage(resource.RUSAGE_SELF).ru_utime + resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
        result["seed_cpu_s"] = round(r1 - r0, 2)
        result["seed"] = {"zooms": a.seed_zooms, "seconds": round(stats.seconds, 2), "tiles": stats.tiles,
                          "bytes": stats.bytes, "max_tile_bytes": stats.max_tile_bytes, "per_zoom": stats.per_zoom}
        print(f"seed z{a.seed_zooms}: {stats.seconds:.1f} s wall (CPU {result['seed_cpu_s']:.1f} s; excluding read "
              f"{t_read:.1f} s + prepare {t_prep:.1f} s), {stats.tiles} tiles, "
              f"{stats.bytes / 1e6:.1f} MB gzip, largest tile {stats.max_tile_bytes} B")
    if a.json:
        with open(a.json, "a") as f:
            f.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
