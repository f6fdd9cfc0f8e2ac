#!/usr/bin/env python3
"""KFQMap's tile and items code timed in-process (no HTTP), on the anchors' parcels — the figure that
compares like with like against PostGIS's in-database ST_AsMVT, and a place to profile from.

    .venv/bin/python bench/profile_inproc.py -n 200000                 # times per zoom, prepare cost
    .venv/bin/python bench/profile_inproc.py -n 200000 --profile z12   # + pyinstrument of the z12 tiles
    .venv/bin/python bench/profile_inproc.py -n 200000 --profile bbox  # + pyinstrument of bbox pages
    .venv/bin/python bench/profile_inproc.py -n 200000 --tiles-only --json X.jsonl   # what run_http.py runs

Same tile list as measure.py (and pg_bench.py with --per-zoom 50, as run_http.py calls it): zooms
10,12,14,16, ≤--per-zoom per zoom, seed 1; same bbox list as measure.py (~1000 parcels per box).
Before timing, the first listed tile of each zoom is rendered once (per-zoom preparation: tile index,
simplified or pre-encoded geometry), as run_http.py primes its cold server; its time is reported as
``prime_ms``, outside the per-zoom figures (--no-prime: inside them). Each tile is then rendered --repeats
times (the engine keeps no tile cache). Bounded: --max-s per section. Writes nothing but --json (appends one
object) and, with --profile, an HTML report next to it.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ANCHORS = Path(os.environ.get("BENCH_ANCHORS", REPO.parent / "shared" / "bench-anchors"))
sys.path.insert(0, str(ANCHORS))
sys.path.insert(0, str(REPO))
from measure import bboxes_for, tiles_for_bbox  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=200000)
    ap.add_argument("--data-dir", default="/tmp/bench/data")
    ap.add_argument("--per-zoom", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-s", type=float, default=120, help="cap per section")
    ap.add_argument("--profile", choices=["z10", "z12", "z14", "z16", "prepare", "bbox", "item"])
    ap.add_argument("--json")
    ap.add_argument("--tiles-only", action="store_true", help="skip the bbox and item sections")
    ap.add_argument("--no-prime", action="store_true", help="time each zoom's first tile inside its figures")
    a = ap.parse_args()
    os.environ["KFQMAP_EXTRA_LAYERS"] = f"parcels_{a.n}={a.data_dir}/parcels_{a.n}.gpkg"
    geodata = REPO / "geodata" / "catalog.json"
    if not geodata.exists():
        os.environ.setdefault("KFQMAP_GEODATA_DIR", str(REPO / "tests" / "fixtures" / "mini_geodata"))
    from kfqmap.catalog import load_catalog
    layer = f"parcels_{a.n}"
    meta = json.load(open(f"{a.data_dir}/parcels_{a.n}.meta.json"))
    out = {"n": a.n, "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    prof = None
    if a.profile:
        from pyinstrument import Profiler
        prof = Profiler(interval=0.0005)

    cat = load_catalog()
    t0 = time.perf_counter()
    frame = cat.read(layer)
    out["read_s"] = round(time.perf_counter() - t0, 3)

    from kfqmap import tiles as T
    engine = T.TileEngine(cat)
    if a.profile == "prepare":
        prof.start()
    t0 = time.perf_counter()
    engine.source(layer)
    out["tiles_prepare_s"] = round(time.perf_counter() - t0, 3)
    if a.profile == "prepare":
        prof.stop()
    print(f"read {out['read_s']} s, tile prepare (LayerSource) {out['tiles_prepare_s']} s, {len(frame)} features", flush=True)

    tl = tiles_for_bbox(meta["bbox"], [10, 12, 14, 16], a.per_zoom, 1)
    out["tile_list"] = {"per_zoom": a.per_zoom, "seed": 1, "tiles": len(tl), "repeats": a.repeats}
    if not a.no_prime:
        out["prime_ms"] = {}
        for pz in (10, 12, 14, 16):
            z, x, y = next(t for t in tl if t[0] == pz)
            t1 = time.perf_counter()
            engine.tile(layer, z, x, y)
            out["prime_ms"][pz] = round((time.perf_counter() - t1) * 1e3, 1)
        print(f"prime (first tile of each zoom, per-zoom preparation) ms: {out['prime_ms']}", flush=True)
    per_z = {}
    t_start = time.perf_counter()
    for rep in range(a.repeats):
        for z, x, y in tl:
            if time.perf_counter() - t_start > a.max_s:
                break
            on = prof is not None and a.profile == f"z{z}"
            if on:
                prof.start()
            t1 = time.perf_counter()
            data = engine.tile(layer, z, x, y)
            dt = time.perf_counter() - t1
            if on:
                prof.stop()
            d = per_z.setdefault(z, {"t": [], "bytes": []})
            d["t"].append(dt)
            d["bytes"].append(len(data))
    out["tiles"] = {}
    for z, d in sorted(per_z.items()):
        ts = sorted(d["t"])
        out["tiles"][z] = {"samples": len(ts), "p50_ms": round(statistics.median(ts) * 1e3, 2),
                           "max_ms": round(ts[-1] * 1e3, 2), "max_bytes": max(d["bytes"]),
                           "mean_bytes": int(statistics.mean(d["bytes"]))}
        print(f"tile z{z}: {json.dumps(out['tiles'][z])}", flush=True)
    if a.tiles_only:
        if a.json:
            with open(a.json, "a") as f:
                f.write(json.dumps(out) + "\n")
        if prof is not None:
            print(prof.output_text(unicode=True, color=False, show_all=False)[:12000])
        return

    from kfqmap import features as F
    t0 = time.perf_counter()
    idx = cat.collection(layer).state().items
    _ = idx.tree
    out["items_index_s"] = round(time.perf_counter() - t0, 3)
    bbs = bboxes_for(meta, 500, 1000, 1)
    for label, passes in (("bbox_first_pass", 1), ("bbox_steady", a.repeats)):
        ts, nret = [], []
        t_start = time.perf_counter()
        for _ in range(passes):
            for bb in bbs[:100]:
                if time.perf_counter() - t_start > a.max_s:
                    break
                on = prof is not None and a.profile == "bbox" and label == "bbox_steady"
                if on:
                    prof.start()
                t1 = time.perf_counter()
                q = F.ItemsQuery(bbox=F.parse_bbox("%s,%s,%s,%s" % bb), limit=1000)
                page = idx.items(q)
                body = page.feature_collection({"links": []})
                ts.append(time.perf_counter() - t1)
                if on:
                    prof.stop()
                nret.append(page.number_returned)
        ts.sort()
        out[label] = {"queries": len(ts), "p50_ms": round(statistics.median(ts) * 1e3, 2),
                      "max_ms": round(ts[-1] * 1e3, 2), "median_returned": statistics.median(nret), "bytes_last": len(body)}
        print(f"{label}: {json.dumps(out[label])}", flush=True)
    ts = []
    import random
    rng = random.Random(1)
    for _ in range(500):
        fid = str(rng.randint(1, a.n))
        on = prof is not None and a.profile == "item"
        if on:
            prof.start()
        t1 = time.perf_counter()
        idx.feature(fid)
        ts.append(time.perf_counter() - t1)
        if on:
            prof.stop()
    ts.sort()
    out["item"] = {"queries": len(ts), "p50_ms": round(statistics.median(ts) * 1e3, 3), "max_ms": round(ts[-1] * 1e3, 2)}
    print(f"item: {json.dumps(out['item'])}", flush=True)
    if a.json:
        with open(a.json, "a") as f:
            f.write(json.dumps(out) + "\n")
    if prof is not None:
        print(prof.output_text(unicode=True, color=False, show_all=False)[:12000])
        html = Path(a.json or f"/tmp/bench/profile-{a.n}").with_suffix(f".{a.profile}.html")
        html.write_text(prof.output_html())
        print("profile:", html)


if __name__ == "__main__":
    main()
