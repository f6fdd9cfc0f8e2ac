"""Shared paths and helpers of the geodata tests (imported by name: tests/ has no packages)."""
from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GEODATA = ROOT / "geodata"
PLAN = GEODATA / "reference" / "kunshan-etdz-14th-five-year-plan.txt"


def raw_features(layer_id: str) -> list[dict]:
    """The GeoJSON features exactly as stored (no GDAL type coercion)."""
    data = json.loads((GEODATA / "layers" / f"{layer_id}.geojson").read_text(encoding="utf-8"))
    return data["features"]
