"""More readers and the CRS guesses, checked through ``prepare`` (the dry run): KMZ, FlatGeobuf, CSV with/without
BOM and in GBK, KFQMap's own GCJ-02 export, guesses (swapped axes, zone prefix, Web Mercator), control-point
edge cases, duplicates, slivers and overlap with an existing layer."""
from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import shapely

from kfqmap.catalog import load_catalog
from kfqmap.errors import InvalidParameter
from kfqmap.importing import ImportOptions, prepare
from kfqmap.importing.georef import fit
from kfqmap.settings import CatalogSettings
from tests.kfqmap import importfiles as F

MINI = Path(__file__).resolve().parent.parent / "fixtures" / "mini_geodata"


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    return load_catalog(CatalogSettings(geodata_dir=MINI, data_dir=tmp_path_factory.mktemp("data")))


def _ogr(*args):
    subprocess.run(["ogr2ogr", *map(str, args)], check=True, capture_output=True, timeout=60)


def _lonlat_fc(path: Path, coords_of=lambda ring: ring) -> Path:
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": n},
         "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in coords_of(F.ring_lonlat(r))]
                                                         + [list(coords_of(F.ring_lonlat(r))[0])]]}}
        for n, r in F.PARCELS.items()]}
    path.write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    return path


def test_kmz_and_flatgeobuf(catalog, tmp_path):
    src = _lonlat_fc(tmp_path / "ll.geojson")
    _ogr("-f", "LIBKML", tmp_path / "a.kml", src)
    with zipfile.ZipFile(tmp_path / "a.kmz", "w") as zf:
        zf.write(tmp_path / "a.kml", "doc.kml")
    _ogr("-f", "FlatGeobuf", tmp_path / "a.fgb", src)
    for name in ("a.kmz", "a.fgb"):
        report = prepare(catalog, tmp_path / name, ImportOptions(new_layer="t")).report
        assert report.features_imported == 3 and report.crs == "EPSG:4326" and report.ok, name
        assert report.area_m2 == pytest.approx(sum(F.pyproj_area_m2(r) for r in F.PARCELS.values()), rel=1e-6)


@pytest.mark.parametrize("encoding, bom", [("utf-8", True), ("utf-8", False), ("gbk", False)])
def test_csv_encodings(catalog, tmp_path, encoding, bom):
    text = "名称,lon,lat\n甲地,120.95,31.33\n乙地,120.96,31.34\n"
    path = tmp_path / "pts.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding))
    prepared = prepare(catalog, path, ImportOptions(new_layer="t", crs="EPSG:4326"))
    assert list(prepared.frame["name"]) == ["甲地", "乙地"]
    assert prepared.report.encoding == ("UTF-8" if encoding == "utf-8" else "GB18030")


def test_kfqmap_gcj02_export_is_read_in_gcj02(catalog, tmp_path):
    from kfqmap.export import export_layers

    target = tmp_path / "cores_gcj.geojson"
    export_layers(catalog, ["cores"], "geojson", target, "GCJ-02")
    prepared = prepare(catalog, target, ImportOptions(new_layer="t"))
    assert prepared.report.crs == "GCJ-02" and prepared.report.crs_how == "file"
    old = catalog.read("cores")
    got = dict(zip(prepared.frame["name"], prepared.frame.geometry))
    for name, geom in zip(old["name"], old.geometry):
        assert shapely.hausdorff_distance(got[name], geom) < 1e-7     # back on WGS 84 (≈ 1 cm)


@pytest.mark.parametrize("what, expect", [
    ("lonlat_swapped", ("EPSG:4326", True)),
    ("gk_4549_swapped", ("EPSG:4549", True)),
    ("gk_4528", ("EPSG:4528", False)),
    ("mercator", ("EPSG:3857", False)),
])
def test_crs_guesses(catalog, tmp_path, what, expect):
    from pyproj import Transformer

    def to(epsg, swap):
        t = Transformer.from_crs(4326, epsg, always_xy=True)
        return lambda ring: [(t.transform(*p)[::-1] if swap else t.transform(*p)) for p in ring]
    coords_of = {"lonlat_swapped": lambda ring: [p[::-1] for p in ring], "gk_4549_swapped": to(4549, True),
                 "gk_4528": to(4528, False), "mercator": to(3857, False)}[what]
    path = tmp_path / "g.csv"
    lines = ["name,wkt"] + [f'{n},"{shapely.Polygon(coords_of(F.ring_lonlat(r))).wkt}"' for n, r in F.PARCELS.items()]
    path.write_text("\n".join(lines), encoding="utf-8")
    prepared = prepare(catalog, path, ImportOptions(new_layer="t"))
    report = prepared.report
    assert (report.crs, report.swapped_xy) == expect and report.crs_guessed and not report.ok
    assert any("--crs " + expect[0] in e and (("--swap-xy" in e) == expect[1]) for e in report.errors)
    assert report.area_m2 == pytest.approx(sum(F.pyproj_area_m2(r) for r in F.PARCELS.values()), rel=1e-5)
    confirmed = prepare(catalog, path, ImportOptions(new_layer="t", crs=expect[0], swap_xy=expect[1])).report
    assert confirmed.ok and not confirmed.crs_guessed


def test_control_point_edge_cases():
    src = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    with pytest.raises(InvalidParameter, match="至少需要 3 对"):
        fit(src[:2], src[:2] + 590000)
    with pytest.raises(InvalidParameter, match="共线"):
        fit(np.array([[0, 0], [1, 1], [2, 2]], float), np.array([[590000, 3468000], [590001, 3468001],
                                                                  [590002, 3468002]], float), method="affine")
    shear = np.array([[2.0, 0.5, 590000.0], [0.1, 1.5, 3468000.0]])          # an affine map is recovered exactly
    pts = np.array([[0, 0], [100, 0], [0, 100], [100, 100], [50, 20]], float)
    dst = pts @ shear[:, :2].T + shear[:, 2]
    result = fit(pts, dst, method="affine", max_rms_m=1e-6)
    assert np.allclose(result.matrix, shear) and result.rms_m < 1e-6


def test_duplicates_slivers_and_overlap_with_an_existing_layer(catalog, tmp_path):
    core = catalog.read("cores").iloc[0]
    inside = shapely.affinity.scale(core.geometry, 0.5, 0.5)             # half the size, inside the core
    minx, miny, _, _ = core.geometry.bounds
    sliver = shapely.box(minx, miny, minx + 0.01, miny + 0.00001)        # ≈ 950 m × 1 m
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": n}, "geometry": shapely.geometry.mapping(g)}
        for n, g in (("内", inside), ("内二", inside), ("条", sliver))]}
    path = tmp_path / "o.geojson"
    path.write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    report = prepare(catalog, path, ImportOptions(new_layer="t")).report
    assert report.duplicates == [["内", "内二"]] and report.slivers == ["条"]
    from kfqmap.area import ellipsoidal_area
    want = float(ellipsoidal_area(shapely.union(inside, shapely.intersection(sliver, core.geometry)))) * 3 / 2000
    hit = next(o for o in report.overlaps if o["layer"] == "cores")
    assert hit["area_mu"] == pytest.approx(want, abs=0.01)


def test_unknown_encoding_and_attribute_only_tables_are_400s(catalog, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("name,lon,lat\n甲,120.95,31.33\n", encoding="utf-8")
    with pytest.raises(InvalidParameter, match="未知的文字编码") as err:
        prepare(catalog, path, ImportOptions(new_layer="t", encoding="klingon"))
    assert err.value.parameter == "encoding"
    table = tmp_path / "attrs.gpkg"
    _ogr("-f", "GPKG", table, path, "-nln", "attrs")              # a CSV without geometry → an attribute table
    with pytest.raises(InvalidParameter, match="没有几何列"):
        prepare(catalog, table, ImportOptions(new_layer="t"))


def test_illustrative_features_follow_the_placeholder_contract(catalog, tmp_path):
    src = _lonlat_fc(tmp_path / "ll.geojson")
    prepared = prepare(catalog, src, ImportOptions(new_layer="t", illustrative=True, accuracy_m=20))
    frame = prepared.frame
    assert frame["illustrative"].all() and frame["placeholder"].all() and (frame["accuracy_m"] >= 500).all()


def test_dxf_lines_into_a_line_layer_report_their_length(catalog, tmp_path):
    """The open polyline of the drawing goes into the rivers (line) layer; its length against pyproj's geodesic."""
    dxf = F.dxf_4549(tmp_path, with_closed=False)
    report = prepare(catalog, dxf, ImportOptions(layer="rivers", crs="EPSG:4549")).report
    assert report.counts_by_type == {"LineString": 1} and report.features_imported == 1
    lons, lats = F.TO_WGS84.transform([589900, 591400, 591400], [3467900, 3467900, 3468800])
    assert report.length_m == pytest.approx(F.GEOD.line_length(lons, lats), rel=1e-6)


def test_zip_with_gbk_member_names_from_chinese_windows(catalog, tmp_path):
    path = F.shapefile_gbk_names_zip(tmp_path)
    import zipfile
    with zipfile.ZipFile(path) as zf:                  # the names really are stored without the UTF-8 flag
        assert not any(i.flag_bits & 0x800 for i in zf.infolist()) and "地块.shp" not in " ".join(zf.namelist())
    report = prepare(catalog, path, ImportOptions(new_layer="t")).report
    assert report.source == "windows.zip:地块.shp" and report.features_imported == 3 and report.ok
    assert report.encoding == "GB18030"
