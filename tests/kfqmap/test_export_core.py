"""kfqmap.export: registry, CRS rules, selection (bbox / geometry / CQL2), errors, atomic writes, progress.

Runs on the small synthetic catalog in tests/fixtures/export (regenerate with its make_fixture.py).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import shapely

from kfqmap import export as X
from kfqmap.catalog import load_catalog
from kfqmap.errors import (EmptySelection, InvalidBBox, InvalidCRS, InvalidFilter, InvalidGeometry, InvalidParameter,
                           KFQMapError, LayerNotFound)
from kfqmap.settings import CatalogSettings

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "export"


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(CatalogSettings(geodata_dir=FIXTURE, extra_layers=""))


# ------------------------------------------------------------------ registry and CRS rules
def test_every_format_has_a_module_and_a_writer():
    for fmt in X.FORMATS.values():
        module = X.writer_module(fmt)
        assert hasattr(module, "write_selection") or hasattr(module, "write"), fmt.name
        assert fmt.default_crs in fmt.crs
        assert fmt.extension.startswith(".")


@pytest.mark.parametrize("name,expected", [("GPKG", "gpkg"), ("shp", "shapefile"), ("flatgeobuf", "fgb"),
                                           ("json", "geojson"), (".xlsx", "xlsx"), ("PNG", "png")])
def test_format_aliases(name, expected):
    assert X.get_format(name).name == expected


def test_unknown_format_is_a_clear_error():
    with pytest.raises(InvalidParameter) as exc:
        X.get_format("dwg")
    assert exc.value.parameter == "format"
    assert "gpkg" in exc.value.message and "dwg" in exc.value.message


def test_format_from_path():
    assert X.format_for_path("a/b/plan.gpkg").name == "gpkg"
    assert X.format_for_path("plan.zip").name == "shapefile"
    with pytest.raises(InvalidParameter):
        X.format_for_path("plan.doc")


def test_dxf_and_images_default_to_gauss_kruger_and_refuse_lon_lat():
    assert X.resolve_crs(X.get_format("dxf"), None).code == "EPSG:4549"
    assert X.resolve_crs(X.get_format("dxf"), "4528").code == "EPSG:4528"
    assert X.resolve_crs(X.get_format("png"), None).code == "EPSG:4549"
    with pytest.raises(InvalidCRS):
        X.resolve_crs(X.get_format("dxf"), "EPSG:4326")
    with pytest.raises(InvalidCRS):
        X.resolve_crs(X.get_format("kml"), "EPSG:4549")     # KML is lon/lat only


def test_unknown_crs_and_bd09_are_refused(catalog, tmp_path):
    with pytest.raises(InvalidCRS):
        X.export_layers(catalog, ["cores"], "gpkg", tmp_path / "a.gpkg", "EPSG:2000")
    with pytest.raises(InvalidCRS):
        X.export_layers(catalog, ["cores"], "gpkg", tmp_path / "a.gpkg", "BD-09")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ selection
def test_select_whole_layers(catalog):
    sel = X.select(catalog, "cores,parks")
    assert [i.layer.id for i in sel.items] == ["cores", "parks"]
    assert sel.feature_count == 4 and not sel.filtered


def test_select_bbox_keeps_intersecting_features_whole(catalog):
    sel = X.select(catalog, ["cores", "key_projects"], bbox="120.985,31.365,121.0,31.38")
    cores = sel.items[0].frame
    assert list(cores.index) == ["qyg"]
    # not clipped: the exported polygon is the stored one
    assert cores.geometry.iloc[0].equals(catalog.read("cores").geometry.loc["qyg"])
    assert list(sel.items[1].frame.index) == ["kp1"]


def test_select_bbox_in_gauss_kruger(catalog):
    from kfqmap.crs import transform_xy
    x0, y0 = transform_xy(120.985, 31.365, "EPSG:4326", "EPSG:4549")
    x1, y1 = transform_xy(121.0, 31.38, "EPSG:4326", "EPSG:4549")
    # EPSG:4549's authority axis order is northing, easting
    sel = X.select(catalog, ["cores"], bbox=f"{y0},{x0},{y1},{x1}", bbox_crs="EPSG:4549")
    assert list(sel.items[0].frame.index) == ["qyg"]


def test_select_drawn_geometry(catalog):
    drawn = {"type": "Polygon", "coordinates": [[[121.04, 31.37], [121.05, 31.37], [121.05, 31.39],
                                                 [121.04, 31.39], [121.04, 31.37]]]}
    sel = X.select(catalog, ["key_projects", "axes", "cores"], geometry=drawn)
    assert list(sel.items[0].frame.index) == ["kp3"]
    assert list(sel.items[1].frame.index) == ["qianjin"]
    assert len(sel.items[2].frame) == 0


def test_select_drawn_geometry_as_feature_and_in_gcj02(catalog):
    from kfqmap.crs import wgs84_to_gcj02
    ring = [(121.04, 31.37), (121.05, 31.37), (121.05, 31.39), (121.04, 31.39), (121.04, 31.37)]
    gcj = [list(wgs84_to_gcj02(x, y)) for x, y in ring]
    feature = {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [gcj]}}
    sel = X.select(catalog, ["key_projects"], geometry=feature, geometry_crs="GCJ-02")
    assert list(sel.items[0].frame.index) == ["kp3"]


def test_select_filter(catalog):
    sel = X.select(catalog, ["low_efficiency_land"], filter="status = '已完成'")
    assert sorted(sel.items[0].frame.index) == ["le1", "le4"]


def test_filter_on_a_property_some_layers_lack(catalog):
    sel = X.select(catalog, ["low_efficiency_land", "cores"], filter="area_mu > 32")
    assert sorted(sel.items[0].frame.index) == ["le3", "le4"]
    assert len(sel.items[1].frame) == 0          # cores has no area_mu: nothing from it


def test_filter_on_a_property_no_layer_has(catalog):
    with pytest.raises(InvalidFilter):
        X.select(catalog, ["cores"], filter="nonexistent = 1")


@pytest.mark.parametrize("bbox", ["1,2,3", "a,b,c,d", "3,0,1,1", "0,0,1,nan"])
def test_bad_bbox(catalog, bbox):
    with pytest.raises(InvalidBBox):
        X.select(catalog, ["cores"], bbox=bbox)


@pytest.mark.parametrize("geometry", [{"type": "Polygon", "coordinates": []}, "POLYGON ((", {"type": "Nope"}, 42])
def test_bad_geometry(catalog, geometry):
    with pytest.raises(InvalidGeometry):
        X.select(catalog, ["cores"], geometry=geometry)


@pytest.mark.parametrize("geometry, crs", [
    ({"type": "Point", "coordinates": [float("nan"), 31.0]}, None),                 # was a 500 over HTTP
    ({"type": "Point", "coordinates": [1e300, 1e300]}, "EPSG:4549"),               # was a 500 over HTTP
    ({"type": "Polygon", "coordinates": [[[120.95, 31.35], [121.05, 31.40], [121.05, 31.35], [120.95, 31.40],
                                          [120.95, 31.35]]]}, None),                 # bowtie: was repaired silently
    ({"type": "Polygon", "coordinates": [[[500000, 3470000], [501000, 3470000], [501000, 3471000],
                                          [500000, 3470000]]]}, None),               # metres without a CRS
    ("POLYGON ((120.95 31.35, 121.05 31.40, 121.05 31.35, 120.95 31.40, 120.95 31.35))", None),
])
def test_drawn_geometry_checked_like_the_query_api(catalog, geometry, crs):
    """Export's drawn area goes through the same checks as /query/geometry (one parser, kfqmap.query)."""
    with pytest.raises(InvalidGeometry):
        X.select(catalog, ["cores"], geometry=geometry, geometry_crs=crs)


def test_drawn_geometry_wkt_and_feature_still_accepted(catalog):
    wkt = "POLYGON ((120.9 31.3, 121.1 31.3, 121.1 31.45, 120.9 31.45, 120.9 31.3))"
    a = X.parse_geometry(wkt)
    b = X.parse_geometry({"type": "Feature", "properties": {}, "geometry": shapely.geometry.mapping(a)})
    assert a.equals(b) and a.area > 0


def test_unknown_layer(catalog, tmp_path):
    with pytest.raises(LayerNotFound):
        X.export_layers(catalog, ["cores", "nope"], "geojson", tmp_path / "a.geojson")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "shapefile", "kml", "fgb", "csv", "dxf", "png"])
def test_empty_selection_writes_nothing(catalog, tmp_path, fmt):
    target = tmp_path / f"out{X.get_format(fmt).extension}"
    with pytest.raises(EmptySelection):
        X.export_layers(catalog, ["cores"], fmt, target, bbox="100,20,100.1,20.1")
    assert list(tmp_path.iterdir()) == []


def test_no_layers_is_an_empty_selection(catalog, tmp_path):
    with pytest.raises(EmptySelection):
        X.export_layers(catalog, [], "geojson", tmp_path / "a.geojson")


def test_table_only_selection_for_a_spatial_format(catalog, tmp_path):
    with pytest.raises(EmptySelection) as exc:
        X.export_layers(catalog, ["indicators"], "kml", tmp_path / "a.kml")
    assert "indicators" in exc.value.message


def test_every_error_is_a_kfqmap_error():
    for cls in (EmptySelection, InvalidBBox, InvalidCRS, InvalidFilter, InvalidGeometry, InvalidParameter,
                LayerNotFound):
        assert issubclass(cls, KFQMapError)


def test_missing_output_directory(catalog, tmp_path):
    with pytest.raises(InvalidParameter):
        X.export_layers(catalog, ["cores"], "geojson", tmp_path / "no" / "such" / "dir.geojson")


# ------------------------------------------------------------------ atomic writes
def test_failing_writer_leaves_no_file(catalog, tmp_path, monkeypatch):
    import kfqmap.export.gpkg as gpkg

    real = gpkg.write_selection

    def half_then_fail(selection, target, crs, **kw):
        real(selection, target, crs, **kw)          # a complete file exists at the temporary path …
        assert Path(target).exists() and Path(target).parent == tmp_path
        raise RuntimeError("disk full")             # … then the writer fails

    monkeypatch.setattr(gpkg, "write_selection", half_then_fail)
    with pytest.raises(RuntimeError):
        X.export_layers(catalog, ["cores"], "gpkg", tmp_path / "plan.gpkg")
    assert list(tmp_path.iterdir()) == []


def test_failing_export_keeps_an_existing_target(catalog, tmp_path, monkeypatch):
    import kfqmap.export.geojson as gj
    target = tmp_path / "plan.geojson"
    target.write_text("old", encoding="utf-8")

    def fail(selection, target, crs, **kw):
        Path(target).write_text("{half", encoding="utf-8")
        raise OSError("boom")

    monkeypatch.setattr(gj, "write_selection", fail)
    with pytest.raises(OSError):
        X.export_layers(catalog, ["cores"], "geojson", target)
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["plan.geojson"]


def test_successful_export_replaces_target_and_leaves_no_temporaries(catalog, tmp_path):
    target = tmp_path / "plan.geojson"
    target.write_text("old", encoding="utf-8")
    result = X.export_layers(catalog, ["cores"], "geojson", target)
    assert result.features == 2 and result.layers == ("cores",)
    assert json.loads(target.read_text(encoding="utf-8"))["type"] == "FeatureCollection"
    assert [p.name for p in tmp_path.iterdir()] == ["plan.geojson"]


# ------------------------------------------------------------------ progress and names
@pytest.mark.parametrize("fmt", ["gpkg", "geojson", "kml", "dxf", "shapefile", "fgb", "csv", "xlsx"])
def test_progress_reports_the_total_and_reaches_it(catalog, tmp_path, fmt):
    calls = []

    def progress(advance=1, *, total=None):
        calls.append((advance, total))

    X.export_layers(catalog, ["cores", "parks", "axes"], fmt, tmp_path / f"p{X.get_format(fmt).extension}",
                    progress=progress)
    assert calls[0] == (0, 6)
    assert sum(a for a, _ in calls[1:]) == 6


def test_default_filename():
    assert X.default_filename(["cores", "parks"], "shapefile") == "cores_parks.zip"
    assert X.default_filename(["a", "b", "c", "d"], "gpkg") == "kfqmap_4_layers.gpkg"


def test_combined_frame_names_its_layers(catalog):
    sel = X.select(catalog, ["cores", "axes"])
    frame = sel.combined()
    assert list(frame.columns[:2]) == ["src_layer", "layer_zh"]
    assert set(frame["src_layer"]) == {"cores", "axes"}
    assert shapely.get_type_id(frame.geometry.values).tolist().count(1) == 2   # two LineStrings


def test_xlsx_progress_sheet_says_examples_at_the_top(catalog, tmp_path):
    """The 5000亩 figures (statuses, years) are examples: the sheet says so above the numbers, not only at the end."""
    import openpyxl

    X.export_layers(catalog, ["low_efficiency_land"], "xlsx", tmp_path / "r.xlsx")
    ws = openpyxl.load_workbook(tmp_path / "r.xlsx")["5000亩进度"]
    rows = list(ws.iter_rows(values_only=True))
    first_figure = next(i for i, r in enumerate(rows) if r[0] == "已完成（截至统计年份）")
    assert any("示例" in str(v) for r in rows[:first_figure] for v in r if v is not None)
