"""GET /compare over a fresh app: the plan's parcel layer against an edited copy registered beside it."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from kfqmap.compare import compare
from kfqmap.models import Layer, Style
from kfqmap.settings import CatalogSettings
from server.app import create_app


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    app = create_app(CatalogSettings(data_dir=tmp_path_factory.mktemp("compare-api")))
    with TestClient(app) as c:
        catalog = app.state.catalog
        after = catalog.read("low_efficiency_land").drop(index=["DX-004"]).copy()
        after.loc["DX-006", "status"] = "已完成" if after.loc["DX-006", "status"] != "已完成" else "实施中"
        catalog.add_layer(Layer(id="land_v2", title_zh="低效用地（新版）", title_en="v2", group="额外", kind="extra",
                                geometry_type="Polygon", source="frame", file="(frame)", plan_section="（测试）",
                                description="测试", style=Style()), after)
        yield c, catalog


def test_compare_two_layers(client):
    c, catalog = client
    r = c.get("/compare", params={"a": "low_efficiency_land", "b": "land_v2", "by": "parks"})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["counts"]["removed"] == 1 and doc["counts"]["changed"] == 1 and doc["counts"]["added"] == 0
    assert doc == compare(catalog, "low_efficiency_land", "land_v2", by="parks").model_dump(mode="json")
    removed = next(f for f in doc["features"] if f["change"] == "removed")
    assert removed["id"] == "DX-004" and removed["lost_mu"] == pytest.approx(removed["area_a_mu"])
    assert doc["by"] == "parks" and sum(z["lost_mu"] for z in doc["by_zone"]) == pytest.approx(doc["lost_mu"], abs=0.05)
    assert removed["geometry"] is None
    geo = c.get("/compare", params={"a": "low_efficiency_land", "b": "land_v2", "geometry": "true"}).json()
    gone = next(f for f in geo["features"] if f["id"] == "DX-004")
    assert gone["geometry"]["type"] == "Polygon"
    import shapely.geometry
    assert shapely.geometry.shape(gone["geometry"]).equals(catalog.read("low_efficiency_land").loc["DX-004", "geometry"])


@pytest.mark.parametrize("params,status,param", [
    ({"a": "low_efficiency_land", "b": "nope"}, 404, "layer"),
    ({"a": "low_efficiency_land", "b": "land_v2", "key": "no_such"}, 400, "key"),
    ({"a": "low_efficiency_land", "b": "land_v2", "by": "s1_stations"}, 400, "by"),
    ({"a": "low_efficiency_land"}, 400, None),
])
def test_compare_bad_input(client, params, status, param):
    c, _ = client
    r = c.get("/compare", params=params)
    assert r.status_code == status and r.headers["content-type"].startswith("application/problem+json")
    if param:
        assert r.json()["parameter"] == param


def test_compare_an_uploaded_version(client):
    c, catalog = client
    import json

    import geopandas as gpd  # noqa: F401  (to_json below)
    frame = catalog.read("land_v2")
    doc = json.loads(frame.to_json(drop_id=True))
    r = c.post("/compare", json={"a": "low_efficiency_land", "b": doc, "by": "parks"})
    assert r.status_code == 200, r.text
    up = r.json()
    ref = c.get("/compare", params={"a": "low_efficiency_land", "b": "land_v2", "by": "parks"}).json()
    assert up["counts"] == ref["counts"] and up["lost_mu"] == ref["lost_mu"] and up["b"] == "上传的版本"
    # the same version sent in EPSG:4549 metres, with crs
    from kfqmap.crs import transform_frame
    doc_gk = json.loads(transform_frame(frame, "EPSG:4549").to_json(drop_id=True))
    r = c.post("/compare", json={"a": "low_efficiency_land", "b": doc_gk, "crs": "EPSG:4549"})
    assert r.json()["counts"] == ref["counts"]
    assert r.json()["lost_mu"] == pytest.approx(ref["lost_mu"], abs=0.01)


@pytest.mark.parametrize("b,crs,param", [
    ({"type": "Feature"}, None, "b"),
    ({"type": "FeatureCollection", "features": []}, None, "b"),
    ({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"id": "x"},
      "geometry": {"type": "Point", "coordinates": [500000, 3500000]}}]}, None, "crs"),
    ({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"id": "x"},
      "geometry": {"type": "Polygon", "coordinates": [[[121, 31], [121.01, 31.01], [121.01, 31], [121, 31.01], [121, 31]]]}}]},
     None, "b"),
])
def test_compare_upload_bad_input(client, b, crs, param):
    c, _ = client
    r = c.post("/compare", json={"a": "low_efficiency_land", "b": b, "crs": crs})
    assert r.status_code == 400, r.text
    assert r.json()["parameter"] == param
