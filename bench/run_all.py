#!/usr/bin/env python3
"""`make bench`: every benchmark in bench/, one after the other (on demand; never part of `make test`).

    .venv/bin/python bench/run_all.py [run_http.py options]      # e.g. --quick

1. run_http.py — KFQMap's HTTP tiles/items and tile seeding beside the anchors (options passed through)
2. bench_area.py — area and overlay vs the geopandas/pyproj anchor (N=200000), when present
Each step runs with a wall-clock cap; a failing step is reported and the next one still runs.
"""
from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PY = sys.executable
STEPS = [
    ("run_http.py", [PY, str(HERE / "run_http.py"), *sys.argv[1:]], 3600),
    ("bench_area.py", [PY, str(HERE / "bench_area.py"), "-n", "200000"], 1800),
]


def main() -> int:
    if any(a in ("-h", "--help") for a in sys.argv[1:]):
        print(__doc__)
        return 0
    failed = []
    for name, cmd, cap in STEPS:
        if not Path(cmd[1]).exists():
            print(f"== {name}: not present, skipped", flush=True)
            continue
        print(f"== {name}: {' '.join(cmd[1:])}", flush=True)
        p = subprocess.Popen(cmd)
        try:
            rc = p.wait(timeout=cap)
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGTERM)        # run_http.py stops everything it started on SIGTERM
            try:
                p.wait(timeout=180)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            rc = "timeout"
        if rc != 0:
            failed.append(f"{name} ({rc})")
    print("== done" + (f"; failed: {', '.join(failed)}" if failed else ""), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
