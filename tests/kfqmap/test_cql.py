"""CQL2 text/JSON filters evaluated on GeoDataFrames (kfqmap.cql)."""
from __future__ import annotations

import json

import geopandas as gpd
import pytest
from shapely.geometry import Point, box

from kfqmap.cql import parse_filter
from kfqmap.errors import InvalidCRS, InvalidFilter


@pytest.fixture(scope="module")
def frame():
    return gpd.GeoDataFrame(
        {"id": ["a", "b", "c", "d"],
         "status": ["已完成", "实施中", None, "已完成"],
         "year": [2021, 2023, None, 2025],
         "name": ["科创园", "总部园", "x_1", "Y"],
         "area_mu": [10.5, 200.0, 3.0, None]},
        geometry=[box(121.0, 31.30, 121.01, 31.31), box(121.02, 31.30, 121.03, 31.31),
                  Point(121.1, 31.4), Point(121.0, 31.35)],
        crs=4326,
    ).set_index("id", drop=False)


def ids(frame, text, **kw):
    return list(frame.index[parse_filter(text, **kw).mask(frame)])


@pytest.mark.parametrize("text, expected", [
    ("status = '已完成' AND year <= 2023", ["a"]),
    ("status = '已完成' OR year = 2023", ["a", "b", "d"]),
    ("status <> '已完成'", ["b"]),                       # NULL status is unknown, not selected
    ("NOT status = '已完成'", ["b"]),
    ("NOT (status = '已完成' AND year < 2022)", ["b", "d"]),
    ("name LIKE '%园%'", ["a", "b"]),
    ("name LIKE '总部_'", ["b"]),
    ("name NOT LIKE '%园'", ["c", "d"]),
    ("CASEI(name) LIKE 'y'", ["d"]),
    ("year IN (2021, 2023)", ["a", "b"]),
    ("year NOT IN (2021, 2023)", ["d"]),
    ("status IN ('已完成')", ["a", "d"]),
    ("year BETWEEN 2022 AND 2025", ["b", "d"]),
    ("year NOT BETWEEN 2022 AND 2025", ["a"]),
    ("status IS NULL", ["c"]),
    ("area_mu IS NOT NULL", ["a", "b", "c"]),
    ("area_mu > 5 AND area_mu < 100", ["a"]),
    ("year = '2021'", ["a"]),                            # numeric column vs quoted number
    ("year + 1 > 2022", ["b", "d"]),
    ("INCLUDE", ["a", "b", "c", "d"]),
    ("EXCLUDE", []),
])
def test_attribute_filters(frame, text, expected):
    assert ids(frame, text) == expected


@pytest.mark.parametrize("text, expected", [
    ("S_INTERSECTS(geometry, POINT(121.005 31.305))", ["a"]),
    ("S_INTERSECTS(geometry, POLYGON((121.0 31.3, 121.025 31.3, 121.025 31.36, 121.0 31.36, 121.0 31.3)))",
     ["a", "b", "d"]),
    ("S_WITHIN(geometry, BBOX(120.9, 31.2, 121.05, 31.36))", ["a", "b", "d"]),
    ("S_WITHIN(geometry, ENVELOPE(120.9 121.015 31.2 31.36))", ["a", "d"]),
    ("S_CONTAINS(geometry, POINT(121.025 31.305))", ["b"]),
    ("BBOX(geometry, 121.05, 31.35, 121.2, 31.5)", ["c"]),
    # box a/b are ~1.4 km apart (0.015° of longitude): 500 m excludes b, 1.5 km includes it
    ("S_DWITHIN(geometry, POINT(121.005 31.305), 500)", ["a"]),
    ("S_DWITHIN(geometry, POINT(121.005 31.305), 1500)", ["a", "b"]),
    ("S_DWITHIN(geometry, POINT(121.005 31.305), 1.5, kilometers)", ["a", "b"]),
    ("S_DWITHIN(geometry, POINT(121.005 31.305), 1500) AND status = '实施中'", ["b"]),
])
def test_spatial_filters(frame, text, expected):
    assert ids(frame, text) == expected


def test_dwithin_is_metres_in_gauss_kruger(frame):
    # point d is at 121.0E 31.35N; 0.01° of latitude north is ~1109 m on the ground
    assert ids(frame, "S_DWITHIN(geometry, POINT(121.0 31.36), 1100)") == []
    assert ids(frame, "S_DWITHIN(geometry, POINT(121.0 31.36), 1120)") == ["d"]


def test_filter_crs_gcj02(frame):
    from kfqmap.crs import wgs84_to_gcj02
    x, y = wgs84_to_gcj02(121.0095, 31.3005)          # inside parcel a, ~50 m from its SE corner
    assert ids(frame, f"S_INTERSECTS(geometry, POINT({x} {y}))", crs="gcj02") == ["a"]
    # the same numbers read as WGS 84 land ~420 m east of the point, outside parcel a
    assert ids(frame, f"S_INTERSECTS(geometry, POINT({x} {y}))") == []


def test_properties_and_flags():
    f = parse_filter("status = '已完成' AND year <= 2023 AND S_INTERSECTS(geometry, POINT(121 31))")
    assert f.properties == {"status", "year"}
    assert f.spatial
    g = parse_filter("name LIKE '%园%'")
    assert g.properties == {"name"} and not g.spatial


def test_cql2_json(frame):
    doc = {"op": "and", "args": [{"op": "=", "args": [{"property": "status"}, "已完成"]},
                                 {"op": "<=", "args": [{"property": "year"}, 2023]}]}
    assert list(frame.index[parse_filter(json.dumps(doc), lang="cql2-json").mask(frame)]) == ["a"]


def test_unknown_property_names_it_and_lists_queryables(frame):
    f = parse_filter("colour = 'red'")
    with pytest.raises(InvalidFilter) as err:
        f.mask(frame)
    msg = str(err.value)
    assert "colour" in msg and "status" in msg and "year" in msg


@pytest.mark.parametrize("text", [
    "status = ", "status = '已完成' AND", "year", "S_DWITHIN(geometry, POINT(121 31), -5)",
    "S_DWITHIN(geometry, POINT(121 31), 90000)", "S_DWITHIN(geometry, POINT(121 31), 5, furlongs)", "",
    "S_INTERSECTS(geometry, POLYGON((121 31, 121 31)))",
])
def test_bad_filters_raise_invalid_filter(frame, text):
    with pytest.raises(InvalidFilter) as err:
        parse_filter(text).mask(frame)
    assert err.value.message   # a Chinese message, never a lark traceback
    assert "Traceback" not in err.value.message


def test_unknown_lang_and_crs():
    with pytest.raises(InvalidFilter):
        parse_filter("a = 1", lang="sql")
    with pytest.raises(InvalidCRS):
        parse_filter("year = 1", crs="EPSG:9999")


def test_no_sql_injection_surface(frame):
    # a quote inside a literal is data, not syntax
    assert ids(frame, "name = 'x; DROP TABLE parcels; --'") == []
    assert ids(frame, "name = 'x_1' OR 1 = 1") == ["a", "b", "c", "d"]   # evaluated, not spliced into SQL


def test_dwithin_follows_a_replaced_geometry_column():
    f = gpd.GeoDataFrame({"id": ["a"]}, geometry=[Point(121.0, 31.35)], crs=4326)
    flt = "S_DWITHIN(geometry, POINT(121.0 31.35), 10)"
    assert parse_filter(flt).mask(f).tolist() == [True]
    f["geometry"] = gpd.GeoSeries([Point(121.1, 31.35)], crs=4326)     # moved ~9.5 km east
    assert parse_filter(flt).mask(f).tolist() == [False]


def test_grammar_patches_are_checked():
    from kfqmap import _pygeofilter_patches as patches
    original = open(patches._GRAMMAR_FILE, encoding="utf-8").read()
    assert patches.patched_grammar(original) == patches.PATCHED_GRAMMAR
    for name, anchor, _ in patches.GRAMMAR_PATCHES:
        with pytest.raises(RuntimeError, match=name):           # an upgrade that moves an anchor fails loudly
            patches.patched_grammar(original.replace(anchor, ""))
        with pytest.raises(RuntimeError, match=name):
            patches.patched_grammar(original + "\n// " + anchor)
    parser = patches.text_parser()
    for probe in patches.PROBES:
        parser.parse(probe)


def test_pygeofilter_is_pinned_to_the_patched_series():
    import tomllib
    from importlib.metadata import version
    from pathlib import Path
    deps = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "pygeofilter>=0.4,<0.5" in [d.split("#")[0].strip() for d in deps]
    assert version("pygeofilter").startswith("0.4.")


@pytest.mark.parametrize("text, expected", [
    ("NOT (status = '已完成' OR year > 2024)", ["b"]),
    ("T_BEFORE(year, DATE('2020-01-01'))", None),           # year is a number, not a date: 400
    ("name = 'it''s'", []),
    ("name IN ('科创园', 'Y') AND NOT area_mu IS NULL", ["a"]),
])
def test_patched_grammar_in_use(frame, text, expected):
    if expected is None:
        with pytest.raises(InvalidFilter, match="T_BEFORE"):
            ids(frame, text)
    else:
        assert ids(frame, text) == expected


def test_ewkt_srid_is_honoured(frame):
    from kfqmap.crs import MEASURE_CRS, transform_geometry
    p = transform_geometry(Point(121.005, 31.305), "EPSG:4326", MEASURE_CRS)     # inside parcel a
    assert ids(frame, f"S_INTERSECTS(geometry, SRID=4549;POINT({p.x} {p.y}))") == ["a"]
    with pytest.raises(InvalidCRS):
        parse_filter("S_INTERSECTS(geometry, SRID=9999;POINT(1 2))")
