"""POST /imports (multipart): dry run by default, commit on request, the layer then served by items, tiles and
stats; bad uploads are 4xx problem+json and change nothing; uploads over the limit are 413; undo over HTTP."""
from __future__ import annotations

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient

from kfqmap.settings import CatalogSettings
from server.app import create_app
from server.settings import APISettings
from server.testing import MINI_GEODATA
from tests.kfqmap import importfiles as F


@pytest.fixture(scope="module")
def shp_zip(tmp_path_factory):
    return F.shapefile_gbk_zip(tmp_path_factory.mktemp("upload"))


@pytest.fixture()
def client(tmp_path):
    settings = APISettings(catalog=CatalogSettings(geodata_dir=MINI_GEODATA, extra_layers="", data_dir=tmp_path),
                           warm_up=False, import_max_bytes=512 * 1024)
    return TestClient(create_app(settings))


def _post(client, path, **fields):
    with open(path, "rb") as fh:
        return client.post("/imports", files={"file": (path.name, fh.read())},
                           data={k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in fields.items()})


def test_dry_run_reports_and_changes_nothing_then_commit_serves_the_layer(client, shp_zip):
    r = _post(client, shp_zip, new_layer="survey", title="测量地块", group="两核多园")
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["ok"] and not report["committed"] and report["features_imported"] == 3
    assert report["encoding"] == "GB18030" and report["crs"] == "EPSG:4549"
    assert client.get("/collections/survey").status_code == 404            # the dry run wrote nothing
    r = _post(client, shp_zip, new_layer="survey", title="测量地块", group="两核多园", commit=True, user="王工")
    assert r.status_code == 201, r.text
    import_id = r.json()["import_id"]
    items = client.get("/collections/survey/items").json()
    assert items["numberReturned"] == 3
    props = {f["properties"]["name"]: f["properties"] for f in items["features"]}
    assert set(props) == set(F.PARCELS)
    assert props["新园区甲"]["source"] == "parcels_gbk.zip:地块.shp" and props["新园区甲"]["imported_by"] == "王工"
    stats = client.get("/stats/layers/survey?unit=mu").json()
    assert stats["count"] == 3 and stats["area_m2"] == pytest.approx(
        sum(F.pyproj_area_m2(r) for r in F.PARCELS.values()), abs=0.1)
    tile = client.get("/tiles/survey/14/13696/6689.mvt", headers={"Accept-Encoding": "identity"})   # over 甲
    assert tile.status_code == 200
    decoded = mapbox_vector_tile.decode(tile.content)
    assert "新园区甲" in {f["properties"].get("name") for layer in decoded.values() for f in layer["features"]}
    plan = client.get("/tiles/plan/14/13696/6689.mvt", headers={"Accept-Encoding": "identity"})   # the viewer's tiles
    assert "survey" in mapbox_vector_tile.decode(plan.content)
    style = client.get("/styles/plan.json").json()
    assert any(lyr.get("source-layer") == "survey" for lyr in style["layers"])
    assert "survey" in {lyr["id"] for lyr in client.get("/web/catalog.json").json()["layers"]}
    log = client.get("/imports").json()["imports"]
    assert log[0]["import_id"] == import_id and log[0]["layer_id"] == "survey"
    r = client.post(f"/imports/{import_id}/undo")
    assert r.status_code == 200 and r.json()["created_layer"]
    assert client.get("/collections/survey").status_code == 404


def test_bad_upload_is_a_problem_and_nothing_changes(client, shp_zip, tmp_path):
    before = client.get("/collections/low_efficiency_land/items").json()
    cut = tmp_path / "cut.zip"
    cut.write_bytes(shp_zip.read_bytes()[:200])
    r = _post(client, cut, layer="low_efficiency_land", mode="replace", commit=True)
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem+json")
    assert "zip" in r.json()["detail"]
    beijing = tmp_path / "beijing.geojson"
    beijing.write_text('{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"x"},'
                       '"geometry":{"type":"Point","coordinates":[116.40,39.90]}}]}', encoding="utf-8")
    r = _post(client, beijing, new_layer="bj", commit=True)
    assert r.status_code == 400 and "北京" in r.json()["detail"]
    r = _post(client, shp_zip, layer="low_efficiency_land", mode="sideways", commit=True)
    assert r.status_code == 400 and r.json()["parameter"] == "mode"
    assert client.get("/collections/low_efficiency_land/items").json()["features"] == before["features"]


def test_rejected_report_is_422(client, tmp_path):
    src = F.parcels_geojson_4549(tmp_path / "p.geojson")
    src.write_text(src.read_text(encoding="utf-8").replace("实施中", "进行中"), encoding="utf-8")
    r = _post(client, src, layer="low_efficiency_land", mode="replace", commit=True)
    assert r.status_code == 422 and "status" in r.json()["detail"]


def test_upload_over_the_limit_is_413(client, tmp_path):
    big = tmp_path / "big.geojson"
    big.write_bytes(b" " * (600 * 1024))
    r = _post(client, big, new_layer="big")
    assert r.status_code == 413 and r.headers["content-type"].startswith("application/problem+json")
    assert client.post("/query/geometry", content=b"x" * (3 * 1024 * 1024)).status_code == 413   # others: 2 MB


def test_control_points_upload_georeferences_a_local_drawing(client, tmp_path):
    dxf, csv = F.dxf_local_with_control(tmp_path, residual_m=0.05)
    with open(dxf, "rb") as a, open(csv, "rb") as b:
        r = client.post("/imports", files={"file": (dxf.name, a.read()), "control_points": (csv.name, b.read())},
                        data={"new_layer": "local", "max_rms": "0.1"})
    assert r.status_code == 200, r.text
    cp = r.json()["control_points"]
    assert cp["rms_m"] == pytest.approx(0.05, abs=1e-6) and cp["names"] == ["K1", "K2", "K3", "K4"]
    assert r.json()["area_m2"] == pytest.approx(sum(F.pyproj_area_m2(x) for x in F.PARCELS.values()), rel=1e-6)
    with open(dxf, "rb") as a, open(csv, "rb") as b:
        r = client.post("/imports", files={"file": (dxf.name, a.read()), "control_points": (csv.name, b.read())},
                        data={"new_layer": "local", "max_rms": "0.01"})
    assert r.status_code == 400 and r.json()["parameter"] == "control_points" and "RMS" in r.json()["detail"]


def test_csv_columns_and_mapping_fields(client, tmp_path):
    path = tmp_path / "pts.csv"
    path.write_text("项目,东,北,备注\n甲项目,590100,3468100,x\n", encoding="utf-8")
    r = client.post("/imports", files={"file": (path.name, path.read_bytes())},
                    data={"new_layer": "pts", "xy": "东,北", "crs": "EPSG:4549", "map": "项目=name", "drop_unmapped": "true"})
    assert r.status_code == 200, r.text
    cols = {c["source"]: c["target"] for c in r.json()["columns"]}
    assert cols["项目"] == "name" and r.json()["ok"]
    r = client.post("/imports", files={"file": (path.name, path.read_bytes())}, data={"new_layer": "pts", "map": "junk"})
    assert r.status_code == 400 and r.json()["parameter"] == "map"


def test_upload_names_cannot_leave_the_scratch_folder(client, shp_zip):
    from server.routers.imports import _safe_name

    assert _safe_name("../../etc/地块 v2.zip") == "地块_v2.zip" and _safe_name("..") == "upload"
    r = client.post("/imports", files={"file": ("../../../tmp/evil.zip", shp_zip.read_bytes())},
                    data={"new_layer": "evil"})
    assert r.status_code == 200 and r.json()["source"] == "evil.zip:地块.shp"
