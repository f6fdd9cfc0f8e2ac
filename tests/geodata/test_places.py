"""The plan's named places (geodata/README.md's list) against the layers; per-feature placeholder flags; the S1 line
through its stations; honest accuracies where a location is not known."""
from __future__ import annotations

import re

import numpy as np
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import Point, shape

from .geodata_common import GEODATA, raw_features

_GK = Transformer.from_crs(4326, 4549, always_xy=True)


def gk(g):
    """WGS 84 geometry → CGCS2000 / GK CM 120E metres."""
    return shapely.transform(g, lambda a: np.column_stack(_GK.transform(a[:, 0], a[:, 1])))


def readme_places() -> list[dict]:
    """The rows of the place list in geodata/README.md, parsed from the Markdown (not from the build script)."""
    text = (GEODATA / "README.md").read_text(encoding="utf-8")
    assert "<!-- places:begin -->" in text and "<!-- places:end -->" in text
    block = text.split("<!-- places:begin -->", 1)[1].split("<!-- places:end -->", 1)[0]
    lines = [ln.strip() for ln in block.splitlines() if ln.strip().startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == ["名称", "规划章节", "图层", "要素 id", "定位", "精度（米）", "未定位原因"], header
    assert set(lines[1].replace("|", "").replace(" ", "")) == {"-"}
    rows = []
    for ln in lines[2:]:
        cells = [c.strip() for c in ln.strip("|").split("|")]
        assert len(cells) == len(header), ln
        rows.append(dict(zip(["name", "sections", "layer", "fid", "how", "accuracy", "reason"], cells)))
    return rows


ROWS = readme_places()


def _features(layer_id):
    return {f["properties"]["id"]: f for f in raw_features(layer_id)}


def _names(p) -> set[str]:
    out = {p["name"], p.get("alt_name")}
    out |= set((p.get("also_named") or "").split("、"))
    return out - {None, ""}


SECTION = re.compile(r"^(前言|全文|专栏[1-6]|[一二三四五六七八](（[一二三四五六七八]）)?\d?)(（.*）)?$")


def test_readme_lists_many_places_with_sections(raw_catalog):
    assert len(ROWS) >= 150
    ids = {e["id"] for e in raw_catalog["layers"]}
    for r in ROWS:
        assert r["layer"] in ids, r
        for s in r["sections"].split("；"):
            assert SECTION.match(s), (r["name"], s)


@pytest.mark.parametrize("row", ROWS, ids=[f"{r['layer']}:{r['fid']}:{r['name']}" for r in ROWS])
def test_every_listed_place_is_in_its_layer_or_marked_unlocated(row):
    feats = _features(row["layer"])
    assert row["fid"] in feats, f"{row['name']}: no feature {row['fid']} in {row['layer']}"
    f = feats[row["fid"]]
    p = f["properties"]
    assert row["name"] in _names(p), (row["name"], _names(p))
    if row["how"] == "未定位":
        assert row["layer"] == "unlocated_places" and f["geometry"] is None
        assert p["status"] == "未定位" and row["reason"] and row["reason"] == p["reason"]
        assert row["accuracy"] == "—"
    else:
        assert row["how"] in ("占位", "按参考点推定"), row
        assert f["geometry"] is not None and not shape(f["geometry"]).is_empty
        assert row["reason"] == ""
        assert p["placeholder"] is (row["how"] == "占位"), row
        assert float(row["accuracy"]) == p["accuracy_m"]


def test_every_unlocated_row_is_listed():
    listed = {r["fid"] for r in ROWS if r["layer"] == "unlocated_places"}
    assert listed == set(_features("unlocated_places"))


# the places issue 14 names, which the list must cover (on the map or 未定位 with a reason)
REQUIRED = ["进口贸易促进创新示范区", "半导体产业集聚区", "苏州自贸片区联动创新区", "四轴三廊", "生态廊道", "传媒港", "文化绿洲",
            "滨水公园带", "未来生活体验区", "青年创业园", "青阳港西岸核心功能区", "昆山南站", "上海地铁11号线", "苏州轨交9号线",
            "苏锡常城际铁路", "高铁南站商务区", "综合保税区", "蓬朗高级中学", "星巴克中国咖啡创新产业园", "东部医疗中心",
            "青阳港学校", "兵希中学", "昆山开发区实验小学", "昆山国际学校", "华二国际学校", "昆山博物馆", "慧聚广场",
            "捷安特自行车展馆", "国际会展中心", "夏驾河湿地公园", "昆盟通", "加工制造中心", "检测维修中心", "澜起科技", "友达光电"]


def test_required_places_listed():
    names = {r["name"] for r in ROWS}
    assert not [n for n in REQUIRED if n not in names]


def test_listed_names_are_the_plans_words(plan_text):
    """Each row's place is spelled as the plan spells it: the name or one of its other names occurs in the text."""
    flat = plan_text.replace("\n", "")
    bad = []
    for r in ROWS:
        p = _features(r["layer"])[r["fid"]]["properties"]
        if not any(w in flat for w in _names(p)):
            bad.append((r["name"], _names(p)))
    assert not bad


# ------------------------------------------------------------------ placeholder flag
def test_every_feature_of_every_layer_has_a_boolean_placeholder(raw_catalog):
    for entry in raw_catalog["layers"]:
        for f in raw_features(entry["id"]):
            p = f["properties"]
            assert isinstance(p.get("placeholder"), bool), (entry["id"], p.get("id"))
            if f["geometry"] is None:
                assert p["placeholder"] is False, (entry["id"], p["id"])     # nothing placed
            if p["illustrative"] and f["geometry"] is not None:
                assert p["placeholder"], (entry["id"], p["id"])             # an example position is a placeholder


def test_placeholders_have_large_accuracy(raw_catalog):
    for entry in raw_catalog["layers"]:
        for f in raw_features(entry["id"]):
            p = f["properties"]
            if p["placeholder"]:
                assert p["accuracy_m"] >= 500, (entry["id"], p["id"], p["accuracy_m"])


def test_known_placeholders_and_known_references():
    """Spot checks both ways: invented outlines are flagged, positions on reference points are not."""
    flag = {(lid, f["properties"]["id"]): f["properties"]["placeholder"]
            for lid in ("parks", "renewal_sites", "key_projects", "s1_stations", "railways", "axis_carriers",
                        "transport_hubs", "low_efficiency_land", "zones")
            for f in raw_features(lid)}
    for key in [("parks", "park_zongbao"), ("parks", "park_guangdian"), ("renewal_sites", "renewal_starbucks"),
                ("key_projects", "kp_jiantao"), ("axis_carriers", "carrier_1"), ("low_efficiency_land", "DX-001"),
                ("zones", "zone_import_demo")]:
        assert flag[key] is True, key
    for key in [("s1_stations", "s1_10"), ("railways", "rail_s1"), ("axis_carriers", "carrier_2"),
                ("transport_hubs", "hub_kunshan_south"), ("renewal_sites", "renewal_core_commercial")]:
        assert flag[key] is False, key


NOT_KNOWN = re.compile(r"(location|site|position)[^.;]{0,40}(not known|not given|unknown)|no location|gives no position|"
                       r"placeholder|未定位|位置未知", re.I)


def test_accuracy_is_large_where_placement_says_location_not_known(raw_catalog):
    hits = 0
    for entry in raw_catalog["layers"]:
        for f in raw_features(entry["id"]):
            p = f["properties"]
            if f["geometry"] is not None and NOT_KNOWN.search(p["placement"]):
                hits += 1
                assert p["accuracy_m"] >= 500, (entry["id"], p["id"], p["accuracy_m"], p["placement"])
    assert hits >= 60


def test_hosted_points_lie_in_their_host_and_are_no_more_precise():
    """A point placed on the place the plan ties it to (``host`` = layer/feature) is inside that place, and its
    accuracy is never better than the host's."""
    n = 0
    for lid in ("core_components", "zones", "platforms", "enterprises"):
        for f in raw_features(lid):
            p = f["properties"]
            if not p.get("host"):
                continue
            hl, hid = p["host"].split("/")
            host = _features(hl)[hid]
            assert shape(host["geometry"]).buffer(1e-6).contains(shape(f["geometry"])), (lid, p["id"], p["host"])
            assert p["accuracy_m"] >= host["properties"]["accuracy_m"], (lid, p["id"])
            assert p["placeholder"] or not host["properties"]["placeholder"], (lid, p["id"])
            n += 1
    assert n >= 25


# ------------------------------------------------------------------ S1 line
def _s1_stations():
    return sorted(raw_features("s1_stations"), key=lambda f: f["properties"]["seq"])


def test_s1_line_passes_every_station_in_order():
    line = gk(shape(_features("railways")["rail_s1"]["geometry"]))
    stations = _s1_stations()
    assert len(stations) == 25
    positions = []
    for f in stations:
        pt = gk(shape(f["geometry"]))
        assert line.distance(pt) < 30, (f["properties"]["name"], line.distance(pt))
        positions.append(line.project(pt))
    assert all(b > a for a, b in zip(positions, positions[1:])), "stations not in line order"
    assert positions[0] < 30 and line.length - positions[-1] < 30          # starts at 正仪, ends at 花桥


def test_no_course_or_outline_claims_to_be_known():
    """Every line (rivers, roads, rail tracks between stations) and every plan polygon is drawn schematically;
    only the administrative boundaries (a web-map dataset) are not flagged schematic."""
    for path in sorted((GEODATA / "layers").glob("*.geojson")):
        for f in raw_features(path.stem):
            g = f["geometry"]
            if g is None or g["type"] in ("Point", "MultiPoint") or path.stem == "admin_boundaries":
                continue
            assert f["properties"]["schematic"] is True, (path.stem, f["id"])


def test_s1_line_is_schematic_between_stations():
    p = _features("railways")["rail_s1"]["properties"]
    assert p["schematic"] is True and p["accuracy_m"] >= 300 and "NOT known" in p["placement"]


def test_line11_passes_its_kunshan_stations():
    line = gk(shape(_features("railways")["rail_sh_metro11"]["geometry"]))
    huaqiao = gk(shape(_features("s1_stations")["s1_25"]["geometry"]))
    assert line.distance(huaqiao) < 30 and line.project(huaqiao) < 30
    hub = gk(shape(_features("transport_hubs")["hub_huaqiao"]["geometry"]))
    assert hub.distance(huaqiao) < 1


def test_kunshan_south_hub_on_the_osm_station():
    hub = shape(_features("transport_hubs")["hub_kunshan_south"]["geometry"])
    assert abs(hub.x - 120.94647) < 1e-6 and abs(hub.y - 31.35515) < 1e-6


# ------------------------------------------------------------------ placements agree with their own words
def test_placements_agree_with_geometry():
    def pt(lid, fid):
        return gk(shape(_features(lid)[fid]["geometry"]))

    ksn = pt("transport_hubs", "hub_kunshan_south")
    assert 450 < pt("key_projects", "kp_gtnz").distance(ksn) < 550          # "about 500 m south-east"
    assert 450 < pt("zones", "zone_gtnz").distance(ksn) < 550               # "500 m south"
    xjgy = pt("s1_stations", "s1_16")
    assert xjgy.distance(Point(0, 0)) > 0 and 700 < pt("axis_carriers", "carrier_8").distance(xjgy) < 1100   # "~0.9 km"
    rivers = {f["properties"]["name"]: gk(shape(f["geometry"])) for f in raw_features("rivers")}
    assert rivers["青阳港"].distance(rivers["吴淞江"]) < 1 and rivers["青阳港"].distance(rivers["娄江"]) < 1   # "from 娄江 to 吴淞江"
    belt = gk(shape(_features("belts")["belt_qingyanggang"]["geometry"]))
    rail = gk(shape(_features("railways")["rail_huning_intercity"]["geometry"]))
    assert belt.distance(rail) < 50                                         # "from 娄江 south to the 沪宁 railway"
    west = pt("core_components", "qyg_west_bank")
    qyg = rivers["青阳港"]
    assert west.distance(qyg) > 150 and west.x < qyg.interpolate(qyg.project(west)).x   # west bank


# ------------------------------------------------------------------ figures attached to places
def _figs(lid, fid):
    return _features(lid)[fid]["properties"]["figures"] or []


def test_bonded_zone_figures_from_box_4():
    figs = _figs("parks", "park_zongbao")
    got = {(fg["value"], fg["unit"]) for fg in figs}
    for v in [(27, "家"), (146, "亿元"), (20, "亿元"), (500, "亿元"), (6, "家"), (2, "家"), (1044, "亿元"), (9, "家"),
              (215, "亿元"), (3, "名")]:
        assert v in got, v
    forecast = next(fg for fg in figs if fg["value"] == 500)
    assert forecast["qualifier"] == "预计" and "预计未来5年可新增工业产值500亿元" in forecast["text"]
    repair = _figs("platforms", "zb_centre_4")
    assert {(fg["value"], fg["unit"]) for fg in repair} == {(9, "家"), (215, "亿元")}


def test_penglang_high_school_tracks_and_classes():
    figs = {(fg["value"], fg["unit"], fg["qualifier"]) for fg in _figs("key_projects", "kp_penglang_high")}
    assert {(18, "轨", "规划设置"), (54, "班", "规划设置"), (2, "轨", "预留"), (6, "班", "预留"), (2700, "学位", "新增")} <= figs


def test_starbucks_carbon_and_pv_keep_their_qualifiers():
    figs = _figs("renewal_sites", "renewal_starbucks")
    by_label = {fg["label"]: fg for fg in figs}
    assert by_label["碳排放量比传统方式减少"]["value"] == 30 and by_label["碳排放量比传统方式减少"]["qualifier"] == "超过"
    assert by_label["太阳能光伏发电"]["kind"] == "pv_area" and by_label["太阳能光伏发电"]["qualifier"] == "超过"
    assert by_label["可再生能源占园区所需能源比例"]["qualifier"] == "最多"
    assert by_label["总占地面积"]["qualifier"] == "约" and by_label["总占地面积"]["value"] == 80_000
    core = {fg["label"]: fg for fg in _figs("renewal_sites", "renewal_core_commercial")}
    assert core["开发面积（建筑面积）"]["qualifier"] == "超" and core["开发面积（建筑面积）"]["value"] == 2_000_000


def test_line11_stations_converted_from_gcj02_with_kfqmap_crs():
    """The Line 11 rows the build uses (metromancn, GCJ-02) are the kfqmap.crs inverse of their original values, and the
    drawn line passes them (the unconverted GCJ-02 values are ~470 m away)."""
    import csv

    from kfqmap.crs import gcj02_to_wgs84

    line = gk(shape(_features("railways")["rail_sh_metro11"]["geometry"]))
    with (GEODATA / "reference" / "kunshan_reference_points_wgs84.csv").open(encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["name"].startswith(("光明路站", "兆丰路站")) and "metromancn" in r["source"]]
    assert len(rows) == 2
    for r in rows:
        assert r["original_crs"] == "GCJ-02"
        lon, lat = gcj02_to_wgs84(float(r["original_lon"]), float(r["original_lat"]))
        assert abs(float(lon) - float(r["lon"])) < 1e-6 and abs(float(lat) - float(r["lat"])) < 1e-6
        assert line.distance(gk(Point(float(r["lon"]), float(r["lat"])))) < 1
        raw = gk(Point(float(r["original_lon"]), float(r["original_lat"])))
        assert 400 < raw.distance(gk(Point(float(r["lon"]), float(r["lat"])))) < 550    # the GCJ-02 offset was removed
