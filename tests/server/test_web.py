"""The web router: the viewer page for browsers, its static files, MapLibre from web/node_modules, and the two
small JSON documents the viewer reads (/web/catalog.json, /web/config.json). No browser here (see
tests/interop/test_browser_viewer.py)."""
from __future__ import annotations

import re

import pytest

from server.routers.web import MAPLIBRE_DIST, WEB_DIR


def test_landing_page_is_the_viewer_for_browsers(client):
    r = client.get("/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "昆山开发区“十四五”规划空间格局" in r.text
    assert '/vendor/maplibre-gl/maplibre-gl.js' in r.text
    # nothing in the page points outside the server
    assert not re.findall(r"(?:src|href)=\"(?:https?:)?//", r.text)


def test_landing_page_is_json_for_clients(client):
    r = client.get("/", headers={"Accept": "application/json"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize("path", ["/web", "/web/"])
def test_web_alias(client, path):
    r = client.get(path)
    assert r.status_code == 200 and "maplibre" in r.text


def test_app_modules_are_javascript(client):
    for js in sorted((WEB_DIR / "js").glob("*.js")):
        r = client.get(f"/web/js/{js.name}")
        assert r.status_code == 200, js.name
        assert r.headers["content-type"].startswith("text/javascript"), js.name
        # the viewer only talks to its own server: no absolute URL except the optional online basemaps
        if js.name != "basemaps.js":
            assert not re.findall(r"https?://(?!www\.w3\.org/2000/svg)", r.text), js.name


@pytest.mark.skipif(not (MAPLIBRE_DIST / "maplibre-gl.js").exists(), reason="run `make install-web` (npm ci)")
def test_maplibre_is_served_from_node_modules(client):
    r = client.get("/vendor/maplibre-gl/maplibre-gl.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert client.get("/vendor/maplibre-gl/maplibre-gl.css").headers["content-type"].startswith("text/css")


@pytest.mark.parametrize("path", ["/web/../pyproject.toml", "/web/%2e%2e/pyproject.toml", "/web/node_modules/leaflet/package.json",
                                  "/web/.gitignore", "/vendor/maplibre-gl/../package.json", "/web/nope.js"])
def test_no_file_outside_web_is_served(client, path):
    assert client.get(path).status_code == 404


def test_catalog_json_has_what_the_panel_needs(client, app):
    r = client.get("/web/catalog.json")
    assert r.status_code == 200
    layers = r.json()["layers"]
    assert [layer["id"] for layer in layers] == app.state.catalog.ids
    for layer in layers:
        assert {"title_zh", "group", "geometry_type", "schematic", "illustrative", "accuracy_m", "style"} <= set(layer)


def test_config_json_has_online_basemaps_off_by_default(client, monkeypatch):
    monkeypatch.delenv("KFQMAP_TIANDITU_KEY", raising=False)
    assert client.get("/web/config.json").json() == {"tianditu_key": "", "online_basemaps": True}
    monkeypatch.setenv("KFQMAP_TIANDITU_KEY", "abc")          # settings are read once, when the app is created
    from fastapi.testclient import TestClient
    from server.app import create_app
    fresh = TestClient(create_app(client.app.state.settings))
    assert fresh.get("/web/config.json").json()["tianditu_key"] == "abc"
