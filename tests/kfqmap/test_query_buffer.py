"""Issue 15: the near query's searched area (``near(..., with_buffer=True)``) and statistics under a CQL2 filter
(``layer_stats(..., filter=)``, the viewer's time slider), checked against independent geopandas/pyproj sums."""
from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import shape

from kfqmap import query as Q
from kfqmap.catalog import load_catalog
from kfqmap.errors import InvalidFilter
from kfqmap.stats import layer_stats


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_near_buffer_is_the_searched_area(catalog):
    station = catalog.read("s1_stations").iloc[[0]]
    name = station["name"].iloc[0]
    r = Q.near(catalog, ["key_projects", "renewal_sites"], "s1_stations", 500, near_filter=f"name = '{name}'",
               with_buffer=True)
    ring = shape(r.buffer)
    assert ring.geom_type in ("Polygon", "MultiPolygon") and ring.is_valid
    # one station: a 500 m circle, measured on the ellipsoid (EPSG:4549's scale error here is ~1e-4)
    area = abs(Geod(ellps="GRS80").geometry_area_perimeter(ring)[0])
    assert area == pytest.approx(math.pi * 500 ** 2, rel=0.01)
    assert ring.contains(station.geometry.iloc[0])
    # every hit touches the ring; the same query without buffer has none
    for h in r.hits:
        geom = catalog.read(h.layer_id).loc[h.id].geometry
        assert geom.intersects(ring.buffer(1e-5))
    assert Q.near(catalog, "key_projects", "s1_stations", 500).buffer is None


def test_near_buffer_of_several_features_is_their_union(catalog):
    r = Q.near(catalog, "key_projects", "s1_stations", 800, with_buffer=True)
    ring = shape(r.buffer)
    stations = catalog.read("s1_stations")
    assert all(ring.contains(p) for p in stations.geometry)
    assert ring.is_valid and len(shapely.get_parts(ring)) >= 2      # stations 800 m apart or more: separate rings
    assert r.model_dump(mode="json")["buffer"]["type"] == ring.geom_type


@pytest.mark.parametrize("year", [2021, 2023, 2025])
def test_layer_stats_with_a_filter_counts_only_passing_features(catalog, year):
    frame = catalog.read("low_efficiency_land")
    keep = frame[frame["year"].astype("float64") <= year]
    got = layer_stats(catalog, "low_efficiency_land", "mu", filter=f"year <= {year}")
    assert got.count == len(keep) > 0
    geod = Geod(ellps="GRS80")
    expected_m2 = sum(abs(geod.geometry_area_perimeter(g)[0]) for g in keep.geometry)
    assert got.area_m2 == pytest.approx(expected_m2, rel=1e-4)
    assert got.area == pytest.approx(expected_m2 * 3 / 2000, rel=1e-3)
    assert sorted(f.id for f in got.features) == sorted(map(str, keep.index))
    assert "year <= " in got.notes[0]


def test_layer_stats_filter_naming_a_missing_property_is_refused(catalog):
    with pytest.raises(InvalidFilter):
        layer_stats(catalog, "low_efficiency_land", "mu", filter="nope = 1")
    whole = layer_stats(catalog, "low_efficiency_land", "mu", filter="  ")
    assert whole.count == len(catalog.read("low_efficiency_land"))


def test_near_buffer_is_left_out_beyond_the_feature_limit(catalog, monkeypatch):
    monkeypatch.setattr(Q, "BUFFER_MAX_FEATURES", 2)
    r = Q.near(catalog, "key_projects", "s1_stations", 500, with_buffer=True)
    assert r.buffer is None and "未返回查询范围" in r.note
    assert r.count == Q.near(catalog, "key_projects", "s1_stations", 500).count


def test_near_buffer_in_gcj02_for_an_amap_basemap(catalog):
    from kfqmap.crs import wgs84_to_gcj02

    wgs = shape(Q.near(catalog, "key_projects", "s1_stations", 500, with_buffer=True).buffer)
    r = Q.near(catalog, "key_projects", "s1_stations", 500, with_buffer=True, buffer_crs="GCJ-02")
    gcj = shape(r.buffer)
    expected = shapely.transform(wgs, lambda xy: np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1])))
    assert gcj.symmetric_difference(expected).area / expected.area < 1e-6
    assert r.params["buffer_crs"] == "GCJ-02" and not gcj.equals_exact(wgs, 1e-4)


def test_near_within_the_same_layer_leaves_the_feature_itself_out(catalog):
    projects = catalog.read("key_projects")
    metric = projects.to_crs(4549)
    # the project with the most other projects within 3 km
    fid = max(projects.index, key=lambda i: int((metric.distance(metric.loc[i].geometry) <= 3000).sum()))
    dist = metric.distance(metric.loc[fid].geometry)
    expected = {str(i) for i in dist[(dist <= 3000) & (dist.index != fid)].index}
    r = Q.near(catalog, "key_projects", "key_projects", 3000, near_filter=f"id = '{fid}'")
    assert {h.id for h in r.hits} == expected and len(expected) > 0
    assert all(h.near_id == str(fid) for h in r.hits)
    # over the whole layer: each feature's nearest neighbour is another feature
    r = Q.near(catalog, "key_projects", "key_projects", 3000)
    assert all(h.near_id != h.id for h in r.hits)
