"""Server limits in-process: the request time limit, the export time limit (a render process killed), the public
URL and trusted hosts, and where temporaries go."""
from __future__ import annotations

import asyncio

from fastapi.testclient import TestClient

from kfqmap.settings import CatalogSettings
from server.app import create_app
from server.settings import APISettings
from server.testing import MINI_GEODATA

CATALOG = CatalogSettings(geodata_dir=MINI_GEODATA, extra_layers="")


def _client(**settings) -> TestClient:
    return TestClient(create_app(APISettings(catalog=CATALOG, warm_up=False, **settings)))


def test_request_over_the_time_limit_is_504_problem():
    client = _client(request_timeout_s=0.5)

    async def stuck():
        await asyncio.sleep(600)

    client.app.add_api_route("/test-stuck", stuck)
    r = client.get("/test-stuck")
    assert r.status_code == 504 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["title"] == "WorkTimeout" and int(r.headers["retry-after"]) > 0
    assert client.get("/conformance").status_code == 200


def test_map_render_over_the_export_limit_is_killed(tmp_path, monkeypatch):
    monkeypatch.setenv("KFQMAP_SCRATCH_DIR", str(tmp_path))
    client = _client(export_timeout_s=0.01)
    r = client.get("/export?layers=cores&format=png&size=800x600px")
    assert r.status_code == 504 and r.json()["title"] == "WorkTimeout"
    assert list(tmp_path.iterdir()) == []          # the export's folder went with the failed request


def test_export_temporaries_live_in_the_scratch_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("KFQMAP_SCRATCH_DIR", str(tmp_path))
    client = _client()
    with client.stream("GET", "/export?layers=cores&format=gpkg") as r:
        assert r.status_code == 200
        assert [p.name.split("-")[0] for p in tmp_path.iterdir()] == ["export"]
        r.read()
    assert list(tmp_path.iterdir()) == []


def test_public_url_builds_links_and_allows_public_caching():
    client = _client(public_url="https://map.example.cn/kfq")
    doc = client.get("/?f=json").json()
    assert all(link["href"].startswith("https://map.example.cn/kfq/") for link in doc["links"])
    evil = client.get("/collections", headers={"host": "evil.example"})
    assert evil.status_code == 200 and "evil.example" not in evil.text
    style = client.get("/styles/plan.json")
    assert style.headers["cache-control"].startswith("public")
    assert "https://map.example.cn/kfq/tiles/plan/tilejson.json" in style.text


def test_untrusted_host_is_refused():
    client = _client(trusted_hosts="map.example.cn")
    r = client.get("/collections")
    assert r.status_code == 400 and r.json()["title"] == "InvalidHost"
    assert client.get("/collections", headers={"host": "map.example.cn:8000"}).status_code == 200
