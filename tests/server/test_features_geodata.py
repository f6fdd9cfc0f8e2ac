"""OGC API Features over the real geodata (or the mini catalog before it exists): every layer users see."""
from __future__ import annotations

import pytest
import shapely
from shapely.geometry import shape


def test_every_layer_served_whole(client, app):
    catalog = app.state.catalog
    listed = [c["id"] for c in client.get("/collections").json()["collections"]]
    assert listed == catalog.ids
    for layer in catalog.layers:
        if layer.kind == "extra":
            continue
        frame = catalog.read(layer.id)
        doc = client.get(f"/collections/{layer.id}/items", params={"limit": 10_000}).json()
        assert doc["numberMatched"] == doc["numberReturned"] == len(frame), layer.id
        assert [f["id"] for f in doc["features"]] == list(frame.index), layer.id
        for f in doc["features"][:5]:
            geom = frame.geometry.loc[f["id"]]
            if geom is None:
                assert f["geometry"] is None
            else:
                assert shape(f["geometry"]).equals_exact(geom, 2e-7), (layer.id, f["id"])
            assert f["properties"]["name"] == frame.loc[f["id"], "name"]


def test_collection_extent_is_layer_bounds(client, app):
    catalog = app.state.catalog
    for layer in catalog.spatial_layers():
        frame = catalog.read(layer.id)
        if not len(frame):
            continue
        doc = client.get(f"/collections/{layer.id}").json()
        assert doc["extent"]["spatial"]["bbox"][0] == pytest.approx(list(frame.total_bounds)), layer.id
        assert doc["kfqmap"]["features"] == len(frame)


def test_bbox_selection_equals_shapely(client, app):
    catalog = app.state.catalog
    for layer in catalog.spatial_layers():
        frame = catalog.read(layer.id)
        if not len(frame):
            continue
        x0, y0, x1, y1 = frame.total_bounds
        box = (x0, y0, (x0 + x1) / 2, (y0 + y1) / 2)
        expected = list(frame.index[shapely.intersects(frame.geometry.values, shapely.box(*box))])
        doc = client.get(f"/collections/{layer.id}/items",
                         params={"bbox": ",".join(map(str, box)), "limit": 10_000}).json()
        assert [f["id"] for f in doc["features"]] == expected, layer.id
