"""The plan's layers: every named element present, attributes complete, geometries valid, stated areas kept."""
from __future__ import annotations

import itertools
import json

import pytest
import shapely
from shapely.geometry import shape

from kfqmap.area import ellipsoidal_area

from .geodata_common import GEODATA, raw_features

FIXED_IDS = ["axes", "axis_carriers", "belts", "cores", "parks", "corridor_parks", "renewal_sites", "key_projects",
             "low_efficiency_land", "etdz_extent", "admin_boundaries", "rivers", "roads", "railways", "s1_stations",
             "indicators", "core_components", "zones", "platforms", "enterprises", "transport_hubs", "unlocated_places"]
TABLES = ["indicators", "unlocated_places"]

# (layer id, names the issue lists) — the checklist
CHECKLIST = {
    "axes": ["沿长江路城市空间展示轴", "沿前进路城市空间展示轴"],
    "axis_carriers": ["市民文化广场", "市政府", "黄浦公园", "东部医疗中心", "国际会展中心", "时代大厦", "世茂广场",
                      "夏驾河科创走廊", "亚洲杯专业足球场"],
    "belts": ["沿青阳港城市客厅景观带", "沿夏驾河科创走廊景观带", "沿瓦浦河老镇印象景观带"],
    "cores": ["青阳港两岸核心区", "东部新城核心区"],
    "parks": ["铁南商务综合区", "中央商贸服务区", "综合保税区", "光电产业园", "留学人员创业园", "先进制造产业园",
              "哈工大机器人产业基地", "高端食品产业园", "夏驾河科学走廊", "老旧工业区"],
    "corridor_parks": ["夏驾河滨水景观带", "科创创意园", "科创孵化园", "科创总部园", "科创加速园", "昆嘉路以南中小企业园"],
    "renewal_sites": ["青阳港城市客厅", "核心商业区", "蓬朗老镇核心区", "星巴克中国咖啡创新产业园", "昆曲咖啡印象街区"],
    "key_projects": ["高铁南站商务广场", "建滔昆山中心", "专业足球场", "城东市民活动中心"],
    "rivers": ["娄江", "青阳港", "夏驾河", "瓦浦河", "吴淞江"],
    "roads": ["长江路", "前进路", "朝阳路", "东新街", "章基路", "昆嘉路", "蓬溪路", "景王路", "夏西街", "东城大道"],
    "railways": ["沪宁城际铁路", "京沪铁路", "苏州轨道交通S1线", "上海地铁11号线"],
    "core_components": ["传媒港", "文化绿洲", "城市生活社区", "滨水公园带", "未来生活体验区", "青年创业园", "青阳港西岸核心功能区",
                        "行政中心", "商业贸易中心", "会展交流中心", "研发办公中心", "文化娱乐中心"],
    "zones": ["进口贸易促进创新示范区", "半导体产业集聚区", "苏州自贸片区联动创新区", "高铁南站商务区"],
    "platforms": ["加工制造中心", "研发设计中心", "物流分拨中心", "检测维修中心", "销售服务中心", "昆盟通"],
    "transport_hubs": ["昆山南站"],
    "unlocated_places": ["四轴三廊", "生态廊道", "苏州轨交9号线", "苏锡常城际铁路", "昆山博物馆", "慧聚广场", "昆山开发区实验小学"],
    "s1_stations": ["昆山城市广场站", "金浦大桥东站", "兵希站", "夏驾河公园站", "盛庄站", "章基路南站", "夏桥站", "菉葭站", "花桥站"],
    "admin_boundaries": ["昆山市", "太仓市", "常熟市", "相城区", "吴中区", "吴江区", "嘉定区", "青浦区"],
    "etdz_extent": ["昆山开发区"],
}
PARK_TYPES = {"铁南商务综合区": "城市生活园区", "中央商贸服务区": "城市生活园区", "综合保税区": "特色产业园区",
              "光电产业园": "特色产业园区", "留学人员创业园": "特色产业园区", "先进制造产业园": "特色产业园区",
              "哈工大机器人产业基地": "特色产业园区", "高端食品产业园": "特色产业园区", "夏驾河科学走廊": "特色产业园区",
              "精密机械产业园": "特色产业园区", "老旧工业区": "老旧工业区"}
SPATIAL = [i for i in FIXED_IDS if i not in TABLES]


def _names(frame) -> set[str]:
    names = set(frame["name"])
    if "alt_name" in frame.columns:
        names |= {n for n in frame["alt_name"].dropna()}
    return names


def test_catalog_has_exactly_the_fixed_layer_ids(catalog):
    assert catalog.ids == FIXED_IDS


def test_catalog_entries_complete(raw_catalog):
    for entry in raw_catalog["layers"]:
        for key in ("id", "title_zh", "title_en", "group", "kind", "geometry_type", "source", "file", "plan_section",
                    "description", "schematic", "illustrative", "accuracy_m", "style"):
            assert key in entry, (entry["id"], key)
        assert entry["file"] == f"layers/{entry['id']}.geojson"
        assert (GEODATA / entry["file"]).exists()
        assert entry["title_zh"] and entry["title_en"] and entry["description"]


def test_styles_distinct(raw_catalog):
    plan = [e for e in raw_catalog["layers"] if e["kind"] == "plan"]
    looks = [(e["style"]["fill"], e["style"]["stroke"]) for e in plan]
    assert len(set(looks)) == len(looks), looks
    parks = next(e for e in raw_catalog["layers"] if e["id"] == "parks")["style"]
    assert parks["category_field"] == "park_type"
    fills = {k: v["fill"] for k, v in parks["categories"].items()}
    assert set(fills) == {"城市生活园区", "特色产业园区", "老旧工业区"} and len(set(fills.values())) == 3
    for e in raw_catalog["layers"]:   # schematic plan outlines are dashed
        if e["kind"] == "plan" and e["schematic"] and e["geometry_type"] in ("Polygon", "MultiPolygon"):
            assert e["style"]["dash"], e["id"]


@pytest.mark.parametrize("layer_id,names", sorted(CHECKLIST.items()))
def test_checklist_every_named_element_present(catalog, layer_id, names):
    present = _names(catalog.read(layer_id))
    missing = [n for n in names if n not in present]
    assert not missing, f"{layer_id}: missing {missing}"


@pytest.mark.parametrize("layer_id", FIXED_IDS)
def test_every_feature_has_provenance(layer_id):
    ids = set()
    for f in raw_features(layer_id):
        p = f["properties"]
        for key in ("id", "name", "source", "placement", "illustrative", "schematic", "placeholder"):
            assert key in p and p[key] is not None and p[key] != "", (layer_id, p.get("id"), key)
        assert isinstance(p["illustrative"], bool) and isinstance(p["schematic"], bool)
        assert isinstance(p["placeholder"], bool)
        if f["geometry"] is None and layer_id == "unlocated_places":
            assert p["accuracy_m"] is None and p["status"] == "未定位" and p["reason"]   # nothing placed, no accuracy
        else:
            assert isinstance(p["accuracy_m"], (int, float)) and p["accuracy_m"] >= 0
        assert p["id"] not in ids
        ids.add(p["id"])
        for fg in p.get("figures") or []:
            assert set(fg) == {"kind", "value", "unit", "qualifier", "label", "text"}, fg
            assert fg["kind"] in ("land_area", "floor_area", "demolition_floor_area", "pv_area", "target", "year",
                                  "count", "amount", "rank"), fg
            assert fg["text"]


@pytest.mark.parametrize("layer_id", SPATIAL)
def test_geometries_valid_nonempty_and_of_catalog_type(catalog, layer_id):
    layer = catalog.get(layer_id)
    for f in raw_features(layer_id):
        g = shape(f["geometry"])
        assert not g.is_empty and g.is_valid, (layer_id, f["id"], shapely.is_valid_reason(g))
        assert f["geometry"]["type"] == layer.geometry_type, (layer_id, f["id"])
        x0, y0, x1, y1 = g.bounds    # WGS 84 lon/lat around Kunshan
        assert 119.5 < x0 <= x1 < 121.6 and 30.5 < y0 <= y1 < 32.0, (layer_id, f["id"], g.bounds)


def test_polygon_rings_follow_rfc7946_winding():
    for layer_id in ("belts", "cores", "parks", "corridor_parks", "renewal_sites", "low_efficiency_land"):
        for f in raw_features(layer_id):
            g = shape(f["geometry"])
            assert g.exterior.is_ccw, (layer_id, f["id"])


def test_table_layers_have_no_geometry():
    for layer_id in TABLES:
        assert all(f["geometry"] is None for f in raw_features(layer_id)), layer_id


def test_parks_types_and_same_type_parks_do_not_overlap(catalog):
    parks = catalog.read("parks")
    assert dict(zip(parks["name"], parks["park_type"])) == PARK_TYPES
    for (_, a), (_, b) in itertools.combinations(parks.iterrows(), 2):
        if a["park_type"] == b["park_type"]:
            inter = a.geometry.intersection(b.geometry)
            assert inter.area == 0, f"{a['name']} overlaps {b['name']}"


def test_axis_carriers_link_to_axis(catalog):
    axes = catalog.read("axes")
    carriers = catalog.read("axis_carriers")
    assert set(carriers["axis_id"]) == {"axis_qianjin"} and "axis_qianjin" in axes.index
    assert all(axes["role"].str.len() > 20)
    assert axes.loc["axis_qianjin", "role"].startswith("沿前进路展示轴依托苏州轨道交通S1线")
    assert axes.loc["axis_changjiang", "role"].startswith("沿长江路展示轴着重打造城市更新示范区")


def test_cores_functions(catalog):
    cores = catalog.read("cores").set_index("name")
    assert cores.loc["青阳港两岸核心区", "functions"].split("、") == [
        "传媒港", "文化绿洲", "城市生活社区", "滨水公园带", "未来生活体验区", "青年创业园"]
    assert cores.loc["东部新城核心区", "functions"].split("、") == [
        "行政中心", "商业贸易中心", "会展交流中心", "研发办公中心", "文化娱乐中心"]


def _area(layer_id, name):
    for f in raw_features(layer_id):
        if f["properties"]["name"] == name:
            return float(ellipsoidal_area([shape(f["geometry"])])[0]), f["properties"]
    raise AssertionError(name)


def test_core_commercial_area_is_0_8_km2():
    a, p = _area("renewal_sites", "核心商业区")
    assert abs(a - 800_000) / 800_000 < 0.01        # built to size; the plan's tolerance would be 5 %
    assert any(fg["kind"] == "land_area" and fg["value"] == 0.8 and fg["unit"] == "km2" for fg in p["figures"])


def test_starbucks_park_is_8_wan_m2():
    a, p = _area("renewal_sites", "星巴克中国咖啡创新产业园")
    assert abs(a - 80_000) / 80_000 < 0.01
    assert any(fg["kind"] == "land_area" and fg["value"] == 80_000 for fg in p["figures"])
    assert any(fg["kind"] == "pv_area" and fg["value"] == 20_000 for fg in p["figures"])


FLOOR_FIGURES = {  # value in m², layer, feature name
    74_000: ("renewal_sites", "青阳港城市客厅"),
    2_000_000: ("renewal_sites", "核心商业区"),
    190_000: ("renewal_sites", "蓬朗老镇核心区"),
    1_000_000: ("key_projects", "建滔地产昆山中心"),
}


def test_floor_areas_are_attributes_only():
    for value, (layer_id, name) in FLOOR_FIGURES.items():
        f = next(f for f in raw_features(layer_id) if f["properties"]["name"] == name)
        kinds = {fg["kind"] for fg in f["properties"]["figures"] if fg["value"] == value}
        assert kinds and kinds <= {"floor_area", "demolition_floor_area"}, (name, kinds)
        if f["geometry"]["type"] != "Point":   # and the polygon is not sized to the floor area
            a = float(ellipsoidal_area([shape(f["geometry"])])[0])
            assert abs(a - value) / value > 0.10, (name, a)
    belt = next(f for f in raw_features("corridor_parks") if f["properties"]["id"] == "corridor_belt")
    fg = belt["properties"]["figures"][0]
    assert fg["kind"] == "floor_area" and fg["value"] == 1_000_000 and "不少于100万平方米" in fg["text"]
    corridor_m2 = sum(float(ellipsoidal_area([shape(f["geometry"])])[0]) for f in raw_features("corridor_parks"))
    assert abs(corridor_m2 - 1_000_000) / 1_000_000 > 0.10


def test_only_stated_land_areas_are_land_area_figures():
    land = []
    for layer_id in SPATIAL:
        for f in raw_features(layer_id):
            land += [(f["properties"]["name"], fg["value"]) for fg in f["properties"].get("figures") or []
                     if fg["kind"] == "land_area"]
    assert sorted(land) == sorted([("核心商业区", 0.8), ("星巴克中国咖啡创新产业园", 80_000)])


def test_figures_quote_the_plan(plan_text):
    flat = plan_text.replace("\n", "")
    for layer_id in SPATIAL + ["unlocated_places"]:
        for f in raw_features(layer_id):
            for fg in f["properties"].get("figures") or []:
                assert fg["text"] in flat, (layer_id, f["id"], fg["text"])
                if fg["qualifier"]:            # the qualifier is the plan's word, next to the number in the sentence
                    assert fg["qualifier"] in fg["text"], (layer_id, f["id"], fg)


def test_football_year_from_plan(catalog):
    kp = catalog.read("key_projects").set_index("name")
    figs = json.loads(kp.loc["专业足球场", "figures"]) if isinstance(kp.loc["专业足球场", "figures"], str) \
        else kp.loc["专业足球场", "figures"]
    assert {"kind": "year", "value": 2022, "unit": "year"}.items() <= figs[0].items()


def test_core_commercial_between_old_town_and_ketang():
    """西侧与老城区有机衔接、东侧与青阳港城市客厅无缝对接: core west of the 客厅 and touching it; 青阳港 east of the core."""
    feats = {f["properties"]["name"]: shape(f["geometry"]) for f in raw_features("renewal_sites")}
    core, ketang = feats["核心商业区"], feats["青阳港城市客厅"]
    assert core.centroid.x < ketang.centroid.x
    assert core.distance(ketang) < 1e-6 and core.intersection(ketang).area < 1e-12
    qyg = next(shape(f["geometry"]) for f in raw_features("rivers") if f["properties"]["name"] == "青阳港")
    assert qyg.intersects(ketang) and not qyg.intersects(core)


def test_axes_follow_s1_stations():
    stations = {f["properties"]["name"]: shape(f["geometry"]) for f in raw_features("s1_stations")}
    axis = next(shape(f["geometry"]) for f in raw_features("axes") if f["properties"]["id"] == "axis_qianjin")
    for n in ("昆山城市广场站", "金浦大桥东站", "顺帆北路站", "鱼池泾站", "白河潭站", "兵希站"):
        assert axis.distance(stations[n]) < 1e-6, n


def test_belts_contain_their_rivers():
    rivers = {f["properties"]["name"]: shape(f["geometry"]) for f in raw_features("rivers")}
    for f in raw_features("belts"):
        belt = shape(f["geometry"])
        river = rivers[f["properties"]["river"]]
        assert belt.intersection(river).length > 0.02, f["properties"]["name"]   # > ~2 km of river inside


def test_wapuhe_belt_near_penglang():
    belt = next(shape(f["geometry"]) for f in raw_features("belts") if f["properties"]["river"] == "瓦浦河")
    assert belt.contains(shapely.Point(121.079622, 31.370192))


def test_admin_boundaries_converted_to_wgs84():
    """Converted GCJ-02 → WGS 84: the 昆山市 extent moves ~0.0045° west and ~0.002° north of the GCJ-02 extent."""
    ks = next(shape(f["geometry"]) for f in raw_features("admin_boundaries") if f["properties"]["name"] == "昆山市")
    x0, y0, x1, y1 = ks.bounds
    assert abs(x0 - (120.8077 - 0.0045)) < 0.001 and abs(y0 - (31.1039 + 0.002)) < 0.001
    assert abs(float(ellipsoidal_area([ks])[0]) / 1e6 - 931) < 10


def test_low_efficiency_parcels_are_flagged_illustrative(catalog, raw_catalog):
    entry = next(e for e in raw_catalog["layers"] if e["id"] == "low_efficiency_land")
    assert entry["illustrative"] is True and "5000亩" in entry["description"]
    feats = raw_features("low_efficiency_land")
    assert 20 <= len(feats) <= 40
    parks = {f["properties"]["name"]: shape(f["geometry"]) for f in raw_features("parks")}
    for f in feats:
        p = f["properties"]
        assert p["illustrative"] is True and "示例" in p["note"] and "5000亩" in p["note"]
        for key in ("parcel_id", "name", "area_mu", "current_use", "planned_use", "status", "year", "park", "source"):
            assert key in p
        assert p["status"] in ("已完成", "实施中", "未启动")
        assert (p["year"] is None) == (p["status"] == "未启动")
        g = shape(f["geometry"])
        assert abs(float(ellipsoidal_area([g])[0]) * 3 / 2000 - p["area_mu"]) < 0.01
        assert parks[p["park"]].contains(g)
    assert sum(f["properties"]["area_mu"] for f in feats) < 5000


def test_geojson_files_are_utf8_rfc7946():
    for path in sorted((GEODATA / "layers").glob("*.geojson")):
        raw = path.read_bytes()
        assert not raw.startswith(b"\xef\xbb\xbf")
        data = json.loads(raw.decode("utf-8"))
        assert data["type"] == "FeatureCollection" and "crs" not in data
    (GEODATA / "catalog.json").read_bytes().decode("utf-8")
    (GEODATA / "README.md").read_bytes().decode("utf-8")


def _gk(g):
    from pyproj import Transformer
    t = Transformer.from_crs(4326, 4549, always_xy=True)
    return shapely.transform(g, lambda a: __import__("numpy").column_stack(t.transform(a[:, 0], a[:, 1])))


def test_axis_carriers_lie_along_the_qianjin_axis():
    axis = _gk(next(shape(f["geometry"]) for f in raw_features("axes") if f["properties"]["id"] == "axis_qianjin"))
    for f in raw_features("axis_carriers"):
        assert axis.distance(_gk(shape(f["geometry"]))) < 1000, f["properties"]["name"]


def test_plan_features_inside_the_etdz_extent():
    """The approximate extent was drawn around the plan's places; the plan's own polygons all fall inside it."""
    extent = shape(raw_features("etdz_extent")[0]["geometry"])
    for layer_id in ("belts", "cores", "parks", "corridor_parks", "renewal_sites", "low_efficiency_land", "key_projects",
                     "core_components", "zones", "platforms", "enterprises"):
        for f in raw_features(layer_id):
            g = shape(f["geometry"])
            inside = g.intersection(extent).area / g.area if g.area else float(extent.contains(g))
            assert inside > 0.99, (layer_id, f["properties"]["name"], inside)


def test_corridor_follows_zhangji_road_stretch_of_s1():
    stations = {f["properties"]["name"]: _gk(shape(f["geometry"])) for f in raw_features("s1_stations")}
    corridor = shapely.union_all([_gk(shape(f["geometry"])) for f in raw_features("corridor_parks")])
    for n in ("盛庄站", "章基路南站"):
        assert corridor.distance(stations[n]) < 300, n
    sme = next(_gk(shape(f["geometry"])) for f in raw_features("corridor_parks") if f["properties"]["name"] == "昆嘉路以南中小企业园")
    accel = next(_gk(shape(f["geometry"])) for f in raw_features("corridor_parks") if f["properties"]["name"] == "科创加速园")
    kunjia = next(_gk(shape(f["geometry"])) for f in raw_features("roads") if f["properties"]["name"] == "昆嘉路")
    assert accel.contains(sme)
    assert sme.centroid.y < kunjia.centroid.y           # 以南


def test_penglang_sites_at_penglang():
    penglang = shapely.Point(121.079622, 31.370192)
    sites = {f["properties"]["name"]: shape(f["geometry"]) for f in raw_features("renewal_sites")}
    assert sites["蓬朗老镇核心区"].contains(penglang)
    belt = next(shape(f["geometry"]) for f in raw_features("belts") if f["properties"]["river"] == "瓦浦河")
    assert belt.contains(sites["昆曲咖啡印象街区"].buffer(-1e-6))


def test_starbucks_inside_food_park():
    parks = {f["properties"]["name"]: shape(f["geometry"]) for f in raw_features("parks")}
    sbk = next(shape(f["geometry"]) for f in raw_features("renewal_sites") if f["properties"]["name"] == "星巴克中国咖啡创新产业园")
    assert parks["高端食品产业园"].contains(sbk)
