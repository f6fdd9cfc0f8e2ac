"""Coordinate systems (kfqmap.crs): the accepted list, EPSG through pyproj, GCJ-02 and BD-09."""
from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import given, settings, strategies as st
from pyproj import Geod
from shapely.geometry import Polygon

from kfqmap.crs import (SUPPORTED, bd09_to_gcj02, bd09_to_wgs84, gcj02_to_bd09, gcj02_to_wgs84, parse_crs,
                        transform_geometry, transform_xy, wgs84_to_bd09, wgs84_to_gcj02)
from kfqmap.errors import InvalidCRS

WGS84 = Geod(ellps="WGS84")
# Kunshan and its neighbours (lon, lat)
lons = st.floats(min_value=120.6, max_value=121.4, allow_nan=False)
lats = st.floats(min_value=30.9, max_value=31.8, allow_nan=False)


def metres(lon1, lat1, lon2, lat2) -> float:
    return float(WGS84.inv(lon1, lat1, lon2, lat2)[2])


def test_supported_table_has_names_in_both_languages():
    assert set(SUPPORTED) == {"EPSG:4326", "EPSG:4490", "EPSG:4549", "EPSG:4528", "EPSG:3857", "GCJ-02", "BD-09"}
    for code, info in SUPPORTED.items():
        assert info.code == code and info.name_zh and info.name_en and info.uri
        assert info.geographic == (code in ("EPSG:4326", "EPSG:4490", "GCJ-02", "BD-09"))


@pytest.mark.parametrize("text, code", [
    (None, "EPSG:4326"), ("", "EPSG:4326"), ("EPSG:4326", "EPSG:4326"), ("epsg:4549", "EPSG:4549"), (4490, "EPSG:4490"),
    ("4528", "EPSG:4528"), ("CRS84", "EPSG:4326"), ("http://www.opengis.net/def/crs/OGC/1.3/CRS84", "EPSG:4326"),
    ("http://www.opengis.net/def/crs/EPSG/0/4549", "EPSG:4549"), ("gcj02", "GCJ-02"), ("GCJ-02", "GCJ-02"),
    ("amap", "GCJ-02"), ("bd09", "BD-09"), ("BD-09", "BD-09"), ("baidu", "BD-09"), ("wgs84", "EPSG:4326"),
    ("cgcs2000", "EPSG:4490"), ("EPSG:900913", "EPSG:3857"),
])
def test_parse_crs(text, code):
    assert parse_crs(text).code == code


@pytest.mark.parametrize("bad", ["EPSG:9999", "EPSG:4547", "foo", "http://www.opengis.net/def/crs/EPSG/0/2000", "UTM51N"])
def test_unknown_crs_is_a_clear_error(bad):
    with pytest.raises(InvalidCRS) as err:
        parse_crs(bad)
    assert "EPSG:4549" in err.value.message and "gcj02" in err.value.message
    assert err.value.parameter == "crs"


def test_gcj02_offset_near_kunshan_etdz():
    """Near (121.0 E, 31.37 N) GCJ-02 moves a WGS 84 point ≈ 418 m east and ≈ 218 m south."""
    lon, lat = 121.0, 31.37
    glon, glat = wgs84_to_gcj02(lon, lat)
    east = metres(lon, lat, glon, lat) * np.sign(glon - lon)
    north = metres(lon, lat, lon, glat) * np.sign(glat - lat)
    assert east == pytest.approx(418, abs=3)
    assert north == pytest.approx(-218, abs=3)


def test_bd09_is_further_offset():
    blon, blat = wgs84_to_bd09(121.0, 31.37)
    assert 900 < metres(121.0, 31.37, blon, blat) < 1300


def test_scalars_and_arrays():
    x, y = wgs84_to_gcj02(121.0, 31.37)
    assert isinstance(x, float) and isinstance(y, float)
    xs, ys = wgs84_to_gcj02(np.array([121.0, 121.1]), np.array([31.37, 31.4]))
    assert xs.shape == (2,) and ys.shape == (2,)


@settings(max_examples=200, deadline=None)
@given(lons, lats)
def test_gcj02_round_trip_within_half_a_metre(lon, lat):
    back = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert metres(lon, lat, *back) < 0.5


@settings(max_examples=200, deadline=None)
@given(lons, lats)
def test_bd09_round_trips_within_half_a_metre(lon, lat):
    assert metres(lon, lat, *bd09_to_wgs84(*wgs84_to_bd09(lon, lat))) < 0.5
    g = wgs84_to_gcj02(lon, lat)
    assert metres(*g, *bd09_to_gcj02(*gcj02_to_bd09(*g))) < 0.5


@settings(max_examples=100, deadline=None)
@given(lons, lats, st.sampled_from(sorted(SUPPORTED)))
def test_every_supported_crs_round_trips(lon, lat, code):
    x, y = transform_xy(lon, lat, "EPSG:4326", code)
    back = transform_xy(x, y, code, "EPSG:4326")
    assert metres(lon, lat, float(back[0]), float(back[1])) < 0.5


@settings(max_examples=60, deadline=None)
@given(lons, lats, st.sampled_from(sorted(SUPPORTED)), st.sampled_from(sorted(SUPPORTED)))
def test_any_to_any_goes_through_wgs84_consistently(lon, lat, src, dst):
    sx, sy = transform_xy(lon, lat, "EPSG:4326", src)
    dx, dy = transform_xy(sx, sy, src, dst)
    bx, by = transform_xy(dx, dy, dst, "EPSG:4326")
    assert metres(lon, lat, float(bx), float(by)) < 0.5


def test_gauss_kruger_zone_prefix():
    x49, y49 = transform_xy(121.0, 31.37, "EPSG:4326", "EPSG:4549")
    x28, y28 = transform_xy(121.0, 31.37, "EPSG:4326", "EPSG:4528")
    assert x28 - x49 == pytest.approx(40_000_000, abs=1e-3)   # zone 40 prefix
    assert y28 == pytest.approx(y49)
    assert 500_000 < x49 < 700_000                             # east of CM 120°E, false easting 500 km


def test_transform_geometry_keeps_shape_and_area():
    square = Polygon([(595000, 3472000), (596000, 3472000), (596000, 3473000), (595000, 3473000)])
    ll = transform_geometry(square, "EPSG:4549", "EPSG:4326")
    back = transform_geometry(ll, "EPSG:4326", "EPSG:4549")
    assert shapely.equals_exact(back, square, tolerance=1e-3)
    gcj = transform_geometry(ll, "EPSG:4326", "gcj02")
    assert shapely.get_num_coordinates(gcj) == shapely.get_num_coordinates(ll)
    assert shapely.equals_exact(transform_geometry(gcj, "gcj02", "EPSG:4326"), ll, tolerance=1e-7)
