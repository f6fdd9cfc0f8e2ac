"""/stats/* and /indicators over the real catalog: thin wrappers, so compare with kfqmap.stats directly."""
from __future__ import annotations

import pytest

from kfqmap import stats


@pytest.fixture(scope="module")
def catalog(app):
    return app.state.catalog


def _polygon_layer(catalog):
    return next(lay.id for lay in catalog.layers if lay.is_polygonal and lay.kind != "extra")


def test_stats_layers_lists_spatial_layers(client, catalog):
    r = client.get("/stats/layers?unit=ha")
    assert r.status_code == 200
    doc = r.json()
    assert doc["unit"] == "ha"
    assert [row["layer_id"] for row in doc["layers"]] == [lay.id for lay in catalog.spatial_layers()]
    assert all(not row.get("features") for row in doc["layers"])


def test_stats_layer_matches_library(client, catalog):
    layer_id = _polygon_layer(catalog)
    doc = client.get(f"/stats/layers/{layer_id}?unit=mu").json()
    expected = stats.layer_stats(catalog, layer_id, "mu").model_dump(mode="json")
    assert doc == expected
    assert len(doc["features"]) == len(catalog.read(layer_id))


def test_stats_layer_by_is_overlay(client, catalog):
    if not {"low_efficiency_land", "parks"} <= set(catalog.ids):
        pytest.skip("needs low_efficiency_land and parks")
    by = client.get("/stats/layers/low_efficiency_land?by=parks&unit=mu").json()
    overlay = client.get("/stats/overlay?a=low_efficiency_land&b=parks&unit=mu").json()
    assert by == overlay == stats.overlay_stats(catalog, "low_efficiency_land", "parks", "mu").model_dump(mode="json")


def test_stats_groups(client, catalog):
    doc = client.get("/stats/groups?unit=km2").json()
    assert doc["unit"] == "km2"
    assert doc["groups"] == [g.model_dump(mode="json") for g in stats.group_stats(catalog, "km2")]


def test_progress(client, catalog):
    doc = client.get("/stats/progress?year=2023").json()
    assert doc["year"] == 2023
    assert doc == stats.progress(catalog, 2023).model_dump(mode="json")


def test_indicators(client, catalog):
    if "indicators" not in catalog.ids:
        pytest.skip("no indicators layer")
    frame = catalog.read("indicators")
    doc = client.get("/indicators").json()
    assert doc["count"] == len(frame) == len(doc["indicators"])
    assert [row["id"] for row in doc["indicators"]] == list(frame["id"])
    table = frame["table"].iloc[0]
    sub = client.get("/indicators", params={"table": table}).json()
    assert sub["count"] == int((frame["table"] == table).sum())


@pytest.mark.parametrize("url,param", [
    ("/stats/layers?unit=furlong", "unit"),
    ("/stats/layers/no_such_layer", "layer"),
    ("/stats/overlay?a=parks", "b"),
    ("/stats/progress?year=abc", "year"),
    ("/stats/progress?year=1900", "year"),
    ("/indicators?no_such_column=1", "no_such_column"),
])
def test_stats_errors(client, url, param):
    r = client.get(url)
    assert 400 <= r.status_code < 500
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["detail"] and param in (body.get("parameter", "") + body["detail"])
