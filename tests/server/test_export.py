"""GET/POST /export: streamed downloads with the right media type and name; 4xx problem+json for bad requests."""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pyogrio
import pytest
from fastapi.testclient import TestClient

from kfqmap.settings import CatalogSettings
from server.app import create_app

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "export"


@pytest.fixture(scope="module")
def export_client():
    return TestClient(create_app(CatalogSettings(geodata_dir=FIXTURE, extra_layers="")))


@pytest.mark.parametrize("fmt,media", [
    ("geojson", "application/geo+json"), ("gpkg", "application/geopackage+sqlite3"), ("shapefile", "application/zip"),
    ("kml", "application/vnd.google-earth.kml+xml"), ("fgb", "application/vnd.flatgeobuf"),
    ("csv", "text/csv; charset=utf-8"), ("dxf", "image/vnd.dxf"),
    ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), ("png", "image/png"),
    ("pdf", "application/pdf"),
])
def test_download_every_format(export_client, fmt, media):
    r = export_client.get("/export", params={"layers": "cores,parks", "format": fmt})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == media
    assert r.headers["content-disposition"].startswith("attachment;")
    assert "cores_parks" in r.headers["content-disposition"]
    assert int(r.headers["content-length"]) == len(r.content) > 0
    assert r.headers["x-kfqmap-features"] == "4"


def test_gpkg_in_gauss_kruger_reads_back(export_client, tmp_path):
    r = export_client.get("/export", params={"layers": "cores,key_projects", "format": "gpkg", "crs": "EPSG:4549"})
    path = tmp_path / "x.gpkg"
    path.write_bytes(r.content)
    frame = pyogrio.read_dataframe(path, layer="cores")
    assert frame.crs.to_epsg() == 4549 and set(frame["name"]) == {"青阳港两岸核心区", "东部新城核心区"}
    assert r.headers["x-kfqmap-crs"] == "EPSG:4549"


def test_bbox_and_filter(export_client):
    r = export_client.get("/export", params={"layers": "low_efficiency_land", "format": "geojson",
                                             "filter": "status = '已完成'", "bbox": "120.9,31.3,121.1,31.4"})
    doc = r.json()
    assert sorted(f["properties"]["id"] for f in doc["features"]) == ["le1", "le4"]


def test_post_with_drawn_geometry(export_client):
    body = {"layers": ["key_projects", "axes"], "format": "geojson", "crs": "GCJ-02",
            "geometry": {"type": "Polygon", "coordinates": [[[121.04, 31.37], [121.05, 31.37], [121.05, 31.39],
                                                             [121.04, 31.39], [121.04, 31.37]]]}}
    r = export_client.post("/export", json=body)
    assert r.status_code == 200
    doc = json.loads(r.content)
    assert doc["kfqmap_crs"] == "GCJ-02" and "crs" not in doc
    assert sorted(f["properties"]["id"] for f in doc["features"]) == ["kp3", "qianjin"]


def test_shapefile_download_is_a_complete_zip(export_client):
    r = export_client.get("/export", params={"layers": "parks", "format": "shp", "crs": "4549"})
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        names = set(zf.namelist())
    assert {"parks.shp", "parks.shx", "parks.dbf", "parks.prj", "parks.cpg", "fields.csv", "README.txt"} <= names


@pytest.mark.parametrize("params,status,parameter", [
    ({"layers": "cores", "format": "dwg"}, 400, "format"),
    ({"layers": "cores", "crs": "EPSG:1234"}, 400, "crs"),
    ({"layers": "cores", "format": "dxf", "crs": "EPSG:4326"}, 400, "crs"),
    ({"layers": "nope"}, 404, "layer"),
    ({"layers": "cores", "bbox": "1,2,3"}, 400, "bbox"),
    ({"layers": "cores", "bbox": "100,20,100.1,20.1"}, 404, "layers"),
    ({"layers": "cores", "filter": "name = "}, 400, "filter"),
    ({"layers": "cores", "format": "png", "dpi": "5000"}, 400, "dpi"),
])
def test_bad_requests_are_problems(export_client, params, status, parameter):
    r = export_client.get("/export", params=params)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["parameter"] == parameter


def test_post_bad_geometry(export_client):
    r = export_client.post("/export", json={"layers": ["cores"], "geometry": {"type": "Polygon", "coordinates": []}})
    assert r.status_code == 400 and r.json()["parameter"] == "geometry"


def test_xlsx_totals_equal_the_stats_endpoint(client):
    openpyxl = pytest.importorskip("openpyxl")
    stats = {s["layer_id"]: s for s in client.get("/stats/layers", params={"unit": "mu"}).json()["layers"]}
    ids = [lid for lid, s in stats.items() if s["area"] is not None]
    r = client.get("/export", params={"layers": ",".join(ids), "format": "xlsx"})
    assert r.status_code == 200
    wb = openpyxl.load_workbook(io.BytesIO(r.content))
    rows = {row[0]: row for row in wb["图层面积"].iter_rows(min_row=2, values_only=True) if row[0]}
    for lid in ids:
        assert rows[lid][6] == stats[lid]["area"], lid          # 亩
        assert rows[lid][5] == stats[lid]["area_m2"], lid       # m²
        assert rows[lid][4] == stats[lid]["count"], lid


def test_formats_listing(export_client):
    formats = {f["name"]: f for f in export_client.get("/export/formats").json()["formats"]}
    assert formats["dxf"]["crs"] == ["EPSG:4549", "EPSG:4528"] and formats["dxf"]["default_crs"] == "EPSG:4549"
    assert formats["shapefile"]["extension"] == ".zip" and "GCJ-02" in formats["gpkg"]["crs"]
