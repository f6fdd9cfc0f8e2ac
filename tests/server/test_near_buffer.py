"""Issue 15 over HTTP: ``/query/near?buffer=true`` (the searched area, in JSON and GeoJSON answers, for several
target layers at once) and ``/stats/layers/{id}?filter=`` (the time slider's totals); bad filters are 400s."""
from __future__ import annotations

from kfqmap.stats import layer_stats


def test_near_buffer_over_http(client):
    params = {"layer": "key_projects,renewal_sites", "near": "s1_stations", "distance": 500}
    doc = client.get("/query/near", params={**params, "buffer": "true"}).json()
    assert set(doc["layers"]) == {"key_projects", "renewal_sites"}
    assert doc["buffer"]["type"] in ("Polygon", "MultiPolygon")
    assert all(h["near_name"] and h["distance_m"] <= 500 for h in doc["hits"])
    assert client.get("/query/near", params=params).json()["buffer"] is None
    gj = client.get("/query/near", params={**params, "buffer": "true", "f": "geojson"}).json()
    assert gj["type"] == "FeatureCollection" and gj["buffer"] == doc["buffer"]
    assert "buffer" not in client.get("/query/near", params={**params, "f": "geojson"}).json()


def test_filtered_layer_stats_over_http(client, app):
    catalog = app.state.catalog
    r = client.get("/stats/layers/low_efficiency_land", params={"unit": "mu", "filter": "year <= 2023"})
    assert r.status_code == 200
    expected = layer_stats(catalog, "low_efficiency_land", "mu", filter="year <= 2023").model_dump(mode="json")
    assert r.json() == expected and 0 < expected["count"] < len(catalog.read("low_efficiency_land"))
    for bad in ("year <=", "nope = 1"):
        resp = client.get("/stats/layers/low_efficiency_land", params={"filter": bad})
        assert resp.status_code == 400 and resp.headers["content-type"].startswith("application/problem+json")


def test_near_buffer_crs_over_http(client):
    params = {"layer": "key_projects", "near": "s1_stations", "distance": 500, "buffer": "true"}
    gcj = client.get("/query/near", params={**params, "buffer_crs": "GCJ-02"})
    assert gcj.status_code == 200 and gcj.json()["params"]["buffer_crs"] == "GCJ-02"
    assert gcj.json()["buffer"] != client.get("/query/near", params=params).json()["buffer"]
    bad = client.get("/query/near", params={**params, "buffer_crs": "EPSG:99999"})
    assert bad.status_code == 400 and bad.headers["content-type"].startswith("application/problem+json")
