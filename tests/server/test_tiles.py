"""Tile routes: MVT (decoded), PNG, TileJSON, OGC API – Tiles, style; caching headers; errors as problem+json."""
from __future__ import annotations

import gzip
import io

import geopandas as gpd
import mapbox_vector_tile
import mercantile
import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from PIL import Image

from kfqmap.settings import CatalogSettings
from kfqmap.tiles import tile_pixel
from server.app import create_app

MVT = "application/vnd.mapbox-vector-tile"


def decode(data: bytes) -> dict:
    return mapbox_vector_tile.decode(data, default_options={"y_coord_down": True})


@pytest.fixture(scope="module")
def known(client, app):
    """A known point feature of the plan and its z14 tile."""
    catalog = app.state.catalog
    layer_id = next(i for i in ("key_projects", "axis_carriers", "s1_stations") if i in catalog.ids)
    feat = catalog.read(layer_id).iloc[0]
    t = mercantile.tile(feat.geometry.x, feat.geometry.y, 14)
    return layer_id, feat, t


def test_plan_mvt_known_feature(client, known):
    layer_id, feat, t = known
    r = client.get(f"/tiles/plan/14/{t.x}/{t.y}.mvt", headers={"Accept-Encoding": "identity"})
    assert r.status_code == 200
    assert r.headers["content-type"] == MVT
    assert "gzip" not in r.headers.get("content-encoding", "")
    tile = decode(r.content)
    assert layer_id in tile
    got = [f for f in tile[layer_id]["features"] if f["properties"]["id"] == feat["id"]]
    assert len(got) == 1
    px, py = tile_pixel(feat.geometry.x, feat.geometry.y, 14, t.x, t.y)
    gx, gy = got[0]["geometry"]["coordinates"]
    assert abs(gx - px) <= 0.5 and abs(gy - py) <= 0.5
    assert got[0]["properties"]["name"] == feat["name"]


def test_gzip_etag_304(client, known):
    _, _, t = known
    url = f"/tiles/plan/14/{t.x}/{t.y}.mvt"
    plain = client.get(url, headers={"Accept-Encoding": "identity"})
    r = client.get(url, headers={"Accept-Encoding": "gzip, deflate"})
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
    assert r.content == plain.content                        # httpx inflates it; same tile
    assert int(r.headers["content-length"]) < len(plain.content)
    etag = r.headers["etag"]
    assert etag.startswith('"') and etag == plain.headers["etag"]
    # stored but revalidated (the ETag carries the data version, so an edit is never served stale)
    assert "no-cache" in r.headers["cache-control"] and r.headers["vary"] == "Accept-Encoding"
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200


def test_empty_tile_is_204(client):
    r = client.get("/tiles/plan/14/0/0.mvt")
    assert r.status_code == 204 and r.content == b""
    assert "etag" in r.headers


@pytest.mark.parametrize("suffix,size", [(".png", 256), ("@2x.png", 512)])
def test_png(client, known, suffix, size):
    _, _, t = known
    r = client.get(f"/tiles/plan/14/{t.x}/{t.y}{suffix}")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    img = Image.open(io.BytesIO(r.content))
    assert img.size == (size, size)
    px = np.asarray(img.convert("RGB"))
    assert len(np.unique(px.reshape(-1, 3), axis=0)) > 10
    assert client.get(f"/tiles/plan/14/{t.x}/{t.y}{suffix}", headers={"If-None-Match": r.headers["etag"]}).status_code == 304


@pytest.mark.parametrize("url,param", [
    ("/tiles/plan/23/0/0.mvt", "z"),
    ("/tiles/plan/-1/0/0.mvt", "z"),
    ("/tiles/plan/3/8/0.mvt", "x"),
    ("/tiles/plan/3/0/99.mvt", "y"),
    ("/tiles/plan/a/0/0.mvt", "z"),
    ("/tiles/plan/3/0/0.jpg", "format"),
    ("/tiles/plan/3/0/0@2x.mvt", "format"),
    ("/tiles/plan/3/0/0", "format"),
    ("/collections/cores/tiles/WebMercatorQuad/30/0/0", "tileMatrix"),
    ("/collections/cores/tiles/WebMercatorQuad/3/9/0", "tileRow"),
    ("/collections/cores/tiles/WebMercatorQuad/3/0/9", "tileCol"),
    ("/collections/cores/tiles/WebMercatorQuad/3/0/0?f=gif", "f"),
])
def test_bad_tile_requests_are_400(client, url, param):
    r = client.get(url)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["parameter"] == param and body["detail"]


@pytest.mark.parametrize("url", ["/tiles/nope/3/0/0.mvt", "/tiles/nope/tilejson.json", "/collections/nope/tiles",
                                 "/collections/cores/tiles/OtherTMS", "/tileMatrixSets/OtherTMS", "/styles/nope.json",
                                 "/tiles/indicators/3/0/0.mvt"])
def test_unknown_is_404(client, url):
    r = client.get(url)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")


def test_tilejson(client, app):
    doc = client.get("/tiles/plan/tilejson.json").json()
    assert doc["tilejson"] == "3.0.0"
    assert doc["tiles"] == ["http://testserver/tiles/plan/{z}/{x}/{y}.mvt"]
    assert doc["minzoom"] == 0 and doc["maxzoom"] == 22
    assert len(doc["bounds"]) == 4 and len(doc["center"]) == 3
    ids = {v["id"] for v in doc["vector_layers"]}
    assert ids == {lyr.id for lyr in app.state.catalog.layers if lyr.is_spatial and lyr.kind != "extra"}
    assert all("name" in v["fields"] for v in doc["vector_layers"])
    per = client.get("/tiles/cores/tilejson.json").json()
    assert [v["id"] for v in per["vector_layers"]] == ["cores"]


def test_per_collection_tiles(client, app):
    catalog = app.state.catalog
    frame = catalog.read("cores")
    c = frame.geometry.iloc[0].representative_point()
    t = mercantile.tile(c.x, c.y, 13)
    r = client.get(f"/tiles/cores/13/{t.x}/{t.y}.mvt")
    assert r.status_code == 200
    assert list(decode(r.content)) == ["cores"]
    ogc = client.get(f"/collections/cores/tiles/WebMercatorQuad/13/{t.y}/{t.x}")
    assert ogc.status_code == 200 and ogc.content == r.content
    png = client.get(f"/collections/cores/tiles/WebMercatorQuad/13/{t.y}/{t.x}?f=png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"


def test_ogc_tiles_documents(client):
    tmss = client.get("/tileMatrixSets").json()
    assert tmss["tileMatrixSets"][0]["id"] == "WebMercatorQuad"
    tms = client.get("/tileMatrixSets/WebMercatorQuad").json()
    assert tms["id"] == "WebMercatorQuad" and tms["crs"].endswith("3857") and len(tms["tileMatrices"]) == 25
    sets = client.get("/collections/cores/tiles").json()["tilesets"]
    assert sets[0]["dataType"] == "vector"
    ts = client.get("/collections/cores/tiles/WebMercatorQuad").json()
    assert ts["tileMatrixSetURI"].endswith("WebMercatorQuad")
    item = next(link for link in ts["links"] if link["rel"] == "item" and link["type"] == MVT)
    assert item["href"] == "http://testserver/collections/cores/tiles/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}"
    assert ts["tileMatrixSetLimits"][0]["tileMatrix"] == "0"
    conf = client.get("/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core" in conf
    assert "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt" in conf


def test_tileset_extent_is_in_the_tile_matrix_set_crs(client):
    """The Features collection keeps its CRS84 extent; the tileset document (which GDAL's OGCAPI driver reads
    as tile-matrix-set coordinates) states the same box in EPSG:3857 and says so."""
    from kfqmap.tiles import lonlat_to_mercator

    w, s, e, n = client.get("/collections/cores").json()["extent"]["spatial"]["bbox"][0]
    ext = client.get("/collections/cores/tiles/WebMercatorQuad").json()["extent"]["spatial"]
    assert ext["crs"] == "http://www.opengis.net/def/crs/EPSG/0/3857"
    (x0, x1), (y0, y1) = lonlat_to_mercator([w, e], [s, n])
    assert ext["bbox"][0] == pytest.approx([x0, y0, x1, y1], abs=0.01)


def test_style_json(client):
    r = client.get("/styles/plan.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["version"] == 8 and "glyphs" not in doc
    assert doc["sources"]["plan"]["url"] == "http://testserver/tiles/plan/tilejson.json"


@pytest.fixture(scope="module")
def parcels_client(tmp_path_factory):
    """An extra ``parcels`` layer (a 30×30 grid of small polygons) loaded through KFQMAP_EXTRA_LAYERS."""
    path = tmp_path_factory.mktemp("extra") / "parcels.gpkg"
    i, j = np.meshgrid(np.arange(30), np.arange(30))
    x = 120.98 + i.ravel() * 0.001
    y = 31.30 + j.ravel() * 0.001
    frame = gpd.GeoDataFrame({"id": np.arange(1, 901), "land_use": "工业用地", "name": [f"地块{k}" for k in range(900)]},
                             geometry=shapely.box(x, y, x + 0.0008, y + 0.0008), crs=4326)
    frame.to_file(path, driver="GPKG")
    from server.testing import default_catalog_settings
    base = default_catalog_settings()
    settings = CatalogSettings(geodata_dir=base.geodata_dir, extra_layers=f"parcels={path}")
    return TestClient(create_app(settings))


def test_extra_layer_tiles(parcels_client):
    t = mercantile.tile(120.995, 31.315, 14)
    r = parcels_client.get(f"/tiles/parcels/14/{t.x}/{t.y}.mvt")
    assert r.status_code == 200
    feats = decode(r.content)["parcels"]["features"]
    assert len(feats) > 10 and feats[0]["properties"]["land_use"] == "工业用地"
    # the plan tileset does not carry extra layers
    plan = parcels_client.get(f"/tiles/plan/14/{t.x}/{t.y}.mvt")
    assert plan.status_code == 204 or "parcels" not in decode(plan.content)


def test_cold_high_zoom_tiles_skip_the_thread_pool(parcels_client, monkeypatch):
    """A cache miss at z>=INLINE_MIN_ZOOM of a prepared layer is built on the event loop (no thread hand-off);
    low zooms, PNG and layers not yet prepared still go to the thread pool. Same bytes either way."""
    from server.tilecache import INLINE_MIN_ZOOM
    from server.routers import tiles as routes

    app = parcels_client.app
    service = routes._service(app.state)
    engine = service.engine
    hops = []
    real = routes.run_in_threadpool
    monkeypatch.setattr(routes, "run_in_threadpool", lambda fn, *a: hops.append(a) or real(fn, *a))
    for z in (INLINE_MIN_ZOOM, 16):     # the first tile of a zoom prepares the layer and the zoom's tile index
        t = mercantile.tile(120.995, 31.315, z)
        parcels_client.get(f"/tiles/parcels/{z}/{t.x + 1}/{t.y}.mvt")
        assert engine.prepared("parcels", z)
    for z in (INLINE_MIN_ZOOM, 16):
        t = mercantile.tile(120.995, 31.315, z)
        service.cache.clear()
        hops.clear()
        r = parcels_client.get(f"/tiles/parcels/{z}/{t.x}/{t.y}.mvt", headers={"Accept-Encoding": "identity"})
        assert r.status_code == 200 and not hops
        assert r.content == engine.tile("parcels", z, t.x, t.y)
        service.cache.clear()                                          # the OGC route builds the same way
        hops.clear()
        r = parcels_client.get(f"/collections/parcels/tiles/WebMercatorQuad/{z}/{t.y}/{t.x}",
                               headers={"Accept-Encoding": "identity"})
        assert r.status_code == 200 and not hops and r.content == engine.tile("parcels", z, t.x, t.y)
    t = mercantile.tile(120.995, 31.315, INLINE_MIN_ZOOM - 2)
    service.cache.clear()
    hops.clear()
    assert parcels_client.get(f"/tiles/parcels/{t.z}/{t.x}/{t.y}.mvt").status_code == 200 and hops
    hops.clear()
    assert parcels_client.get(f"/tiles/parcels/16/{t.x}/{t.y}.png").status_code in (200, 204) and hops
    # refusals are unchanged on the inline path
    r = parcels_client.get("/tiles/parcels/23/0/0.mvt")
    assert r.status_code == 400 and r.json()["parameter"] == "z"
    r = parcels_client.get("/tiles/parcels/16/70000/0.mvt")
    assert r.status_code == 400 and r.json()["parameter"] == "x"
    assert not engine.prepared("nope", 16) and not service.cheap("nope", "mvt", 16)
