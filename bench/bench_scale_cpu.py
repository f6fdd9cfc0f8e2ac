"""Where the CPU goes in a cold-tile cell of bench_scale.py (1 and 2 workers, N synthetic parcels, throwaway cluster):
CPU seconds of PostgreSQL, the workers and nginx over one wrk run (c=8, 15 s). On demand, never part of the tests.

    PYTHONPATH=$PWD .venv/bin/python bench/bench_scale_cpu.py 5000000
"""
import os, sys, time, tempfile, shutil, subprocess
from pathlib import Path
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT)); sys.path.insert(0, str(ROOT / "bench"))
import bench_scale as B
from tests.scale.pgpair import start_primary_empty

def cpu(pid):
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    except FileNotFoundError:
        return 0.0

def procs():
    out = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                out[int(p.name)] = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:80]
            except Exception:
                pass
    return out

n = int(sys.argv[1]) if len(sys.argv) > 1 else 5_000_000
work = Path(tempfile.mkdtemp(prefix="kfqmap-cpu-")); work.chmod(0o755)
c = start_primary_empty()
try:
    sql, bounds = B.parcels_sql(n); c.psql(sql)
    env = {"KFQMAP_EXTRA_LAYERS": f"parcels={c.dsn}#public.parcels"}
    tiles = B.tile_list(bounds, per_zoom=12000)
    for nw in (1, 2):
        st = B.Stack(work, env, nw)
        try:
            import asyncio
            asyncio.run(B.load(st.url, [B.kfq_tile(t) for t in tiles[-50:]], 2, 5, repeat=False))
            before = {pid: cpu(pid) for pid in procs()}
            t0 = time.monotonic(); l0 = open("/proc/loadavg").read().split()[0]
            mine = tiles[(nw - 1) * 6000:nw * 6000]
            r = B.load_wrk(st.url, [B.kfq_tile(t) for t in mine], 8, 15, work)
            el = time.monotonic() - t0
            names = procs()
            groups = {}
            for pid, name in names.items():
                d = cpu(pid) - before.get(pid, 0.0)
                if d <= 0.05: continue
                key = ("postgres" if "postgres" in name else "kfqmap worker" if "kfqmap" in name else
                       "nginx" if "nginx" in name else "wrk" if "wrk" in name else "other: " + name[:40])
                groups[key] = groups.get(key, 0) + d
            print(f"{nw} worker(s): {r['rps']:.0f} req/s over {el:.1f} s, load before {l0}; CPU-seconds: " +
                  ", ".join(f"{k} {v:.1f}" for k, v in sorted(groups.items(), key=lambda kv: -kv[1])), flush=True)
        finally:
            st.stop()
finally:
    c.stop(); shutil.rmtree(work, ignore_errors=True)
