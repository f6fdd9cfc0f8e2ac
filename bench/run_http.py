#!/usr/bin/env python3
"""KFQMap beside the anchors, in one run: tiles (cold and warm), items with bbox, single items, tile seeding.

    .venv/bin/python bench/run_http.py                    # both sizes, 3 repeats (~20-25 min on 2 cores)
    .venv/bin/python bench/run_http.py --quick            # 200000 only, 1 repeat, short cells (~8 min)
    .venv/bin/python bench/run_http.py --only tiles,bbox  # a subset of: tiles, png, bbox, item, seed

Needs the anchors built once (../shared/bench-anchors: setup_anchors.sh, make_parcels.py,
run_anchors.py --quick or the full run), so /tmp/benchvenv, /tmp/bench/data and /tmp/bench/tiles exist.

What it does (every process it starts is stopped by its id at the end, also on error or Ctrl-C;
every loop has a count cap and/or a time cap):
  1. starts the anchors' servers with ``run_anchors.py --serve-only`` (PostGIS, pygeoapi :5000,
     static :8001, static keep-alive :8002), or reuses them when :5000 and :8002 already answer;
  2. starts KFQMap twice with KFQMAP_EXTRA_LAYERS="parcels_2000=...;parcels_200000=...":
     ``product`` on --port (tile LRU as shipped) and ``product_cold`` on --cold-port with --cold-env
     (the tile cache switched off, so every request renders a tile);
  3. per size: pg_bench.py (PostGIS in-DB ST_AsMVT per zoom, the reference for cold tiles) and
     profile_inproc.py --tiles-only (KFQMap's tile engine called in-process, no HTTP: the like-with-like
     reading against the in-DB figure) on the same tile list, a sequential sweep over the tile list on
     both servers (per-tile bytes, feature counts, cache headers; it also warms ``product``), then
     measure.py once per workload with the anchors and the product as targets of the same run (c=1 and
     c=8); with --pygeoapi-mvt, a separate c=1 run at z16 and z14 of pygeoapi's MVT-postgresql beside the
     cold server (HTTP vs HTTP) and one probe each at z12/z10;
  4. times ``kfqmap tiles seed --zooms 10-16`` and tippecanoe's build of the same data, alternating;
  5. prints and writes the figures, ratios and the issue's targets to
     /tmp/bench/results/kfqmap-<stamp>/ (jsonl, logs, summary.md) and copies summary.md to
     bench/results/<stamp>-summary.md.

URL templates: bench/product.json (ports 8000/8010 are rewritten to --port/--cold-port).
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ANCHORS = Path(os.environ.get("BENCH_ANCHORS", REPO.parent / "shared" / "bench-anchors"))
BENCH_PY = os.environ.get("BENCH_PY", "/tmp/benchvenv/bin/python")
TMP = Path(os.environ.get("BENCH_TMP", "/tmp/bench"))
DATA = TMP / "data"
TILES = TMP / "tiles"
KFQMAP = os.environ.get("KFQMAP_BIN", str(REPO / ".venv" / "bin" / "kfqmap"))
PYGEOAPI, STATIC11 = "http://127.0.0.1:5000", "http://127.0.0.1:8002"

sys.path.insert(0, str(ANCHORS))
from measure import tiles_for_bbox  # noqa: E402  (stdlib only; the same tile list measure.py builds)

# the targets (issue 4, Performance)
COLD_X_POSTGIS = 1.5
MAX_TILE_BYTES = 500_000
WARM_X_STATIC = 0.80
BBOX_X_PYGEOAPI_C8 = 3.0
SEED_X_TIPPECANOE = 2.0


def log(*a):
    print(time.strftime("[%H:%M:%S]"), *a, flush=True)


def http_get(url, timeout=30.0, headers=None):
    """(status, body, headers, seconds) — never raises for HTTP errors."""
    req = urllib.request.Request(url, headers=headers or {})
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            body = r.read()
            return r.status, body, dict(r.headers), time.perf_counter() - t0
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers or {}), time.perf_counter() - t0
    except Exception as e:  # noqa: BLE001
        return type(e).__name__, b"", {}, time.perf_counter() - t0


def answers(url, timeout=3.0):
    return http_get(url, timeout)[0] == 200


# ------------------------------------------------------------------ processes
class Procs:
    """Processes this run started; each in its own session, stopped by its own id."""

    def __init__(self, out: Path):
        self.out = out
        self.t0 = time.time()
        self.procs: dict[str, tuple[subprocess.Popen, str]] = {}   # name -> (Popen, how to stop)

    def start(self, name, cmd, env=None, stop="group"):
        logf = open(self.out / f"{name}.log", "a")
        log(f"start {name}: {shlex.join(cmd)}")
        # a background shell starts us with SIGINT ignored, and children inherit that: give the child the
        # default disposition back, so that run_anchors.py turns our SIGINT into its own clean-up
        p = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        self.procs[name] = (p, stop)
        return p

    def wait_ready(self, name, urls, timeout):
        p = self.procs[name][0]
        t_end = time.time() + timeout
        t0 = time.perf_counter()
        pending = list(urls)
        while pending and time.time() < t_end:
            if p.poll() is not None:
                raise SystemExit(f"{name} exited early (rc={p.returncode}); see {self.out / (name + '.log')}")
            if answers(pending[0], timeout=5):
                pending.pop(0)
            else:
                time.sleep(0.5)
        if pending:
            raise SystemExit(f"{name} not ready after {timeout:.0f} s: {pending[0]}")
        return time.perf_counter() - t0

    def stop(self, name):
        p, how = self.procs.pop(name)
        if p.poll() is None:
            try:
                if how == "sigint":          # run_anchors.py: its finally stops its servers and PostGIS
                    p.send_signal(signal.SIGINT)
                    p.wait(90)
                else:                        # our own session: the server and any worker it forked
                    os.killpg(p.pid, signal.SIGTERM)
                    p.wait(20)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                try:
                    os.killpg(p.pid, signal.SIGKILL) if how != "sigint" else p.kill()
                except ProcessLookupError:
                    pass
                p.wait(10)
                if how == "sigint":
                    self._stop_anchor_leftovers()
        log(f"stopped {name} pid={p.pid} rc={p.returncode}")
        return p.returncode

    def _stop_anchor_leftovers(self):
        """run_anchors.py did not finish its own clean-up: stop the servers it recorded, then PostGIS."""
        for pf in (TMP / "pids").glob("*.pid"):
            try:
                pid = int(pf.read_text().strip())
                if pf.stat().st_mtime >= self.t0:       # written after this run started, i.e. by our run_anchors
                    os.kill(pid, signal.SIGTERM)
                    log(f"stopped leftover anchor server pid={pid} ({pf.name})")
            except (ValueError, OSError):
                pass
        subprocess.run(["bash", str(ANCHORS / "pg.sh"), "stop"], capture_output=True, timeout=60)

    def stop_all(self):
        for name in list(reversed(list(self.procs))):
            try:
                self.stop(name)
            except Exception as e:  # noqa: BLE001
                log(f"could not stop {name}: {e!r}")


def rss_mb(pid):
    """Resident memory of pid and its children (MB), from /proc."""
    total = 0
    try:
        kids = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        for q in [str(pid), *kids]:
            for line in open(f"/proc/{q}/status"):
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    except OSError:
        return None
    return round(total / 1024, 1)


# ------------------------------------------------------------------ MVT bits
def _varint(buf, i):
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7


def mvt_layer_counts(buf: bytes) -> dict[str, int]:
    """{layer name: feature count} by walking the protobuf (no full decode: fast on 4 MB tiles)."""
    out = {}
    i, n = 0, len(buf)
    try:
        while i < n:
            key, i = _varint(buf, i)
            field, wt = key >> 3, key & 7
            if wt != 2:
                raise ValueError("unexpected wire type at tile level")
            ln, i = _varint(buf, i)
            end = i + ln
            if field == 3:                   # Tile.layers
                name, feats, j = "?", 0, i
                while j < end:
                    k, j = _varint(buf, j)
                    f, w = k >> 3, k & 7
                    if w == 0:
                        _, j = _varint(buf, j)
                    elif w == 2:
                        m, j = _varint(buf, j)
                        if f == 1:
                            name = bytes(buf[j:j + m]).decode("utf-8", "replace")
                        elif f == 2:
                            feats += 1
                        j += m
                    elif w == 5:
                        j += 4
                    elif w == 1:
                        j += 8
                    else:
                        raise ValueError("bad wire type")
                out[name] = out.get(name, 0) + feats
            i = end
    except (IndexError, ValueError):
        out["_parse_error"] = 1
    return out


def maybe_gunzip(b: bytes) -> bytes:
    return gzip.decompress(b) if b[:2] == b"\x1f\x8b" else b


def pmtiles_stats(path: Path, max_s=300.0):
    """Tile count, per-zoom max/mean uncompressed bytes and the biggest tile of a PMTiles file."""
    try:
        from pmtiles.reader import MmapSource, Reader, all_tiles
    except ImportError:
        return {"error": "pmtiles not importable"}
    per_z, biggest, n = {}, (0, None), 0
    t_end = time.time() + max_s
    with open(path, "rb") as f:
        src = MmapSource(f)
        hdr = Reader(src).header()
        for (z, x, y), data in all_tiles(src):
            raw = maybe_gunzip(data)
            d = per_z.setdefault(z, {"tiles": 0, "max_bytes": 0, "sum": 0})
            d["tiles"] += 1
            d["max_bytes"] = max(d["max_bytes"], len(raw))
            d["sum"] += len(raw)
            n += 1
            if len(raw) > biggest[0]:
                biggest = (len(raw), f"{z}/{x}/{y}")
            if time.time() > t_end:
                break
    for d in per_z.values():
        d["mean_bytes"] = int(d.pop("sum") / d["tiles"])
    return {"addressed_tiles": hdr.get("addressed_tiles_count"), "tiles_read": n,
            "file_bytes": path.stat().st_size, "max_tile_bytes": biggest[0], "max_tile": biggest[1],
            "per_zoom": {str(k): v for k, v in sorted(per_z.items())}}


# ------------------------------------------------------------------ steps
def sweep(name, template, n, tiles, out_jsonl, timeout=60.0, max_s=300.0):
    """One sequential GET per tile (c=1, default client headers): time, bytes, features, cache headers."""
    import httpx
    rows = []
    t_end = time.time() + max_s
    with httpx.Client(timeout=timeout, trust_env=False) as client:
        for z, x, y in tiles:
            if time.time() > t_end:
                log(f"sweep {name}: time cap reached after {len(rows)} tiles")
                break
            url = template.format(n=n, z=z, x=x, y=y)
            t0 = time.perf_counter()
            try:
                r = client.get(url)
                body = r.content
                dt = time.perf_counter() - t0
                st = r.status_code
                hdr = {k: r.headers.get(k) for k in ("content-encoding", "etag", "cache-control", "x-cache",
                                                     "x-tile-cache", "content-type") if r.headers.get(k)}
                wire = r.num_bytes_downloaded
            except Exception as e:  # noqa: BLE001
                dt, st, body, hdr, wire = time.perf_counter() - t0, type(e).__name__, b"", {}, 0
            feats = mvt_layer_counts(body) if st == 200 and template.endswith(".mvt") else {}
            tc = TILES / f"dir_{n}" / str(z) / str(x) / f"{y}.pbf"
            tc_bytes = tc.stat().st_size if tc.exists() else None
            tc_feats = mvt_layer_counts(maybe_gunzip(tc.read_bytes())) if tc.exists() else {}
            rows.append({"target": name, "n": n, "z": z, "x": x, "y": y, "status": st, "ms": round(dt * 1e3, 2),
                         "bytes": len(body), "wire_bytes": wire, "features": feats, "headers": hdr,
                         "tippecanoe_bytes": tc_bytes, "tippecanoe_features": tc_feats})
    with open(out_jsonl, "a") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return rows


def sweep_summary(rows):
    per_z = {}
    for r in rows:
        d = per_z.setdefault(r["z"], {"tiles": 0, "ok": 0, "ms": [], "bytes": [], "feats": [], "tc_bytes": [], "tc_feats": [],
                                        "statuses": {}})
        d["tiles"] += 1
        d["statuses"][str(r["status"])] = d["statuses"].get(str(r["status"]), 0) + 1
        if r["status"] == 200:
            d["ok"] += 1
            d["ms"].append(r["ms"])
            d["bytes"].append(r["bytes"])
            d["feats"].append(sum(v for k, v in r["features"].items() if not k.startswith("_")))
        if r["tippecanoe_bytes"] is not None:
            d["tc_bytes"].append(r["tippecanoe_bytes"])
            d["tc_feats"].append(sum(r["tippecanoe_features"].values()))
    out = {}
    for z, d in sorted(per_z.items()):
        med = (lambda v: round(statistics.median(v), 2) if v else None)
        out[z] = {"tiles": d["tiles"], "ok": d["ok"], "statuses": d["statuses"], "p50_ms": med(d["ms"]),
                  "max_ms": max(d["ms"]) if d["ms"] else None,
                  "max_bytes": max(d["bytes"]) if d["bytes"] else None,
                  "mean_bytes": int(statistics.mean(d["bytes"])) if d["bytes"] else None,
                  "median_features": med(d["feats"]), "max_features": max(d["feats"]) if d["feats"] else None,
                  "tippecanoe_max_bytes": max(d["tc_bytes"]) if d["tc_bytes"] else None,
                  "tippecanoe_median_features": med(d["tc_feats"])}
    return out


def run_measure(out, targets_file, workload, meta, baseline, only, a, extra=(), label_prefix=""):
    cmd = [BENCH_PY, str(ANCHORS / "measure.py"), "--targets", str(targets_file), "--only", ",".join(only),
           "--workload", workload, "--data", str(meta), "--baseline", baseline,
           "--concurrency", a.concurrency, "--repeats", str(a.repeats), "--count", str(a.cell_n),
           "--duration", str(a.cell_s), "--per-zoom", "50", "--max-total", str(a.max_measure_s),
           "--timeout", "15", "--label", f"{label_prefix}n={json.load(open(meta))['n']}", "--json", str(out / "measure.jsonl"), *extra]
    log("$", shlex.join(cmd))
    with open(out / "measure.log", "a") as f:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            t_end = time.time() + a.max_measure_s + 120
            for line in p.stdout:                    # measure.py stops itself (--max-total); belt and braces:
                sys.stdout.write(line)
                f.write(line)
                if time.time() > t_end:
                    break
            p.wait(timeout=max(1, t_end - time.time()))
        except subprocess.TimeoutExpired:
            pass
        finally:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(10)
    return p.returncode


def timed_cmd(cmd, env, timeout, logf):
    """Run cmd in its own session with a wall-clock cap; (seconds, rc)."""
    t0 = time.perf_counter()
    with open(logf, "a") as f:
        f.write(f"$ {shlex.join(cmd)}\n")
        f.flush()
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            rc = p.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(10)
            rc = "timeout"
    return time.perf_counter() - t0, rc


# ------------------------------------------------------------------ main
def start_product(procs, name, port, env, server_cmd, sizes, product, tiles_only=False, prime_zooms=()):
    """Start one KFQMap server, wait until every parcels layer is listed, touch each layer once.

    ``prime_zooms``: also request the first listed tile of each of these zooms (only on a server that caches
    nothing), so one-off per-layer, per-zoom preparation is paid here and reported, not inside a figure."""
    base = f"http://127.0.0.1:{port}"
    if answers(f"{base}/collections", 2):
        raise SystemExit(f"something already listens on :{port}; pick --port/--cold-port")
    procs.start(name, shlex.split(server_cmd.format(port=port)), env=env)
    t_ready = procs.wait_ready(name, [f"{base}/collections"] + [f"{base}/collections/parcels_{s}" for s in sizes], 180)
    su = {"ready_s": round(t_ready, 2)}
    for s in sizes:  # first touch: layers are read and prepared on first use (in no figure below)
        meta = json.load(open(DATA / f"parcels_{s}.meta.json"))
        if not tiles_only:
            bb = ",".join(map(str, meta["bbox"]))
            stc, _, _, t = http_get(f"{base}/collections/parcels_{s}/items?limit=1&bbox={bb}", timeout=180)
            su[f"first_items_{s}"] = {"status": stc, "s": round(t, 3)}
            # every feature's GeoJSON once (the server caches encoded features, as PostGIS keeps warm buffers)
            t0 = time.perf_counter()
            for off in range(0, s, 10000):
                http_get(f"{base}/collections/parcels_{s}/items?limit=10000&offset={off}", timeout=180)
            su[f"all_items_once_{s}_s"] = round(time.perf_counter() - t0, 2)
        # a z15 tile (z15 is never measured): prepares the layer for tiling (projection, index, min zooms)
        cx, cy = (meta["bbox"][0] + meta["bbox"][2]) / 2, (meta["bbox"][1] + meta["bbox"][3]) / 2
        z, x, y = tiles_for_bbox([cx, cy, cx, cy], [15], 1)[0]
        path = product["product"]["tiles"].split("/", 3)[3]          # same route on this server's port
        stc, _, _, t = http_get(f"{base}/" + path.format(n=s, z=z, x=x, y=y), timeout=180)
        su[f"first_tile_{s}"] = {"status": stc, "s": round(t, 3), "tile": f"{z}/{x}/{y}"}
        listed = tiles_for_bbox(meta["bbox"], list(prime_zooms), 50, 1)
        for pz in prime_zooms:
            z, x, y = next(t for t in listed if t[0] == pz)
            stc, _, _, t = http_get(f"{base}/" + path.format(n=s, z=z, x=x, y=y), timeout=180)
            su[f"first_z{pz}_tile_{s}_s"] = round(t, 3) if stc == 200 else f"status {stc}"
    su["rss_mb_after_first_touch"] = rss_mb(procs.procs[name][0].pid)
    log(name, json.dumps(su))
    return su


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="2000,200000")
    ap.add_argument("--only", default="tiles,png,bbox,item,seed", help="workloads: tiles,png,bbox,item,seed")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--concurrency", default="1,8")
    ap.add_argument("--cell-s", type=float, default=8.0, help="measure.py --duration per cell")
    ap.add_argument("--cell-n", type=int, default=300, help="measure.py --count per cell")
    ap.add_argument("--max-measure-s", type=float, default=600, help="measure.py --max-total per workload")
    ap.add_argument("--quick", action="store_true", help="200000 only, 1 repeat, 3 s cells, 1 seed run")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--cold-port", type=int, default=8010)
    ap.add_argument("--cold-env", default="KFQMAP_TILE_CACHE_SIZE=0",
                    help="NAME=VALUE;... that switches the server's tile cache off (kfqmap/tilecache.py): one cold "
                         "server, primed with one tile per zoom, runs beside the others in the same measure.py run. "
                         "'' = restart mode: a fresh server per cold cell, each tile of the list requested once "
                         "(then per-layer/per-zoom preparation lands inside the first tile of each zoom)")
    ap.add_argument("--cold-cell-s", type=float, default=240, help="time cap of one cold (restart-mode) cell")
    ap.add_argument("--serve-args", default="--log-level warning",
                    help="extra args for `kfqmap serve` (default silences the per-request access log, as the "
                         "anchors' uvicorn runs with --no-access-log)")
    ap.add_argument("--server-cmd", default="",
                    help="server command template ({port} substituted) instead of `kfqmap serve`; by default "
                         "`kfqmap serve`, or uvicorn on server.app:create_app when the CLI has no serve command yet")
    ap.add_argument("--product-json", default=str(REPO / "bench" / "product.json"))
    ap.add_argument("--seed-cmd", default="tiles seed --tileset parcels_{n} --zooms 10-16 --out {out} --quiet",
                    help="kfqmap sub-command timed against tippecanoe ({n}, {out} substituted)")
    ap.add_argument("--seed-repeats", type=int, default=None, help="default: min(repeats, 2)")
    ap.add_argument("--seed-sizes", default=None, help="sizes to seed (default: all --sizes)")
    ap.add_argument("--seed-timeout", type=float, default=900, help="seconds per kfqmap seed run")
    ap.add_argument("--pygeoapi-mvt", action="store_true",
                    help="also measure pygeoapi's MVT-postgresql tiles (PostGIS ST_AsMVT over HTTP) beside the cold "
                         "server: c=1, z16 (20 tiles) then z14 (8 tiles) in their own measure.py runs, one probe "
                         "each at z12/z10 (those end in HTTP 500 at pygeoapi's 10 s statement_timeout); ~2 min")
    ap.add_argument("--no-summary-copy", action="store_true", help="do not write bench/results/<stamp>-summary.md")
    a = ap.parse_args()
    if a.quick:
        a.sizes, a.repeats, a.cell_s = "200000", 1, 3.0
        a.seed_repeats = a.seed_repeats or 1
    sizes = [int(s) for s in a.sizes.split(",")]
    only = set(a.only.split(","))
    seed_reps = a.seed_repeats or min(a.repeats, 2)
    seed_sizes = [int(s) for s in a.seed_sizes.split(",")] if a.seed_sizes else sizes

    for s in sizes:
        if not (DATA / f"parcels_{s}.meta.json").exists() or not (TILES / f"dir_{s}").is_dir():
            raise SystemExit(f"missing /tmp/bench data or tiles for N={s}: run the anchors first (see bench/README.md)")
    if not Path(BENCH_PY).exists():
        raise SystemExit(f"{BENCH_PY} missing: run ../shared/bench-anchors/setup_anchors.sh")

    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    out = TMP / "results" / f"kfqmap-{stamp}"
    out.mkdir(parents=True, exist_ok=True)
    log("results in", out)
    git = lambda *c: subprocess.run(["git", "-C", str(REPO), *c], capture_output=True, text=True).stdout.strip()  # noqa: E731
    info = {"stamp": stamp, "git_head": git("rev-parse", "--short", "HEAD"), "git_log1": git("log", "-1", "--format=%h %s"),
            "git_dirty": len(git("status", "--porcelain", "--untracked-files=no").splitlines()),
            "host": platform.node(), "cpus": os.cpu_count(), "loadavg_start": os.getloadavg(), "args": vars(a)}

    product = json.load(open(a.product_json))
    port_fix = lambda t: t.replace("127.0.0.1:8000/", f"127.0.0.1:{a.port}/").replace("127.0.0.1:8010/", f"127.0.0.1:{a.cold_port}/")  # noqa: E731
    product = {k: {w: port_fix(t) for w, t in v.items()} for k, v in product.items() if not k.startswith("_")}
    cold_mode = "env" if a.cold_env else "restart"
    info["cold_mode"] = cold_mode

    # stop cleanly on SIGTERM/SIGHUP too (SIGINT is KeyboardInterrupt)
    def _term(signum, frame):
        raise SystemExit(f"signal {signum}")
    signal.signal(signal.SIGTERM, _term)
    signal.signal(signal.SIGHUP, _term)

    procs = Procs(out)
    results = {"info": info, "sizes": {}, "startup": {}}
    try:
        # 1. anchors
        if answers(f"{PYGEOAPI}/collections?f=json") and answers(f"{STATIC11}/"):
            log("anchors already up on :5000/:8002 — reusing them (not stopping them at the end)")
            results["anchors"] = "reused"
        else:
            procs.start("anchors", [BENCH_PY, str(ANCHORS / "run_anchors.py"), "--serve-only", "3000",
                                    "--sizes", ",".join(map(str, sizes))], stop="sigint")
            dt = procs.wait_ready("anchors", [f"{STATIC11}/", f"{PYGEOAPI}/collections?f=json"], 240)
            results["anchors"] = f"started by this run ({dt:.1f} s)"
        st, body, _, _ = http_get(f"{PYGEOAPI}/collections?f=json")
        anchor_ids = {c["id"] for c in json.loads(body).get("collections", [])} if st == 200 else set()
        missing = [s for s in sizes if f"parcels_{s}" not in anchor_ids]
        if missing:
            raise SystemExit(f"the anchors' pygeoapi does not serve parcels_{missing}; stop it or rerun with matching --sizes")

        # 2. KFQMap as shipped (and, with --cold-env, a persistent cold server)
        extra = ";".join(f"parcels_{s}={DATA / f'parcels_{s}.gpkg'}" for s in sizes)
        env = dict(os.environ, KFQMAP_EXTRA_LAYERS=extra, PYTHONPATH=str(REPO))
        cold_env = dict(env)
        for kv in filter(None, a.cold_env.split(";")):
            k, _, v = kv.partition("=")
            cold_env[k.strip()] = v.strip()
        server_cmd = a.server_cmd
        if not server_cmd:
            has_serve = subprocess.run([KFQMAP, "serve", "--help"], capture_output=True, timeout=60).returncode == 0
            server_cmd = (f"{shlex.quote(KFQMAP)} serve --host 127.0.0.1 --port {{port}} {a.serve_args}" if has_serve else
                          f"{shlex.quote(str(Path(KFQMAP).parent / 'python'))} -m uvicorn --factory server.app:create_app "
                          f"--host 127.0.0.1 --port {{port}} --no-access-log --log-level warning")
            if not has_serve:
                log("`kfqmap serve` not available yet: using uvicorn --factory server.app:create_app")
        info["server_cmd"] = server_cmd
        results["startup"]["product"] = start_product(procs, "product", a.port, env, server_cmd, sizes, product)
        if cold_mode == "env" and "tiles" in only:
            results["startup"]["product_cold"] = start_product(procs, "product_cold", a.cold_port, cold_env,
                                                               server_cmd, sizes, product, tiles_only=True,
                                                               prime_zooms=(10, 12, 14, 16))

        tfile = out / "targets.json"
        anchors_t = json.load(open(TMP / "targets.json"))
        json.dump({**anchors_t, **product}, open(tfile, "w"), indent=1)

        # 3. per size
        for s in sizes:
            meta = DATA / f"parcels_{s}.meta.json"
            res = results["sizes"].setdefault(str(s), {})
            if "tiles" in only:
                # PostGIS in-DB reference, same run (tables from the anchors' build)
                pgj = out / "pg_bench.jsonl"
                rc = subprocess.run([BENCH_PY, str(ANCHORS / "pg_bench.py"), "-n", str(s), "--repeats", str(a.repeats),
                                     "--per-zoom", "50", "--max-s", "240", "--json", str(pgj)],
                                    stdout=open(out / "pg_bench.log", "a"), stderr=subprocess.STDOUT, timeout=900).returncode
                pg = [json.loads(l) for l in open(pgj)] if pgj.exists() else []
                pg = [r for r in pg if r["n"] == s]
                res["postgis"] = pg[-1] if pg and rc == 0 else {"error": f"pg_bench rc={rc}"}
                log(f"postgis n={s}:", {v: {z: d["p50_ms"] for z, d in res["postgis"].get(v, {}).items()} for v in ("mvt4326", "mvt3857")})
                # KFQMap's tile engine in-process (no HTTP), same tile list: the like-with-like reading vs in-DB
                res["inproc"] = inproc_bench(s, out, a)
                log(f"kfqmap engine in-process n={s}: p50 ms per zoom",
                    {z: d.get("p50_ms") for z, d in res["inproc"].get("tiles", {}).items()})
                tiles = tiles_for_bbox(json.load(open(meta))["bbox"], [10, 12, 14, 16], 50, 1)
                # first pass on the fresh server = one cold request per tile (c=1); second pass = cache hits
                res["sweep"] = {}
                for label in ("product_first_pass", "product_second_pass"):
                    rows = sweep(label, product["product"]["tiles"], s, tiles, out / "sweep.jsonl")
                    res["sweep"][label] = sweep_summary(rows)
                    log(f"sweep {label} n={s}: (p50 ms, max bytes, median parcels) per zoom",
                        json.dumps({z: (d["p50_ms"], d["max_bytes"], d["median_features"]) for z, d in res["sweep"][label].items()}))
                tl = ["static_keepalive", "pygeoapi_tippecanoe", "product"] + \
                     (["product_cold"] if "product_cold" in procs.procs else [])
                run_measure(out, tfile, "tiles", meta, "static_keepalive", tl, a)
                if a.pygeoapi_mvt:
                    res["pygeoapi_mvt"] = pygeoapi_mvt_bench(out, tfile, meta, s, tiles, product, procs, a)
                if cold_mode == "restart":
                    # a fresh server per cell; the list's tiles are distinct, so every request renders
                    for rep in range(a.repeats):
                        for c in [int(v) for v in a.concurrency.split(",")]:
                            results["startup"].setdefault("product_cold", []).append(
                                start_product(procs, "product_cold", a.cold_port, env, server_cmd, [s], product, tiles_only=True))
                            run_measure(out, tfile, "tiles", meta, "product_cold", ["product_cold"], a,
                                        extra=["--warmup", "0", "--count", str(len(tiles)), "--duration", str(a.cold_cell_s),
                                               "--repeats", "1", "--concurrency", str(c)])
                            procs.stop("product_cold")
            for wl in ("bbox", "item"):
                if wl in only and wl in product.get("product", {}):
                    run_measure(out, tfile, wl, meta, "pygeoapi_postgis", ["pygeoapi_postgis", "product"], a)
            if "bbox" in only and "bbox" in product.get("product", {}):
                res["bbox_check"] = bbox_check(product["product"]["bbox"], s, meta)
        if "png" in only and "tiles" in product.get("product_png", {}):
            s = max(sizes)
            meta = DATA / f"parcels_{s}.meta.json"
            tiles = tiles_for_bbox(json.load(open(meta))["bbox"], [10, 12, 14, 16], 50, 1)
            z, x, y = tiles[len(tiles) // 2]
            stc, body, hdr, t = http_get(product["product_png"]["tiles"].format(n=s, z=z, x=x, y=y), timeout=60)
            results["png_probe"] = {"status": stc, "bytes": len(body), "s": round(t, 3)}
            if stc == 200:
                rows = sweep("product_png_first_pass", product["product_png"]["tiles"], s, tiles, out / "sweep.jsonl")
                results["png_sweep"] = sweep_summary(rows)
                run_measure(out, tfile, "tiles", meta, "static_keepalive", ["static_keepalive", "product_png"], a,
                            label_prefix="png ")
            else:
                log("png route not answering 200 — skipped:", results["png_probe"])
        for name in list(procs.procs):
            if name.startswith("product"):
                results["startup"].setdefault(name, {})["rss_mb_end"] = rss_mb(procs.procs[name][0].pid)

        # 4. seeding vs tippecanoe (servers idle)
        if "seed" in only:
            results["seed"] = {}
            for s in seed_sizes:
                results["seed"][str(s)] = seed_bench(s, env, out, seed_reps, a)
    except KeyboardInterrupt:
        log("interrupted")
        results["interrupted"] = True
    finally:
        procs.stop_all()
        info["loadavg_end"] = os.getloadavg()
        json.dump(results, open(out / "results.json", "w"), indent=1, ensure_ascii=False, default=str)

    md = summarize(out, results)
    (out / "summary.md").write_text(md)
    print(md)
    if not a.no_summary_copy:
        dest = REPO / "bench" / "results" / f"{stamp}-summary.md"
        dest.parent.mkdir(exist_ok=True)
        dest.write_text(md)
        log("summary copied to", dest.relative_to(REPO))
    log("done; results in", out)


def inproc_bench(n, out, a):
    """profile_inproc.py --tiles-only in a subprocess (the product's venv): the tile engine called in-process on
    the tile list measure.py and pg_bench.py (--per-zoom 50) use; first tile of each zoom primed, outside the
    figures. Returns its JSON object (or {"error": ...})."""
    js = out / "inproc.jsonl"
    py = str(Path(KFQMAP).parent / "python")
    cmd = [py, str(REPO / "bench" / "profile_inproc.py"), "-n", str(n), "--per-zoom", "50", "--repeats", str(a.repeats),
           "--max-s", "240", "--tiles-only", "--json", str(js)]
    log("$", shlex.join(cmd))
    dt, rc = timed_cmd(cmd, dict(os.environ, PYTHONPATH=str(REPO)), 900, out / "inproc.log")
    rows = [json.loads(l) for l in open(js)] if js.exists() else []
    rows = [r for r in rows if r.get("n") == n]
    return dict(rows[-1], wall_s=round(dt, 1)) if rows and rc == 0 else {"error": f"profile_inproc rc={rc}"}


def pygeoapi_mvt_bench(out, tfile, meta, n, tiles, product, procs, a):
    """pygeoapi's MVT-postgresql (PostGIS ST_AsMVT behind pygeoapi's HTTP) beside KFQMap's cold server and the
    static floor, c=1, in its own measure.py runs so its slow tiles cannot spill into the main tiles cells:
    z16 (first 20 tiles of the shuffled list) and z14 (first 8), one warm-up request each; z12 and z10 get one
    probe request each (pygeoapi's statement_timeout is 10 s: they are expected to fail with HTTP 500)."""
    res = {"runs": {}, "probes": {}}
    tl = ["static_keepalive", "pygeoapi_postgis"] + (["product_cold"] if "product_cold" in procs.procs else [])
    for z, count, dur in ((16, 20, 45), (14, 8, 70)):
        rc = run_measure(out, tfile, "tiles", meta, "static_keepalive", tl, a, label_prefix="pgmvt ",
                         extra=["--zooms", str(z), "--concurrency", "1", "--repeats", "1", "--count", str(count),
                                "--duration", str(dur), "--warmup", "1", "--timeout", "20",
                                "--max-total", str(3 * dur + 60)])
        res["runs"][z] = rc
    templ = json.load(open(tfile))["pygeoapi_postgis"]["tiles"]
    for pz in (12, 10):
        z, x, y = next(t for t in tiles if t[0] == pz)
        st, body, _, t = http_get(templ.format(n=n, z=z, x=x, y=y), timeout=30)
        res["probes"][pz] = {"tile": f"{z}/{x}/{y}", "status": st, "s": round(t, 2), "bytes": len(body)}
        log(f"pygeoapi MVT probe z{pz}:", res["probes"][pz])
        time.sleep(1)
    return res


def bbox_check(template, n, meta_path, k=5):
    """Same boxes to the product and pygeoapi: numberReturned / numberMatched / bytes side by side."""
    meta = json.load(open(meta_path))
    sys.path.insert(0, str(ANCHORS))
    from measure import bboxes_for
    rows = []
    for bb in bboxes_for(meta, 500, 1000, 1)[:k]:
        b = "%s,%s,%s,%s" % bb
        r = {"bbox": b}
        for name, url in (("product", template.format(n=n, bbox=b)),
                          ("pygeoapi", f"{PYGEOAPI}/collections/parcels_{n}/items?bbox={b}&limit=1000&f=json")):
            st, body, hdr, t = http_get(url, timeout=60)
            try:
                d = json.loads(body)
                r[name] = {"status": st, "returned": d.get("numberReturned", len(d.get("features", []))),
                           "matched": d.get("numberMatched"), "bytes": len(body), "ms": round(t * 1e3, 1)}
            except ValueError:
                r[name] = {"status": st, "bytes": len(body)}
        rows.append(r)
    return rows


def seed_bench(n, env, out, reps, a):
    src = DATA / f"parcels_{n}.geojson"
    sdir = TMP / "seed"
    sdir.mkdir(exist_ok=True)
    tc_out, kf_out = sdir / f"tippecanoe_{n}.pmtiles", sdir / f"kfqmap_{n}.pmtiles"
    tc_cmd = [str(Path(BENCH_PY).parent / "tippecanoe"), "-q", "-f", "-o", str(tc_out), "-l", "parcels",
              "-Z10", "-z16", "--drop-densest-as-needed", str(src)]
    kf_cmd = [KFQMAP, *shlex.split(a.seed_cmd.format(n=n, out=kf_out))]
    r = {"tippecanoe_cmd": shlex.join(tc_cmd), "kfqmap_cmd": shlex.join(kf_cmd), "tippecanoe_s": [], "kfqmap_s": [], "kfqmap_rc": []}
    for i in range(reps):            # alternate so that drift hits both
        for name in (("tippecanoe", "kfqmap") if i % 2 == 0 else ("kfqmap", "tippecanoe")):
            if name == "tippecanoe":
                dt, rc = timed_cmd(tc_cmd, None, 600, out / "seed.log")
                r["tippecanoe_s"].append(round(dt, 2) if rc == 0 else f"rc={rc}")
            else:
                if kf_out.exists():
                    kf_out.unlink()
                dt, rc = timed_cmd(kf_cmd, env, a.seed_timeout, out / "seed.log")
                r["kfqmap_s"].append(round(dt, 2))
                r["kfqmap_rc"].append(rc)
            log(f"seed n={n} {name}: {dt:.2f} s rc={rc}")
    ok = [t for t, rc in zip(r["kfqmap_s"], r["kfqmap_rc"]) if rc == 0]
    tc = [t for t in r["tippecanoe_s"] if isinstance(t, float)]
    r["tippecanoe_median_s"] = round(statistics.median(tc), 2) if tc else None
    r["kfqmap_median_s"] = round(statistics.median(ok), 2) if ok else None
    r["ratio"] = round(r["kfqmap_median_s"] / r["tippecanoe_median_s"], 2) if ok and tc else None
    if tc_out.exists():
        r["tippecanoe_pmtiles"] = pmtiles_stats(tc_out)
    if kf_out.exists() and ok:
        r["kfqmap_pmtiles"] = pmtiles_stats(kf_out)
    with open(out / "seed.jsonl", "a") as f:
        f.write(json.dumps({"n": n, **r}, default=str) + "\n")
    return r


# ------------------------------------------------------------------ summary
def _measure_rows(out):
    p = out / "measure.jsonl"
    return [json.loads(l) for l in open(p)] if p.exists() else []


def _m(rows, n, wl, target, conc, prefix=""):
    """One (size, workload, target, concurrency) cell, aggregated over every measure.py row that holds it
    (restart-mode cold cells come one repeat per row): medians of the per-row medians. ``prefix``: the label
    prefix of a separate run (e.g. "pgmvt ")."""
    rs = [r for r in rows if r["label"] == f"{prefix}n={n}" and r["workload"] == wl and r["target"] == target
          and r["concurrency"] == conc]
    if not rs:
        return None
    med = lambda v: round(statistics.median(v), 2) if v else None  # noqa: E731
    keys = sorted({g for r in rs for g in r.get("groups_median", {})})
    return {"target": target, "workload": wl, "concurrency": conc, "rows": len(rs),
            "runs": sum(len(r["runs"]) for r in rs),
            "median": {k: med([r["median"][k] for r in rs]) for k in ("p50_ms", "p95_ms", "rps", "mean_bytes")},
            "rps_min": min(r["rps_min"] for r in rs), "rps_max": max(r["rps_max"] for r in rs),
            "errors": sum(r["errors"] for r in rs), "baseline": rs[0]["baseline"],
            "groups_median": {g: {"p50_ms": med([r["groups_median"][g]["p50_ms"] for r in rs if g in r["groups_median"]]),
                                  "ok": sum(r["groups_median"][g].get("ok", 0) for r in rs if g in r["groups_median"])}
                              for g in keys},
            "statuses": {k: sum(r.get("statuses", {}).get(k, 0) for r in rs)
                         for k in sorted({k for r in rs for k in r.get("statuses", {})})}}


def _fmt(v, nd=2):
    return "—" if v is None else (f"{v:.{nd}f}" if isinstance(v, float) else str(v))


def verdict(ok):
    return "—" if ok is None else ("**met**" if ok else "**not met**")


def summarize(out, res):
    info = res["info"]
    rows = _measure_rows(out)
    L = [f"# KFQMap vs anchors — {info['stamp']} UTC", "",
         f"Code: `{info['git_log1']}` (+{info['git_dirty']} modified tracked files in the working tree). "
         f"Machine: {info['cpus']} CPUs, load average {tuple(round(x, 2) for x in info['loadavg_start'])} at start, "
         f"{tuple(round(x, 2) for x in info.get('loadavg_end', ()))} at end. Repeats {info['args']['repeats']}, cells ≤{info['args']['cell_n']} "
         f"requests / ≤{info['args']['cell_s']} s; client measure.py (httpx, one process, same 2 cores). Cold tiles: "
         f"{'a server with ' + info['args']['cold_env'] if info.get('cold_mode') == 'env' else 'a fresh server per cell, each tile of the list requested once'}. "
         f"Server: `{info.get('server_cmd', '?')}`. Raw data: `{out}`.", "",
         "Read ratios, not absolutes: every figure below comes from this one run.", ""]
    targets = []
    for n in sorted(res["sizes"], key=int):
        sz = res["sizes"][n]
        pg = sz.get("postgis", {})
        cold1, cold8 = _m(rows, n, "tiles", "product_cold", 1), _m(rows, n, "tiles", "product_cold", 8)
        stat1 = _m(rows, n, "tiles", "static_keepalive", 1)
        warm1 = _m(rows, n, "tiles", "product", 1)
        sw1 = sz.get("sweep", {}).get("product_first_pass", {})
        sw2 = sz.get("sweep", {}).get("product_second_pass", {})
        ip = sz.get("inproc", {}).get("tiles", {})
        pgm = sz.get("pygeoapi_mvt")
        if pg.get("mvt4326") or cold1 or sw1 or ip:
            L += [f"## Tiles per zoom, N={n}", "",
                  "p50 ms unless said. PostGIS = in-database `ST_AsMVT` through psycopg (no HTTP); KFQMap engine "
                  "in-process = `bench/profile_inproc.py --tiles-only`, the tile engine called in one Python process "
                  "(no HTTP, no tile cache; each zoom's first tile rendered once beforehand, see Start-up), on the same "
                  "tile list — the like-with-like reading against PostGIS in-DB; KFQMap cold = HTTP to a server whose "
                  "cache does not hold the tile; 'floor' = static keep-alive server's HTTP p50 for the same tiles (the "
                  "cost of any HTTP answer here)." +
                  (" pygeoapi MVT = pygeoapi's MVT-postgresql provider (PostGIS `ST_AsMVT` behind pygeoapi's HTTP), "
                   "c=1, in its own short run beside the cold server (HTTP vs HTTP; see the note below the table)."
                   if pgm else ""), "",
                  "| zoom | PostGIS 4326 | PostGIS 3857 | KFQMap engine in-process p50 | × PostGIS in-DB | KFQMap cold c=1 (HTTP) | "
                  "× PostGIS 4326 | floor | × PostGIS, floor removed | " +
                  ("pygeoapi MVT c=1 (HTTP) | KFQMap cold ÷ pygeoapi MVT (same run) | " if pgm else "") +
                  "KFQMap cold c=8 | KFQMap first pass (seq.) | KFQMap warm c=1 | KFQMap max / mean B | PostGIS mean B | "
                  "tippecanoe max B | parcels/tile KFQMap / tippecanoe / PostGIS-all |",
                  "|---|---|---|---|---|---|---|---|---|" + ("---|---|" if pgm else "") + "---|---|---|---|---|---|---|"]
            pg_rows = {}
            if pgm:
                for t in ("pygeoapi_postgis", "product_cold", "static_keepalive"):
                    pg_rows[t] = _m(rows, n, "tiles", t, 1, prefix="pgmvt ")
            for z in (10, 12, 14, 16):
                g = f"z{z}"
                pz = pg.get("mvt4326", {}).get(str(z), {})
                p3 = pg.get("mvt3857", {}).get(str(z), {})
                gp = lambda c: (c or {}).get("groups_median", {}).get(g, {}).get("p50_ms")  # noqa: E731
                c, s_, w, c8 = gp(cold1), gp(stat1), gp(warm1), gp(cold8)
                ref = pz.get("p50_ms")
                x = c / ref if c and ref else None
                xadj = max(c - s_, 0) / ref if c is not None and s_ is not None and ref else None
                e = (ip.get(str(z)) or ip.get(z) or {}).get("p50_ms")
                xe = e / ref if e and ref else None
                pgcols = ""
                http_vs_http = []
                if pgm:
                    pgz, pcz = gp(pg_rows["pygeoapi_postgis"]), gp(pg_rows["product_cold"])
                    probe = (pgm.get("probes") or {}).get(z) or (pgm.get("probes") or {}).get(str(z))
                    if pgz is None and probe:
                        pgcols = f"fails: {probe['status']} after {probe['s']} s (1 probe) | — | "
                    else:
                        ok = (pg_rows["pygeoapi_postgis"] or {}).get("groups_median", {}).get(g, {}).get("ok")
                        pgcols = (f"{_fmt(pgz)}{f' ({ok} tiles)' if ok else ''} | "
                                  f"{_fmt(pcz / pgz if pcz and pgz else None, 3)} | ")
                    if pgz and pcz:
                        xh = pcz / pgz
                        http_vs_http.append((f"N={n} cold MVT z{z} ≤ {COLD_X_POSTGIS}× PostGIS — HTTP vs HTTP "
                                        f"(pygeoapi MVT-postgresql, c=1, separate short run)",
                                        f"{pcz:.2f} ms vs {pgz:.2f} ms (both HTTP)", f"{xh:.3f}×", xh <= COLD_X_POSTGIS))
                    elif probe and probe.get("status") != 200 and c:
                        http_vs_http.append((f"N={n} cold MVT z{z} ≤ {COLD_X_POSTGIS}× PostGIS — HTTP vs HTTP "
                                        f"(pygeoapi MVT-postgresql)",
                                        f"{c:.2f} ms vs pygeoapi {probe['status']} after {probe['s']} s (no tile)", "—",
                                        None))
                d = sw1.get(z) or sw1.get(str(z)) or {}
                L.append(f"| {z} | {_fmt(ref)} | {_fmt(p3.get('p50_ms'))} | {_fmt(e)} | {_fmt(xe)} | {_fmt(c)} | {_fmt(x)} | "
                         f"{_fmt(s_)} | {_fmt(xadj)} | {pgcols}"
                         f"{_fmt(c8)} | {_fmt(d.get('p50_ms'))} | {_fmt(w)} | {_fmt(d.get('max_bytes'))} / {_fmt(d.get('mean_bytes'))} | "
                         f"{_fmt(pz.get('mean_bytes'))} | {_fmt(d.get('tippecanoe_max_bytes'))} | "
                         f"{_fmt(d.get('median_features'))} / {_fmt(d.get('tippecanoe_median_features'))} / all |")
                if x is not None:
                    targets.append((f"N={n} cold MVT z{z} ≤ {COLD_X_POSTGIS}× PostGIS — HTTP (KFQMap cold server, c=1) "
                                    f"vs in-DB",
                                    f"{c:.2f} ms (HTTP) vs {ref:.2f} ms (in-DB); static-server floor {_fmt(s_)} ms",
                                    f"{x:.2f}× ({_fmt(xadj)}× floor removed)", x <= COLD_X_POSTGIS))
                if xe is not None:
                    targets.append((f"N={n} cold MVT z{z} ≤ {COLD_X_POSTGIS}× PostGIS — in-process engine vs in-DB "
                                    f"(like with like)", f"{e:.2f} ms vs {ref:.2f} ms (neither over HTTP)",
                                    f"{xe:.2f}×", xe <= COLD_X_POSTGIS))
                targets.extend(http_vs_http)
            if pgm:
                L.append("")
                pr = pgm.get("probes") or {}
                L.append("pygeoapi MVT run (c=1, one warm-up request, same shuffled tile list as measure.py, z16 then z14): "
                         + "; ".join(f"{t}: " + ", ".join(f"{g} {v['p50_ms']} ms ({v.get('ok')} ok)" for g, v in
                                                           (pg_rows[t] or {}).get("groups_median", {}).items())
                                     + f", statuses {json.dumps((pg_rows[t] or {}).get('statuses', {}))}"
                                     for t in pg_rows if pg_rows[t])
                         + ". Probes: " + ", ".join(f"z{z} {v['tile']} → {v['status']} in {v['s']} s" for z, v in pr.items())
                         + ". (pygeoapi's provider calls `ST_Transform(geom, 'EPSG:3857')` with a text SRS, ~7 ms per "
                           "feature in PostGIS 3.3, and its statement_timeout is 10 s: ANCHORS.md.)")
            L.append("")
            mx = [(d.get("max_bytes") or 0, z) for z, d in sw1.items()]
            if mx:
                b, z = max(mx)
                targets.append((f"N={n} no tile > {MAX_TILE_BYTES // 1000} KB (every z10/z12 tile, 50 at z14/z16)",
                                f"max {b} B at z{z}", "", b <= MAX_TILE_BYTES))
            if sw2:
                L.append("Second sequential pass on the same server (cache hits), p50 ms: " +
                         ", ".join(f"z{z} {_fmt(d['p50_ms'])}" for z, d in sw2.items()) +
                         "; first pass: " + ", ".join(f"z{z} {_fmt(d['p50_ms'])}" for z, d in sw1.items()) + ".")
                L.append("")
        cells = []
        for wl, tl in (("tiles", ["static_keepalive", "pygeoapi_tippecanoe", "pygeoapi_postgis", "product", "product_cold"]),
                       ("bbox", ["pygeoapi_postgis", "product"]), ("item", ["pygeoapi_postgis", "product"])):
            for conc in (1, 8):
                base = None
                for t in tl:
                    c = _m(rows, n, wl, t, conc)
                    if c:
                        base = base or c
                        cells.append((c, base))
        if cells:
            L += [f"## HTTP, N={n} (medians over repeats)", "",
                  "| workload | target | c | p50 ms | p95 ms | req/s | rps min–max | errors | bytes/resp | × req/s vs first row |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
            for c, base in cells:
                m = c["median"]
                xr = m["rps"] / base["median"]["rps"] if base["median"]["rps"] else None
                L.append(f"| {c['workload']} | {c['target']} | {c['concurrency']} | {m['p50_ms']} | {m['p95_ms']} | {m['rps']} | "
                         f"{c['rps_min']}–{c['rps_max']} | {c['errors']} | {_fmt(m['mean_bytes'])} | {_fmt(xr)} ({base['target']}) |")
            L.append("")
        for conc in (1, 8):
            wr, sr = _m(rows, n, "tiles", "product", conc), _m(rows, n, "tiles", "static_keepalive", conc)
            if wr and sr and sr["median"]["rps"]:
                x = wr["median"]["rps"] / sr["median"]["rps"]
                targets.append((f"N={n} warm tiles ≥ {WARM_X_STATIC:.0%} of static ceiling, c={conc}",
                                f"{wr['median']['rps']} vs {sr['median']['rps']} req/s", f"{x:.2f}×", x >= WARM_X_STATIC))
        br, bp = _m(rows, n, "bbox", "product", 8), _m(rows, n, "bbox", "pygeoapi_postgis", 8)
        if br and bp and bp["median"]["rps"]:
            x = br["median"]["rps"] / bp["median"]["rps"]
            targets.append((f"N={n} items bbox ≥ {BBOX_X_PYGEOAPI_C8:.0f}× pygeoapi req/s at c=8",
                            f"{br['median']['rps']} vs {bp['median']['rps']} req/s", f"{x:.2f}×", x >= BBOX_X_PYGEOAPI_C8))
        if sz.get("bbox_check"):
            bc = sz["bbox_check"]
            L.append(f"bbox spot check N={n} (same 5 boxes, returned/matched): KFQMap " +
                     ", ".join(f"{r.get('product', {}).get('returned')}/{r.get('product', {}).get('matched')}" for r in bc) +
                     "; pygeoapi " + ", ".join(f"{r.get('pygeoapi', {}).get('returned')}/{r.get('pygeoapi', {}).get('matched')}" for r in bc))
            L.append("")
    png_rows = [dict(r, label="n=png") for r in rows if r["label"].startswith("png ")]
    png_cells = [_m(png_rows, "png", "tiles", t, c) for t in ("static_keepalive", "product_png") for c in (1, 8)]
    png_cells = [c for c in png_cells if c]
    if png_cells:
        L += ["## PNG tiles (no anchor)", "", "| target | c | p50 ms | req/s | bytes |", "|---|---|---|---|---|"]
        for c in png_cells:
            L.append(f"| {c['target']} | {c['concurrency']} | {c['median']['p50_ms']} | {c['median']['rps']} | {_fmt(c['median']['mean_bytes'])} |")
        if res.get("png_sweep"):
            L.append("")
            L.append("PNG first pass (render) p50 ms per zoom: " + ", ".join(f"z{z} {_fmt(d['p50_ms'])}" for z, d in res["png_sweep"].items()))
        L.append("")
    if res.get("seed"):
        L += ["## Seeding z10–16 vs tippecanoe (alternating runs)", "",
              "| N | tippecanoe s | kfqmap seed s | ratio | tippecanoe tiles / max B | kfqmap tiles / max B (tile) |", "|---|---|---|---|---|---|"]
        for n, r in res["seed"].items():
            tp, kp = r.get("tippecanoe_pmtiles", {}), r.get("kfqmap_pmtiles", {})
            L.append(f"| {n} | {r['tippecanoe_s']} | {r['kfqmap_s']} rc {r['kfqmap_rc']} | {_fmt(r.get('ratio'))} | "
                     f"{tp.get('tiles_read')} / {tp.get('max_tile_bytes')} | {kp.get('tiles_read')} / {kp.get('max_tile_bytes')} ({kp.get('max_tile')}) |")
            if r.get("ratio") is not None:
                targets.append((f"N={n} seed z10–16 ≤ {SEED_X_TIPPECANOE:.0f}× tippecanoe", f"{r['kfqmap_median_s']} s vs {r['tippecanoe_median_s']} s",
                                f"{r['ratio']}×", r["ratio"] <= SEED_X_TIPPECANOE))
            if kp.get("max_tile_bytes"):
                targets.append((f"N={n} no seeded tile > {MAX_TILE_BYTES // 1000} KB", f"max {kp['max_tile_bytes']} B ({kp['max_tile']})", "",
                                kp["max_tile_bytes"] <= MAX_TILE_BYTES))
        L.append("")
    if res.get("startup"):
        L += ["## Start-up (in no figure above)", ""]
        for k, v in res["startup"].items():
            L.append(f"- {k}: {json.dumps(v, ensure_ascii=False)}")
        for n in sorted(res["sizes"], key=int):
            ipr = res["sizes"][n].get("inproc")
            if ipr:
                L.append(f"- KFQMap engine in-process N={n}: " + json.dumps(
                    {k: ipr.get(k) for k in ("read_s", "tiles_prepare_s", "prime_ms", "tile_list", "wall_s", "error")
                     if ipr.get(k) is not None}, ensure_ascii=False) +
                    " (prime_ms: each zoom's first tile, i.e. per-zoom preparation: tile index, simplified or "
                    "pre-encoded geometry)")
        L.append("")
    head = ["## Targets (issue 4)", "", "| target | measured | ratio | verdict |", "|---|---|---|---|"]
    head += [f"| {t} | {m} | {x} | {verdict(ok)} |" for t, m, x, ok in targets] or ["| (no figures) | | | |"]
    i = L.index("Read ratios, not absolutes: every figure below comes from this one run.") + 2
    return "\n".join(L[:i] + head + [""] + L[i:]) + "\n"


if __name__ == "__main__":
    main()
