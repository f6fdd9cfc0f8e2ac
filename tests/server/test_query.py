"""/query/* and /search over the real catalog, compared with kfqmap.query; bounds and errors."""
from __future__ import annotations

import pytest

from kfqmap import query as Q


@pytest.fixture(scope="module")
def catalog(app):
    return app.state.catalog


@pytest.fixture(scope="module")
def spot(catalog):
    """A polygon layer and a point inside its first feature."""
    layer_id = next(lay.id for lay in catalog.layers if lay.is_polygonal and lay.kind != "extra")
    p = catalog.read(layer_id).geometry.iloc[0].representative_point()
    return layer_id, p.x, p.y


def test_point(client, catalog, spot):
    layer_id, x, y = spot
    doc = client.get("/query/point", params={"lon": x, "lat": y, "tolerance": 50}).json()
    expected = Q.at_point(catalog, x, y, tolerance=50)
    assert doc["count"] == expected.count and doc["returned"] == expected.count and not doc["truncated"]
    assert [(h["layer_id"], h["id"]) for h in doc["hits"]] == [(h.layer_id, h.id) for h in expected.hits]
    assert any(h["layer_id"] == layer_id for h in doc["hits"])
    only = client.get("/query/point", params={"lon": x, "lat": y, "layers": layer_id}).json()
    assert set(only["layers"]) == {layer_id} and only["count"] >= 1


def test_far_point_gets_a_note(client, catalog, spot):
    """Easting/northing swapped in EPSG:4549 lands in the Pacific: the empty answer says where and what to check;
    a point on the data has no note."""
    layer_id, x, y = spot
    doc = client.get("/query/point", params={"lon": 3473902.476, "lat": 581388.519, "crs": "EPSG:4549"}).json()
    assert doc["count"] == 0 and "坐标顺序" in doc["note"] and "crs" in doc["note"]
    gj = client.get("/query/point", params={"lon": 3473902.476, "lat": 581388.519, "crs": "EPSG:4549",
                                            "f": "geojson"}).json()
    assert gj["features"] == [] and gj["note"] == doc["note"]
    doc = client.get("/query/nearest", params={"lon": 31.38, "lat": 12.0, "layer": layer_id, "max_distance": 1000})
    assert doc.status_code == 200 and doc.json()["count"] == 0 and doc.json()["note"]
    assert client.get("/query/point", params={"lon": x, "lat": y}).json()["note"] is None
    far = {"type": "Polygon", "coordinates": [[[10, 10], [10.1, 10], [10.1, 10.1], [10, 10]]]}
    assert client.post("/query/geometry", json={"geometry": far}).json()["note"]


def test_point_in_gcj02(client, catalog, spot):
    from kfqmap.crs import wgs84_to_gcj02
    layer_id, x, y = spot
    gx, gy = wgs84_to_gcj02(x, y)
    doc = client.get("/query/point", params={"lon": gx, "lat": gy, "crs": "gcj02", "layers": layer_id}).json()
    assert doc["count"] >= 1


def test_geometry_post_and_limit(client, catalog, spot):
    layer_id, x, y = spot
    ring = [[x - 0.02, y - 0.02], [x + 0.02, y - 0.02], [x + 0.02, y + 0.02], [x - 0.02, y + 0.02], [x - 0.02, y - 0.02]]
    body = {"geometry": {"type": "Polygon", "coordinates": [ring]}, "predicate": "intersects"}
    r = client.post("/query/geometry", json=body)
    assert r.status_code == 200, r.text
    doc = r.json()
    expected = Q.in_geometry(catalog, body["geometry"])
    assert doc["count"] == expected.count > 1
    cut = client.post("/query/geometry?limit=1", json=body).json()
    assert cut["count"] == expected.count and cut["returned"] == 1 and cut["truncated"] is True
    gj = client.post("/query/geometry?f=geojson&geometry=true", json={**body, "layers": [layer_id]})
    assert gj.headers["content-type"] == "application/geo+json"
    fc = gj.json()
    assert fc["type"] == "FeatureCollection" and fc["features"][0]["geometry"]["type"] in ("Polygon", "MultiPolygon")


def test_near_and_nearest(client, catalog):
    points = [lay.id for lay in catalog.layers if lay.geometry_type == "Point" and lay.kind != "extra"]
    polys = [lay.id for lay in catalog.layers if lay.is_polygonal and lay.kind != "extra"]
    near = client.get("/query/near", params={"near": points[0], "layer": polys[0], "distance": 2000}).json()
    assert near["count"] == Q.near(catalog, polys[0], points[0], 2000).count
    p = catalog.read(points[0]).geometry.iloc[0]
    nearest = client.get("/query/nearest", params={"lon": p.x, "lat": p.y, "layer": points[0], "k": 3}).json()
    assert nearest["count"] == min(3, len(catalog.read(points[0])))
    assert nearest["hits"][0]["distance_m"] == 0


def test_search(client, catalog):
    name = str(catalog.read(next(lay.id for lay in catalog.spatial_layers())).iloc[0]["name"])
    doc = client.get("/search", params={"q": name}).json()
    assert doc["count"] >= 1 and doc["hits"][0]["name"] == name and doc["hits"][0]["match"] == "exact"


@pytest.mark.parametrize("method,url,body,param", [
    ("get", "/query/point?lon=abc&lat=31", None, "lon"),
    ("get", "/query/point?lon=121&lat=31.3&tolerance=-1", None, "tolerance"),
    ("get", "/query/point?lon=121&lat=31.3&crs=EPSG:99999", None, "crs"),
    ("get", "/query/point?lon=121&lat=31.3&filter=name%20%3D%3D%3D", None, "filter"),
    ("get", "/query/near?near=s1_stations", None, "distance"),
    ("get", "/query/nearest?lon=121&lat=31.3&layer=key_projects&k=0", None, "k"),
    ("get", "/query/point?lon=121&lat=31.3&limit=0", None, "limit"),
    ("get", "/search?q=", None, "q"),
    ("post", "/query/geometry", {"geometry": {"type": "Polygon", "coordinates": "nope"}}, "geometry"),
    ("post", "/query/geometry", {"geometry": {"type": "Point", "coordinates": [121, 31.3]}, "predicate": "touches"},
     "predicate"),
    ("post", "/query/geometry", {"geometry": {"type": "Point", "coordinates": [121, 31.3]}, "bogus": 1}, "bogus"),
])
def test_query_errors(client, method, url, body, param):
    r = client.post(url, json=body) if method == "post" else client.get(url)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert param in problem.get("parameter", "") + problem["detail"]


def test_geometry_outside_crs_domain_is_400(app):
    from fastapi.testclient import TestClient
    client = TestClient(app, raise_server_exceptions=False)
    r = client.post("/query/geometry", json={"geometry": {"type": "Point", "coordinates": [1e300, 1e300]},
                                             "crs": "EPSG:4549"})
    assert r.status_code == 400
