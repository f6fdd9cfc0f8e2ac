#!/usr/bin/env python3
"""sha256 of every MVT tile of the plan layers, to prove that a refactoring of ``kfqmap.tiles`` keeps the bytes.

    .venv/bin/python bench/tile_hashes.py record /tmp/tiles-before.json      # on the old code
    .venv/bin/python bench/tile_hashes.py record /tmp/tiles-after.json       # on the new code
    .venv/bin/python bench/tile_hashes.py compare /tmp/tiles-before.json /tmp/tiles-after.json

Tilesets: ``plan`` and one per plan layer (``TileEngine.plan_layers()``). Tiles: zooms 10–16 (``--zooms``), every
tile that some feature's bounds reach, grown by the clip buffer (so a tile that only holds a feature's buffer
edge is included); for ``plan`` the union over its layers. Empty tiles are recorded as ``""``.
126,409 tiles over the shipped geodata (mostly admin_boundaries at z15–16): ~5 min on one idle core.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def tiles_of(sources, z: int) -> list[tuple[int, int]]:
    from kfqmap.tiles import BUFFER, EXTENT, ORIGIN, tiles_for_bounds

    pad = 2 * ORIGIN / (1 << z) * BUFFER / EXTENT
    bounds = np.concatenate([s.bounds for s in sources if s.n]) + np.array([-pad, -pad, pad, pad])
    return [(int(x), int(y)) for x, y in tiles_for_bounds(bounds, z)]


def record(path: str, zooms: list[int]) -> None:
    from kfqmap.catalog import load_catalog
    from kfqmap.tiles import PLAN_TILESET, TileEngine

    engine = TileEngine(load_catalog())
    layers = [lyr.id for lyr in engine.plan_layers()]
    out: dict[str, dict[str, str]] = {}
    t0 = time.perf_counter()
    for name in [PLAN_TILESET] + layers:
        sources = engine.tileset(name).sources
        hashes = out.setdefault(name, {})
        for z in zooms:
            for x, y in tiles_of(sources, z):
                data = engine.tile(name, z, x, y)
                hashes[f"{z}/{x}/{y}"] = hashlib.sha256(data).hexdigest() if data else ""
        print(f"{name}: {len(hashes)} tiles ({sum(1 for h in hashes.values() if h)} non-empty), "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
    Path(path).write_text(json.dumps(out, sort_keys=True))


def compare(a: str, b: str) -> int:
    old, new = json.loads(Path(a).read_text()), json.loads(Path(b).read_text())
    total = same = 0
    diff: list[str] = []
    for name in sorted(set(old) | set(new)):
        o, n = old.get(name, {}), new.get(name, {})
        for key in sorted(set(o) | set(n)):
            total += 1
            if o.get(key) == n.get(key):
                same += 1
            else:
                diff.append(f"{name} {key}")
    print(f"{total} tiles compared, {same} identical, {len(diff)} differ")
    for d in diff:
        print("  differs:", d)
    return 0 if not diff else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    r.add_argument("out")
    r.add_argument("--zooms", default="10-16")
    c = sub.add_parser("compare")
    c.add_argument("a")
    c.add_argument("b")
    args = ap.parse_args()
    if args.cmd == "record":
        lo, hi = (int(v) for v in args.zooms.split("-"))
        record(args.out, list(range(lo, hi + 1)))
        return 0
    return compare(args.a, args.b)


if __name__ == "__main__":
    sys.exit(main())
