"""Memory of the server around a burst of mixed exports: RSS before, peak during, and after.

    .venv/bin/python bench/bench_exports.py                   # 20,000 features, 12 exports a burst, 3 bursts
    .venv/bin/python bench/bench_exports.py --features 100000 --burst 20 --repeats 3 --compare

Starts ``kfqmap serve`` (mini catalog + one synthetic polygon layer ``big``, written to a temp dir and never
committed), fires a burst of mixed exports at once (PNG A4 150 dpi, PNG 4000×3000 px, PDF A3, GeoPackage,
GeoJSON, CSV) and samples the RSS of the server process (and of its render children) every 50 ms. Reported per
burst and as medians: RSS before, peak RSS of the server process, peak PSS of server + children (forkserver and
render processes; shared pages counted once), RSS 5 s after the burst, how many exports succeeded / were refused 503 (queue full) / timed out 504, and the wall time of the
burst. The limits in force are printed with the results (``KFQMAP_API_EXPORT_CONCURRENCY`` …).

``--compare`` runs the same bursts a second time with ``KFQMAP_API_EXPORT_ISOLATE=false`` (map images drawn in
the server process, as before the change) to show what the child processes give back.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
MINI = REPO / "tests" / "fixtures" / "mini_geodata"
MIX = [
    "format=png&size=A4&dpi=150",
    "format=png&size=4000x3000px",
    "format=pdf&size=A3",
    "format=gpkg",
    "format=geojson",
    "format=csv",
]


def make_layer(path: Path, n: int) -> None:
    import geopandas as gpd
    import numpy as np
    import shapely
    rng = np.random.default_rng(7)
    lon = 120.90 + rng.random(n) * 0.20
    lat = 31.28 + rng.random(n) * 0.14
    geoms = shapely.buffer(shapely.points(lon, lat), 0.0006, quad_segs=4)
    gpd.GeoDataFrame({"name": [f"地块{i}" for i in range(n)], "use": rng.choice(["工业", "居住", "商业"], n)},
                     geometry=geoms, crs=4326).to_file(path, driver="GPKG")


def rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kb(pid: int) -> int:
    """Proportional set size: shared pages (the forkserver's preloaded modules in every render child) counted
    once across processes, so a sum over the server and its children is not inflated."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                out += [int(c) for c in fh.read().split()]
    except OSError:
        pass
    return out + [g for c in out for g in children(c)]


class Sampler(threading.Thread):
    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.stop_flag = pid, False
        self.peak_server = self.peak_total = 0

    def run(self):
        while not self.stop_flag:
            own = rss_kb(self.pid)
            # the forkserver and the render processes are children: summed as PSS (shared pages once)
            total = pss_kb(self.pid) + sum(pss_kb(c) for c in children(self.pid))
            self.peak_server = max(self.peak_server, own)
            self.peak_total = max(self.peak_total, total)
            time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(env: dict) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", "from kfqmap.cli.main import cli; cli()", "serve", "--port",
                             str(port), "--log-level", "warning"], env=env, cwd=REPO, start_new_session=True,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(1200):
        try:
            if httpx.get(url + "/conformance", timeout=5).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("server did not start")


def burst(url: str, n: int) -> tuple[dict, float]:
    def one(i):
        try:
            return httpx.get(f"{url}/export?layers=big&{MIX[i % len(MIX)]}", timeout=600).status_code
        except httpx.HTTPError:
            return -1
    t0 = time.perf_counter()
    with ThreadPoolExecutor(n) as pool:
        statuses = list(pool.map(one, range(n)))
    return {s: statuses.count(s) for s in sorted(set(statuses))}, time.perf_counter() - t0


def run(env: dict, args) -> list[dict]:
    proc, url = start_server(env)
    rows = []
    try:
        # warm: read the layer once (the export path reads it on first use)
        httpx.get(f"{url}/export?layers=big&format=csv", timeout=600)
        for _ in range(args.repeats):
            time.sleep(2)
            before = rss_kb(proc.pid)
            sampler = Sampler(proc.pid)
            sampler.start()
            statuses, wall = burst(url, args.burst)
            time.sleep(5)
            sampler.stop_flag = True
            sampler.join()
            rows.append({"before": before, "peak_server": sampler.peak_server, "peak_total": sampler.peak_total,
                         "after": rss_kb(proc.pid), "statuses": statuses, "wall": wall})
            print(f"  burst: before {before / 1024:.0f} MB, peak server {sampler.peak_server / 1024:.0f} MB, "
                  f"peak server+children (PSS) {sampler.peak_total / 1024:.0f} MB, after {rows[-1]['after'] / 1024:.0f} MB, "
                  f"statuses {statuses}, {wall:.1f} s", flush=True)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    return rows


def summary(label: str, rows: list[dict]) -> None:
    med = {k: statistics.median(r[k] for r in rows) / 1024 for k in ("before", "peak_server", "peak_total", "after")}
    print(f"{label}: median RSS before {med['before']:.0f} MB · peak server {med['peak_server']:.0f} MB · "
          f"peak server+children (PSS) {med['peak_total']:.0f} MB · after {med['after']:.0f} MB · "
          f"median burst {statistics.median(r['wall'] for r in rows):.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=20_000)
    parser.add_argument("--burst", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compare", action="store_true", help="also run with map images drawn in-process")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kfqmap-bench-exports-"))
    layer = work / f"big_{args.features}.gpkg"
    make_layer(layer, args.features)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KFQMAP_")}
    env.update({"PYTHONPATH": str(REPO), "KFQMAP_GEODATA_DIR": str(MINI), "KFQMAP_EXTRA_LAYERS": f"big={layer}",
                "KFQMAP_SCRATCH_DIR": str(work / "scratch"), "KFQMAP_API_WARM_UP": "false",
                "KFQMAP_TILE_WARM_UP": "false"})
    from kfqmap.export import image
    from server.settings import APISettings
    limits = APISettings()
    print(f"limits: {limits.export_concurrency} exports at once, {limits.export_queue} waiting (beyond: 503), "
          f"{limits.export_timeout_s:g} s per export (504), images ≤ {image.MAX_PIXELS} px a side and "
          f"≤ {image.MAX_TOTAL_PIXELS / 1e6:g} Mpx, PDF one page ≤ {image.MAX_PAGE_MM} mm a side")
    print(f"layer: {args.features} polygons; burst: {args.burst} exports at once ({', '.join(MIX)}), "
          f"{args.repeats} bursts; cores: {os.cpu_count()}")
    print("isolated (map images in a child process that exits):")
    summary("isolated", run(dict(env, KFQMAP_API_EXPORT_ISOLATE="true"), args))
    if args.compare:
        print("in-process (map images drawn in the server, as before):")
        summary("in-process", run(dict(env, KFQMAP_API_EXPORT_ISOLATE="false"), args))
    import shutil
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
