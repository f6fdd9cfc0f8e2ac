"""Tiles of one layer as it was at a past instant (``?asof=``, issue 13), on the embedded store: a feature's
geometry is edited, then the tile at its old place decodes to the old geometry with ``asof`` before the edit and
without it no longer holds the feature (and the tile at the new place the other way round)."""
from __future__ import annotations

import time
from types import SimpleNamespace
from datetime import datetime, timezone

import mapbox_vector_tile
import pytest
import shapely
import shapely.affinity
import shapely.geometry
from fastapi.testclient import TestClient
from shapely.geometry import Polygon, shape

from kfqmap.accounts import parse_duration
from kfqmap.settings import CatalogSettings
from kfqmap.tiles import lonlat_tile, lonlat_to_mercator, tile_bounds
from server.app import create_app
from server.testing import MINI_GEODATA

LAYER = "low_efficiency_land"
ITEMS = f"/collections/{LAYER}/items"
Z = 16


def decoded(content: bytes, z: int, x: int, y: int) -> dict[str, shapely.Geometry]:
    """feature id → its geometry in EPSG:3857 metres, from the MVT bytes (y up: mapbox-vector-tile's default)."""
    if not content:
        return {}
    b = tile_bounds(z, x, y)
    out = {}
    for f in mapbox_vector_tile.decode(content)[LAYER]["features"]:
        geom = shape(f["geometry"])
        out[f["properties"]["id"]] = shapely.transform(
            geom, lambda c: [[b.left + px / 4096 * (b.right - b.left), b.bottom + py / 4096 * (b.top - b.bottom)]
                             for px, py in c])
    return out


def mercator(geom: shapely.Geometry) -> shapely.Geometry:
    return shapely.transform(geom, lambda c: list(zip(*lonlat_to_mercator(c[:, 0], c[:, 1]))))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    app = create_app(CatalogSettings(geodata_dir=MINI_GEODATA, data_dir=tmp_path_factory.mktemp("asof-tiles"),
                                     extra_layers=f"rivers_file={MINI_GEODATA / 'layers' / 'rivers.geojson'}"))
    app.state.accounts.add_user("asof_ed", "editor", password="asof-editor-1")
    _, token = app.state.accounts.create_token("asof_ed", expires=parse_duration("1h"))
    with TestClient(app) as anon:
        yield {"app": app, "anon": anon, "editor": TestClient(app, headers={"Authorization": f"Bearer {token}"})}


def test_a_tile_as_of_before_an_edit_shows_the_old_geometry(site):
    check_asof_tiles(site["anon"], site["editor"])


def check_asof_tiles(anon, editor) -> None:
    """Move lel_0 by an edit; the tiles at its old and new place, with and without ``asof`` (every store)."""
    got = anon.get(f"{ITEMS}/lel_0")
    old = shape(got.json()["geometry"])
    lon, lat = old.representative_point().coords[0]
    moved = shapely.affinity.translate(old, xoff=0.02, yoff=0.01)       # ~2 km away: another z16 tile
    old_tile = SimpleNamespace(**dict(zip("xy", lonlat_tile(lon, lat, Z))))
    new_tile = SimpleNamespace(**dict(zip("xy", lonlat_tile(*moved.representative_point().coords[0], Z))))
    assert (old_tile.x, old_tile.y) != (new_tile.x, new_tile.y)
    old_url = f"/tiles/{LAYER}/{Z}/{old_tile.x}/{old_tile.y}.mvt"
    new_url = f"/tiles/{LAYER}/{Z}/{new_tile.x}/{new_tile.y}.mvt"
    assert "lel_0" in decoded(anon.get(old_url).content, Z, old_tile.x, old_tile.y)    # today's tile, now cached

    time.sleep(0.05)
    before_edit = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    time.sleep(0.05)
    r = editor.patch(f"{ITEMS}/lel_0", json={"geometry": shapely.geometry.mapping(moved), "note": "挪位置"},
                     headers={"If-Match": got.headers["etag"]})
    assert r.status_code == 200, r.text

    # today (tiles follow an edit within a second): the feature left the old tile and is in the new one
    deadline = time.monotonic() + 5
    while "lel_0" in decoded(anon.get(old_url).content, Z, old_tile.x, old_tile.y):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    now_new = decoded(anon.get(new_url).content, Z, new_tile.x, new_tile.y)
    assert now_new["lel_0"].intersection(mercator(moved)).area > 0.9 * now_new["lel_0"].area
    # as of before the edit: the old geometry at the old place, nothing at the new place
    past = anon.get(old_url, params={"asof": before_edit})
    assert past.status_code == 200 and past.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    then = decoded(past.content, Z, old_tile.x, old_tile.y)
    box = Polygon.from_bounds(*tile_bounds(Z, old_tile.x, old_tile.y))     # (the tile also holds a buffer)
    expected = mercator(old).intersection(box)
    assert then["lel_0"].intersection(box).symmetric_difference(expected).area < 0.01 * expected.area  # grid rounding
    past_new = anon.get(new_url, params={"asof": before_edit})
    assert "lel_0" not in decoded(past_new.content, Z, new_tile.x, new_tile.y)
    # the OGC API – Tiles route takes asof too
    ogc = anon.get(f"/collections/{LAYER}/tiles/WebMercatorQuad/{Z}/{old_tile.y}/{old_tile.x}",
                   params={"asof": before_edit})
    assert ogc.status_code == 200 and ogc.content == past.content

    # ETag / 304; a state this recent is revalidated like today's tiles, an old one is kept an hour
    assert past.headers["etag"] and past.headers["cache-control"] == "public, no-cache"
    again = anon.get(old_url, params={"asof": before_edit}, headers={"If-None-Match": past.headers["etag"]})
    assert again.status_code == 304
    assert past.headers["etag"] != anon.get(old_url).headers.get("etag")
    long_ago = anon.get(old_url, params={"asof": "2020-01-01"})
    assert long_ago.headers["cache-control"] == "public, max-age=3600"


@pytest.mark.parametrize("url, params, parameter", [
    (f"/tiles/{LAYER}/16/54870/26780.mvt", {"asof": "昨天"}, "asof"),
    (f"/tiles/{LAYER}/16/54870/26780.mvt", {"asof": "2026-13-45"}, "asof"),
    (f"/tiles/{LAYER}/16/54870/26780.mvt", {"asof": " "}, "asof"),
    ("/tiles/plan/16/54870/26780.mvt", {"asof": "2026-06-30"}, "asof"),
    (f"/tiles/{LAYER}/16/54870/26780.png", {"asof": "2026-06-30"}, "asof"),
    (f"/tiles/{LAYER}/23/0/0.mvt", {"asof": "2026-06-30"}, "z"),
    ("/tiles/rivers_file/16/54870/26780.mvt", {"asof": "2026-06-30"}, "asof"),     # a file layer: no history
    ("/collections/rivers_file/items", {"asof": "2026-06-30"}, "asof"),
    ("/export", {"layers": "rivers_file", "asof": "2026-06-30"}, "asof"),
    (f"/collections/{LAYER}/items", {"asof": ""}, "asof"),          # an empty asof is one answer everywhere
    (f"/stats/layers/{LAYER}", {"asof": ""}, "asof"),
    ("/export", {"layers": LAYER, "asof": ""}, "asof"),
])
def test_bad_asof_tile_requests_are_400_problems(site, url, params, parameter):
    r = site["anon"].get(url, params=params)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["parameter"] == parameter


def test_an_export_as_of_before_an_edit_has_the_old_feature(site):
    anon, editor = site["anon"], site["editor"]
    got = anon.get(f"{ITEMS}/lel_2")
    old_status = got.json()["properties"]["status"]
    new_status = "已完成" if old_status != "已完成" else "实施中"
    time.sleep(0.05)
    before_edit = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    time.sleep(0.05)
    r = editor.patch(f"{ITEMS}/lel_2", json={"properties": {"status": new_status}},
                     headers={"If-Match": got.headers["etag"]})
    assert r.status_code == 200, r.text

    def exported(**params) -> dict:
        r = anon.get("/export", params={"layers": LAYER, "format": "geojson", **params})
        assert r.status_code == 200, r.text
        return {f["properties"]["id"]: f for f in r.json()["features"]}

    assert exported(asof=before_edit)["lel_2"]["properties"]["status"] == old_status
    assert exported()["lel_2"]["properties"]["status"] == new_status
    # with a bbox: only what the old layer had there
    bbox = ",".join(map(str, shape(got.json()["geometry"]).bounds))
    assert "lel_2" in exported(asof=before_edit, bbox=bbox)
    for params in ({"asof": "不是日期"}, {"asof": before_edit, "filter": "status = '实施中'"},
                   {"asof": before_edit, "layers": f"{LAYER},cores"}):
        r = anon.get("/export", params={"layers": LAYER, "format": "geojson", **params})
        assert r.status_code == 400 and r.json()["parameter"] == "asof", r.text
