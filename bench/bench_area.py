#!/usr/bin/env python3
"""Benchmark: KFQMap's ellipsoidal area and 20-zone overlay vs the plain geopandas/pyproj anchor, same run.

    .venv/bin/python bench/bench_area.py [-n 200000] [--repeats 3] [--data-dir /tmp/bench/data] [--json out.jsonl]

On demand, not a test. Data: the seeded synthetic parcels of ../shared/bench-anchors (generated with its
``make_parcels.py`` if absent). The anchor's steps are those of ``area_stats.py`` (its ``zones()`` is imported,
so the 20 zones are identical):

  baseline planar     to_crs(EPSG:4549) + .area.sum()
  baseline geodesic   pyproj.Geod(ellps='GRS80').geometry_area_perimeter for every parcel (Python loop)
  baseline overlay    geopandas.overlay(parcels_4549, zones_4549, how='intersection') + area per zone
                      (as in the anchor, the parcels' projection is reused from the planar step, untimed here)
  kfqmap area         kfqmap.area.ellipsoidal_area(parcels)     (CGCS2000 ellipsoid, vectorised)
  kfqmap overlay      kfqmap.stats.overlay_pairs(parcels, zones) + np.bincount per zone
                      (STRtree candidates, prepared contains/intersects, intersections only for the
                      parcels that cross a zone boundary, in the equal-area plane; ellipsoidal m²)

Steps are interleaved within each repeat; medians are printed with features/s and ratios, plus the totals
(the product's must agree with the anchor's: ellipsoidal vs Geod to ~1e-7; overlay vs the planar EPSG:4549
overlay by the Gauss-Krüger scale, ~+0.02 %).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ANCHORS = Path(__file__).resolve().parents[2] / "shared" / "bench-anchors"
if not ANCHORS.exists():
    ANCHORS = Path("/work/shared/bench-anchors")


def ensure_data(data_dir: Path, n: int) -> Path:
    gpkg = data_dir / f"parcels_{n}.gpkg"
    if not gpkg.exists() or not (data_dir / f"parcels_{n}.meta.json").exists():
        print(f"# generating parcels_{n} into {data_dir} with {ANCHORS / 'make_parcels.py'}", flush=True)
        subprocess.run([sys.executable, str(ANCHORS / "make_parcels.py"), "-n", str(n), "--out", str(data_dir)],
                       check=True)
    return gpkg


_CPU: dict[str, list[float]] = {}


def timed(fn, step=None):
    """Wall seconds of ``fn()`` (and its process CPU seconds, all threads, kept per step)."""
    c0 = time.process_time()
    t0 = time.perf_counter()
    out = fn()
    wall = time.perf_counter() - t0
    if step:
        _CPU.setdefault(step, []).append(time.process_time() - c0)
    return wall, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=200_000)
    ap.add_argument("--data-dir", default="/tmp/bench/data")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-geodesic", action="store_true", help="skip the slow Geod loop (~2 s per repeat)")
    ap.add_argument("--json", help="append the result as one JSON line to this file")
    a = ap.parse_args()

    sys.path.insert(0, str(ANCHORS))
    import geopandas as gpd
    import pyogrio
    from pyproj import Geod
    from area_stats import zones  # the anchor's seeded 20 zones

    import kfqmap.area as ka
    import kfqmap.stats as ks

    data_dir = Path(a.data_dir)
    gpkg = ensure_data(data_dir, a.n)
    meta = json.loads((data_dir / f"parcels_{a.n}.meta.json").read_text())
    g = pyogrio.read_dataframe(gpkg)
    z = zones(meta["bbox"])
    n = len(g)
    parcels = np.asarray(g.geometry.values, dtype=object)
    zone_geoms = np.asarray(z.geometry.values, dtype=object)
    geod = Geod(ellps="GRS80")

    steps = ["baseline_planar", "baseline_geodesic", "baseline_overlay", "kfqmap_area", "kfqmap_overlay"]
    if a.skip_geodesic:
        steps.remove("baseline_geodesic")
    times: dict[str, list[float]] = {s: [] for s in steps}
    totals: dict[str, float] = {}

    def baseline_planar():
        gp = g.to_crs("EPSG:4549")
        return gp, float(gp.area.sum())

    def baseline_overlay(gp):
        zp = z.to_crs("EPSG:4549")
        ov = gpd.overlay(gp[["id", "land_use", "geometry"]], zp, how="intersection", keep_geom_type=True)
        ov["a"] = ov.area
        return ov.groupby("zone")["a"].sum()

    def kfqmap_overlay():
        bi, ai, area = ks.overlay_pairs(parcels, zone_geoms)
        return np.bincount(bi, weights=area, minlength=len(zone_geoms)), len(ai)

    for rep in range(a.repeats):
        order = steps if rep % 2 == 0 else steps[::-1]
        gp = None
        for step in order:
            if step == "baseline_planar":
                t, (gp, planar) = timed(baseline_planar, step)
                totals["planar_m2_4549"] = planar
            elif step == "baseline_geodesic":
                t, geo = timed(lambda: float(sum(abs(geod.geometry_area_perimeter(x)[0]) for x in parcels)), step)
                totals["geodesic_m2_grs80"] = geo
            elif step == "baseline_overlay":
                if gp is None:
                    gp = g.to_crs("EPSG:4549")      # reused from the planar step, as in the anchor
                t, per_zone = timed(lambda: baseline_overlay(gp), step)
                totals["baseline_overlay_m2_4549"] = float(per_zone.sum())
                totals["baseline_zones_hit"] = int((per_zone > 0).sum())
            elif step == "kfqmap_area":
                t, ell = timed(lambda: ka.ellipsoidal_area(parcels), step)
                totals["kfqmap_ellipsoidal_m2"] = float(ell.sum())
            else:
                t, (per_zone_k, pieces) = timed(kfqmap_overlay, step)
                totals["kfqmap_overlay_m2_ellipsoidal"] = float(per_zone_k.sum())
                totals["kfqmap_overlay_pairs"] = int(pieces)
                totals["kfqmap_zones_hit"] = int((per_zone_k > 0).sum())
            times[step].append(t)

    med = {s: statistics.median(v) for s, v in times.items()}
    res = {"n": n, "repeats": a.repeats, "cpus": os.cpu_count(), "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
           "steps": {s: {"median_s": round(med[s], 4), "min_s": round(min(times[s]), 4), "max_s": round(max(times[s]), 4),
                         "features_per_s": int(n / med[s]) if med[s] > 0 else None,
                         "cpu_median_s": round(statistics.median(_CPU[s]), 4)} for s in steps},
           "totals": {k: (round(v, 1) if isinstance(v, float) else v) for k, v in totals.items()}}
    ratios = {"area_vs_planar": med["baseline_planar"] / med["kfqmap_area"],
              "overlay_vs_baseline_overlay": med["baseline_overlay"] / med["kfqmap_overlay"]}
    if "baseline_geodesic" in med:
        ratios["area_vs_geodesic_loop"] = med["baseline_geodesic"] / med["kfqmap_area"]
        totals_rel = (totals["kfqmap_ellipsoidal_m2"] - totals["geodesic_m2_grs80"]) / totals["geodesic_m2_grs80"]
        res["kfqmap_vs_geod_total_rel"] = float(f"{totals_rel:.3e}")
    res["ratios"] = {k: round(v, 2) for k, v in ratios.items()}
    res["overlay_ellipsoidal_vs_planar_rel"] = float(
        f"{(totals['kfqmap_overlay_m2_ellipsoidal'] / totals['baseline_overlay_m2_4549'] - 1):.3e}")
    res["ellipsoidal_vs_planar_rel"] = float(f"{(totals['kfqmap_ellipsoidal_m2'] / totals['planar_m2_4549'] - 1):.3e}")

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    res["loadavg_1min"] = round(load, 2)
    print(f"# {n} parcels, {a.repeats} repeats, {os.cpu_count()} CPUs, load average {load:.1f} "
          f"(wall medians, min–max; process CPU seconds, all threads)")
    for s in steps:
        r = res["steps"][s]
        print(f"{s:20s} {r['median_s']:8.4f} s  ({r['min_s']:.4f}–{r['max_s']:.4f})  {r['features_per_s']:>12,d} features/s"
              f"   cpu {r['cpu_median_s']:.4f} s")
    print(f"kfqmap area:    {ratios['area_vs_planar']:.2f}× baseline planar"
          + (f", {ratios['area_vs_geodesic_loop']:.1f}× the Geod loop" if "area_vs_geodesic_loop" in ratios else "")
          + f"  (target ≥ 1,000,000 features/s: {'met' if res['steps']['kfqmap_area']['features_per_s'] >= 1_000_000 else 'NOT met'})")
    print(f"kfqmap overlay: {ratios['overlay_vs_baseline_overlay']:.2f}× baseline gpd.overlay  (target ≥ 2×: "
          f"{'met' if ratios['overlay_vs_baseline_overlay'] >= 2 else 'NOT met'})")
    print(json.dumps(res, ensure_ascii=False))
    if a.json:
        with open(a.json, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(res, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
