"""``kfqmap tiles seed`` of a large PostGIS layer beside tippecanoe on the same parcels, same zooms (issue 16).
On demand, never part of the tests.

    PYTHONPATH=$PWD .venv/bin/python bench/bench_seed.py -n 1000000

Data: ``/tmp/bench/data/parcels_N.fgb`` from ``../shared/bench-anchors/make_parcels.py -n N`` (kept outside the
repository). It is loaded with ogr2ogr into a throwaway PostgreSQL + PostGIS cluster (``tests/scale/pgpair.py``;
load time printed, not counted), then, alternating per repeat:

* **kfqmap**: ``kfqmap tiles seed --tileset parcels --zooms 10-16 --out …pmtiles`` (a new process; the table is a
  pushdown layer through ``KFQMAP_EXTRA_LAYERS``: candidate tiles computed in SQL, tiles by ``ST_AsMVT``, batched,
  ``--processes`` connections at once);
* **tippecanoe** (the anchor; same binary and flags as ``run_anchors.py``): ``tippecanoe -q -f -o …pmtiles
  -l parcels -Z10 -z16 --drop-densest-as-needed parcels_N.fgb`` — FlatGeobuf input, its fastest reader. Both
  keep every parcel where a tile is small enough (z14–z16 here) and thin the dense low zooms: tippecanoe drops the
  densest features until a tile fits 500 KB / 200,000 features, kfqmap keeps a per-zoom budget
  (``TILE_BUDGET``: 4,000 features to z10, 6,000 z11, 8,000 z12, 12,000 z13) under the same 500 KB cap.

Printed per tool: wall seconds (median of ``--repeats``), tiles, archive bytes, tiles per zoom; and the ratio
kfqmap / tippecanoe (goal ≤ 1×). Both archives are opened with the ``pmtiles`` reader and a sample of tiles is
decoded with mapbox_vector_tile. The load average is printed before each build; the cluster is stopped at the end.
"""
from __future__ import annotations

import argparse
import gzip
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TIPPECANOE = os.environ.get("TIPPECANOE", "/tmp/benchvenv/bin/tippecanoe")


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 3)[:3].__str__()


def archive_stats(path: Path, sample: int = 50) -> dict:
    """Tiles per zoom and a decoded sample (feature counts) of a PMTiles archive."""
    import mapbox_vector_tile
    from pmtiles.reader import MmapSource, Reader, all_tiles

    per_zoom: dict[int, int] = {}
    picked = []
    rng = random.Random(1)
    with open(path, "rb") as f:
        reader = Reader(MmapSource(f))
        header = reader.header()
        for i, ((z, x, y), data) in enumerate(all_tiles(reader.get_bytes)):
            per_zoom[z] = per_zoom.get(z, 0) + 1
            if len(picked) < sample:
                picked.append(data)
            elif rng.random() < sample / (i + 1):
                picked[rng.randrange(sample)] = data
    feats = []
    for data in picked:
        raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
        layers = mapbox_vector_tile.decode(raw)
        feats.append(sum(len(v["features"]) for v in layers.values()))
    return {"tiles": sum(per_zoom.values()), "per_zoom": dict(sorted(per_zoom.items())), "bytes": path.stat().st_size,
            "sample_features_median": statistics.median(feats) if feats else 0,
            "compression": header["tile_compression"].name}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=1_000_000)
    ap.add_argument("--data", default="/tmp/bench/data", help="folder of make_parcels.py's files")
    ap.add_argument("--out", default="/tmp/bench/seed", help="where the archives go (outside the repository)")
    ap.add_argument("--zooms", default="10-16")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--processes", type=int, default=None, help="kfqmap seed --processes (default: its own)")
    ap.add_argument("--tippecanoe-timeout", type=float, default=None,
                    help="stop tippecanoe (by its PID) after this many seconds and report a lower bound")
    args = ap.parse_args()
    lo, hi = (int(v) for v in args.zooms.split("-"))
    src = Path(args.data) / f"parcels_{args.n}.fgb"
    if not src.exists():
        sys.exit(f"{src} missing: /tmp/benchvenv/bin/python ../shared/bench-anchors/make_parcels.py -n {args.n}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from tests.scale.pgpair import start_primary_empty

    print(f"# machine: {os.cpu_count()} cores; load average before start {loadavg()}")
    t0 = time.monotonic()
    cluster = start_primary_empty()
    try:
        load = subprocess.run(["ogr2ogr", "-f", "PostgreSQL", cluster.ogr_dsn, str(src), "-nln", "public.parcels",
                               "-lco", "GEOMETRY_NAME=geom", "-lco", "FID=fid", "-lco", "SPATIAL_INDEX=GIST",
                               "--config", "PG_USE_COPY", "YES", "-nlt", "PROMOTE_TO_MULTI"],
                              capture_output=True, text=True)
        if load.returncode != 0:
            sys.exit(f"ogr2ogr failed: {load.stderr[-2000:]}")
        cluster.psql("ANALYZE public.parcels")
        print(f"# {args.n:,} parcels loaded into PostGIS with ogr2ogr in {time.monotonic() - t0:.1f} s (not counted)")
        env = {**os.environ, "PYTHONPATH": str(ROOT), "KFQMAP_STORE": "files",
               "KFQMAP_EXTRA_LAYERS": f"parcels={cluster.dsn}#public.parcels"}
        k_out, t_out = out / f"kfqmap_{args.n}.pmtiles", out / f"tippecanoe_{args.n}.pmtiles"
        k_cmd = [sys.executable, "-m", "kfqmap.cli.main", "tiles", "seed", "--tileset", "parcels", "--zooms",
                 args.zooms, "--quiet", "--out", str(k_out)] + (
            ["--processes", str(args.processes)] if args.processes else [])
        t_cmd = [TIPPECANOE, "-q", "-f", "-o", str(t_out), "-l", "parcels", f"-Z{lo}", f"-z{hi}",
                 "--drop-densest-as-needed", str(src)]
        times: dict[str, list[float]] = {"kfqmap": [], "tippecanoe": []}
        stopped: dict[str, float] = {}
        for r in range(args.repeats):
            order = [("kfqmap", k_cmd, env), ("tippecanoe", t_cmd, dict(os.environ))]
            for name, cmd, e in (order if r % 2 == 0 else order[::-1]):
                before = loadavg()
                t = time.monotonic()
                limit = args.tippecanoe_timeout if name == "tippecanoe" else None
                try:
                    proc = subprocess.run(cmd, env=e, cwd=ROOT, capture_output=True, text=True, timeout=limit)
                except subprocess.TimeoutExpired:          # subprocess.run kills that one child
                    s = time.monotonic() - t
                    print(f"{name} run {r + 1}: NOT FINISHED after {s:.1f} s, stopped (load average before "
                          f"{before}): lower bound only", flush=True)
                    stopped[name] = s
                    continue
                s = time.monotonic() - t
                if proc.returncode != 0:
                    sys.exit(f"{name} failed ({proc.returncode}): {proc.stderr[-3000:]}")
                times[name].append(s)
                print(f"{name} run {r + 1}: {s:.1f} s (load average before {before}) {proc.stdout.strip()[-300:]}",
                      flush=True)
        print(f"kfqmap:     {' '.join(k_cmd[1:])}")
        print(f"tippecanoe: {' '.join(t_cmd)}")
        res = {}
        for name, path in (("kfqmap", k_out), ("tippecanoe", t_out)):
            if not times[name]:
                print(f"{name}: no finished run (stopped after {stopped.get(name, 0):.1f} s)")
                res[name] = None
                continue
            st = archive_stats(path)
            res[name] = statistics.median(times[name])
            print(f"{name}: median {res[name]:.1f} s over {len(times[name])} run(s) {[round(v, 1) for v in times[name]]}; "
                  f"{st['tiles']:,} tiles {st['per_zoom']}; {st['bytes'] / 1e6:.1f} MB ({st['compression']}); "
                  f"median features in 50 sampled tiles {st['sample_features_median']}")
        if res["kfqmap"] and res["tippecanoe"]:
            print(f"ratio kfqmap / tippecanoe wall time: {res['kfqmap'] / res['tippecanoe']:.2f}× (goal ≤ 1×); "
                  f"load average after {loadavg()}")
        elif res["kfqmap"] and "tippecanoe" in stopped:
            print(f"ratio kfqmap / tippecanoe wall time: < {res['kfqmap'] / stopped['tippecanoe']:.2f}× (tippecanoe "
                  f"stopped unfinished after {stopped['tippecanoe']:.0f} s; goal ≤ 1×); load average after {loadavg()}")
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
