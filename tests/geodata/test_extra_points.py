"""reference/extra_points.csv: points found later for places the shared reference list lacks.

Each row must say where it comes from, in which CRS, and how sure it is; its WGS 84 copy must be the conversion by
its own CRS; a feature may only drop ``illustrative`` if its placement cites such a point; and every place the
plan names without any location source stays a flagged placeholder.
"""
from __future__ import annotations

import csv

import pytest
from pyproj import Geod
from shapely.geometry import shape

from kfqmap.crs import bd09_to_wgs84, gcj02_to_wgs84

from .geodata_common import GEODATA, raw_features

REF = GEODATA / "reference"
SHARED_COLUMNS = ["name", "lon", "lat", "crs", "kind", "source", "confidence", "note"]
_GEOD = Geod(ellps="WGS84")

# Places the plan names for which no trustworthy coordinate was found: they must stay placeholders.
STILL_PLACEHOLDERS = {
    "parks": ["中央商贸服务区", "综合保税区", "光电产业园", "留学人员创业园", "先进制造产业园", "哈工大机器人产业基地",
              "高端食品产业园", "精密机械产业园"],
    "axis_carriers": ["市民文化广场", "黄浦公园", "东部医疗中心", "国际会展中心", "时代大厦"],
    "renewal_sites": ["星巴克中国咖啡创新产业园"],
    "key_projects": ["建滔地产昆山中心", "城东市民活动中心", "东部医疗中心", "夏驾河湿地公园"],
}


def _rows(name: str) -> list[dict]:
    with (REF / name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _dist_m(a, b) -> float:
    return _GEOD.inv(a[0], a[1], b[0], b[1])[2]


def _feature(layer: str, name: str) -> dict:
    (f,) = [f for f in raw_features(layer) if f["properties"]["name"] == name]
    return f


def _s1(name: str) -> tuple[float, float]:
    f = _feature("s1_stations", name)
    return tuple(shape(f["geometry"]).coords[0])


def test_extra_points_have_the_shared_columns_and_provenance():
    with (REF / "extra_points.csv").open(encoding="utf-8", newline="") as fh:
        header = next(csv.reader(fh))
    assert header == SHARED_COLUMNS
    rows = _rows("extra_points.csv")
    assert rows
    for r in rows:
        assert r["crs"] in {"WGS84", "GCJ-02", "BD-09", "unknown"}, r["name"]
        assert r["confidence"] in {"high", "medium", "low"}, r["name"]
        assert len(r["source"]) > 20 and len(r["note"]) > 20, r["name"]
        lon, lat = float(r["lon"]), float(r["lat"])
        assert 120.8 < lon < 121.2 and 31.1 < lat < 31.6, r["name"]     # in or next to Kunshan


def test_extra_points_wgs84_is_the_conversion_by_each_rows_own_crs():
    src = {r["name"]: r for r in _rows("extra_points.csv")}
    out = {r["name"]: r for r in _rows("extra_points_wgs84.csv")}
    assert set(src) == set(out)
    for name, r in src.items():
        lon, lat, crs = float(r["lon"]), float(r["lat"]), r["crs"]
        if crs == "WGS84":
            want = (lon, lat)
        elif crs == "GCJ-02":
            want = gcj02_to_wgs84(lon, lat)
        elif crs == "BD-09":
            want = bd09_to_wgs84(lon, lat)
        else:
            g = gcj02_to_wgs84(lon, lat)
            want = ((lon + g[0]) / 2, (lat + g[1]) / 2)
        o = out[name]
        assert o["crs"] == "WGS84" and o["original_crs"] == crs
        assert _dist_m(want, (float(o["lon"]), float(o["lat"]))) < 0.5, name
        for k in ("kind", "source", "confidence", "note"):
            assert o[k] == r[k]


def test_city_government_carrier_is_sourced_and_cross_checked():
    f = _feature("axis_carriers", "市政府")
    p = f["properties"]
    assert p["illustrative"] is False
    assert "extra_points" in p["placement"] and "昆山城市广场" in p["placement"]
    assert 300 <= p["accuracy_m"] <= 1000            # a low-confidence app point: not better than a few hundred m
    pt = tuple(shape(f["geometry"]).coords[0])
    (row,) = [r for r in _rows("extra_points_wgs84.csv") if r["name"].startswith("昆山市政府")]
    assert _dist_m(pt, (float(row["lon"]), float(row["lat"]))) < 1.0
    # second source: the article puts the 市政府大楼 on 昆山城市广场 → near the S1 station of that name, and on the
    # 前进路 side of the old town (west of 青阳港, i.e. west of the 金浦大桥东 station)
    assert _dist_m(pt, _s1("昆山城市广场站")) < 500
    assert pt[0] < _s1("金浦大桥东站")[0]


def test_unsourced_places_stay_placeholders():
    for layer, names in STILL_PLACEHOLDERS.items():
        for n in names:
            f = _feature(layer, n) if layer != "key_projects" else next(
                f for f in raw_features(layer) if n in (f["properties"]["name"], f["properties"].get("alt_name")))
            p = f["properties"]
            assert p["illustrative"] is True, (layer, n)
            assert p["accuracy_m"] >= 1000, (layer, n)   # no tighter than before (1.2–4 km)


@pytest.mark.parametrize("layer", ["axis_carriers", "parks", "renewal_sites", "key_projects"])
def test_only_cited_points_lift_the_placeholder_flag(layer):
    """A formerly unplaced site that is no longer illustrative must name the extra point it rests on."""
    formerly = {"市民文化广场", "市政府", "黄浦公园", "东部医疗中心", "国际会展中心", "时代大厦", "中央商贸服务区", "综合保税区",
                "光电产业园", "留学人员创业园", "先进制造产业园", "哈工大机器人产业基地", "高端食品产业园", "精密机械产业园",
                "星巴克中国咖啡创新产业园", "建滔地产昆山中心", "城东市民活动中心", "夏驾河湿地公园"}
    for f in raw_features(layer):
        p = f["properties"]
        if p["name"] in formerly and not p["illustrative"]:
            assert "extra_points" in p["placement"], p["name"]
