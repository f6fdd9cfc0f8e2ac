"""OGC API – Features over the mini catalog: collections, items, paging, bbox, crs, datetime, filters."""
from __future__ import annotations

import pytest
import shapely
from shapely.geometry import shape

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


def test_collections_lists_every_layer(mini_client, mini_app):
    doc = mini_client.get("/collections").json()
    ids = [c["id"] for c in doc["collections"]]
    assert ids == mini_app.state.catalog.ids
    cores = next(c for c in doc["collections"] if c["id"] == "cores")
    assert cores["itemType"] == "feature"
    assert cores["storageCrs"] == CRS84
    assert cores["crs"][0] == CRS84
    assert "http://www.opengis.net/def/crs/EPSG/0/4549" in cores["crs"]
    assert "https://kfqmap.example/def/crs/GCJ-02" in cores["crs"]
    assert cores["extent"]["spatial"]["bbox"] == [[120.99, 31.36, 121.06, 31.39]]
    rels = {(link["rel"], link["type"]) for link in cores["links"]}
    assert ("items", "application/geo+json") in rels
    assert ("http://www.opengis.net/def/rel/ogc/1.0/queryables", "application/schema+json") in rels


def test_temporal_extent_and_nonspatial(mini_client):
    lel = mini_client.get("/collections/low_efficiency_land").json()
    assert lel["extent"]["temporal"]["interval"] == [["2021-01-01T00:00:00Z", "2026-12-31T23:59:59Z"]]
    ind = mini_client.get("/collections/indicators").json()
    assert "spatial" not in (ind.get("extent") or {})
    assert "geometry" in ind["description"]
    items = mini_client.get("/collections/indicators/items").json()
    assert items["numberMatched"] == 3
    assert all(f["geometry"] is None for f in items["features"])


def test_items_geojson_members(mini_client):
    r = mini_client.get("/collections/low_efficiency_land/items")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/geo+json"
    assert r.headers["content-crs"] == f"<{CRS84}>"
    doc = r.json()
    assert doc["type"] == "FeatureCollection"
    assert doc["numberMatched"] == doc["numberReturned"] == 6
    assert doc["timeStamp"].endswith("Z")
    f0 = doc["features"][0]
    assert f0["id"] == "lel_0" and f0["properties"]["id"] == "lel_0"
    assert f0["properties"]["year"] == 2021 and f0["properties"]["status"] == "已完成"
    assert shape(f0["geometry"]).equals(shapely.box(120.95, 31.30, 120.955, 31.305))


def test_paging_links(mini_client):
    doc = mini_client.get("/collections/low_efficiency_land/items?limit=2&offset=2").json()
    assert [f["id"] for f in doc["features"]] == ["lel_2", "lel_3"]
    assert doc["numberMatched"] == 6 and doc["numberReturned"] == 2
    links = {link["rel"]: link["href"] for link in doc["links"]}
    assert "offset=4" in links["next"] and "limit=2" in links["next"]
    assert "offset=0" in links["prev"]
    # walk next links to the end
    href, seen = "/collections/low_efficiency_land/items?limit=4", []
    while href:
        page = mini_client.get(href.replace("http://testserver", "")).json()
        seen += [f["id"] for f in page["features"]]
        href = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
    assert seen == [f"lel_{i}" for i in range(6)]
    past = mini_client.get("/collections/low_efficiency_land/items?offset=100").json()
    assert past["numberReturned"] == 0 and past["numberMatched"] == 6


def test_limit_above_maximum_is_capped(mini_client, monkeypatch):
    """OGC API Features: a limit above the server's maximum is not an error; the page holds the maximum and a
    next link carries on (the maximum is lowered to 4 here so that six features need two pages)."""
    import kfqmap.features as F

    monkeypatch.setattr(F, "MAX_LIMIT", 4)
    r = mini_client.get("/collections/low_efficiency_land/items?limit=50000")
    assert r.status_code == 200
    doc = r.json()
    assert doc["numberReturned"] == 4 and doc["numberMatched"] == 6
    nxt = next(link["href"] for link in doc["links"] if link["rel"] == "next")
    assert "limit=4" in nxt and "offset=4" in nxt
    assert mini_client.get("/collections/low_efficiency_land/items?limit=0").status_code == 400


def test_bbox(mini_client):
    doc = mini_client.get("/collections/low_efficiency_land/items?bbox=120.94,31.29,120.975,31.31").json()
    assert [f["id"] for f in doc["features"]] == ["lel_0", "lel_1", "lel_2"]
    assert mini_client.get("/collections/key_projects/items?bbox=121.0,31.0,121.2,31.5").json()["numberMatched"] == 2
    # a bbox touching no feature
    assert mini_client.get("/collections/cores/items?bbox=0,0,1,1").json()["numberMatched"] == 0
    # non-spatial layer with a bbox: nothing intersects
    assert mini_client.get("/collections/indicators/items?bbox=0,0,180,90").json()["numberMatched"] == 0


def test_bbox_crs_projected_authority_axis_order(mini_client):
    from kfqmap.crs import transform_xy
    x0, y0 = transform_xy(120.94, 31.29, "EPSG:4326", "EPSG:4549")
    x1, y1 = transform_xy(120.975, 31.31, "EPSG:4326", "EPSG:4549")
    # EPSG:4549 is northing, easting
    bbox = f"{y0},{x0},{y1},{x1}"
    doc = mini_client.get("/collections/low_efficiency_land/items",
                          params={"bbox": bbox, "bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/4549"}).json()
    assert [f["id"] for f in doc["features"]] == ["lel_0", "lel_1", "lel_2"]
    # EPSG:4326 by URI is lat,lon
    doc = mini_client.get("/collections/low_efficiency_land/items",
                          params={"bbox": "31.29,120.94,31.31,120.975",
                                  "bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/4326"}).json()
    assert doc["numberMatched"] == 3


@pytest.mark.parametrize("crs,north_first", [
    ("http://www.opengis.net/def/crs/EPSG/0/4549", True),
    ("http://www.opengis.net/def/crs/EPSG/0/4528", True),
    ("http://www.opengis.net/def/crs/EPSG/0/3857", False),
    ("http://www.opengis.net/def/crs/EPSG/0/4490", True),
    ("https://kfqmap.example/def/crs/GCJ-02", False),
])
def test_crs_output(mini_client, crs, north_first):
    from kfqmap.crs import parse_crs, transform_xy
    r = mini_client.get("/collections/key_projects/items/kp_station", params={"crs": crs})
    assert r.status_code == 200
    assert r.headers["content-crs"] == f"<{crs}>"
    x, y = r.json()["geometry"]["coordinates"]
    if north_first:
        x, y = y, x
    ex, ey = transform_xy(121.00, 31.38, "EPSG:4326", parse_crs(crs))
    assert x == pytest.approx(ex, abs=0.01) and y == pytest.approx(ey, abs=0.01)
    items = mini_client.get("/collections/key_projects/items", params={"crs": crs})
    assert items.headers["content-crs"] == f"<{crs}>"
    assert items.json()["features"][0]["geometry"]["coordinates"] == r.json()["geometry"]["coordinates"]


def test_gcj02_offset_is_hundreds_of_metres(mini_client):
    g = mini_client.get("/collections/key_projects/items/kp_station?crs=gcj02").json()["geometry"]["coordinates"]
    assert 0.002 < abs(g[0] - 121.00) + abs(g[1] - 31.38) < 0.01


def test_datetime(mini_client):
    def ids(dt):
        doc = mini_client.get("/collections/low_efficiency_land/items", params={"datetime": dt}).json()
        return [f["id"] for f in doc["features"]]
    assert ids("2023") == ["lel_2"]                     # year 2021 + i
    assert ids("2023-06-01T00:00:00Z") == ["lel_2"]
    assert ids("2023-06-01") == ["lel_2"]
    assert ids("2024-01-01T00:00:00Z/..") == ["lel_3", "lel_4", "lel_5"]
    assert ids("../2022-12-31T23:59:59Z") == ["lel_0", "lel_1"]
    assert ids("2022-07-01/2023-07-01") == ["lel_1", "lel_2"]
    assert ids("1990") == []
    # a layer without a temporal property ignores datetime
    assert mini_client.get("/collections/cores/items?datetime=1990").json()["numberMatched"] == 2
    # indicators use target_year
    assert mini_client.get("/collections/indicators/items?datetime=2025").json()["numberMatched"] == 3
    assert mini_client.get("/collections/indicators/items?datetime=2030").json()["numberMatched"] == 0


def test_property_equality_filters(mini_client):
    doc = mini_client.get("/collections/low_efficiency_land/items", params={"status": "实施中"}).json()
    assert [f["id"] for f in doc["features"]] == ["lel_1", "lel_4"]
    doc = mini_client.get("/collections/low_efficiency_land/items", params={"year": "2026", "status": "未启动"}).json()
    assert [f["id"] for f in doc["features"]] == ["lel_5"]
    doc = mini_client.get("/collections/cores/items", params={"illustrative": "true"}).json()
    assert doc["numberMatched"] == 2
    assert mini_client.get("/collections/low_efficiency_land/items?year=abc").status_code == 400


def test_cql2_filter(mini_client):
    def ids(flt, layer="low_efficiency_land", **extra):
        r = mini_client.get(f"/collections/{layer}/items", params={"filter": flt, **extra})
        assert r.status_code == 200, r.text
        return [f["id"] for f in r.json()["features"]]
    assert ids("status = '实施中'") == ["lel_1", "lel_4"]
    assert ids("year BETWEEN 2022 AND 2023") == ["lel_1", "lel_2"]
    assert ids("status IN ('已完成', '未启动') AND year > 2023") == ["lel_3", "lel_5"]
    assert ids("name LIKE '低效地块%' AND area_mu >= 54") == ["lel_4", "lel_5"]
    assert ids("S_INTERSECTS(geometry, POLYGON((120.94 31.29, 120.975 31.29, 120.975 31.31, 120.94 31.31, "
               "120.94 31.29)))") == ["lel_0", "lel_1", "lel_2"]
    assert ids("S_DWITHIN(geometry, POINT(121.0 31.38), 1000)", layer="key_projects") == ["kp_station"]
    assert ids("S_DWITHIN(geometry, POINT(121.0 31.38), 6000)", layer="key_projects") == ["kp_station", "kp_jt"]
    # filter combines with bbox and paging
    doc = mini_client.get("/collections/low_efficiency_land/items",
                          params={"filter": "year >= 2022", "bbox": "120.94,31.29,120.975,31.31", "limit": 1}).json()
    assert doc["numberMatched"] == 2 and [f["id"] for f in doc["features"]] == ["lel_1"]
    assert ids('{"op": "=", "args": [{"property": "status"}, "实施中"]}', **{"filter-lang": "cql2-json"}) == \
        ["lel_1", "lel_4"]


def test_single_item_and_404s(mini_client):
    r = mini_client.get("/collections/cores/items/core_east")
    assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json"
    doc = r.json()
    assert doc["type"] == "Feature" and doc["properties"]["name"] == "东部新城核心区"
    assert {link["rel"] for link in doc["links"]} >= {"self", "collection"}
    for url in ("/collections/cores/items/nope", "/collections/nope/items/x", "/collections/nope",
                "/collections/nope/items", "/collections/nope/queryables"):
        r = mini_client.get(url)
        assert r.status_code == 404, url
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["detail"]


def test_queryables(mini_client):
    r = mini_client.get("/collections/low_efficiency_land/queryables")
    assert r.status_code == 200 and r.headers["content-type"] == "application/schema+json"
    doc = r.json()
    assert doc["type"] == "object" and doc["$schema"].startswith("https://json-schema.org/")
    props = doc["properties"]
    assert props["year"]["type"] == "integer" and props["year"]["x-ogc-role"] == "primary-instant"
    assert props["status"]["type"] == "string"
    assert props["illustrative"]["type"] == "boolean"
    assert props["area_mu"]["type"] == "number"
    assert props["geometry"]["x-ogc-role"] == "primary-geometry"
    assert "geometry" not in mini_client.get("/collections/indicators/queryables").json()["properties"]


def test_html_pages(mini_client):
    browser = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    for url in ("/collections", "/collections/cores", "/collections/cores/items",
                "/collections/cores/items/core_qyg", "/collections/cores/queryables"):
        r = mini_client.get(url, headers=browser)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), url
        assert 'lang="zh-CN"' in r.text
    assert "东部新城核心区" in mini_client.get("/collections/cores/items?f=html").text
    assert mini_client.get("/collections/cores/items?f=json", headers=browser).headers["content-type"] == \
        "application/geo+json"


def test_cql2_spatial_functions_and_casei(mini_client):
    def ids(flt, layer="cores"):
        r = mini_client.get(f"/collections/{layer}/items", params={"filter": flt})
        assert r.status_code == 200, r.text
        return [f["id"] for f in r.json()["features"]]
    assert ids("S_CONTAINS(geometry, POINT(121.0 31.38))") == ["core_qyg"]
    assert ids("S_WITHIN(geometry, POLYGON((121.02 31.35, 121.07 31.35, 121.07 31.39, 121.02 31.39, 121.02 31.35)))") \
        == ["core_east"]
    assert ids("S_INTERSECTS(geometry, BBOX(121.05, 31.37, 121.2, 31.5))") == ["core_east"]
    assert ids("S_CROSSES(geometry, POLYGON((120.95 31.35, 121.1 31.35, 121.1 31.4, 120.95 31.4, 120.95 31.35)))",
               layer="rivers") == ["r_qyg"]


def test_collection_links_from_other_routers(mini_client, mini_app):
    rels = {link["rel"] for link in mini_client.get("/collections/cores").json()["links"]}
    hooks = [m for m in mini_app.state.router_modules if hasattr(m, "collection_links")]
    if hooks:   # e.g. the tiles router's tilesets links, only on spatial collections
        extra = {link["rel"] for m in hooks for link in _links_via(mini_client, m)}
        assert extra <= rels
        assert not extra & {link["rel"] for link in mini_client.get("/collections/indicators").json()["links"]}


def _links_via(client, module):
    from starlette.requests import Request
    scope = {"type": "http", "app": client.app, "router": client.app.router, "path": "/", "headers": [],
             "query_string": b"", "server": ("testserver", 80), "scheme": "http", "root_path": ""}
    return module.collection_links(Request(scope), "cores")


def test_sortby_orders_items_and_pages_stably(client):
    """``sortby=-year,id``: descending year, missing years last, ties by id; next links keep the order."""
    r = client.get("/collections/low_efficiency_land/items", params={"sortby": "-year,id", "limit": 1000})
    assert r.status_code == 200
    feats = r.json()["features"]
    years = [f["properties"]["year"] for f in feats]
    known = [y for y in years if y is not None]
    assert known == sorted(known, reverse=True) and years[:len(known)] == known
    pairs = [(-(f["properties"]["year"] or 0), f["properties"]["id"]) for f in feats if f["properties"]["year"]]
    assert pairs == sorted(pairs)
    first = client.get("/collections/low_efficiency_land/items", params={"sortby": "-year,id", "limit": 5}).json()
    nxt = next(link["href"] for link in first["links"] if link["rel"] == "next")
    assert "sortby=-year%2Cid" in nxt or "sortby=-year,id" in nxt
    second = client.get(nxt).json()
    assert [f["id"] for f in first["features"] + second["features"]] == [f["id"] for f in feats[:10]]


@pytest.mark.parametrize("sortby", ["nope", "-", "year,,id", "a,b,c,d,e,f"])
def test_sortby_refuses_unknown_or_malformed_keys(client, sortby):
    r = client.get("/collections/low_efficiency_land/items", params={"sortby": sortby})
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem+json")
    assert "sortby" in r.json()["detail"]
