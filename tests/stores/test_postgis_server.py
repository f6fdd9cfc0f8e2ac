"""A PostGIS table registered through KFQMAP_EXTRA_LAYERS is served by the real app like the file-backed layer:
collections, items with bbox + CQL2, vector tiles and stats; store failures are problem+json (500/503)."""
from __future__ import annotations

import mapbox_vector_tile
import mercantile
import pytest
import shapely
from fastapi.testclient import TestClient

from kfqmap.models import Layer
from kfqmap.settings import GEODATA_DIR, CatalogSettings
from server.app import create_app

from .conftest import LAYERS_DIR

PLAN = "low_efficiency_land"


@pytest.fixture(scope="module")
def client(pg):
    settings = CatalogSettings(geodata_dir=GEODATA_DIR, extra_layers=(
        f"pg_parcels={pg.dsn}#public.{PLAN};file_parcels={LAYERS_DIR / (PLAN + '.geojson')};"
        f"pg_projects=postgis:host={pg.socket_dir} port={pg.port} dbname={pg.dbname} user={pg.user}#key_projects"))
    with TestClient(create_app(settings)) as client:
        yield client


def test_collections_list_the_postgis_layer(client):
    docs = {c["id"]: c for c in client.get("/collections").json()["collections"]}
    assert {"pg_parcels", "pg_projects"} <= set(docs)
    pg, plan = docs["pg_parcels"], docs[PLAN]
    assert pg["kfqmap"]["group"] == "额外" and pg["kfqmap"]["geometry_type"] == "Polygon"
    assert pg["kfqmap"]["features"] == plan["kfqmap"]["features"] == 31
    assert pg["extent"]["spatial"]["bbox"] == plan["extent"]["spatial"]["bbox"]


@pytest.mark.parametrize("params", [
    {"bbox": "120.95,31.30,121.10,31.45", "filter": "status = '已完成'"},
    {"filter": "year <= 2023 AND park LIKE '%工业%'"},
    {"bbox": "121.0,31.3,121.05,31.4"},
])
def test_items_with_bbox_and_cql2_match_the_file_layer(client, params):
    got = client.get("/collections/pg_parcels/items", params={**params, "limit": 1000})
    want = client.get(f"/collections/{PLAN}/items", params={**params, "limit": 1000})
    assert got.status_code == want.status_code == 200
    got, want = got.json(), want.json()
    assert got["numberMatched"] == want["numberMatched"] > 0
    assert [f["id"] for f in got["features"]] == [f["id"] for f in want["features"]]
    for a, b in zip(got["features"], want["features"]):
        assert a["properties"] == b["properties"]
        assert shapely.geometry.shape(a["geometry"]).equals_exact(shapely.geometry.shape(b["geometry"]), 1e-9)
    one = client.get(f"/collections/pg_parcels/items/{want['features'][0]['id']}").json()
    assert one["properties"]["name"] == want["features"][0]["properties"]["name"]


def _tile_features(client, layer_id, t):
    r = client.get(f"/tiles/{layer_id}/{t.z}/{t.x}/{t.y}.mvt", headers={"Accept-Encoding": "identity"})
    assert r.status_code == 200, r.text
    layer = mapbox_vector_tile.decode(r.content, default_options={"y_coord_down": True})[layer_id]
    return sorted(((f["properties"]["id"], f["properties"].get("name"), repr(f["geometry"]))
                   for f in layer["features"]))


@pytest.mark.parametrize("z", [12, 15])
def test_vector_tile_decodes_to_the_same_features(client, z):
    frame = client.app.state.catalog.read(PLAN)
    p = frame.geometry.iloc[0].representative_point()
    t = mercantile.tile(p.x, p.y, z)
    got = _tile_features(client, "pg_parcels", t)
    assert got and got == _tile_features(client, "file_parcels", t) == _tile_features(client, PLAN, t)
    assert frame.index[0] in {fid for fid, _, _ in got}
    assert {name for _, name, _ in got} <= set(frame["name"])


def test_point_layer_tile(client):
    frame = client.app.state.catalog.read("key_projects")
    p = frame.geometry.iloc[0]
    t = mercantile.tile(p.x, p.y, 14)
    got = _tile_features(client, "pg_projects", t)
    assert frame.index[0] in {fid for fid, _, _ in got}


def test_stats_give_the_same_area(client):
    got = client.get("/stats/layers/pg_parcels?unit=mu").json()
    want = client.get(f"/stats/layers/{PLAN}?unit=mu").json()
    for key in ("count", "area_m2", "area", "union_area_m2", "gk_area_m2"):
        assert got[key] == want[key], key
    assert got["area"] > 0
    assert [(f["id"], f["area_m2"]) for f in got["features"]] == [(f["id"], f["area_m2"]) for f in want["features"]]


def _postgis_layer(layer_id: str, location: str) -> Layer:
    return Layer(id=layer_id, title_zh=layer_id, title_en=layer_id, group="额外", kind="extra",
                 geometry_type="Polygon", source="postgis", file=location, plan_section="-", description="-")


def test_store_down_at_request_time_is_503_problem(pg, tmp_path, caplog):
    app = create_app(CatalogSettings(geodata_dir=GEODATA_DIR))
    app.state.catalog.add_layer(_postgis_layer("pg_down", f"postgresql://kfq@/kfqmap?host={tmp_path}#public.cores"))
    with TestClient(app) as client:   # an unhandled error would re-raise here instead of answering
        for url in ("/collections/pg_down/items", "/stats/layers/pg_down", "/tiles/pg_down/12/3430/1673.mvt"):
            r = client.get(url)
            assert r.status_code == 503, (url, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.headers["retry-after"] == "30"
            doc = r.json()
            assert doc["title"] == "StoreUnavailable" and "暂时无法连接" in doc["detail"]
            assert "Traceback" not in r.text and str(tmp_path) not in r.text      # no socket path, no host
        # the reason, with where the database is, is in the server log for the admin
        assert any("暂时无法连接 PostGIS 数据库" in rec.getMessage() and str(tmp_path) in rec.getMessage()
                   for rec in caplog.records)
        # the list of collections still answers: the dead layer is listed without extent, saying so
        r = client.get("/collections")
        assert r.status_code == 200, r.text
        docs = {d["id"]: d for d in r.json()["collections"]}
        assert "extent" not in docs["pg_down"] and "暂时无法连接" in docs["pg_down"]["kfqmap"]["unavailable"]
        assert str(tmp_path) not in r.text
        assert docs["cores"]["kfqmap"]["features"] == 2 and "unavailable" not in docs["cores"]["kfqmap"]
        assert client.get("/collections?f=html").status_code == 200
        # operations over every layer answer for the others and say which layer was left out
        r = client.get("/stats/layers")
        assert r.status_code == 200 and "暂时无法连接" in r.json()["unavailable"]["pg_down"]
        assert "cores" in {s["layer_id"] for s in r.json()["layers"]}
        c = app.state.catalog.read("cores").geometry.iloc[0].representative_point()
        doc = client.get("/query/point", params={"lon": c.x, "lat": c.y}).json()
        assert doc["count"] >= 1 and "pg_down" in doc["note"] and "pg_down" not in doc["layers"]
        assert client.get("/query/point", params={"lon": c.x, "lat": c.y, "layers": "pg_down"}).status_code == 503
        assert client.get("/search", params={"q": "核心区"}).status_code == 200
        # where layers live (paths, connection strings) is not published to the viewer
        assert all("file" not in layer for layer in client.get("/web/catalog.json").json()["layers"])


def test_misconfigured_store_at_request_time_is_500_problem_with_the_reason_logged(pg, caplog):
    app = create_app(CatalogSettings(geodata_dir=GEODATA_DIR))
    app.state.catalog.add_layer(_postgis_layer("pg_typo", f"{pg.dsn}#public.parcel"))
    app.state.catalog.add_layer(_postgis_layer("pg_nogeom", f"{pg.dsn}#public.no_geometry"))
    with TestClient(app) as client:
        r = client.get("/collections/pg_typo/items")
        assert r.status_code == 500 and r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["title"] == "DataSourceError" and "配置有误" in r.json()["detail"]
        assert "public." not in r.text and pg.dbname not in r.text      # no table list, no database name
        r = client.get("/collections/pg_nogeom/items")
        assert r.status_code == 500 and "配置有误" in r.json()["detail"]
        logged = " ".join(rec.getMessage() for rec in caplog.records)
        assert "没有表 public.parcel" in logged and "没有 geometry 列" in logged
        # a table gone after start-up does not take the list of collections down with it
        docs = {d["id"]: d for d in client.get("/collections").json()["collections"]}
        assert "配置有误" in docs["pg_typo"]["kfqmap"]["unavailable"]


def test_export_of_a_pushdown_layer_over_http(pg, monkeypatch):
    """``/export`` of a large PostGIS layer selects in SQL (CSV rows = the bbox's features); a selection over the
    limit is a 413 problem+json with the count and what to do, not a whole-table load."""
    import csv
    import io

    import kfqmap.providers.postgis as P
    import kfqmap.providers.postgis_pushdown as PD

    monkeypatch.setattr(P, "MEMORY_ROWS", -1)
    settings = CatalogSettings(geodata_dir=GEODATA_DIR, extra_layers=f"big={pg.dsn}#public.{PLAN}")
    bbox = "121.0,31.35,121.05,31.40"
    with TestClient(create_app(settings)) as client:
        expected = client.get(f"/collections/{PLAN}/items", params={"bbox": bbox, "limit": 1000}).json()
        r = client.get("/export", params={"layers": "big", "format": "csv", "bbox": bbox})
        assert r.status_code == 200, r.text
        rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
        assert sorted(row["id"] for row in rows) == sorted(f["id"] for f in expected["features"])
        monkeypatch.setattr(PD, "SELECT_MAX_ROWS", 2)
        r = client.get("/export", params={"layers": "big", "format": "gpkg"})
        assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
        assert "超过单次导出/查询上限 2" in r.json()["detail"]
