"""Spatial queries (kfqmap.query) against the real geodata, plus a 200,000-parcel synthetic layer."""
from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import box, mapping

from kfqmap import query as Q
from kfqmap.area import ellipsoidal_area
from kfqmap.catalog import load_catalog
from kfqmap.models import Layer
from kfqmap.crs import transform_geometry, wgs84_to_bd09, wgs84_to_gcj02
from kfqmap.errors import InvalidCRS, InvalidFilter, InvalidGeometry, InvalidParameter, LayerNotFound


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture(scope="module")
def xiajiahe_point(catalog):
    """A point on the 夏驾河 belt (沿夏驾河科创走廊景观带)."""
    belt = catalog.read("belts").loc["belt_xiajiahe"].geometry
    return belt.representative_point()


def ids(result, layer=None):
    return [h.id for h in result.hits if layer is None or h.layer_id == layer]


def metric(geoms):
    return transform_geometry(np.asarray(geoms, dtype=object), "EPSG:4326", "EPSG:4549")


# ------------------------------------------------------------------------------------------- what is here
def test_point_on_xiajiahe_belt_returns_the_belt_and_its_park(catalog, xiajiahe_point):
    r = Q.at_point(catalog, xiajiahe_point.x, xiajiahe_point.y)
    assert ids(r, "belts") == ["belt_xiajiahe"]
    assert "park_xiajiahe" in ids(r, "parks")               # 夏驾河科学走廊
    assert "corridor_belt" in ids(r, "corridor_parks")      # 夏驾河滨水景观带 (一带四园)
    assert ids(r, "etdz_extent") == ["etdz"]
    assert all(h.distance_m == 0 for h in r.hits)
    assert r.layers["belts"] == 1 and r.count == len(r.hits)


def test_point_given_in_gcj02_bd09_and_4549_finds_the_same(catalog, xiajiahe_point):
    base = {(h.layer_id, h.id) for h in Q.at_point(catalog, xiajiahe_point.x, xiajiahe_point.y).hits}
    gx, gy = wgs84_to_gcj02(xiajiahe_point.x, xiajiahe_point.y)
    bx, by = wgs84_to_bd09(xiajiahe_point.x, xiajiahe_point.y)
    mx, my = transform_geometry(xiajiahe_point, "EPSG:4326", "EPSG:4549").coords[0]
    for x, y, crs in ((gx, gy, "gcj02"), (bx, by, "BD-09"), (mx, my, "EPSG:4549")):
        assert {(h.layer_id, h.id) for h in Q.at_point(catalog, x, y, crs=crs).hits} == base
    # the GCJ-02 numbers read as WGS 84 are ~470 m off: a different answer is possible, never an error
    Q.at_point(catalog, gx, gy)


def test_point_tolerance_reaches_lines_and_points(catalog):
    st = catalog.read("s1_stations").loc["s1_10"].geometry        # 昆山城市广场站
    east = transform_geometry(shapely.Point(transform_geometry(st, 4326, 4549).x + 30,
                                            transform_geometry(st, 4326, 4549).y), 4549, 4326)
    assert "s1_10" not in ids(Q.at_point(catalog, east.x, east.y, layers="s1_stations"))
    hit = Q.at_point(catalog, east.x, east.y, tolerance=50, layers=["s1_stations"])
    assert ids(hit) == ["s1_10"] and hit.hits[0].distance_m == pytest.approx(30, abs=0.5)
    assert hit.layers == {"s1_stations": 1}


def test_point_with_filter(catalog, xiajiahe_point):
    r = Q.at_point(catalog, xiajiahe_point.x, xiajiahe_point.y, layers="parks,belts", filter="river = '夏驾河'")
    assert ids(r) == ["belt_xiajiahe"]          # parks have no `river`: skipped, not an error
    with pytest.raises(InvalidFilter):
        Q.at_point(catalog, xiajiahe_point.x, xiajiahe_point.y, layers="parks,belts", filter="colour = 'red'")


# ------------------------------------------------------------------------------------------- inside a geometry
def test_in_geometry_intersection_areas(catalog):
    park = catalog.read("parks").loc["park_guangdian"].geometry     # 光电产业园
    r = Q.in_geometry(catalog, mapping(park), layers="low_efficiency_land")
    le = catalog.read("low_efficiency_land")
    expected = le.index[le.intersects(park)].tolist()
    assert sorted(ids(r)) == sorted(expected) and expected
    for h in r.hits:
        whole = ellipsoidal_area(le.loc[h.id].geometry)
        assert 0 < h.intersection_m2 <= whole + 0.1
        assert h.intersection_mu == round(h.intersection_m2 * 3 / 2000, 2)
        assert h.share_of_feature == pytest.approx(h.intersection_m2 / whole, abs=1e-4)
    inside = Q.in_geometry(catalog, mapping(park), layers="low_efficiency_land", predicate="within")
    assert set(ids(inside)) <= set(ids(r))
    assert all(h.share_of_feature == 1.0 for h in inside.hits)


def test_in_geometry_predicates_and_crs(catalog, xiajiahe_point):
    small = xiajiahe_point.buffer(0.0005)
    contains = Q.in_geometry(catalog, mapping(small), predicate="contains", layers="belts,parks")
    assert "belt_xiajiahe" in ids(contains) and "park_xiajiahe" in ids(contains)
    # the same outline sent in EPSG:4549 (metres) and GCJ-02
    for crs in ("EPSG:4549", "gcj02"):
        g = transform_geometry(small, "EPSG:4326", crs)
        again = Q.in_geometry(catalog, json.dumps(mapping(g)), crs=crs, predicate="contains", layers="belts,parks")
        assert ids(again) == ids(contains)
    feature = {"type": "Feature", "properties": {}, "geometry": mapping(small)}
    fc = {"type": "FeatureCollection", "features": [feature]}
    assert ids(Q.in_geometry(catalog, fc, layers="belts")) == ids(Q.in_geometry(catalog, feature, layers="belts"))


@pytest.mark.parametrize("bad, message", [
    ("{not json", "GeoJSON 无法解析"),
    ({"type": "Polygon"}, "GeoJSON 几何无效"),
    ({"type": "Polygon", "coordinates": [[121, 31]]}, "GeoJSON 几何无效"),
    ({"coordinates": [1, 2]}, "不是 GeoJSON"),
    ({"type": "Feature", "geometry": None}, "没有几何"),
    ({"type": "FeatureCollection", "features": []}, "没有几何"),
    ({"type": "Polygon", "coordinates": [[[121, 31], [121.1, 31.1], [121.1, 31], [121, 31.1], [121, 31]]]}, "自相交"),
    ({"type": "Polygon", "coordinates": [[[595000, 3472000], [596000, 3472000], [596000, 3473000], [595000, 3472000]]]},
     "EPSG:4549"),
    ({"type": "Point", "coordinates": []}, "为空"),
    ({"type": "Point", "coordinates": [True, False]}, "坐标必须是数字"),     # was read as (1, 0)
    ({"type": "LineString", "coordinates": [[121.0, 31.3], [121.1, "31.4"]]}, "坐标必须是数字"),
    # a bowtie inside a FeatureCollection used to be repaired silently (make_valid) while a bare one is refused
    ({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [121.0, 31.3]}},
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [
            [[121, 31], [121.1, 31.1], [121.1, 31], [121, 31.1], [121, 31]]]}}]}, "第 2 个要素"),
])
def test_broken_geometry_is_invalid_geometry(catalog, bad, message):
    with pytest.raises(InvalidGeometry) as err:
        Q.in_geometry(catalog, bad)
    assert message in err.value.message


@pytest.mark.parametrize("coords", [[1e300, 1e300], [1e30, -1e30]])
def test_coordinates_outside_the_crs_domain(catalog, coords):
    with pytest.raises(InvalidGeometry) as err:
        Q.in_geometry(catalog, {"type": "Point", "coordinates": coords}, crs="EPSG:4549")
    assert "EPSG:4549" in err.value.message


def test_unknown_predicate_and_layer(catalog):
    g = mapping(box(121, 31.3, 121.01, 31.31))
    with pytest.raises(InvalidParameter):
        Q.in_geometry(catalog, g, predicate="touches")
    with pytest.raises(LayerNotFound):
        Q.in_geometry(catalog, g, layers="nope")
    with pytest.raises(InvalidParameter):
        Q.in_geometry(catalog, g, layers="indicators")
    with pytest.raises(InvalidCRS):
        Q.in_geometry(catalog, g, crs="EPSG:1234")


# ------------------------------------------------------------------------------------------- within N metres
def test_s1_station_500m_buffer_renewal_sites(catalog):
    """Checked by hand: 金浦大桥东站 lies inside 青阳港城市客厅 (and 昆山城市广场站 is 264 m away);
    昆山城市广场站 lies inside 核心商业区; 星巴克产业园 is ~526 m from 兵希站, so 500 m leaves it out and 600 m
    takes it in; 蓬朗老镇核心区 and 昆曲咖啡印象街区 are ~3 km from any station."""
    r = Q.near(catalog, "renewal_sites", "s1_stations", 500)
    assert ids(r) == ["renewal_ketang", "renewal_core_commercial"] or \
        sorted(ids(r)) == ["renewal_core_commercial", "renewal_ketang"]
    by_id = {h.id: h for h in r.hits}
    assert by_id["renewal_ketang"].near_name == "金浦大桥东站" and by_id["renewal_ketang"].distance_m == 0
    assert by_id["renewal_core_commercial"].near_name == "昆山城市广场站"
    wider = Q.near(catalog, "renewal_sites", "s1_stations", 600)
    assert "renewal_starbucks" in ids(wider)
    assert {h.id: h for h in wider.hits}["renewal_starbucks"].near_name == "兵希站"


@pytest.mark.parametrize("distance", [100, 500, 1500, 3000])
def test_near_equals_brute_force(catalog, distance):
    sites, stations = catalog.read("renewal_sites"), catalog.read("s1_stations")
    sm, tm = metric(sites.geometry.values), metric(stations.geometry.values)
    expected = {sites.index[i] for i in range(len(sites)) if shapely.distance(tm, sm[i]).min() <= distance}
    r = Q.near(catalog, "renewal_sites", "s1_stations", distance)
    assert set(ids(r)) == expected
    for h in r.hits:
        i = sites.index.get_loc(h.id)
        assert h.distance_m == pytest.approx(shapely.distance(tm, sm[i]).min(), abs=0.01)


def test_near_with_filters(catalog):
    r = Q.near(catalog, "renewal_sites", "s1_stations", 500, near_filter="name = '昆山城市广场站'")
    assert sorted(ids(r)) == ["renewal_core_commercial", "renewal_ketang"]
    r = Q.near(catalog, "renewal_sites", "s1_stations", 500, near_filter="name = '金浦大桥东站'")
    assert ids(r) == ["renewal_ketang"]
    r = Q.near(catalog, "renewal_sites", "s1_stations", 500, filter="name LIKE '%商业%'")
    assert ids(r) == ["renewal_core_commercial"]


def test_near_every_layer_skips_the_near_layer(catalog):
    r = Q.near(catalog, None, "s1_stations", 200)
    assert "s1_stations" not in r.layers
    assert r.layers["railways"] >= 1            # the S1 line runs through its stations


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), 50_001, 1e9, "abc", None])
def test_impossible_distances(catalog, bad):
    with pytest.raises(InvalidParameter) as err:
        Q.near(catalog, "renewal_sites", "s1_stations", bad)
    assert "米" in err.value.message
    with pytest.raises(InvalidParameter):
        Q.at_point(catalog, 121.0, 31.37, tolerance=bad)


def test_bad_points(catalog):
    for lon, lat in ((200, 31), (121, 95), ("x", 31), (float("nan"), 31)):
        with pytest.raises(InvalidParameter):
            Q.at_point(catalog, lon, lat)


# ------------------------------------------------------------------------------------------- nearest K
def test_nearest_k_matches_brute_force(catalog):
    stations = catalog.read("s1_stations")
    pt = shapely.Point(121.0, 31.37)
    d = shapely.distance(metric(stations.geometry.values), transform_geometry(pt, 4326, 4549))
    expected = list(stations.index[np.argsort(d, kind="stable")][:4])
    r = Q.nearest(catalog, 121.0, 31.37, "s1_stations", 4)
    assert ids(r) == expected
    assert [h.distance_m for h in r.hits] == sorted(h.distance_m for h in r.hits)
    assert r.hits[0].distance_m == pytest.approx(np.sort(d)[0], abs=0.01)
    assert len(Q.nearest(catalog, 121.0, 31.37, "s1_stations", 1000).hits) == len(stations)
    for bad in (0, -3, 1001, "x"):
        with pytest.raises(InvalidParameter):
            Q.nearest(catalog, 121.0, 31.37, "s1_stations", bad)


def test_nearest_inside_a_polygon_is_zero(catalog, xiajiahe_point):
    r = Q.nearest(catalog, xiajiahe_point.x, xiajiahe_point.y, "belts", 1)
    assert ids(r) == ["belt_xiajiahe"] and r.hits[0].distance_m == 0


# ------------------------------------------------------------------------------------------- filter only, search
def test_select_by_filter(catalog):
    le = catalog.read("low_efficiency_land")
    r = Q.select(catalog, "low_efficiency_land", "status = '已完成' AND year <= 2023")
    expected = le.index[(le["status"] == "已完成") & (le["year"] <= 2023)].tolist()
    assert ids(r) == expected


def test_search_names(catalog):
    hits = Q.search_names(catalog, "夏驾河")
    assert hits and all("夏驾河" in h.name or h.match == "other_field" for h in hits)
    assert [h.match for h in hits] == sorted((h.match for h in hits),
                                             key=["exact", "prefix", "contains", "other_field"].index)
    exact = Q.search_names(catalog, "昆山城市广场站")
    assert exact[0].match == "exact" and exact[0].layer_id == "s1_stations" and exact[0].id == "s1_10"
    assert len(exact[0].center) == 2 and len(exact[0].bbox) == 4
    assert len(Q.search_names(catalog, "站", limit=3)) == 3
    assert Q.search_names(catalog, "没有这个名字") == []
    with pytest.raises(InvalidParameter):
        Q.search_names(catalog, "  ")


# ------------------------------------------------------------------------------------------- the index
def test_layer_index_is_cached(catalog):
    a = Q.layer_index(catalog, "parks")
    assert Q.layer_index(catalog, "parks") is a
    tree = a.tree
    Q.at_point(catalog, 121.0, 31.37, layers="parks")
    assert Q.layer_index(catalog, "parks").tree is tree


def test_200k_parcels_answer_from_the_tree():
    """A grid of 200,000 parcels (~0.5 ha) as an extra layer: point, tolerance and near queries go through
    the STRtree (answers checked against the grid arithmetic; no timing asserted)."""
    cat = load_catalog()
    nx, ny = 500, 400
    x0, y0, step = 120.90, 31.25, 0.0007                      # ~66 m × 78 m cells
    ix, iy = np.meshgrid(np.arange(nx), np.arange(ny))
    ix, iy = ix.ravel(), iy.ravel()
    geoms = shapely.box(x0 + ix * step, y0 + iy * step, x0 + ix * step + step * 0.9, y0 + iy * step + step * 0.9)
    frame = gpd.GeoDataFrame({"id": [f"p{i}" for i in range(len(geoms))], "name": "地块", "land_use": "工业用地"},
                             geometry=geoms, crs=4326)
    layer = Layer(id="parcels", title_zh="地块", title_en="Parcels", group="额外", kind="extra",
                  geometry_type="Polygon", source="file", file="parcels.gpkg", plan_section="-", description="-")
    cat.add_layer(layer, frame)
    i, j = 123, 321
    px, py = x0 + i * step + step * 0.45, y0 + j * step + step * 0.45
    r = Q.at_point(cat, px, py, layers="parcels")
    assert ids(r) == [f"p{j * nx + i}"]
    assert len(Q.layer_index(cat, "parcels")) == 200_000
    r = Q.at_point(cat, px, py, layers="parcels", tolerance=70)
    assert 3 <= r.count <= 9 and r.hits[0].id == f"p{j * nx + i}" and r.hits[0].distance_m == 0
    outline = box(px - 0.0015, py - 0.0015, px + 0.0015, py + 0.0015)    # holds cells i-1..i+1 whole
    inside = Q.in_geometry(cat, mapping(outline), layers="parcels", predicate="within")
    assert sorted(ids(inside)) == sorted(f"p{(j + b) * nx + i + a}" for a in (-1, 0, 1) for b in (-1, 0, 1))
    crossing = Q.in_geometry(cat, mapping(outline), layers="parcels")
    assert crossing.count == 25 and sum(h.share_of_feature == 1.0 for h in crossing.hits) == 9


@pytest.mark.parametrize("blank", [",,,", " , ", []])
def test_blank_layer_list_means_every_layer(catalog, xiajiahe_point, blank):
    """``layers=,,,`` (a client joining an empty list) queried no layer at all and answered 0 hits; a blank
    list now means every spatial layer, as an absent one does (and as POST /query/geometry with [] did)."""
    base = Q.at_point(catalog, xiajiahe_point.x, xiajiahe_point.y)
    got = Q.at_point(catalog, xiajiahe_point.x, xiajiahe_point.y, layers=blank)
    assert base.count > 0 and got.count == base.count
