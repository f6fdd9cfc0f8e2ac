#!/usr/bin/env python3
"""Profile a running-under-load KFQMap server with py-spy: where does a request's time go over HTTP?

    .venv/bin/python bench/profile_server.py --workload tiles --zooms 14,16 --cold     # tile renders
    .venv/bin/python bench/profile_server.py --workload item                          # single items
    .venv/bin/python bench/profile_server.py --workload bbox

Starts ``kfqmap serve`` on --port with the anchors' parcels as an extra layer (``--cold``: with
KFQMAP_TILE_CACHE_SIZE=0), touches the layer, then runs one sequential keep-alive client (bounded by
--seconds and --max-requests) while ``py-spy record`` samples the server (--seconds + 5 s at most). Prints
the client's p50 and the hottest functions (self and inclusive share of samples, from py-spy's collapsed
stacks); writes the raw stacks to --out. Stops both processes by their ids, also on error. Needs py-spy in
the project venv (a dev tool: ``.venv/bin/pip install py-spy``, not a dependency).
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ANCHORS = Path(os.environ.get("BENCH_ANCHORS", REPO.parent / "shared" / "bench-anchors"))
sys.path.insert(0, str(ANCHORS))
from measure import bboxes_for, tiles_for_bbox  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workload", choices=["tiles", "item", "bbox"], default="tiles")
    ap.add_argument("-n", type=int, default=200000)
    ap.add_argument("--zooms", default="14,16")
    ap.add_argument("--cold", action="store_true", help="tile cache off (every tile request renders)")
    ap.add_argument("--port", type=int, default=8030)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--max-requests", type=int, default=20000)
    ap.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--out", default="/tmp/bench/pyspy")
    a = ap.parse_args()
    import httpx

    data = Path("/tmp/bench/data")
    meta = json.load(open(data / f"parcels_{a.n}.meta.json"))
    env = dict(os.environ, KFQMAP_EXTRA_LAYERS=f"parcels_{a.n}={data}/parcels_{a.n}.gpkg", PYTHONPATH=str(REPO))
    if a.cold:
        env["KFQMAP_TILE_CACHE_SIZE"] = "0"
    base = f"http://127.0.0.1:{a.port}"
    layer = f"parcels_{a.n}"
    if a.workload == "tiles":
        tl = tiles_for_bbox(meta["bbox"], [int(z) for z in a.zooms.split(",")], 50, 1)
        urls = [f"{base}/tiles/{layer}/{z}/{x}/{y}.mvt" for z, x, y in tl]
    elif a.workload == "item":
        rng = random.Random(1)
        urls = [f"{base}/collections/{layer}/items/{rng.randint(1, a.n)}" for _ in range(500)]
    else:
        urls = [f"{base}/collections/{layer}/items?bbox=%s,%s,%s,%s&limit=1000" % bb for bb in bboxes_for(meta, 500, 1000, 1)]
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    raw = Path(f"{a.out}-{a.workload}{'-cold' if a.cold else ''}.txt")
    server = spy = None
    try:
        server = subprocess.Popen([str(REPO / ".venv/bin/kfqmap"), "serve", "--port", str(a.port), "--log-level", "warning"],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
        t_end = time.time() + 180
        with httpx.Client(timeout=120, trust_env=False) as c:
            while time.time() < t_end:
                try:
                    if c.get(f"{base}/collections/{layer}").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.5)
            else:
                raise SystemExit("server not ready")
            c.get(f"{base}/collections/{layer}/items?limit=1")               # layer read
            if a.workload != "tiles":                                          # every feature's GeoJSON once
                for off in range(0, a.n, 10000):
                    c.get(f"{base}/collections/{layer}/items?limit=10000&offset={off}")
            for z in sorted({int(u.split("/")[-3]) for u in urls}) if a.workload == "tiles" else ():
                c.get(next(u for u in urls if f"/{z}/" in u))                  # per-zoom preparation
            if a.workload == "tiles":
                c.get(f"{base}/tiles/{layer}/15/27395/13379.mvt")
            spy = subprocess.Popen([str(REPO / ".venv/bin/py-spy"), "record", "--pid", str(server.pid), "--rate", str(a.rate),
                                    "--duration", str(int(a.seconds) + 2), "--format", "raw", "--output", str(raw), "--nonblocking"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
            time.sleep(1.0)
            lat = []
            t_stop = time.perf_counter() + a.seconds
            i = 0
            while time.perf_counter() < t_stop and i < a.max_requests:
                t0 = time.perf_counter()
                c.get(urls[i % len(urls)])
                lat.append(time.perf_counter() - t0)
                i += 1
        spy.wait(timeout=a.seconds + 30)
        print(f"client: {len(lat)} requests, p50 {statistics.median(lat) * 1e3:.2f} ms, "
              f"{len(lat) / a.seconds:.1f} req/s (sequential, keep-alive)")
        report(raw, a.top)
    finally:
        for p in (spy, server):
            if p is not None and p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)


def report(raw: Path, top: int):
    """Self and inclusive sample shares per function from py-spy's collapsed stacks (idle threads left out)."""
    selfc, incl = collections.Counter(), collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack:
            continue
        frames = stack.split(";")
        leaf = frames[-1]
        if any(k in leaf for k in ("select (selectors", "_worker (concurrent", "wait (threading", "run_forever",
                                   "_run_once (asyncio", "poll (", "epoll", "uv_run", "(uvloop")):
            continue                                                          # idle threads / event loop waiting
        n = int(n)
        total += n
        selfc[leaf] += n
        for f in set(frames):
            incl[f] += n
    print(f"busy samples: {total}")
    print("--- inclusive (share of busy samples)")
    for f, n in incl.most_common(top):
        print(f"{n / total:6.1%}  {f}")
    print("--- self")
    for f, n in selfc.most_common(top):
        print(f"{n / total:6.1%}  {f}")
    print("raw stacks:", raw)


if __name__ == "__main__":
    main()
