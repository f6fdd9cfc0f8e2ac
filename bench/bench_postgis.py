"""KFQMap's PostGIS provider beside tipg, on the same database and request lists, in one run.

For each size (default 200,000 and 1,000,000 synthetic parcels from ../shared/bench-anchors/make_parcels.py;
data, cluster and results under /tmp/bench, never in the repository):

1. the anchors' PostGIS cluster (``pg.sh start``) with ``parcels_<N>`` loaded by the anchors' ``pg_bench.load``
   (ogr2ogr, GiST, VACUUM ANALYZE) if it is not there yet;
2. tipg (the anchors' venv) on :8081 and ``kfqmap serve`` on :8095 with
   ``KFQMAP_EXTRA_LAYERS=parcels_<N>=postgresql://postgres@127.0.0.1:55432/bench#public.parcels_<N>`` (pushdown:
   the tables are larger than ``MEMORY_ROWS``), ``KFQMAP_STORE=files``, its tile cache off so every tile is cold;
3. ``measure.py`` (the anchors' load tool) for ``bbox`` (items?bbox, ~1000 parcels per box, limit 1000),
   ``item`` (items/{id}) at concurrency 1 and 8, and ``tiles`` (cold MVT, per-zoom p50, z10–z16) at c=1 —
   tipg as the baseline, so every ratio is KFQMap / tipg from the same run;
4. the KFQMap server's RSS (VmRSS, and VmHWM = peak) after all of it.

Targets from issue 10: items bbox and single items ≥ 1.5× tipg's req/s at c=8; cold MVT p50 per zoom ≤ tipg's;
server RSS < 400 MB whatever the table size. The script prints what it measured and writes
``bench/results/<stamp>-postgis.md``; it asserts nothing.

    .venv/bin/python bench/bench_postgis.py                  # both sizes (~20 min on 2 cores incl. loading 1M)
    .venv/bin/python bench/bench_postgis.py --sizes 200000 --quick
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ANCHORS = (REPO / ".." / "shared" / "bench-anchors").resolve()
TMP = Path("/tmp/bench")
DATA = TMP / "data"
BENCH_PY = "/tmp/benchvenv/bin/python"
KFQMAP = str(REPO / ".venv" / "bin" / "kfqmap")
DSN = "postgresql://postgres@127.0.0.1:55432/bench"
TIPG_PORT, KFQ_PORT = 8081, 8095


def log(*a):
    print(time.strftime("[%H:%M:%S]"), *a, flush=True)


def wait_http(url: str, seconds: float = 120) -> None:
    end = time.time() + seconds
    while time.time() < end:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status < 500:
                    return
        except Exception:
            time.sleep(0.5)
    raise SystemExit(f"{url} did not answer within {seconds:.0f} s")


def rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process and its children, MB."""
    pids = [pid] + [int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                                                      text=True).stdout.split()]
    rss = hwm = 0.0
    for p in pids:
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss += int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                hwm += int(line.split()[1]) / 1024
    return rss, hwm


def ensure_data(sizes: list[int]) -> None:
    if not Path(BENCH_PY).exists():
        subprocess.run(["bash", str(ANCHORS / "setup_anchors.sh")], check=True)
    missing = [n for n in sizes if not (DATA / f"parcels_{n}.gpkg").exists()]
    if missing:
        cmd = [BENCH_PY, str(ANCHORS / "make_parcels.py")]
        for n in missing:
            cmd += ["-n", str(n)]
        subprocess.run(cmd, check=True)
    subprocess.run(["bash", str(ANCHORS / "pg.sh"), "start"], check=True)
    code = (f"import sys, psycopg; sys.path.insert(0, {str(ANCHORS)!r}); import pg_bench\n"
            f"conn = psycopg.connect({DSN!r}, autocommit=True)\n"
            "for n in map(int, sys.argv[1:]):\n"
            "    t = f'parcels_{n}'\n"
            "    have = conn.execute('SELECT to_regclass(%s)', (t + '_id',)).fetchone()[0]   # made last by load()\n"
            "    if have is None:\n"
            "        print('loading', t, pg_bench.load(conn, n, f'/tmp/bench/data/parcels_{n}.gpkg', t), flush=True)\n")
    subprocess.run([BENCH_PY, "-c", code, *map(str, sizes)], check=True)


class Procs:
    def __init__(self):
        self.items: dict[str, subprocess.Popen] = {}

    def start(self, name, cmd, env, logf):
        log("start", name, " ".join(cmd))
        self.items[name] = subprocess.Popen(cmd, env=env, stdout=open(logf, "w"), stderr=subprocess.STDOUT,
                                            start_new_session=True)
        return self.items[name]

    def stop_all(self):
        for name, p in self.items.items():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)


def measure(out: Path, targets: Path, workload: str, n: int, conc: str, args, extra=()) -> list[dict]:
    jsonl = out / f"{workload}-{n}.jsonl"
    cmd = [BENCH_PY, str(ANCHORS / "measure.py"), "--targets", str(targets), "--workload", workload,
           "--data", str(DATA / f"parcels_{n}.meta.json"), "--baseline", "tipg", "--concurrency", conc,
           "--repeats", str(args.repeats), "--count", str(args.count), "--duration", str(args.duration),
           "--max-total", "600", "--timeout", "15", "--label", f"n={n}", "--json", str(jsonl), *extra]
    log("$", " ".join(cmd))
    with open(out / "measure.log", "a") as f:
        subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, timeout=900)
    return [json.loads(line) for line in jsonl.read_text().splitlines()] if jsonl.exists() else []


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="200000,1000000")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--count", type=int, default=400)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--quick", action="store_true", help="1 repeat, 200 requests / 5 s per cell")
    args = ap.parse_args()
    if args.quick:
        args.repeats, args.count, args.duration = 1, 200, 5.0
    sizes = [int(s) for s in args.sizes.split(",")]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = TMP / "results" / f"kfqmap-postgis-{stamp}"
    out.mkdir(parents=True, exist_ok=True)
    ensure_data(sizes)

    procs = Procs()
    results: dict = {"sizes": sizes, "rss": {}, "measure": {}, "load": {"start": os.getloadavg()}}
    try:
        tipg_env = dict(os.environ, DATABASE_URL=DSN, TIPG_DB_SCHEMAS='["public"]')
        procs.start("tipg", ["/tmp/benchvenv/bin/uvicorn", "tipg.main:app", "--host", "127.0.0.1", "--port",
                             str(TIPG_PORT), "--workers", "1", "--log-level", "warning", "--no-access-log"],
                    tipg_env, out / "tipg.log")
        extra = ";".join(f"parcels_{n}={DSN}#public.parcels_{n}" for n in sizes)
        kfq_env = dict(os.environ, KFQMAP_EXTRA_LAYERS=extra, KFQMAP_STORE="files", KFQMAP_TILE_CACHE_SIZE="0",
                       KFQMAP_TILE_WARM_UP="false", PYTHONPATH=str(REPO))
        kfq = procs.start("kfqmap", [KFQMAP, "serve", "--host", "127.0.0.1", "--port", str(KFQ_PORT)], kfq_env,
                          out / "kfqmap.log")
        wait_http(f"http://127.0.0.1:{TIPG_PORT}/collections")
        wait_http(f"http://127.0.0.1:{KFQ_PORT}/collections")
        results["rss"]["start"] = rss_mb(kfq.pid)
        targets = {
            "tipg": {
                "tiles": f"http://127.0.0.1:{TIPG_PORT}/collections/public.parcels_{{n}}/tiles/WebMercatorQuad/"
                         "{z}/{x}/{y}",
                "bbox": f"http://127.0.0.1:{TIPG_PORT}/collections/public.parcels_{{n}}/items?bbox={{bbox}}&limit=1000",
                "item": f"http://127.0.0.1:{TIPG_PORT}/collections/public.parcels_{{n}}/items/{{id}}"},
            "kfqmap": {
                "tiles": f"http://127.0.0.1:{KFQ_PORT}/tiles/parcels_{{n}}/{{z}}/{{x}}/{{y}}.mvt",
                "bbox": f"http://127.0.0.1:{KFQ_PORT}/collections/parcels_{{n}}/items?bbox={{bbox}}&limit=1000",
                "item": f"http://127.0.0.1:{KFQ_PORT}/collections/parcels_{{n}}/items/{{id}}"},
        }
        tpath = out / "targets.json"
        tpath.write_text(json.dumps(targets, indent=1))
        for n in sizes:
            for wl, conc, more in (("bbox", "1,8", ()), ("item", "1,8", ()),
                                   ("tiles", "1", ("--zooms", "10,11,12,13,14,15,16", "--per-zoom", "20"))):
                results["measure"][f"{wl}-{n}"] = measure(out, tpath, wl, n, conc, args, more)
                results["rss"][f"after-{wl}-{n}"] = rss_mb(kfq.pid)
    finally:
        procs.stop_all()
    results["load"]["end"] = os.getloadavg()
    (out / "results.json").write_text(json.dumps(results, indent=1, ensure_ascii=False))
    summary = summarize(results)
    (out / "summary.md").write_text(summary)
    dest = REPO / "bench" / "results" / f"{stamp}-postgis.md"
    dest.write_text(summary)
    print(summary)
    log("results:", out, "and", dest)


def _cells(rows: list[dict]) -> dict:
    """(target, concurrency) -> the row measure.py wrote (medians over repeats)."""
    return {(r.get("target"), r.get("concurrency")): r for r in rows}


def _num(value, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def summarize(results: dict) -> str:
    lines = ["# KFQMap PostGIS provider beside tipg (same database, same request lists, one run)", "",
             f"Sizes: {', '.join(f'{n:,}' for n in results['sizes'])} parcels. Ratios are KFQMap / tipg "
             "(req/s: higher is better; p50 ms: lower is better). 2 shared cores: client and both servers on one "
             "machine.", ""]
    if "load" in results:
        lines += [f"Load average (1, 5, 15 min) at start {tuple(round(x, 2) for x in results['load']['start'])}, "
                  f"at end {tuple(round(x, 2) for x in results['load'].get('end', ()))}.", ""]
    lines += ["| size | workload | c | tipg req/s | KFQMap req/s | ratio req/s | tipg p50 ms | KFQMap p50 ms | "
              "errors tipg / KFQMap |", "|---|---|---|---|---|---|---|---|---|"]
    for key, rows in results["measure"].items():
        wl, n = key.split("-")
        cells = _cells(rows)
        for c in sorted({k[1] for k in cells if k[1] is not None}):
            a, b = cells.get(("tipg", c), {}), cells.get(("kfqmap", c), {})
            ma, mb = a.get("median", {}), b.get("median", {})
            ra, rb = ma.get("rps"), mb.get("rps")
            ratio = f"{rb / ra:.2f}×" if ra and rb else "–"
            lines.append(f"| {int(n):,} | {wl} | {c} | {_num(ra, 1)} | {_num(rb, 1)} | {ratio} | "
                         f"{_num(ma.get('p50_ms'), 2)} | {_num(mb.get('p50_ms'), 2)} | {a.get('errors', '–')} / "
                         f"{b.get('errors', '–')} |")
            if wl == "tiles":
                za, zb = a.get("groups_median") or {}, b.get("groups_median") or {}
                for z in sorted(set(za) | set(zb), key=str):
                    pa, pb = za.get(z, {}).get("p50_ms"), zb.get(z, {}).get("p50_ms")
                    r = f"{pb / pa:.2f}× (p50)" if pa and pb else "–"
                    lines.append(f"| {int(n):,} | tiles {z} | {c} | | | {r} | {_num(pa, 2)} | {_num(pb, 2)} | |")
    lines += ["", "KFQMap server RSS (MB, VmRSS / peak VmHWM, process and children):", ""]
    for k, (rss, hwm) in results["rss"].items():
        lines.append(f"- {k}: {rss:.0f} / {hwm:.0f}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
