"""Walk every route in the API definition with bad values: each must answer 4xx problem+json with a message
that names the parameter — never a 500.

The walker is generic: it reads the app's own OpenAPI document (so new routers — tiles, export, stats,
query — are covered as soon as they are registered), fills path parameters with valid values, checks that
the route answers at all, then swaps in one bad value at a time. ``BAD`` lists known-bad values per
parameter name; any other parameter gets junk and must at least not produce a 5xx.
"""
from __future__ import annotations

import json
from urllib.parse import urlencode

import mercantile
import pytest

from server.routers.common import openapi30

#: known-bad values per parameter name (query or path); each must give a 4xx naming the parameter
BAD: dict[str, list[str]] = {
    "bbox": ["1,2,3", "a,b,c,d", "10,10,0,0", "1,2,3,nan", "-200,0,0,10"],
    "bbox-crs": ["EPSG:99999", "nonsense"],
    "crs": ["EPSG:99999", "foo"],
    "filter": ["name ===", "nosuchprop = 1", "S_DWITHIN(geometry, POINT(121 31), -5)"],
    "filter-lang": ["xml"],
    "filter-crs": ["EPSG:99999"],
    "limit": ["0", "abc", "-3"],
    "offset": ["-1", "x"],
    "f": ["pdf"],
    "datetime": ["yesterday", "2024-13-45", "2025/2020", "../.."],
    "unit": ["furlong"],
    "lon": ["abc", "999"],
    "lat": ["abc", "99"],
    "tolerance": ["-5", "abc"],
    "distance": ["-1", "abc"],
    "k": ["0", "abc"],
    "layer": ["no_such_layer"],
    "layers": ["no_such_layer"],
    "a": ["no_such_layer"],
    "b": ["no_such_layer"],
    "by": ["no_such_layer"],
    "near": ["no_such_layer"],
    "year": ["abc"],
    "format": ["docx"],
    "size": ["abc", "-1"],
    "dpi": ["abc", "-1"],
    # path parameters
    "collectionId": ["no_such_layer"],
    "featureId": ["no_such_feature"],
    "tileset": ["no_such_tileset"],
    "z": ["99", "abc"],
    "x": ["-1", "abc"],
    "tile": ["abc.mvt", "99999999.mvt"],
    "tileMatrixSetId": ["NoSuchTMS"],
    "tileMatrix": ["99", "abc"],
    "tileRow": ["-1", "99999999"],
    "tileCol": ["-1", "99999999"],
    "style_id": ["no_such_style"],
    "id": ["no_such_layer"],
}

#: parameters that only mean something beside another one: sent together (when the route has the companion)
COMPANIONS: dict[str, dict[str, str]] = {
    "bbox-crs": {"bbox": "120.9,31.3,121.1,31.45"},
    "size": {"format": "png"},
    "dpi": {"format": "png"},
}

#: a problem may name the parameter group instead (lon/lat are reported together as the "point")
REPORTED_AS = {"lon": ("point",), "lat": ("point",)}

#: parameters that are not errors when "bad" in the sense of BAD for some routes (free text)
FREE_TEXT = {"q", "title"}


@pytest.fixture(scope="module")
def ctx(app):
    catalog = app.state.catalog
    layer = next(lay for lay in catalog.layers if lay.is_polygonal and len(catalog.read(lay.id)))
    other = next(lay for lay in catalog.layers if lay.is_polygonal and lay.id != layer.id)
    frame = catalog.read(layer.id)
    c = frame.geometry.iloc[0].representative_point()
    tile = mercantile.tile(c.x, c.y, 14)
    valid = {
        "collectionId": layer.id, "featureId": str(frame.index[0]), "tileset": "plan", "z": "14",
        "x": str(tile.x), "tile": f"{tile.y}.mvt", "tileMatrixSetId": "WebMercatorQuad", "tileMatrix": "14",
        "tileRow": str(tile.y), "tileCol": str(tile.x), "style_id": "plan", "id": layer.id,
        "layers": layer.id, "layer": layer.id, "a": layer.id, "b": other.id, "near": other.id,
        "lon": f"{c.x:.6f}", "lat": f"{c.y:.6f}", "q": "园", "format": "geojson", "distance": "500", "k": "1",
    }
    return {"app": app, "valid": valid}


def operations(app):
    doc = openapi30(app)
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            yield path, method.upper(), op


def _url(path: str, values: dict[str, str], query: dict[str, str]) -> str:
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    return path + ("?" + urlencode(query) if query else "")


def assert_problem(r, name: str, value: str):
    where = f"{r.request.method} {r.request.url} ({name}={value!r})"
    assert 400 <= r.status_code < 500, f"{where}: expected 4xx, got {r.status_code}: {r.text[:300]}"
    assert r.headers["content-type"].startswith("application/problem+json"), where
    body = r.json()
    assert body["status"] == r.status_code and body.get("detail"), where
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["detail"]), f"{where}: detail not Chinese: {body['detail']}"
    if r.status_code == 400:
        text = json.dumps(body, ensure_ascii=False)
        named = (name, *REPORTED_AS.get(name, ()))
        assert any(n in text for n in named) or (body.get("parameter") or "-") in name, \
            f"{where}: parameter not named: {text}"


def test_every_route_rejects_bad_values(client, ctx):
    checked, failures = 0, []
    for path, method, op in operations(ctx["app"]):
        if method != "GET":
            continue
        params = op.get("parameters", [])
        path_params = {p["name"] for p in params if p["in"] == "path"}
        required = {p["name"]: ctx["valid"].get(p["name"], "x") for p in params
                    if p["in"] == "query" and p.get("required")}
        values = {n: ctx["valid"].get(n, "x") for n in path_params}
        base = client.get(_url(path, values, required))
        assert base.status_code < 500, f"GET {path}: {base.status_code} {base.text[:300]}"
        if base.status_code >= 400:
            continue   # no valid value known for this route's path; its bad-path checks still run below
        for p in params:
            name = p["name"]
            for bad in BAD.get(name, []):
                if p["in"] == "path":
                    url = _url(path, {**values, name: bad}, required)
                else:
                    names = {q["name"] for q in params}
                    extra = {k: v for k, v in COMPANIONS.get(name, {}).items() if k in names}
                    url = _url(path, values, {**required, **extra, name: bad})
                try:
                    assert_problem(client.get(url), name, bad)
                except AssertionError as exc:
                    failures.append(str(exc).splitlines()[0])
                checked += 1
            if name not in BAD and name not in FREE_TEXT and p["in"] == "query":
                r = client.get(_url(path, values, {**required, name: "\u0000%%%junk"}))
                if r.status_code >= 500:
                    failures.append(f"GET {path} {name}=junk: {r.status_code} {r.text[:300]}")
    assert not failures, "\n".join(failures)
    assert checked > 40


def test_unknown_query_parameter_on_items(client, ctx):
    r = client.get(f"/collections/{ctx['valid']['collectionId']}/items?no_such_param=1")
    assert_problem(r, "no_such_param", "1")


def test_bodies_are_validated_and_bounded(client, ctx):
    posts = [(path, op) for path, method, op in operations(ctx["app"]) if method == "POST" and "requestBody" in op]
    for path, op in posts:
        url = _url(path, ctx["valid"], {})
        for body in (b"{", b"[]", b'{"geometry": 5}', "不是 JSON".encode()):
            r = client.post(url, content=body, headers={"content-type": "application/json"})
            assert 400 <= r.status_code < 500, (path, body, r.status_code, r.text[:300])
            assert r.headers["content-type"].startswith("application/problem+json")
        if path == "/imports":   # uploads have their own, larger limit (import_max_bytes): tests/server/test_imports.py
            continue
        big = b'{"geometry": {"type": "Point", "coordinates": [121, 31]}, "pad": "' + b"x" * (3 * 1024 * 1024) + b'"}'
        r = client.post(url, content=big, headers={"content-type": "application/json"})
        assert r.status_code == 413, (path, r.status_code)
        assert r.json()["parameter"] == "body"


def test_streamed_body_over_limit_is_413(mini_client):
    def chunks():
        for _ in range(40):
            yield b"x" * (100 * 1024)
    r = mini_client.post("/collections", content=chunks())
    assert r.status_code in (405, 413)   # no POST route: 405 before reading; never a 500


@pytest.mark.parametrize("param", ["bbox", "bbox-crs", "crs", "datetime", "limit", "offset", "filter", "filter-lang",
                                   "f", "status", "year"])
def test_fuzzed_items_parameters_never_500(mini_client, param):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.one_of(st.text(max_size=40), st.from_regex(r"-?[0-9.e,/:TZ-]{1,40}", fullmatch=True)))
    def check(value):
        r = mini_client.get("/collections/low_efficiency_land/items", params={param: value})
        assert r.status_code < 500, (param, value, r.text[:200])
        if r.status_code >= 400:
            assert r.headers["content-type"] == "application/problem+json"

    check()


@pytest.mark.parametrize("bbox_crs", ["EPSG:4549", "EPSG:3857", "gcj02", "http://www.opengis.net/def/crs/EPSG/0/4326"])
def test_fuzzed_bbox_in_every_crs_never_500(mini_client, bbox_crs):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    number = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**12, 10**12))

    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(number, min_size=4, max_size=4))
    def check(values):
        r = mini_client.get("/collections/cores/items",
                            params={"bbox": ",".join(map(str, values)), "bbox-crs": bbox_crs})
        assert r.status_code in (200, 400), (values, r.status_code, r.text[:200])

    check()
