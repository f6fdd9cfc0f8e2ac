#!/usr/bin/env python3
"""Single items, KFQMap beside pygeoapi (or tipg), with wrk (a C client) instead of measure.py's httpx client.

measure.py's one-process httpx client tops out near 1,100 requests/s on this machine, below what KFQMap's single
items answer: at c=8 the ratio it reports is the client's ceiling over pygeoapi, not KFQMap's. wrk costs a few
microseconds a request, so the servers are what is measured. Same random ids (1..N, seeded) for both.

    cd ../shared/bench-anchors && /tmp/benchvenv/bin/python run_anchors.py --serve-only 600 --sizes 200000 &
    KFQMAP_EXTRA_LAYERS=parcels_200000=/tmp/bench/data/parcels_200000.fgb .venv/bin/kfqmap serve --port 8602 &
    .venv/bin/python bench/bench_items_wrk.py --kfqmap http://127.0.0.1:8602 --pygeoapi http://127.0.0.1:5000

PostGIS provider beside tipg (both on the anchors' table; ``--baseline-name tipg``, tipg's URL template):

    .venv/bin/python bench/bench_items_wrk.py --baseline-name tipg \
        --pygeoapi 'http://127.0.0.1:8081/collections/public.parcels_{n}/items/{id}' \
        --kfqmap 'http://127.0.0.1:8095/collections/parcels_{n}/items/{id}' -n 1000000

Prints req/s per target and concurrency (median of --repeats runs of --seconds each) and the ratio; asserts nothing.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

LUA = """math.randomseed({seed})
request = function()
  return wrk.format("GET", "{path}" .. math.random(1, {n}) .. "{suffix}")
end
"""


def split_template(template: str, n: int) -> tuple[str, str, str]:
    """``http://host:port/…/items/{id}?f=json`` → (base URL, path before the id, what follows it)."""
    from urllib.parse import urlsplit

    if "{id}" not in template:                       # a bare base URL: the parcels layer's item route
        template = template.rstrip("/") + "/collections/parcels_{n}/items/{id}"
    parts = urlsplit(template.replace("{n}", str(n)))
    path = parts.path + ("?" + parts.query if parts.query else "")
    before, _, after = path.partition("{id}")
    return f"{parts.scheme}://{parts.netloc}", before, after


def wrk(url: str, script: Path, concurrency: int, seconds: float) -> float:
    out = subprocess.run(["wrk", "-t1", f"-c{concurrency}", f"-d{seconds:g}s", "-s", str(script), url],
                         capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise SystemExit(f"{url}: {errors.group(1)} non-2xx answers\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kfqmap", default="http://127.0.0.1:8602", help="base URL or item URL template ({n}, {id})")
    ap.add_argument("--pygeoapi", default="http://127.0.0.1:5000/collections/parcels_{n}/items/{id}?f=json",
                    help="the baseline: base URL or item URL template ({n}, {id})")
    ap.add_argument("--baseline-name", default="pygeoapi")
    ap.add_argument("-n", type=int, default=200_000)
    ap.add_argument("--concurrency", default="1,8")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    targets = {args.baseline_name: split_template(args.pygeoapi, args.n), "KFQMap": split_template(args.kfqmap, args.n)}
    with tempfile.TemporaryDirectory() as tmp:
        scripts = {}
        for name, (_, before, after) in targets.items():
            scripts[name] = Path(tmp) / f"{name}.lua"
            scripts[name].write_text(LUA.format(seed=1, path=before, n=args.n, suffix=after))
        print(f"single items 1..{args.n}, wrk -t1, {args.seconds:g} s × {args.repeats}, "
              f"load average {os.getloadavg()[0]:.2f} at start")
        base, ours = args.baseline_name, "KFQMap"
        for c in (int(v) for v in args.concurrency.split(",")):
            rps = {name: [] for name in targets}
            for _ in range(args.repeats):        # alternate, so a drift of the machine hits both alike
                for name in targets:
                    rps[name].append(wrk(targets[name][0], scripts[name], c, args.seconds))
            a, b = statistics.median(rps[base]), statistics.median(rps[ours])
            print(f"c={c}: {base} {a:8.1f} req/s, KFQMap {b:8.1f} req/s, ratio {b / a:.2f}× "
                  f"(runs: {[round(v) for v in rps[base]]} / {[round(v) for v in rps[ours]]})")
        print(f"load average {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
