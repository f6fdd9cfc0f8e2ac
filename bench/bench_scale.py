"""Scale-out figures, one run, ratios (docs/deploy.md "Measured"). On demand, never part of the tests.

    PYTHONPATH=$PWD .venv/bin/python bench/bench_scale.py -n 1000000 --duration 15

Starts a throwaway PostgreSQL + PostGIS cluster with ``-n`` synthetic square parcels (or uses ``--dsn`` and
``--table`` of an existing one, e.g. the anchors' ``parcels_N`` tables while ``../shared/bench-anchors/pg.sh``
runs), then, with the processes of ``tests/scale/servers.py`` (``kfqmap serve`` workers, Debian's nginx with the
config of ``kfqmap deploy nginx``):

1. **cold cells through nginx, 1, 2 and 4 workers (``--workers``), beside tipg** (the anchors' venv, one uvicorn
   worker, straight on the same database, no nginx): distinct z14–z16 tiles over the data, each requested once
   (a miss in nginx's cache and in the worker's LRU; each cell gets its own tiles), then random bbox pages
   (~100 parcels, ``limit=100``) and random single items, ``--concurrency`` at once, ``--duration`` seconds each;
   req/s and p50, ratios to 1 worker and to tipg. The client runs on the same cores (state it with the figure);
2. **warm tiles**: the same 300 tiles, cached by nginx (``--tile-valid`` 1 s as shipped, so revalidations
   with 304 are included), against the anchors' static keep-alive server (``static_server.py``) serving the very
   same bytes from disk; ratio nginx / static;
3. **worker RSS** after the load (``VmRSS``), **first answers of a new worker** (process start → first items
   page and first tile, with the table already served by another), and **edit → visible through nginx**
   (median of 5: ``UPDATE`` on the table, poll the tile until it changes).

Every process is stopped by its id at the end (also on error); only 127.0.0.1 is used.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import mercantile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kfqmap.deploy import NginxOptions, render_nginx  # noqa: E402
from tests.scale.servers import free_port, nginx_user, start_nginx, start_worker  # noqa: E402

ANCHORS = ROOT.parent / "shared" / "bench-anchors"
GRID = 0.0005          # parcel pitch in degrees (≈ 50 m), parcels 80 % of it
TIPG_UVICORN = Path("/tmp/benchvenv/bin/uvicorn")


def parcels_sql(n: int) -> str:
    cols = max(1, int(n ** 0.5))
    return f"""
CREATE TABLE public.parcels (fid serial PRIMARY KEY, id text UNIQUE NOT NULL, name text, status text, year int,
                             geom geometry(Polygon, 4326));
INSERT INTO public.parcels (id, name, status, year, geom)
SELECT 'P' || i, '地块' || i, CASE WHEN i % 3 = 0 THEN '已完成' ELSE '未启动' END, 2020 + i % 5,
       ST_MakeEnvelope(120.9 + (i % {cols}) * {GRID}, 31.2 + (i / {cols}) * {GRID},
                       120.9 + (i % {cols}) * {GRID} + {GRID * 0.8}, 31.2 + (i / {cols}) * {GRID} + {GRID * 0.8}, 4326)
FROM generate_series(0, {n - 1}) AS i;
CREATE INDEX parcels_geom ON public.parcels USING gist (geom);
ANALYZE public.parcels;
""", (120.9, 31.2, 120.9 + cols * GRID, 31.2 + (n // cols + 1) * GRID)


def tile_list(bounds, zooms=(14, 15, 16), per_zoom=4000, seed=1) -> list[tuple[int, int, int]]:
    rng = random.Random(seed)
    out = []
    for z in zooms:
        tiles = list(mercantile.tiles(*bounds, zooms=[z]))
        rng.shuffle(tiles)
        out += [(t.z, t.x, t.y) for t in tiles[:per_zoom]]
    rng.shuffle(out)
    return out


def kfq_tile(t) -> str:
    return f"/tiles/parcels/{t[0]}/{t[1]}/{t[2]}.mvt"


def items_paths(bounds, count=20000, seed=2, *, prefix="/collections/parcels/items", side=0.005, limit=100) -> list[str]:
    """Random bboxes of ``side`` degrees (≈ 100 parcels of the synthetic grid) inside ``bounds``, ``limit`` per page."""
    rng = random.Random(seed)
    w, s, e, n = bounds
    out = []
    for _ in range(count):
        x, y = rng.uniform(w, e - side), rng.uniform(s, n - side)
        out.append(f"{prefix}?bbox={x:.5f},{y:.5f},{x + side:.5f},{y + side:.5f}&limit={limit}")
    return out


def item_paths(n: int, count=20000, seed=3, *, template="/collections/parcels/items/P{i}") -> list[str]:
    """Random single features; ``{i}`` is the parcel number (id ``P{i}``), ``{fid}`` its serial key (i + 1)."""
    rng = random.Random(seed)
    return [template.format(i=i, fid=i + 1) for i in (rng.randrange(n) for _ in range(count))]


def start_tipg(dsn_socket: str, port: int, work: Path, table: str):
    """tipg (the anchors' venv) over the same database; ``dsn_socket`` = (socket dir, port, user, db)."""
    from tests.scale.servers import Process

    sock, pg_port, user, db = dsn_socket
    from urllib.parse import quote

    # the socket directory as an escaped host: asyncpg reads it as a unix socket, pydantic's PostgresDsn accepts it
    env = {**os.environ, "DATABASE_URL": f"postgresql://{user}@{quote(str(sock), safe='')}:{pg_port}/{db}",
           "TIPG_DB_SCHEMAS": '["public"]', "TIPG_DB_TABLES": f'["{table}"]'}
    proc = Process("tipg", [str(TIPG_UVICORN), "tipg.main:app", "--host", "127.0.0.1", "--port", str(port),
                            "--workers", "1", "--log-level", "warning", "--no-access-log"], env, work / "tipg.log")
    try:
        proc.wait_http(f"http://127.0.0.1:{port}/collections", timeout=120)
    except BaseException:
        proc.stop()
        raise
    return proc


async def load(base: str, paths: list[str], concurrency: int, duration: float, *, repeat: bool) -> dict:
    """Requests over ``paths`` (each once unless ``repeat``), ``concurrency`` at once, for ``duration`` s."""
    times, statuses, nbytes = [], {}, 0
    it = iter(paths if not repeat else (p for _ in range(10 ** 6) for p in paths))
    end = time.monotonic() + duration
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits,
                                 headers={"Accept-Encoding": "gzip"}) as client:
        async def one():
            nonlocal nbytes
            while time.monotonic() < end:
                path = next(it, None)
                if path is None:
                    return
                t0 = time.perf_counter()
                r = await client.get(path)
                body = r.content
                times.append(time.perf_counter() - t0)
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                nbytes += len(body)
        t0 = time.monotonic()
        await asyncio.gather(*(one() for _ in range(concurrency)))
        elapsed = time.monotonic() - t0
    return {"requests": len(times), "rps": len(times) / elapsed, "p50_ms": 1000 * statistics.median(times),
            "statuses": statuses, "bytes": nbytes}


_WRK_LUA = """
local paths, step, i = {}, 1, 0
for line in io.lines(os.getenv("KFQMAP_WRK_PATHS")) do paths[#paths + 1] = line end
local counter = 0
function setup(thread) counter = counter + 1; thread:set("offset", counter - 1) end
function init(args) step = tonumber(os.getenv("KFQMAP_WRK_THREADS")); i = offset end
function request()
  local path = paths[(i % #paths) + 1]
  i = i + step
  return wrk.format("GET", path, {["Accept-Encoding"] = "gzip"})
end
"""


def load_wrk(base: str, paths: list[str], concurrency: int, duration: float, work: Path) -> dict:
    """The same as ``load`` with wrk (C, keep-alive; the client then costs little CPU). Each thread walks its
    own share of ``paths``: with fewer requests than paths no path repeats (cold), else they cycle (warm)."""
    import os
    import re

    threads = min(2, concurrency)
    (work / "paths.txt").write_text("\n".join(paths) + "\n")
    (work / "paths.lua").write_text(_WRK_LUA)
    env = {**os.environ, "KFQMAP_WRK_PATHS": str(work / "paths.txt"), "KFQMAP_WRK_THREADS": str(threads)}
    out = subprocess.run(["wrk", "-t", str(threads), "-c", str(concurrency), "-d", f"{int(duration)}s", "--latency",
                          "-s", str(work / "paths.lua"), base], capture_output=True, text=True, env=env,
                         timeout=duration + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p50.group(2)]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    return {"requests": total, "rps": rps, "p50_ms": float(p50.group(1)) * scale,
            "statuses": {"2xx": total - (int(bad.group(1)) if bad else 0), "other": int(bad.group(1)) if bad else 0}}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Stack:
    """``workers`` kfqmap processes + nginx in a temp dir."""

    def __init__(self, work: Path, env: dict, workers: int, tile_valid: int = 1):
        self.work = work
        self.workers, self.nginx = [], None
        ports = [free_port() for _ in range(workers)]
        try:
            for i, port in enumerate(ports):
                self.workers.append(start_worker(port, env, work, name=f"w{workers}-{i}"))
            listen = free_port()
            conf = work / f"nginx-{workers}.conf"
            conf.write_text(render_nginx(NginxOptions(
                upstreams=[f"127.0.0.1:{p}" for p in ports], listen=f"127.0.0.1:{listen}", server_name="localhost",
                cache_dir=str(work / f"cache-{workers}-{time.monotonic_ns()}"), runtime_dir=str(work),
                pid_file=str(work / "nginx.pid"), log_dir=str(work), user=nginx_user(), tile_valid_s=tile_valid,
                worker_processes="1")))
            self.nginx = start_nginx(conf, work, listen)
            self.url = f"http://127.0.0.1:{listen}"
        except BaseException:
            self.stop()
            raise

    def stop(self):
        if self.nginx is not None:
            self.nginx.stop()
        for w in self.workers:
            w.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=200_000, help="synthetic parcels (throwaway cluster)")
    ap.add_argument("--dsn", help="an existing PostGIS database (then --table; no tipg, no edit → visible)")
    ap.add_argument("--table", default="public.parcels")
    ap.add_argument("--duration", type=float, default=15.0)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--workers", default="1,2,4", help="worker counts of the cold cells (tiles, bbox, item)")
    ap.add_argument("--per-zoom", type=int, default=12000, help="distinct tiles per zoom (z14–z16) in the lists")
    ap.add_argument("--no-tipg", action="store_true", help="leave out tipg (the anchors' venv, /tmp/benchvenv)")
    ap.add_argument("--client", choices=["wrk", "python"], default="wrk" if shutil.which("wrk") else "python",
                    help="load client: wrk (Debian package wrk; default when installed) or asyncio + httpx, which "
                         "tops out near 200 req/s on 2 cores and then measures itself")
    args = ap.parse_args()
    counts = [int(v) for v in args.workers.split(",")]

    def run_load(base, paths, concurrency, duration, *, repeat):
        if args.client == "wrk":
            return load_wrk(base, paths, concurrency, duration, work)
        return asyncio.run(load(base, paths, concurrency, duration, repeat=repeat))

    def line(what, r, extra=""):
        print(f"{what}: {r['rps']:.1f} req/s, p50 {r['p50_ms']:.1f} ms, {r['requests']} requests, statuses "
              f"{r['statuses']}{extra} [load {os.getloadavg()[0]:.1f}]", flush=True)

    work = Path(tempfile.mkdtemp(prefix="kfqmap-bench-scale-"))
    work.chmod(0o755)
    cluster = None
    try:
        if args.dsn:
            dsn, bounds = args.dsn, None
        else:
            from tests.scale.pgpair import start_primary_empty

            t0 = time.monotonic()
            cluster = start_primary_empty()
            sql, bounds = parcels_sql(args.n)
            cluster.psql(sql)
            dsn = cluster.dsn
            print(f"# {args.n:,} parcels loaded in {time.monotonic() - t0:.1f} s")
        if bounds is None:
            import psycopg
            with psycopg.connect(dsn) as conn:
                bounds = conn.execute(f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                                      f"(SELECT ST_Extent(geom) e FROM {args.table}) q").fetchone()
        env = {"KFQMAP_EXTRA_LAYERS": f"parcels={dsn}#{args.table}"}
        tiles = tile_list(bounds, per_zoom=args.per_zoom)
        cells: list = list(counts) + ([] if (args.no_tipg or cluster is None) else ["tipg"])
        share = len(tiles) // (len(cells) + 1)          # one distinct slice per cell; the last for warm-ups
        spare = tiles[len(cells) * share:]
        n_rows = args.n
        print(f"# {os.cpu_count()} CPU cores shared by the client ({args.client}, c={args.concurrency}), nginx, the "
              f"workers, tipg and PostgreSQL; load average before: {open('/proc/loadavg').read().strip()}")
        print(f"# {len(tiles):,} distinct z14–z16 tiles, {share:,} per cell (a cell that requests more repeats tiles)")
        results: dict = {}
        for k, cell in enumerate(cells):
            mine = tiles[k * share:(k + 1) * share]
            if cell == "tipg":
                port = free_port()
                proc = start_tipg((cluster.socket_dir, cluster.port, cluster.user, cluster.dbname), port, work,
                                  args.table)
                base, stack = f"http://127.0.0.1:{port}", None
                coll = f"/collections/{args.table}"
                tpath = [f"{coll}/tiles/WebMercatorQuad/{z}/{x}/{y}" for z, x, y in mine]
                warm = [f"{coll}/tiles/WebMercatorQuad/{z}/{x}/{y}" for z, x, y in spare[:50]]
                bpath = items_paths(bounds, prefix=f"{coll}/items", seed=10 + k)
                ipath = item_paths(n_rows, template=coll + "/items/{fid}", seed=20 + k)
                label, pids = "tipg (1 uvicorn worker, direct)", [proc.proc.pid]
            else:
                stack = Stack(work, env, cell)
                proc, base = None, stack.url
                tpath = [kfq_tile(t) for t in mine]
                warm = [kfq_tile(t) for t in spare[:50]]
                bpath = items_paths(bounds, seed=10 + k)
                ipath = item_paths(n_rows, seed=20 + k)
                label, pids = f"kfqmap via nginx, {cell} worker(s)", [w.proc.pid for w in stack.workers]
            try:
                asyncio.run(load(base, warm, 2, 5, repeat=False))                   # connections, plans
                res = {"tiles": run_load(base, tpath, args.concurrency, args.duration, repeat=False)}
                line(f"cold tiles, {label}", res["tiles"], "" if res["tiles"]["requests"] <= len(tpath) else
                     f" — MORE REQUESTS THAN THE {len(tpath)} DISTINCT TILES: repeats (cache hits) included")
                res["bbox"] = run_load(base, bpath, args.concurrency, args.duration, repeat=False)
                line(f"items bbox (~100 parcels, limit 100), {label}", res["bbox"])
                res["item"] = run_load(base, ipath, args.concurrency, args.duration, repeat=False)
                res["rss"] = [rss_mb(p) for p in pids]
                line(f"single items, {label}", res["item"], f"; RSS {', '.join(f'{v:.0f}' for v in res['rss'])} MB")
                results[cell] = res
                if cell == 2:
                    extra_checks(stack, work, env, tiles, spare, bounds, cluster, args, run_load)
            finally:
                if stack is not None:
                    stack.stop()
                if proc is not None:
                    proc.stop()
        print("\n# summary (req/s; ratio to 1 worker; ratio to tipg)")
        for what in ("tiles", "bbox", "item"):
            for cell, res in results.items():
                r = res[what]["rps"]
                one = results.get(1, {}).get(what, {}).get("rps")
                tipg = results.get("tipg", {}).get(what, {}).get("rps")
                print(f"{what:5s} {str(cell):5s} {r:8.1f} req/s  p50 {res[what]['p50_ms']:7.1f} ms"
                      + (f"  ×{r / one:.2f} vs 1 worker" if one else "") + (f"  ×{r / tipg:.2f} vs tipg" if tipg else ""))
        if 1 in results and 2 in results:
            print(f"cold-tile scaling 1 → 2 workers: {results[2]['tiles']['rps'] / results[1]['tiles']['rps']:.2f}× "
                  f"req/s (goal ≥ 1.6×; the client, nginx and PostgreSQL share the 2 cores)")
        print(f"# load average after: {open('/proc/loadavg').read().strip()}")
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


def extra_checks(stack, work, env, tiles, spare, bounds, cluster, args, run_load) -> None:
    """With 2 workers: warm tiles vs the static server, a new worker's first answers, edit → visible."""
    warm_paths = [kfq_tile(t) for t in spare[50:350]]
    tiles_dir = work / "static"
    with httpx.Client(base_url=stack.url, timeout=60) as client:
        for p in warm_paths:
            r = client.get(p, headers={"Accept-Encoding": "identity"})
            target = tiles_dir / p.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(r.content)
    port = free_port()
    static = subprocess.Popen([sys.executable, str(ANCHORS / "static_server.py"), str(tiles_dir), str(port)],
                              start_new_session=True)
    try:
        time.sleep(1.0)
        run_load(stack.url, warm_paths, args.concurrency, 2, repeat=True)          # warm-up
        warm_nginx = run_load(stack.url, warm_paths, args.concurrency, args.duration, repeat=True)
        warm_static = run_load(f"http://127.0.0.1:{port}", warm_paths, args.concurrency, args.duration, repeat=True)
    finally:
        static.terminate()
        static.wait(timeout=10)
    print(f"warm tiles: nginx cache {warm_nginx['rps']:.0f} req/s (p50 {warm_nginx['p50_ms']:.1f} ms)"
          f" vs static keep-alive {warm_static['rps']:.0f} req/s (p50 {warm_static['p50_ms']:.1f} ms):"
          f" ratio {warm_nginx['rps'] / warm_static['rps']:.2f} (goal ≥ 0.8) [load {os.getloadavg()[0]:.1f}]",
          flush=True)
    # a new worker beside the running ones: spawn → first items page, first tile
    t0 = time.monotonic()
    fresh_port = free_port()
    extra = start_worker(fresh_port, env, work, name="fresh")
    try:
        base = f"http://127.0.0.1:{fresh_port}"
        up = time.monotonic() - t0
        t1 = time.monotonic()
        httpx.get(f"{base}/collections/parcels/items?limit=10", timeout=60).raise_for_status()
        items_s = time.monotonic() - t1
        t1 = time.monotonic()
        httpx.get(f"{base}{kfq_tile(spare[-1])}", timeout=60)
        tile_s = time.monotonic() - t1
        print(f"new worker: answering after {up:.2f} s (process start, imports), then first items "
              f"page {items_s:.2f} s, first tile {tile_s:.2f} s; RSS {rss_mb(extra.proc.pid):.0f} MB "
              f"[load {os.getloadavg()[0]:.1f}]", flush=True)
    finally:
        extra.stop()
    if cluster is not None:
        lags = []
        cols = max(1, int(args.n ** 0.5))
        with httpx.Client(base_url=stack.url, timeout=60) as client:
            for k in range(5):
                fid = 1000 + k * 7
                lon = 120.9 + GRID * (fid % cols) + GRID * 0.4
                lat = 31.2 + GRID * (fid // cols) + GRID * 0.4
                t = mercantile.tile(lon, lat, 16)
                p = f"/tiles/parcels/16/{t.x}/{t.y}.mvt"
                before = client.get(p).content
                cluster.psql(f"UPDATE public.parcels SET name = 'edit{k}' WHERE id = 'P{fid}'")
                t0 = time.monotonic()
                while client.get(p).content == before and time.monotonic() - t0 < 30:
                    time.sleep(0.02)
                lags.append(time.monotonic() - t0)
        print(f"edit → visible through nginx: median {statistics.median(lags):.2f} s "
              f"(max {max(lags):.2f} s; nginx keeps a tile 1–2 s, then revalidates)", flush=True)


if __name__ == "__main__":
    main()
