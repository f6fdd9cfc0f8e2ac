"""Every export opened by the programs planners use: GDAL (pyogrio and Debian's ogrinfo 3.6), ezdxf, openpyxl,
Pillow. Same features, same attribute values (Chinese included), coordinates within 1 cm after a CRS round trip
(export in EPSG:4549 / GCJ-02 / …, read back, transform to WGS 84, compare in metres).

Runs on the synthetic catalog (tests/fixtures/export) and on the real plan layers in geodata/ when present.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import shapely

from kfqmap import stats
from kfqmap.catalog import load_catalog
from kfqmap.crs import transform_geometry
from kfqmap.export import export_layers, get_format
from kfqmap.export.shapefile import _cut
from kfqmap.settings import GEODATA_DIR, CatalogSettings

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "export"
ARTIFACTS = ROOT / "test-artifacts"
TOLERANCE_M = 0.01
OGRINFO = shutil.which("ogrinfo")


def _catalog(root: Path):
    return load_catalog(CatalogSettings(geodata_dir=root, extra_layers=""))


@pytest.fixture(scope="module", params=["fixture", "geodata"])
def catalog(request):
    if request.param == "geodata":
        if not (GEODATA_DIR / "catalog.json").exists():
            pytest.skip("geodata/catalog.json not there yet")
        return _catalog(GEODATA_DIR)
    return _catalog(FIXTURE)


def spatial_ids(catalog) -> list[str]:
    return [layer.id for layer in catalog.layers if layer.is_spatial]


# ------------------------------------------------------------------ comparison helpers
def max_distance_m(read_geoms, crs: str, original_geoms) -> float:
    """Largest Hausdorff distance (metres, EPSG:4549) between geometries read back in ``crs`` and the originals."""
    back = transform_geometry(np.asarray(read_geoms, dtype=object), crs, "EPSG:4326")
    a = transform_geometry(back, "EPSG:4326", "EPSG:4549")
    b = transform_geometry(np.asarray(original_geoms, dtype=object), "EPSG:4326", "EPSG:4549")
    return float(np.max(shapely.hausdorff_distance(a, b)))


def text_columns(frame) -> list[str]:
    cols = []
    for col in frame.columns:
        if col == frame.geometry.name:
            continue
        values = frame[col].dropna()
        if len(values) and all(isinstance(v, str) for v in values):
            cols.append(col)
    return cols


def same_text(expected, got, *, column: str, cut: bool = False) -> bool:
    if expected is None or (isinstance(expected, float) and np.isnan(expected)):
        return got is None or got == "" or (isinstance(got, float) and np.isnan(got))
    if cut:   # DBF: text cut to 254 bytes, and trailing blanks are padding, never read back
        return _cut(expected).rstrip() == (got or "").rstrip()
    if column == "figures" and not cut:
        return json.loads(expected) == (json.loads(got) if isinstance(got, str) else got)
    return expected == got


def check_layer(original, read, crs: str, *, key: str = "id", rename=None, cut=False, columns=None):
    """Same feature ids, same text attributes (Chinese), same geometry within 1 cm."""
    rename = rename or {}
    read = read.set_index(rename.get(key, key), drop=False)
    assert sorted(read.index) == sorted(original[key]), "feature ids differ"
    read = read.loc[list(original[key])]
    for col in columns or text_columns(original):
        got_col = rename.get(col, col)
        assert got_col in read.columns, f"missing attribute {col} ({got_col})"
        for exp, got in zip(original[col], read[got_col]):
            assert same_text(exp, got, column=col, cut=cut), f"{col}: {exp!r} != {got!r}"
    if "accuracy_m" in original.columns and "accuracy_m" in read.columns:
        np.testing.assert_allclose(read["accuracy_m"].astype(float), original["accuracy_m"].astype(float))
    assert max_distance_m(read.geometry.values, crs, original.geometry.values) < TOLERANCE_M


def declared_epsg(frame):
    return frame.crs.to_epsg() if frame.crs is not None else None


CRSS = ["EPSG:4326", "EPSG:4549", "GCJ-02"]


# ------------------------------------------------------------------ GeoJSON / GeoPackage / FlatGeobuf / CSV
@pytest.mark.parametrize("crs", CRSS + ["EPSG:4528", "EPSG:3857", "EPSG:4490"])
def test_geopackage(catalog, tmp_path, crs):
    ids = catalog.ids
    target = tmp_path / "plan.gpkg"
    export_layers(catalog, ids, "gpkg", target, crs)
    layers = {name for name, _ in pyogrio.list_layers(target)}
    assert layers == set(ids) | {"layer_styles"}          # + QGIS's style table (test_geopackage_layer_styles)
    for lid in spatial_ids(catalog):
        read = pyogrio.read_dataframe(target, layer=lid)
        assert declared_epsg(read) == (None if crs == "GCJ-02" else int(crs.split(":")[1]))
        check_layer(catalog.read(lid), read, crs)
        if crs == "GCJ-02":
            assert "GCJ-02" in pyogrio.read_info(target, layer=lid)["layer_metadata"]["DESCRIPTION"]
    if "indicators" in ids:
        table = pyogrio.read_dataframe(target, layer="indicators", read_geometry=False)
        assert list(table["name"]) == list(catalog.read("indicators")["name"])


QGIS_STYLE_COLUMNS = ["f_table_catalog", "f_table_schema", "f_table_name", "f_geometry_column", "styleName",
                      "styleQML", "styleSLD", "useAsDefault", "description", "owner", "ui", "update_time"]
SE = "{http://www.opengis.net/se}"


def _qgis_rgba(colour: str, alpha: float = 1.0) -> str:
    h = colour.lstrip("#")
    return f"{int(h[0:2], 16)},{int(h[2:4], 16)},{int(h[4:6], 16)},{round(alpha * 255)}"


def _catalog_colours(layer) -> tuple[str | None, str | None]:
    """The fill and stroke the catalog itself sets for a layer (None where it leaves the field to the palette)."""
    explicit = layer.style.model_fields_set
    return (layer.style.fill if "fill" in explicit else None), (layer.style.stroke if "stroke" in explicit else None)


def test_geopackage_layer_styles(catalog, tmp_path):
    """Issue 15: the GeoPackage carries QGIS's layer_styles table, one default QML + SLD per layer, in the
    viewer's colours (the catalog's, through kfqmap.style.layer_paint)."""
    import sqlite3
    import xml.etree.ElementTree as ET
    from kfqmap.style import layer_paint

    target = tmp_path / "plan.gpkg"
    export_layers(catalog, catalog.ids, "gpkg", target, "EPSG:4549")
    with sqlite3.connect(target) as con:
        columns = [r[1] for r in con.execute("PRAGMA table_info(layer_styles)")]
        rows = con.execute(f"SELECT {', '.join(QGIS_STYLE_COLUMNS)} FROM layer_styles").fetchall()
        geom_columns = dict(con.execute("SELECT table_name, column_name FROM gpkg_geometry_columns"))
    assert columns[1:] == QGIS_STYLE_COLUMNS and columns[0] == "id"
    styles = {r[2]: dict(zip(QGIS_STYLE_COLUMNS, r)) for r in rows}
    assert set(styles) == set(spatial_ids(catalog)) and len(rows) == len(styles)
    for lid, row in styles.items():
        layer, paint = catalog.get(lid), layer_paint(catalog.get(lid))
        assert row["f_geometry_column"] == geom_columns[lid] and row["useAsDefault"] == 1
        assert row["styleName"] == layer.title_zh
        qml = ET.fromstring(row["styleQML"])
        sld = ET.fromstring(row["styleSLD"])
        symbols = qml.findall("./renderer-v2/symbols/symbol")
        fill_cat, stroke_cat = _catalog_colours(layer)
        for colour, want in ((paint["fill"], fill_cat), (paint["stroke"], stroke_cat)):
            if want is not None:
                assert colour == want, lid                               # the catalog's own colour wins
        opts = {o.get("name"): o.get("value") for o in symbols[-1].iter("Option")}
        if paint["kind"] == "fill":
            if paint["fill"]:
                assert opts["color"] == _qgis_rgba(paint["fill"], paint["fill_opacity"])
                fills = [p.text for p in sld.iter(f"{SE}SvgParameter") if p.get("name") == "fill"]
                assert paint["fill"] in fills
            assert opts["line_color"] == _qgis_rgba(paint["stroke"], paint["opacity"])
        elif paint["kind"] == "line":
            assert opts["line_color"] == _qgis_rgba(paint["stroke"], paint["opacity"])
        else:
            assert opts["outline_color"] == _qgis_rgba(paint["stroke"]) and opts["size"] == f"{2 * paint['radius']:g}"
        strokes = [p.text for p in sld.iter(f"{SE}SvgParameter") if p.get("name") == "stroke"]
        assert paint["stroke"] in strokes
        if paint["dash"] and paint["kind"] != "circle":      # markers have no dash
            assert opts["use_custom_dash"] == "1" and opts["customdash"] == ";".join(f"{d:g}" for d in paint["dash"])
        if paint["label"]:
            assert qml.get("labelsEnabled") == "1"
            text_style = qml.find("./labeling/settings/text-style")
            assert "CJK" in text_style.get("fontFamily") and "name" in text_style.get("fieldName")
            assert sld.find(f".//{SE}TextSymbolizer") is not None
        if paint["categories"]:
            cats = {c.get("value"): int(c.get("symbol")) for c in qml.iter("category")}
            for value, colours in paint["categories"]["values"].items():
                sym_opts = {o.get("name"): o.get("value") for o in symbols[cats[value]].iter("Option")}
                assert sym_opts["color"] == _qgis_rgba(colours["fill"], paint["fill_opacity"])
            literals = {lit.text for lit in sld.iter("{http://www.opengis.net/ogc}Literal")}
            assert set(paint["categories"]["values"]) <= literals

    if OGRINFO is None:
        pytest.fail("ogrinfo (gdal-bin) is needed for this test")
    out = subprocess.run([OGRINFO, "-ro", "-al", "-q", str(target), "layer_styles"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert sorted(re.findall(r"^  f_table_name \(String\) = (\w+)$", out.stdout, flags=re.M)) == sorted(styles)


_QGIS_GPKG = r"""
import json, sys
from qgis.core import QgsApplication, QgsVectorLayer, QgsRenderContext
app = QgsApplication([], False)
app.initQgis()
out = {}
for name in sys.argv[2:]:
    layer = QgsVectorLayer(f"{sys.argv[1]}|layername={name}", name, "ogr")
    r = layer.renderer()
    first = r.symbols(QgsRenderContext())[-1]
    info = {"valid": layer.isValid(), "renderer": r.type(), "labels": layer.labelsEnabled(),
            "symbol_layers": [sl.layerType() for sl in first.symbolLayers()],
            "colours": [sl.color().name() for sl in first.symbolLayers()],
            "categories": {c.value(): c.symbol().symbolLayer(0).color().name() for c in r.categories()}
            if r.type() == "categorizedSymbol" else None}
    for sl in first.symbolLayers():
        if sl.layerType() in ("SimpleLine",):
            info["line"] = {"colour": sl.color().name(), "width": sl.width(), "dash": list(sl.customDashVector())
                            if sl.useCustomDashPattern() else None}
    if layer.labelsEnabled():
        info["font"] = layer.labeling().settings().format().font().family()
    out[name] = info
print(json.dumps(out, ensure_ascii=False))
"""


def test_geopackage_opens_styled_in_qgis(catalog, tmp_path):
    """QGIS itself (Debian python3-qgis 3.22) opens each table with our default style: renderer, colours,
    dash, category colours and labels."""
    from kfqmap.style import layer_paint
    if subprocess.run(["/usr/bin/python3", "-c", "import qgis.core"], capture_output=True).returncode != 0:
        pytest.skip("python3-qgis not installed")
    target = tmp_path / "plan.gpkg"
    ids = spatial_ids(catalog)
    export_layers(catalog, ids, "gpkg", target)
    script = tmp_path / "open.py"
    script.write_text(_QGIS_GPKG, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(QT_QPA_PLATFORM="offscreen", XDG_RUNTIME_DIR=str(tmp_path))
    done = subprocess.run(["/usr/bin/python3", str(script), str(target), *ids], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    for lid in ids:
        paint, info = layer_paint(catalog.get(lid)), got[lid]
        assert info["valid"]
        assert info["renderer"] == ("categorizedSymbol" if paint["categories"] else "singleSymbol"), lid
        assert info["labels"] == paint["label"] and (not paint["label"] or "CJK" in info["font"])
        if paint["kind"] in ("fill", "line"):
            assert info["line"]["colour"] == paint["stroke"] and info["line"]["width"] == paint["width"], lid
            assert info["line"]["dash"] == (paint["dash"] or None), lid
        if paint["kind"] == "fill" and paint["fill"]:
            assert info["symbol_layers"] == ["SimpleFill", "SimpleLine"] and info["colours"][0] == paint["fill"]
        if paint["kind"] == "circle":
            assert info["symbol_layers"] == ["SimpleMarker"] and info["colours"][0] == paint["fill"]
        if paint["categories"]:
            for value, colours in paint["categories"]["values"].items():
                assert info["categories"][value] == colours["fill"]


@pytest.mark.parametrize("crs", CRSS)
def test_geojson(catalog, tmp_path, crs):
    target = tmp_path / "plan.geojson"
    export_layers(catalog, catalog.ids, "geojson", target, crs)
    doc = json.loads(target.read_text(encoding="utf-8"))
    if crs == "EPSG:4326":
        assert "crs" not in doc                                    # RFC 7946
    elif crs == "GCJ-02":
        assert "crs" not in doc and doc["kfqmap_crs"] == "GCJ-02"  # honest: no EPSG, said so
    else:
        assert doc["crs"]["properties"]["name"].endswith("4549")
    read = pyogrio.read_dataframe(target)
    for lid in spatial_ids(catalog):
        check_layer(catalog.read(lid), read[read["src_layer"] == lid], crs)
    if "indicators" in catalog.ids:
        rows = read[read["src_layer"] == "indicators"]
        assert rows.geometry.isna().all() and len(rows) == len(catalog.read("indicators"))


@pytest.mark.parametrize("crs", CRSS)
def test_flatgeobuf(catalog, tmp_path, crs):
    target = tmp_path / "plan.fgb"
    export_layers(catalog, catalog.ids, "fgb", target, crs)
    read = pyogrio.read_dataframe(target)
    assert declared_epsg(read) == (None if crs == "GCJ-02" else int(crs.split(":")[1]))
    for lid in spatial_ids(catalog):
        check_layer(catalog.read(lid), read[read["src_layer"] == lid], crs)


@pytest.mark.parametrize("crs", ["EPSG:4326", "EPSG:4549", "GCJ-02"])
def test_csv_wkt_with_bom(catalog, tmp_path, crs):
    target = tmp_path / "plan.csv"
    export_layers(catalog, catalog.ids, "csv", target, crs)
    raw = target.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")                         # UTF-8 BOM for Excel
    header = next(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert header[:3] == ["WKT", "geometry_kind", "wkt_note"] and header[-1] == "crs"
    read = pyogrio.read_dataframe(target)                          # GDAL turns the WKT column into geometry
    assert set(read["crs"]) == {crs}
    for lid in spatial_ids(catalog):
        original = catalog.read(lid)
        rows = read[read["src_layer"] == lid]
        simplified = set(rows.loc[rows["wkt_note"].fillna("") != "", "id"])
        exact = original[~original["id"].isin(simplified)]
        check_layer(exact, rows[~rows["id"].isin(simplified)], crs, columns=["name", "source", "placement"])
        for fid in simplified:                                      # see test_csv_cells_fit_a_spreadsheet
            assert "GeoPackage" in rows.loc[rows["id"] == fid, "wkt_note"].iloc[0]


@pytest.mark.parametrize("crs", ["EPSG:4326", "EPSG:4549", "GCJ-02"])
def test_csv_cells_fit_a_spreadsheet(catalog, tmp_path, crs):
    """Issue 15: a WKT over 32,767 characters was cut when the file was saved from a spreadsheet. Every cell
    fits; a simplified geometry says so, and its stated deviation (metres) is what it really is."""
    target = tmp_path / "plan.csv"
    export_layers(catalog, catalog.ids, "csv", target, crs)
    rows = list(csv.DictReader(io.StringIO(target.read_bytes().decode("utf-8-sig"))))
    assert max(len(v or "") for r in rows for v in r.values()) <= 32_767
    originals = {(lid, fid): g for lid in spatial_ids(catalog)
                 for fid, g in zip(catalog.read(lid)["id"], catalog.read(lid).geometry.values)}
    noted = [r for r in rows if r["wkt_note"]]
    if catalog.root == GEODATA_DIR and "admin_boundaries" in catalog.ids:
        assert noted, "the administrative boundaries are longer than a cell: expected simplified rows"
    for r in noted:
        stated = float(re.search(r"最大偏差约 ([\d,.]+) 米", r["wkt_note"]).group(1).replace(",", ""))
        got = max_distance_m([shapely.from_wkt(r["WKT"])], crs, [originals[(r["src_layer"], r["id"])]])
        assert got <= stated + 0.1 and got >= stated * 0.9 - 0.1, (r["id"], got, stated)
        assert "GeoPackage" in r["wkt_note"] and "32,767" in r["wkt_note"]


def test_csv_text_stays_text(catalog, tmp_path):
    """Text is quoted, numbers are not: GDAL reading with type detection and QUOTED_FIELDS_AS_STRING (what
    LibreOffice's "quoted field as text" does) keeps every text column of the data as String ("6%" stays "6%")."""
    target = tmp_path / "plan.csv"
    export_layers(catalog, catalog.ids, "csv", target)
    text = target.read_bytes().decode("utf-8-sig")
    if "indicators" in catalog.ids and (catalog.read("indicators").get("growth_text") == "6%").any():
        assert ',"6%",' in text
    if OGRINFO is None:
        pytest.fail("ogrinfo (gdal-bin) is needed for this test")
    out = subprocess.run([OGRINFO, "-ro", "-so", "-al", "-oo", "AUTODETECT_TYPE=YES", "-oo",
                          "QUOTED_FIELDS_AS_STRING=YES", "-oo", "GEOM_POSSIBLE_NAMES=WKT", str(target)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    types = dict(re.findall(r"^(\w+): (\w+) \(", out.stdout, flags=re.M))
    for lid in catalog.ids:
        for col in text_columns(catalog.read(lid)):
            assert types.get(col) == "String", (lid, col, types.get(col))
    assert types.get("accuracy_m") in ("Real", "Integer")            # numbers stay numbers


def test_csv_mixed_geometry_kinds_load_in_gdal(catalog, tmp_path):
    """One file, points + lines + polygons: GDAL's CSV driver (ogrinfo 3.6, GEOM_POSSIBLE_NAMES=WKT) reads every
    row, and ``geometry_kind`` selects each kind exactly."""
    if OGRINFO is None:
        pytest.fail("ogrinfo (gdal-bin) is needed for this test")
    target = tmp_path / "plan.csv"
    result = export_layers(catalog, catalog.ids, "csv", target)
    expected = {}
    for lid in spatial_ids(catalog):
        for g in catalog.read(lid).geometry.dropna():
            kind = {"Point": "point", "LineString": "line", "Polygon": "polygon"}[g.geom_type.replace("Multi", "")]
            expected[kind] = expected.get(kind, 0) + 1
    assert len(expected) >= 2                                          # the test needs mixed kinds
    base = [OGRINFO, "-ro", "-so", "-al", "-oo", "GEOM_POSSIBLE_NAMES=WKT", "-oo", "KEEP_GEOM_COLUMNS=NO"]
    out = subprocess.run(base + [str(target)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert int(re.search(r"Feature Count: (\d+)", out.stdout).group(1)) == result.features
    for kind, n in expected.items():
        out = subprocess.run(base + ["-where", f"geometry_kind = '{kind}'", str(target)],
                             capture_output=True, text=True, timeout=120)
        assert int(re.search(r"Feature Count: (\d+)", out.stdout).group(1)) == n, kind
    frame = pyogrio.read_dataframe(target)
    families = frame.geometry.dropna().geom_type.str.replace("Multi", "").map(
        {"Point": "point", "LineString": "line", "Polygon": "polygon"})
    assert list(families) == list(frame.loc[frame.geometry.notna(), "geometry_kind"])


_QGIS_DELIMITED = r"""
import json, sys
from qgis.core import QgsApplication, QgsVectorLayer
app = QgsApplication([], False)
app.initQgis()
out = {}
for kind in ("point", "line", "polygon"):
    uri = f"file://{sys.argv[1]}?type=csv&wktField=WKT&crs=EPSG:4326&detectTypes=yes&geomType={kind}"
    layer = QgsVectorLayer(uri, kind, "delimitedtext")
    feats = [f for f in layer.getFeatures() if f.hasGeometry()]
    out[kind] = {"valid": layer.isValid(), "with_geometry": len(feats),
                 "kinds": sorted({str(f["geometry_kind"]) for f in feats}),
                 "growth_text": layer.fields().field("growth_text").typeName()
                 if layer.fields().indexOf("growth_text") >= 0 else None}
print(json.dumps(out))
"""


def test_csv_mixed_geometry_kinds_load_in_qgis_delimited_text(catalog, tmp_path):
    """QGIS's Delimited Text provider (Debian python3-qgis 3.22) loads one geometry type per layer: added once per
    ``geometry_kind`` (its own ``geomType`` values), every feature of the file is loaded."""
    probe = subprocess.run(["/usr/bin/python3", "-c", "import qgis.core"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("python3-qgis not installed")
    target = tmp_path / "plan.csv"
    export_layers(catalog, catalog.ids, "csv", target)
    script = tmp_path / "dt.py"
    script.write_text(_QGIS_DELIMITED, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(QT_QPA_PLATFORM="offscreen", XDG_RUNTIME_DIR=str(tmp_path))
    done = subprocess.run(["/usr/bin/python3", str(script), str(target)], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    rows = list(csv.DictReader(io.StringIO(target.read_bytes().decode("utf-8-sig"))))
    for kind in ("point", "line", "polygon"):
        n = sum(r["geometry_kind"] == kind for r in rows)
        assert got[kind]["valid"] and got[kind]["with_geometry"] == n, (kind, got[kind], n)
        assert got[kind]["kinds"] in ([kind], [])
        if got[kind]["growth_text"] is not None:
            assert got[kind]["growth_text"].lower() in ("text", "string")
    assert sum(got[k]["with_geometry"] for k in got) == sum(1 for r in rows if r["WKT"])


# ------------------------------------------------------------------ Shapefile
@pytest.mark.parametrize("crs", CRSS)
def test_shapefile_zip(catalog, tmp_path, crs):
    target = tmp_path / "plan.zip"
    export_layers(catalog, catalog.ids, "shapefile", target, crs)
    with zipfile.ZipFile(target) as zf:
        names = set(zf.namelist())
        fields = list(csv.DictReader(io.StringIO(zf.read("fields.csv").decode("utf-8-sig"))))
        readme = zf.read("README.txt").decode("utf-8")
        cpgs = {n: zf.read(n).decode("ascii") for n in names if n.endswith(".cpg")}
    assert cpgs and set(cpgs.values()) == {"UTF-8"}
    if crs == "GCJ-02":
        assert not any(n.endswith(".prj") for n in names) and "CRS.txt" in names and "GCJ-02" in readme
    else:
        assert all(f"{Path(n).stem}.prj" in names for n in names if n.endswith(".shp"))
    for lid in catalog.ids:
        layer = catalog.get(lid)
        original = catalog.read(lid)
        stems = sorted({Path(n).stem for n in names if n.startswith(lid) and n.endswith(".dbf")
                        and re.fullmatch(rf"{lid}(_point|_line|_polygon)?", Path(n).stem)})
        assert stems, f"no file set for {lid}"
        rename = {r["original_name"]: r["dbf_name"] for r in fields if r["layer_id"] == lid}
        assert all(len(v.encode()) <= 10 for v in rename.values())
        if not layer.is_spatial:
            read = pyogrio.read_dataframe(f"/vsizip/{target}/{lid}.dbf", read_geometry=False)
            assert list(read[rename["name"]]) == list(original["name"])
            continue
        parts = [pyogrio.read_dataframe(f"/vsizip/{target}/{stem}.shp") for stem in stems]
        read = parts[0] if len(parts) == 1 else parts[0]._constructor(
            __import__("pandas").concat(parts), geometry=parts[0].geometry.name, crs=parts[0].crs)
        if crs != "GCJ-02":
            assert declared_epsg(read) == int(crs.split(":")[1])
        # Shapefile polygons are always multipart-capable; compare as geometries
        check_layer(original, read, crs, rename=rename, cut=True)


def test_shapefile_field_map_applied_to_long_and_chinese_names(tmp_path):
    catalog = _catalog(FIXTURE)
    target = tmp_path / "parks.zip"
    export_layers(catalog, ["parks"], "shapefile", target)
    read = pyogrio.read_dataframe(f"/vsizip/{target}/parks.shp")
    assert "illustr" in read.columns and "descr" in read.columns
    chinese = [c for c in read.columns if c.startswith("c_")]
    assert len(chinese) == 1 and set(read[chinese[0]]) == {"特色产业", "老旧"}
    long = read.set_index("id").loc["p1", "descr"]
    assert len(long.encode("utf-8")) <= 254 and catalog.read("parks").loc["p1", "description"].startswith(long)
    with zipfile.ZipFile(target) as zf:
        assert "p1" in zf.read("README.txt").decode("utf-8")        # the truncation is reported


# ------------------------------------------------------------------ KML
@pytest.mark.parametrize("crs", ["EPSG:4326", "GCJ-02"])
def test_kml(catalog, tmp_path, crs):
    target = tmp_path / "plan.kml"
    export_layers(catalog, catalog.ids, "kml", target, crs)
    text = target.read_text(encoding="utf-8")
    layers = {name for name, _ in pyogrio.list_layers(target)}
    for lid in spatial_ids(catalog):
        layer = catalog.get(lid)
        assert layer.title_zh in layers
        read = pyogrio.read_dataframe(target, layer=layer.title_zh)
        original = catalog.read(lid)
        read = read.assign(name=read["Name"])
        check_layer(original, read, crs, columns=["name", "source"])
        assert f'<Style id="style-{lid}">' in text
    if crs == "GCJ-02":
        assert "GCJ-02" in text


def test_kml_uses_the_shared_colours():
    catalog = _catalog(FIXTURE)
    from kfqmap.export.kml import kml_color
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        target = Path(d) / "c.kml"
        export_layers(catalog, ["cores"], "kml", target)
        text = target.read_text(encoding="utf-8")
    s = catalog.get("cores").style
    assert f"<LineStyle><color>{kml_color(s.stroke)}</color>" in text
    assert f"<PolyStyle><color>{kml_color(s.fill, s.fill_opacity)}</color>" in text
    assert "<name>青阳港两岸核心区</name>" in text and "示意" in text


# ------------------------------------------------------------------ ogrinfo (Debian GDAL 3.6), a second reader
@pytest.mark.skipif(OGRINFO is None, reason="gdal-bin not installed")
@pytest.mark.parametrize("fmt", ["gpkg", "geojson", "fgb", "shapefile", "kml", "csv"])
def test_ogrinfo_opens_every_gis_export(catalog, tmp_path, fmt):
    target = tmp_path / f"plan{get_format(fmt).extension}"
    ids = spatial_ids(catalog)
    result = export_layers(catalog, ids, fmt, target, "EPSG:4326")
    path = f"/vsizip/{target}" if fmt == "shapefile" else str(target)
    summary = subprocess.run([OGRINFO, "-ro", "-so", "-al", path], capture_output=True, text=True, timeout=120)
    assert summary.returncode == 0, summary.stderr
    counts = {name: int(n) for name, n in
              re.findall(r"^Layer name: (\S+)\n(?:.*\n)*?Feature Count: (\d+)", summary.stdout, flags=re.M)}
    styles = counts.pop("layer_styles", None)          # GeoPackage: QGIS's style table, one row per layer
    assert styles == (len(ids) if fmt == "gpkg" else None)
    assert sum(counts.values()) == result.features
    full = subprocess.run([OGRINFO, "-ro", "-al", "-q", path], capture_output=True, text=True, timeout=120)
    assert full.returncode == 0
    for lid in ids:
        name = catalog.read(lid)["name"].iloc[0]
        assert name in full.stdout, f"{name} not found by ogrinfo"


# ------------------------------------------------------------------ DXF (ezdxf)
@pytest.mark.parametrize("crs", ["EPSG:4549", "EPSG:4528"])
def test_dxf(catalog, tmp_path, crs):
    ezdxf = pytest.importorskip("ezdxf")
    target = tmp_path / "plan.dxf"
    ids = spatial_ids(catalog)
    export_layers(catalog, ids, "dxf", target, crs)
    doc = ezdxf.readfile(target)
    assert doc.header["$INSUNITS"] == 6
    style = doc.styles.get("KFQ_CJK")
    assert style.dxf.font == "simsun.ttc"
    msp = doc.modelspace()
    for lid in ids:
        layer = catalog.get(lid)
        dxf_layer = doc.layers.get(lid)
        assert layer.title_zh in dxf_layer.description
        stroke = layer.style.stroke.lstrip("#")
        assert tuple(dxf_layer.rgb) == tuple(int(stroke[i:i + 2], 16) for i in (0, 2, 4))
        original = catalog.read(lid)
        projected = transform_geometry(original.geometry.values, "EPSG:4326", crs)
        by_id = dict(zip(original["id"], projected))
        if layer.is_polygonal:
            polylines = msp.query(f'LWPOLYLINE[layer=="{lid}"]')
            rings = sum(len(p.interiors) + 1 for g in projected for p in getattr(g, "geoms", [g]))
            assert len(polylines) == rings and all(p.closed for p in polylines)
            for pl in polylines:
                fid = pl.get_xdata("KFQMAP")[0].value
                ring = shapely.LinearRing(pl.get_points("xy"))
                rings_of = [r for p in getattr(by_id[fid], "geoms", [by_id[fid]]) for r in [p.exterior, *p.interiors]]
                assert min(shapely.hausdorff_distance(ring, r) for r in rings_of) < TOLERANCE_M
        texts = {t.dxf.text for t in msp.query(f'TEXT[layer=="{lid}"]')}
        if layer.style.label:
            assert set(original["name"].dropna()) <= texts
    x = [p[0] for pl in msp.query("LWPOLYLINE") for p in pl.get_points("xy")]
    if crs == "EPSG:4528":
        assert min(x) > 40_000_000                    # zone number prefix
    else:
        assert 300_000 < min(x) and max(x) < 700_000   # metres from the 120°E central meridian + 500 km


def _dxf_labels(catalog, ids) -> dict[str, set[str]]:
    """Expected TEXT labels per DXF layer: the Chinese names of the features of each labelled layer."""
    return {lid: set(catalog.read(lid)["name"].dropna()) for lid in ids if catalog.get(lid).style.label}


def test_dxf_chinese_intact_in_gdal_36_gdal_current_and_ezdxf(catalog, tmp_path, monkeypatch):
    """Issue 15: GDAL decodes a DXF by $DWGCODEPAGE, so the old R2010 file (ANSI_1252 + UTF-8) came out as
    mojibake in QGIS. Every Chinese label must read back exactly in Debian's ogrinfo 3.6 (no DXF_ENCODING),
    in pyogrio's bundled GDAL, and in ezdxf."""
    ezdxf = pytest.importorskip("ezdxf")
    monkeypatch.delenv("DXF_ENCODING", raising=False)
    target = tmp_path / "plan.dxf"
    ids = spatial_ids(catalog)
    export_layers(catalog, ids, "dxf", target)
    labels = _dxf_labels(catalog, ids)
    assert any(any(ord(ch) > 0x2E80 for ch in name) for names in labels.values() for name in names)
    raw = target.read_bytes()
    assert b"$ACADVER\n  1\nAC1018" in raw.replace(b"\r\n", b"\n")
    assert b"$DWGCODEPAGE\n  3\nANSI_936" in raw.replace(b"\r\n", b"\n")

    # 1. Debian GDAL 3.6 (what QGIS on Debian links), as a subprocess with DXF_ENCODING unset
    if OGRINFO is None:
        pytest.fail("ogrinfo (gdal-bin) is needed for this test")
    env = {k: v for k, v in os.environ.items() if k != "DXF_ENCODING"}
    out = subprocess.run([OGRINFO, "-ro", "-al", "-q", str(target)], capture_output=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    text = out.stdout.decode("utf-8")          # ogrinfo prints UTF-8: mojibake would still decode, but differ
    got_36 = {}
    for layer_name, value in re.findall(r"^  Layer \(String\) = (.*)\n(?:  .*\n)*?  Text \(String\) = (.*)$", text,
                                        flags=re.M):
        got_36.setdefault(layer_name, set()).add(value)
    for lid, names in labels.items():
        assert names <= got_36.get(lid, set()), f"ogrinfo 3.6, {lid}: {sorted(names - got_36.get(lid, set()))[:3]}"

    # 2. current GDAL (pyogrio's)
    frame = pyogrio.read_dataframe(target)
    for lid, names in labels.items():
        got = set(frame.loc[frame["Layer"] == lid, "Text"].dropna())
        assert names <= got, f"GDAL {pyogrio.__gdal_version_string__}, {lid}: {sorted(names - got)[:3]}"

    # 3. ezdxf: labels, layer descriptions and the XDATA names
    doc = ezdxf.readfile(target)
    assert doc.acad_release == "R2004" and doc.encoding == "gbk"
    msp = doc.modelspace()
    for lid, names in labels.items():
        assert names <= {t.dxf.text for t in msp.query(f'TEXT[layer=="{lid}"]')}
        assert names <= {t.get_xdata("KFQMAP")[1].value for t in msp.query(f'TEXT[layer=="{lid}"]')}
    for lid in ids:
        assert doc.layers.get(lid).description.startswith(catalog.get(lid).title_zh)


# ------------------------------------------------------------------ XLSX (openpyxl) against kfqmap.area


# ------------------------------------------------------------------ XLSX (openpyxl) against kfqmap.stats
def test_xlsx_totals_match_the_statistics(catalog, tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    target = tmp_path / "report.xlsx"
    export_layers(catalog, catalog.ids, "xlsx", target)
    wb = openpyxl.load_workbook(target)
    assert {"说明", "图层面积", "分组面积", "园区面积", "5000亩进度", "指标", "指标监测", "预警清单"} <= set(wb.sheetnames)
    rows = {r[0]: r for r in wb["图层面积"].iter_rows(min_row=2, values_only=True) if r[0]}
    polygon_m2 = 0.0
    for layer in catalog.layers:
        if not layer.is_polygonal:
            continue
        row = rows[layer.id]
        assert row[1] == layer.title_zh
        for col, unit in ((6, "mu"), (7, "ha"), (8, "km2")):
            assert row[col] == stats.layer_stats(catalog, layer.id, unit, features=False).area, (layer.id, unit)
        polygon_m2 += stats.layer_stats(catalog, layer.id, "mu", features=False).area_m2
    assert rows["合计"][5] == pytest.approx(polygon_m2, abs=0.5)
    groups = {g.group: g for g in stats.group_stats(catalog, "mu")}
    for r in wb["分组面积"].iter_rows(min_row=2, values_only=True):
        if r[0] in groups and groups[r[0]].union_area is not None:
            assert r[4] == groups[r[0]].union_area
    prog = stats.progress(catalog)
    values = {r[0]: r[1] for r in wb["5000亩进度"].iter_rows(min_row=2, values_only=True) if r[0]}
    assert values["目标"] == prog.land.target_mu
    assert values["已完成（截至统计年份）"] == prog.land.achieved_mu
    assert values["完成比例"] == prog.land.percent
    if "indicators" in catalog.ids:
        names = [r[3] for r in wb["指标"].iter_rows(min_row=2, values_only=True)]
        assert names == list(catalog.read("indicators")["name"])


# ------------------------------------------------------------------ PNG / PDF
@pytest.mark.parametrize("size,dpi", [("A4", 100), ("1200x800px", 150), ("A4-portrait", 72)])
def test_png_size_and_content(catalog, tmp_path, size, dpi):
    from PIL import Image

    from kfqmap.export.image import pixel_size
    target = tmp_path / "map.png"
    ids = spatial_ids(catalog)
    export_layers(catalog, ids, "png", target, options={"size": size, "dpi": dpi, "title": "导出测试地图"})
    im = Image.open(target).convert("RGB")
    assert im.size == pixel_size(size, dpi)
    pixels = np.asarray(im, dtype=float)
    assert pixels.std() > 10                               # not blank
    # the cores' fill colour (blended over the map background) is on the map
    ARTIFACTS.mkdir(exist_ok=True)
    im.save(ARTIFACTS / f"export_{Path(catalog.root).name}_{size}_{dpi}.png")


def test_png_shows_layer_colours_and_black_title():
    from PIL import Image
    import tempfile
    catalog = _catalog(FIXTURE)
    with tempfile.TemporaryDirectory() as d:
        target = Path(d) / "m.png"
        export_layers(catalog, ["cores", "axes"], "png", target, options={"size": "1000x700px", "dpi": 100})
        px = np.asarray(Image.open(target).convert("RGB")).reshape(-1, 3).astype(int)
    axes_stroke = np.array([0x1d, 0x35, 0x57])
    assert (np.abs(px - axes_stroke).sum(axis=1) < 30).sum() > 200      # the axis lines are drawn in their colour
    assert (px.sum(axis=1) < 60).sum() > 500                            # title, scale bar, north arrow in black


def test_pdf_page_size_and_fonts(catalog, tmp_path):
    target = tmp_path / "map.pdf"
    export_layers(catalog, spatial_ids(catalog), "pdf", target, options={"size": "A3"})
    data = target.read_bytes()
    assert data.startswith(b"%PDF")
    box = re.search(rb"/MediaBox \[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", data)
    w, h = float(box.group(1)), float(box.group(2))
    assert w == pytest.approx(420 / 25.4 * 72, abs=0.5) and h == pytest.approx(297 / 25.4 * 72, abs=0.5)
    assert b"NotoSansCJK" in data                          # Chinese text embedded with the CJK font
    assert len(data) > 20_000                              # not an empty page


def test_shapefile_one_file_set_per_geometry_type(tmp_path):
    import geopandas as gpd
    from shapely.geometry import Point, box

    from kfqmap.models import Layer
    catalog = _catalog(FIXTURE)
    frame = gpd.GeoDataFrame({"id": ["a", "b", "c"], "name": ["点甲", "面乙", "点丙"]},
                             geometry=[Point(121.0, 31.35), box(121.01, 31.35, 121.02, 31.36), Point(121.03, 31.36)],
                             crs=4326)
    catalog.add_layer(Layer(id="mixed", title_zh="混合", title_en="Mixed", group="额外", kind="extra",
                            geometry_type="Point", file="-", plan_section="-", description="-"), frame)
    target = tmp_path / "mixed.zip"
    export_layers(catalog, ["mixed"], "shapefile", target, "EPSG:4549")
    with zipfile.ZipFile(target) as zf:
        names = set(zf.namelist())
        files = {r["file"] for r in csv.DictReader(io.StringIO(zf.read("fields.csv").decode("utf-8-sig")))}
    assert {"mixed_point.shp", "mixed_polygon.shp", "mixed_point.prj", "mixed_polygon.cpg"} <= names
    assert files == {"mixed_point", "mixed_polygon"}
    points = pyogrio.read_dataframe(f"/vsizip/{target}/mixed_point.shp")
    assert sorted(points["name"]) == ["点丙", "点甲"] and set(points.geom_type) == {"Point"}
    polys = pyogrio.read_dataframe(f"/vsizip/{target}/mixed_polygon.shp")
    assert list(polys["name"]) == ["面乙"]
