"""kfqmap.importing end to end on real files made by ogr2ogr, ezdxf and openpyxl (tests/kfqmap/importfiles.py):
what lands in the store (counts, areas against pyproj, Chinese text, provenance), the report, undo, and that a
failed import changes nothing."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
import shapely

from kfqmap.catalog import load_catalog
from kfqmap.errors import ImportRejected, InvalidCRS, InvalidParameter, KFQMapError
from kfqmap.importing import ImportOptions, prepare, run_import, undo_import
from kfqmap.providers import store_imports
from kfqmap.settings import CatalogSettings
from kfqmap.stats import land_progress, layer_stats
from tests.kfqmap import importfiles as F

MINI = Path(__file__).resolve().parent.parent / "fixtures" / "mini_geodata"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("import-files")
    kml, kml_truth = F.kml_from_gcj02(tmp)
    xlsx, points = F.xlsx_points(tmp)
    local_dxf, control_csv = F.dxf_local_with_control(tmp, residual_m=0.05)
    return {"shp_zip": F.shapefile_gbk_zip(tmp), "gpkg": F.gpkg_4528(tmp), "kml": kml, "kml_truth": kml_truth,
            "dxf": F.dxf_4549(tmp), "lines_dxf": F.dxf_4549(tmp, with_closed=False), "xlsx": xlsx, "points": points,
            "local_dxf": local_dxf, "control_csv": control_csv, "loose_shp": F.shapefile_loose(tmp), "tmp": tmp}


@pytest.fixture()
def catalog(tmp_path):
    return load_catalog(CatalogSettings(geodata_dir=MINI, data_dir=tmp_path / "data"))


def _store_state(catalog) -> tuple:
    """Every table's rows of the store file, read by a separate sqlite3 connection."""
    conn = sqlite3.connect(catalog.store.path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' "
                                             "AND name NOT LIKE 'rtree_%' AND name != 'sqlite_sequence' ORDER BY name")]
        return tuple((t, tuple(sorted(map(tuple, conn.execute(f'SELECT * FROM "{t}"').fetchall()), key=repr)))
                     for t in tables)
    finally:
        conn.close()


def _by_name(frame):
    return {row["name"]: row for _, row in frame.iterrows()}


def _check_parcel_areas(frame, names=F.PARCELS):
    rows = _by_name(frame)
    for name, ring in names.items():
        from kfqmap.area import ellipsoidal_area
        got = float(ellipsoidal_area(rows[name].geometry))
        assert got == pytest.approx(F.pyproj_area_m2(ring), rel=1e-6), name


def test_shapefile_gbk_without_cpg_lands_as_new_layer(catalog, files):
    report = run_import(catalog, files["shp_zip"], ImportOptions(new_layer="survey_parcels", title="测量地块",
                                                                 group="两核多园", dry_run=False, user="张工"))
    assert report.committed and report.ok
    assert report.encoding == "GB18030" and "自动检测" in report.encoding_origin
    assert report.crs == "EPSG:4549" and report.crs_how == "file"
    layer = catalog.get("survey_parcels")
    assert layer.title_zh == "测量地块" and layer.group == "两核多园" and layer.geometry_type == "Polygon"
    frame = catalog.read("survey_parcels")
    assert len(frame) == 3 and set(frame["name"]) == set(F.PARCELS)           # Chinese names intact
    assert set(frame["parcel_id"]) == {"DK-01", "DK-02", "DK-03"} and set(frame["备注"]) == {"测试地块"}
    _check_parcel_areas(frame)
    row = frame.iloc[0]
    assert row["source"] == "parcels_gbk.zip:地块.shp" and row["placement"] == "imported"
    assert row["imported_by"] == "张工" and row["import_id"] == report.import_id and row["imported_at"]
    assert not row["illustrative"] and not row["schematic"] and row["accuracy_m"] == 10.0
    assert report.area_m2 == pytest.approx(sum(F.pyproj_area_m2(r) for r in F.PARCELS.values()), rel=1e-6)
    stats = layer_stats(catalog, "survey_parcels", "mu")           # statistics see it
    assert stats.count == 3 and stats.area_m2 == pytest.approx(report.area_m2, abs=0.1)
    again = load_catalog(CatalogSettings(geodata_dir=MINI, data_dir=catalog.store.path.parent))   # a restart
    assert again.get("survey_parcels").title_zh == "测量地块" and len(again.read("survey_parcels")) == 3


def test_encoding_override_and_loose_shapefile(catalog, files):
    report = prepare(catalog, files["loose_shp"], ImportOptions(new_layer="x", encoding="GBK")).report
    assert report.encoding == "GBK" and report.encoding_origin == "--encoding 指定"


def test_gpkg_4528_needs_a_table_choice(catalog, files):
    with pytest.raises(InvalidParameter, match="parcels_copy") as err:
        prepare(catalog, files["gpkg"], ImportOptions(new_layer="g"))
    assert err.value.parameter == "table"
    report = run_import(catalog, files["gpkg"], ImportOptions(new_layer="g", table="parcels_copy", dry_run=False))
    assert report.crs == "EPSG:4528" and report.source == "plan_4528.gpkg:parcels_copy"
    _check_parcel_areas(catalog.read("g"))


def test_kml_from_gcj02_source_lands_on_wgs84_positions_with_folders(catalog, files):
    report = run_import(catalog, files["kml"], ImportOptions(new_layer="survey_kml", crs="gcj02", dry_run=False))
    assert report.crs == "GCJ-02" and any("按 --crs GCJ-02" in n for n in report.notes)
    frame = _by_name(catalog.read("survey_kml"))
    assert {n: r["folder"] for n, r in frame.items()} == {"新园区甲": "一期", "新园区乙": "一期", "科创园丙": "二期"}
    for name, truth in files["kml_truth"].items():
        got = shapely.get_coordinates(frame[name].geometry.exterior)[:-1]
        # back on the WGS 84 positions to well under a metre (1e-5° ≈ 1 m)
        assert np.abs(got - np.asarray(truth)).max() < 5e-6, name
    raw = prepare(catalog, files["kml"], ImportOptions(new_layer="k2")).report      # without --crs: the file's 4326
    assert raw.crs == "EPSG:4326"


def test_dxf_in_4549_polygons_hatch_text_names_and_guess(catalog, files):
    dry = prepare(catalog, files["dxf"], ImportOptions(new_layer="cad")).report
    assert dry.crs == "EPSG:4549" and dry.crs_guessed and not dry.ok        # a guess must be confirmed
    with pytest.raises(ImportRejected, match="--crs EPSG:4549"):
        run_import(catalog, files["dxf"], ImportOptions(new_layer="cad", dry_run=False))
    assert "cad" not in catalog.ids
    report = run_import(catalog, files["dxf"], ImportOptions(new_layer="cad", crs="EPSG:4549", dry_run=False))
    assert report.encoding == "gbk" and "ANSI_936" in report.encoding_origin
    assert report.counts_by_type == {"Polygon": 3, "LineString": 1} and report.other_types_left_out == {"LineString": 1}
    frame = _by_name(catalog.read("cad"))
    assert set(frame) == set(F.PARCELS)                              # TEXT inside each polygon names it
    assert frame["新园区甲"]["labels"] == "小字注记"                    # the smaller text inside is kept as a label
    assert frame["科创园丙"]["cad_type"] == "HATCH" and frame["科创园丙"]["cad_layer"] == "填充"
    assert frame["新园区甲"]["cad_layer"] == "用地红线"
    _check_parcel_areas(catalog.read("cad"))


def test_dxf_in_local_coordinates_by_control_points_of_known_residual(catalog, files):
    report = run_import(catalog, files["local_dxf"], ImportOptions(
        new_layer="local_cad", control_points=files["control_csv"], dry_run=False, max_rms_m=0.1))
    cp = report.control_points
    assert cp["residuals_m"] == pytest.approx([0.05] * 4, abs=1e-6) and cp["rms_m"] == pytest.approx(0.05, abs=1e-6)
    assert cp["scale"] == pytest.approx(1 / F.LOCAL_SCALE, rel=1e-9)            # metres per drawing unit
    assert cp["rotation_deg"] == pytest.approx(np.degrees(F.LOCAL_ROTATION), abs=1e-7)
    _check_parcel_areas(catalog.read("local_cad"))
    assert catalog.read("local_cad")["accuracy_m"].iloc[0] == pytest.approx(0.05, abs=1e-3)
    with pytest.raises(InvalidParameter, match="RMS") as err:       # above the threshold: refused
        prepare(catalog, files["local_dxf"], ImportOptions(new_layer="l2", control_points=files["control_csv"],
                                                           max_rms_m=0.01))
    assert err.value.parameter == "control_points"


def test_xlsx_points_with_jingdu_weidu(catalog, files):
    report = run_import(catalog, files["xlsx"], ImportOptions(new_layer="projects", dry_run=False,
                                                              crs="EPSG:4326"))
    assert report.counts_by_type == {"Point": 3}
    frame = _by_name(catalog.read("projects"))
    for name, (lon, lat) in files["points"].items():
        assert (frame[name].geometry.x, frame[name].geometry.y) == pytest.approx((lon, lat), abs=1e-12)
    assert frame["测试项目二"]["投资（亿元）"] == pytest.approx(21.0)


def test_replace_plan_layer_matches_keeps_plan_layer_and_undo_restores(catalog, files, tmp_path):
    before_rows = _store_state(catalog)
    old = catalog.read("low_efficiency_land").copy()
    # rename two imported parcels to old names, so that they match
    src = F.parcels_geojson_4549(tmp_path / "parcels.geojson")
    text = src.read_text(encoding="utf-8").replace("新园区甲", "低效地块0").replace("新园区乙", "低效地块1")
    src.write_text(text, encoding="utf-8")
    report = run_import(catalog, src, ImportOptions(layer="low_efficiency_land", mode="replace", dry_run=False))
    assert report.matching["matched"] == 2
    assert report.matching["unmatched_new"] == ["科创园丙"]
    assert set(report.matching["unmatched_old"]) == {f"低效地块{i}" for i in range(2, 6)}
    frame = catalog.read("low_efficiency_land")
    assert catalog.get("low_efficiency_land").group == "低效用地"                   # still the plan layer
    assert len(frame) == 3 and frame.loc["lel_0", "name"] == "低效地块0"          # old id kept for the match
    assert frame.loc["lel_0", "parcel_id"] == "DK-01" and frame.loc["lel_0", "placement"] == "imported"
    assert frame.loc["lel_0", "area_mu"] == pytest.approx(F.pyproj_area_m2(F.PARCELS["新园区甲"]) * 3 / 2000, abs=0.01)
    assert frame.loc["lel_0", "figures"] == old.loc["lel_0", "figures"]             # carried over
    assert int(frame.loc["lel_0", "year"]) == 2022
    land = land_progress(catalog, 2025)                        # the 5000亩 progress counts the imported parcels
    assert land.achieved_mu == pytest.approx(F.pyproj_area_m2(F.PARCELS["新园区甲"]) * 3 / 2000, abs=0.01)
    assert land.identified_mu == pytest.approx(sum(F.pyproj_area_m2(r) for r in F.PARCELS.values()) * 3 / 2000,
                                               abs=0.03)
    row = catalog.store.layer_row("low_efficiency_land")
    assert row["edited"] == 1                                   # an upgrade will not re-seed over the import
    undo_import(catalog, report.import_id, user="李工")
    restored = catalog.read("low_efficiency_land")
    assert list(restored.index) == list(old.index)
    assert restored.drop(columns="geometry").equals(old.drop(columns="geometry"))
    assert all(a.equals(b) for a, b in zip(restored.geometry, old.geometry))
    after = dict(_store_state(catalog))
    before = dict(before_rows)
    for table in before:      # the history (and its shadow copy) record the import and its undo (issue 13)
        if table not in ("kfqmap_layers", "kfqmap_imports", "gpkg_contents", "kfqmap_history", "kfqmap_shadow"):
            assert after[table] == before[table], table
    undone = catalog.collection("low_efficiency_land").provider.audit(user="李工")
    assert {c.feature_id for c in undone if c.op == "create"} == {f"lel_{i}" for i in range(2, 6)}
    assert all(c.note == f"撤销导入 {report.import_id}" for c in undone)
    with pytest.raises(InvalidParameter, match="已于"):
        undo_import(catalog, report.import_id)


def test_upsert_by_key_and_undo_of_a_created_layer(catalog, files):
    first = run_import(catalog, files["shp_zip"], ImportOptions(new_layer="up", dry_run=False))
    second = run_import(catalog, files["gpkg"], ImportOptions(layer="up", table="parcels", mode="upsert",
                                                              key="parcel_id", dry_run=False))
    assert len(catalog.read("up")) == 3 and second.features_after == 3
    with pytest.raises(InvalidParameter, match="先撤销"):
        undo_import(catalog, first.import_id)
    undo_import(catalog, second.import_id)
    undo_import(catalog, first.import_id)
    assert "up" not in catalog.ids and not catalog.store.has_layer("up")
    assert "up" not in load_catalog(CatalogSettings(geodata_dir=MINI, data_dir=catalog.store.path.parent)).ids


def test_required_fields_and_codes_are_errors_for_the_plan_layer(catalog, files, tmp_path):
    src = F.parcels_geojson_4549(tmp_path / "p.geojson")
    src.write_text(src.read_text(encoding="utf-8").replace("实施中", "进行中"), encoding="utf-8")
    report = prepare(catalog, src, ImportOptions(layer="low_efficiency_land")).report
    assert any("status" in e and "新园区乙" in e for e in report.errors)
    before = _store_state(catalog)
    with pytest.raises(ImportRejected):
        run_import(catalog, src, ImportOptions(layer="low_efficiency_land", dry_run=False))
    assert _store_state(catalog) == before


def test_invalid_geometry_is_repaired_and_reported(catalog, tmp_path):
    bow = tmp_path / "bow.geojson"
    bow.write_text('{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"名称":"蝴蝶"},'
                   '"geometry":{"type":"Polygon","coordinates":[[[120.95,31.33],[120.96,31.34],[120.96,31.33],'
                   '[120.95,31.34],[120.95,31.33]]]}}]}', encoding="utf-8")
    report = run_import(catalog, bow, ImportOptions(new_layer="bow", dry_run=False))
    assert report.invalid and report.invalid[0]["repaired"] and "Self-intersection" in report.invalid[0]["reason"]
    geom = catalog.read("bow").geometry.iloc[0]
    assert geom.is_valid and geom.geom_type == "MultiPolygon"


def test_a_write_that_fails_inside_the_transaction_changes_nothing(catalog, files):
    prepared = prepare(catalog, files["shp_zip"], ImportOptions(layer="low_efficiency_land", mode="replace"))
    before = _store_state(catalog)
    frame = prepared.frame.copy()
    frame["bad"] = [object()] * len(frame)            # sqlite3 cannot bind it: fails after the table was dropped
    with pytest.raises(Exception):
        store_imports.commit_table(catalog.store, prepared.layer, frame, import_id=prepared.import_id, mode="replace",
                                   source="x", user="t", summary={}, new_layer=False)
    assert _store_state(catalog) == before


@pytest.mark.parametrize("maker, message", [
    ("truncated_zip", "不是完整的 zip"),
    ("shp_without_dbf", "缺少 .dbf"),
    ("lines_dxf", "闭合"),
    ("csv_text_coordinate", "不是数字"),
    ("beijing", "北京"),
    ("unguessable", "无法判断"),
    ("dwg", "另存为 DXF"),
])
def test_bad_files_are_refused_with_a_clear_message_and_nothing_changes(catalog, files, tmp_path, maker, message):
    path = BAD[maker](files, tmp_path)
    before = _store_state(catalog)
    with pytest.raises(KFQMapError, match=message):
        run_import(catalog, path, ImportOptions(layer="low_efficiency_land", mode="replace", dry_run=False))
    assert _store_state(catalog) == before


def _truncated_zip(files, tmp):
    data = files["shp_zip"].read_bytes()
    target = tmp / "cut.zip"
    target.write_bytes(data[: len(data) // 2])
    return target


def _shp_without_dbf(files, tmp):
    import shutil
    folder = tmp / "nodbf"
    shutil.copytree(files["loose_shp"].parent, folder)
    (folder / "parcels.dbf").unlink()
    return folder / "parcels.shp"


def _csv_text_coordinate(files, tmp):
    target = tmp / "pts.csv"
    target.write_text("名称,经度,纬度\n甲,120.95,31.33\n乙,东经121度,31.34\n", encoding="utf-8-sig")
    return target


def _beijing(files, tmp):
    target = tmp / "beijing.geojson"
    target.write_text('{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"天安门"},'
                      '"geometry":{"type":"Polygon","coordinates":[[[116.39,39.90],[116.40,39.90],[116.40,39.91],'
                      '[116.39,39.90]]]}}]}', encoding="utf-8")
    return target


def _unguessable(files, tmp):
    target = tmp / "odd.csv"
    target.write_text("name,x,y\n甲,98765432.1,1234567.8\n乙,98765532.1,1234667.8\n", encoding="utf-8")
    return target


def _dwg(files, tmp):
    target = tmp / "plan.dwg"
    target.write_bytes(b"AC1032\x00\x00")
    return target


BAD = {"truncated_zip": _truncated_zip, "shp_without_dbf": _shp_without_dbf,
       "lines_dxf": lambda files, tmp: files["lines_dxf"], "csv_text_coordinate": _csv_text_coordinate,
       "beijing": _beijing, "unguessable": _unguessable, "dwg": _dwg}


def test_imports_survive_an_upgrade_of_the_plan_data(files, tmp_path):
    """A new KFQMap with changed plan data: the replaced plan layer keeps the imported rows (it counts as edited),
    and a layer created by an import is still there."""
    import shutil

    geodata = tmp_path / "geodata"
    shutil.copytree(MINI, geodata)
    settings = CatalogSettings(geodata_dir=geodata, data_dir=tmp_path / "data")
    catalog = load_catalog(settings)
    run_import(catalog, files["shp_zip"], ImportOptions(layer="low_efficiency_land", mode="replace", dry_run=False))
    run_import(catalog, files["xlsx"], ImportOptions(new_layer="projects", crs="EPSG:4326", dry_run=False))
    catalog.store.close()
    land = geodata / "layers" / "low_efficiency_land.geojson"
    land.write_text(land.read_text(encoding="utf-8").replace("低效地块0", "低效地块零"), encoding="utf-8")
    upgraded = load_catalog(settings)
    assert set(upgraded.read("low_efficiency_land")["name"]) == set(F.PARCELS)
    assert upgraded.store.layer_row("low_efficiency_land")["pending_seed_hash"]
    assert len(upgraded.read("projects")) == 3


KILL_DURING_COMMIT = """
import os, signal, sys
from kfqmap.catalog import load_catalog
from kfqmap.importing import ImportOptions, run_import
from kfqmap.settings import CatalogSettings

catalog = load_catalog(CatalogSettings(geodata_dir=sys.argv[1], data_dir=sys.argv[2]))
def trace(sql):   # the new table is written, the log row is next: die here, inside the transaction
    if sql.lstrip().startswith("INSERT INTO kfqmap_imports"):
        os.kill(os.getpid(), signal.SIGKILL)
catalog.store.conn.set_trace_callback(trace)
run_import(catalog, sys.argv[3], ImportOptions(layer="low_efficiency_land", mode="replace", dry_run=False))
print("not killed")
"""


def test_kill_9_during_the_commit_leaves_the_store_as_it_was(catalog, files):
    import subprocess
    import sys

    before = _store_state(catalog)
    old = catalog.read("low_efficiency_land").copy()
    data_dir = catalog.store.path.parent
    catalog.store.close()
    proc = subprocess.run([sys.executable, "-c", KILL_DURING_COMMIT, str(MINI), str(data_dir), str(files["shp_zip"])],
                          capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert proc.returncode == -9, proc.stderr[-2000:]
    again = load_catalog(CatalogSettings(geodata_dir=MINI, data_dir=data_dir))
    assert _store_state(again) == before
    assert again.read("low_efficiency_land").drop(columns="geometry").equals(old.drop(columns="geometry"))


def test_a_running_catalog_sees_layers_another_process_created_and_removed(catalog, files, monkeypatch):
    """A server started before a CLI import (or another worker) picks the new layer up, and drops it after undo."""
    import kfqmap.catalog as catalog_module

    monkeypatch.setattr(catalog_module, "STORE_LAYERS_TTL_S", 0.0)
    other = load_catalog(CatalogSettings(geodata_dir=MINI, data_dir=catalog.store.path.parent))
    assert "projects" not in catalog.ids
    report = run_import(other, files["xlsx"], ImportOptions(new_layer="projects", crs="EPSG:4326", dry_run=False))
    assert "projects" in catalog.ids and len(catalog.read("projects")) == 3
    undo_import(other, report.import_id)
    assert "projects" not in catalog.ids
    with pytest.raises(KFQMapError):
        catalog.collection("projects")
