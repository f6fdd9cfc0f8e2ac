"""Issue 11: one unreadable layer file (truncated, random bytes, missing) takes only that layer down. It is listed
as unavailable with a reason, its own requests get 503 problem+json without server paths, and the rest of the API
(collections, stats, search, point queries, plan tiles, other layers' items) answers and says what was left out."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kfqmap.settings import CatalogSettings
from server.app import create_app
from server.testing import MINI_GEODATA


@pytest.fixture(params=["truncated", "random", "missing"])
def client(request, tmp_path):
    root = tmp_path / "geodata"
    shutil.copytree(MINI_GEODATA, root)
    broken = root / "layers" / "rivers.geojson"
    if request.param == "truncated":
        broken.write_bytes(broken.read_bytes()[:200])
    elif request.param == "random":
        broken.write_bytes(bytes(range(256)) * 40)
    else:
        broken.unlink()
    settings = CatalogSettings(geodata_dir=root, extra_layers="", data_dir=tmp_path / "data")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        client.secret = str(root)
        yield client


def _problem(r, status):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "/tmp" not in r.text and "geodata" not in r.text and "Traceback" not in r.text


def test_only_the_broken_layer_is_down(client):
    docs = {c["id"]: c for c in client.get("/collections").json()["collections"]}
    assert docs["rivers"]["kfqmap"]["unavailable"]
    assert docs["cores"]["extent"] and not docs["cores"]["kfqmap"].get("unavailable")
    _problem(client.get("/collections/rivers/items"), 503)
    _problem(client.get("/collections/rivers"), 503)
    assert client.get("/collections/cores/items").status_code == 200

    stats = client.get("/stats/layers").json()
    assert "rivers" in stats["unavailable"] and any(s["layer_id"] == "cores" for s in stats["layers"])
    assert client.get("/search", params={"q": "核心"}).status_code == 200
    assert client.get("/query/point", params={"lon": 121.0, "lat": 31.38}).status_code == 200

    r = client.get("/tiles/plan/10/856/418.mvt")
    assert r.status_code in (200, 204)
    _problem(client.get("/tiles/rivers/10/856/418.mvt"), 503)
