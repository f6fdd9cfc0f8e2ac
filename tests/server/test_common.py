"""Landing page, conformance, OpenAPI 3.0 and content negotiation."""
from __future__ import annotations

import pytest


def test_landing_json_by_default(mini_client):
    r = mini_client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    doc = r.json()
    rels = {link["rel"] for link in doc["links"]}
    assert {"self", "alternate", "service-desc", "service-doc", "conformance", "data"} <= rels
    desc = next(link for link in doc["links"] if link["rel"] == "service-desc")
    assert desc["type"] == "application/vnd.oai.openapi+json;version=3.0"
    assert desc["href"].endswith("/api")
    assert doc["limits"]["items_max_limit"] == 10_000
    assert doc["limits"]["items_default_limit"] == 100
    assert doc["limits"]["max_request_body_bytes"] == 2 * 1024 * 1024
    gcj = next(e for e in doc["kfqmap:crsExtensions"] if e["code"] == "GCJ-02")
    assert gcj["uri"] == "https://kfqmap.example/def/crs/GCJ-02" and "高德" in gcj["note"]


def test_landing_curl_and_gdal_accept_get_json(mini_client):
    for accept in ("*/*", "application/json", "application/geo+json, application/json"):
        assert mini_client.get("/", headers={"accept": accept}).headers["content-type"].startswith("application/json")


def test_landing_html_for_browsers(mini_client):
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    r = mini_client.get("/", headers={"accept": browser})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    # f=json wins over Accept
    r = mini_client.get("/?f=json", headers={"accept": browser})
    assert r.headers["content-type"].startswith("application/json")


def test_landing_html_fallback_without_web_router(mini_client, monkeypatch):
    from server.routers import common
    monkeypatch.setattr(common, "_viewer_hook", lambda: None)
    r = mini_client.get("/?f=html")
    assert r.headers["content-type"].startswith("text/html")
    assert "GCJ-02" in r.text and "图层集合" in r.text


def test_conformance(mini_client):
    classes = mini_client.get("/conformance").json()["conformsTo"]
    for part in ("ogcapi-features-1/1.0/conf/core", "ogcapi-features-1/1.0/conf/geojson",
                 "ogcapi-features-1/1.0/conf/oas30", "ogcapi-features-1/1.0/conf/html",
                 "ogcapi-features-2/1.0/conf/crs", "ogcapi-features-3/1.0/conf/filter",
                 "ogcapi-features-3/1.0/conf/features-filter", "ogcapi-features-3/1.0/conf/queryables",
                 "cql2/1.0/conf/cql2-text"):
        assert any(c.endswith(part) for c in classes), part
    assert len(classes) == len(set(classes))
    assert mini_client.get("/conformance?f=html").headers["content-type"].startswith("text/html")


def test_api_is_openapi_30(mini_client):
    r = mini_client.get("/api")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.oai.openapi+json;version=3.0"
    doc = r.json()
    assert doc["openapi"] == "3.0.3"
    items = doc["paths"]["/collections/{collectionId}/items"]["get"]
    names = {p["name"] for p in items["parameters"]}
    assert {"bbox", "bbox-crs", "crs", "datetime", "limit", "offset", "filter", "filter-lang", "f"} <= names
    limit = next(p for p in items["parameters"] if p["name"] == "limit")
    # a larger limit is capped, not refused (OGC API Features): so the schema states no maximum, the
    # description states the cap
    assert "maximum" not in limit["schema"] and limit["schema"]["default"] == 100
    assert "10000" in limit["description"]
    for path, ops in doc["paths"].items():   # the server answers validation errors 400 problem+json, never 422
        for method, op in ops.items():        # (422 is only a feature refused by a write: docs/editing.md)
            if "422" in op["responses"]:
                assert method in ("post", "put", "patch", "delete"), (method, path)
                assert "图层模式" in op["responses"]["422"]["description"], (method, path)
            assert "400" in op["responses"], (method, path)

    def walk(node):   # no OpenAPI 3.1-only constructs left
        if isinstance(node, dict):
            assert node.get("type") != "null" and not isinstance(node.get("type"), list)
            assert "const" not in node
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(doc)
    html = mini_client.get("/api?f=html")
    assert html.headers["content-type"].startswith("text/html") and "/collections/{collectionId}/items" in html.text


def test_links_are_absolute_and_resolve(mini_client):
    doc = mini_client.get("/").json()
    for link in doc["links"]:
        assert link["href"].startswith("http://testserver/")
        r = mini_client.get(link["href"].replace("http://testserver", ""))
        assert r.status_code == 200, link


def test_unknown_route_is_problem_json(mini_client):
    r = mini_client.get("/no/such/thing")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == 404 and r.json()["detail"]


def test_cors_and_content_crs_exposed(mini_settings):
    from fastapi.testclient import TestClient

    from server.app import create_app
    from server.settings import APISettings
    client = TestClient(create_app(APISettings(catalog=mini_settings, cors_origins="*")))
    r = client.get("/collections/cores/items", headers={"origin": "http://example.org"})
    assert r.headers["access-control-allow-origin"] == "*"
    assert "content-crs" in r.headers["access-control-expose-headers"].lower()


def test_api_validates_as_openapi_30(app):
    validator = pytest.importorskip("openapi_spec_validator")
    from server.routers.common import openapi30
    validator.validate(openapi30(app))   # raises on any OAS 3.0 schema violation


def test_head_is_answered_wherever_get_is(client):
    """HEAD gets GET's status and headers with no body (RFC 9110), on JSON, tile and error routes alike."""
    for path in ("/collections", "/collections/cores/items?limit=2", "/styles/plan.json"):
        get, head = client.get(path), client.head(path)
        assert head.status_code == get.status_code == 200, path
        assert head.content == b"" and head.headers["content-type"] == get.headers["content-type"]
    missing = client.head("/collections/no_such_layer")
    assert missing.status_code == 404 and missing.content == b""
