"""Hostile and malformed requests against a real ``kfqmap serve`` (uvicorn + httptools with bounded heads) on 127.0.0.1.

Every case asserts its status, that the answer is ``application/problem+json`` with that status and without
Python error text or server paths, and that a probe request sent at the same moment still gets its answer
(no request stalls the others). Client timeouts are bounds on waiting, never timing assertions.
"""
from __future__ import annotations

import http.client
import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from .proc_server import server_env, start

TIMEOUT = httpx.Timeout(90.0)
LONG = "x" * 300
Q = "/query/point?lon=121.0&lat=31.35"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    env = server_env(base / "scratch", KFQMAP_API_TRUSTED_HOSTS="127.0.0.1,localhost",
                     KFQMAP_API_EXPORT_CONCURRENCY="1", KFQMAP_API_EXPORT_QUEUE="1")
    srv = start(env, base / "server.log")
    yield srv
    srv.stop()


def _geometry_body(geometry) -> dict:
    return {"json": {"geometry": geometry}}


# (id, method, path, request kwargs, expected status)
CASES = [
    # OGC API Features
    ("unknown-collection", "GET", "/collections/nope", {}, 404),
    ("unknown-collection-items", "GET", "/collections/nope/items", {}, 404),
    ("unknown-feature", "GET", "/collections/cores/items/no-such-feature", {}, 404),
    ("limit-text", "GET", "/collections/cores/items?limit=abc", {}, 400),
    ("limit-zero", "GET", "/collections/cores/items?limit=0", {}, 400),
    ("limit-negative", "GET", "/collections/cores/items?limit=-5", {}, 400),
    ("offset-negative", "GET", "/collections/cores/items?offset=-1", {}, 400),
    ("offset-huge", "GET", "/collections/cores/items?offset=99999999999999", {}, 400),
    ("bbox-three", "GET", "/collections/cores/items?bbox=1,2,3", {}, 400),
    ("bbox-nan", "GET", "/collections/cores/items?bbox=nan,0,1,1", {}, 400),
    ("bbox-words", "GET", "/collections/cores/items?bbox=a,b,c,d", {}, 400),
    ("bbox-crs-unknown", "GET", "/collections/cores/items?bbox=0,0,1,1&bbox-crs=EPSG:99999", {}, 400),
    ("crs-unknown", "GET", "/collections/cores/items?crs=foo", {}, 400),
    ("datetime-garbage", "GET", "/collections/cores/items?datetime=notadate", {}, 400),
    ("filter-lang-sql", "GET", "/collections/cores/items?filter=name='x'&filter-lang=sql", {}, 400),
    ("filter-unparseable", "GET", "/collections/cores/items?filter=name%20%3D", {}, 400),
    ("filter-parens", "GET", "/collections/cores/items?filter=(((((", {}, 400),
    ("filter-json-garbage", "GET", "/collections/cores/items?filter=%7Bnot%20json&filter-lang=cql2-json", {}, 400),
    ("filter-too-long", "GET", "/collections/cores/items?filter=" + "a" * 25000, {}, 400),
    ("filter-crs-lat-lon", "GET", "/collections/cores/items?filter=name='x'&filter-crs=EPSG:4326", {}, 400),
    ("unknown-parameter", "GET", "/collections/cores/items?foo=bar", {}, 400),
    ("f-xml", "GET", "/collections/cores/items?f=xml", {}, 400),
    ("download-bad-datetime", "GET", "/collections/low_efficiency_land/items?f=gpkg&datetime=2023-13-45", {}, 400),
    ("collection-nul", "GET", "/collections/%00/items", {}, 400),
    ("api-yaml", "GET", "/api?f=yaml", {}, 400),
    ("landing-xml", "GET", "/?f=xml", {}, 400),
    # statistics
    ("stats-unit", "GET", "/stats/layers?unit=furlong", {}, 400),
    ("stats-unknown-layer", "GET", "/stats/layers/nope", {}, 404),
    ("stats-overlay-missing-b", "GET", "/stats/overlay?a=cores", {}, 400),
    ("stats-year-text", "GET", "/stats/progress?year=abc", {}, 400),
    ("indicators-unknown-column", "GET", "/indicators?nonexistent=1", {}, 400),
    # queries
    ("point-lon-text", "GET", "/query/point?lon=abc&lat=31", {}, 400),
    ("point-lon-inf", "GET", "/query/point?lon=inf&lat=31", {}, 400),
    ("point-missing-lat", "GET", "/query/point?lon=121", {}, 400),
    ("point-tolerance-negative", "GET", Q + "&tolerance=-1", {}, 400),
    ("point-unknown-layer", "GET", Q + "&layers=nope", {}, 404),
    ("point-crs-unknown", "GET", Q + "&crs=EPSG:0", {}, 400),
    ("geometry-not-json", "POST", "/query/geometry",
     {"content": b"{not json", "headers": {"content-type": "application/json"}}, 400),
    ("geometry-features-int", "POST", "/query/geometry",
     _geometry_body({"type": "FeatureCollection", "features": [1]}), 400),
    ("geometry-coords-text", "POST", "/query/geometry",
     _geometry_body({"type": "Polygon", "coordinates": [[["a", "b"]]]}), 400),
    ("geometry-coords-huge", "POST", "/query/geometry",
     _geometry_body({"type": "Point", "coordinates": [1e308, 1e308]}), 400),
    ("geometry-wrong-nesting", "POST", "/query/geometry",
     _geometry_body({"type": "Polygon", "coordinates": [121, 31]}), 400),
    ("geometry-line-one-point", "POST", "/query/geometry",
     _geometry_body({"type": "LineString", "coordinates": [[121, 31]]}), 400),
    ("geometry-ring-three-points", "POST", "/query/geometry",
     _geometry_body({"type": "Polygon", "coordinates": [[[121, 31], [121.1, 31], [121, 31]]]}), 400),
    ("geometry-point-far-away-projected", "POST", "/query/geometry",
     {"json": {"geometry": {"type": "Point", "coordinates": [1e300, 1e300]}, "crs": "EPSG:4549"}}, 400),
    ("export-wkt-garbage", "POST", "/export", {"json": {"layers": ["cores"], "geometry": "POLYGON((0 0"}}, 400),
    ("geometry-unknown-type", "POST", "/query/geometry", _geometry_body({"type": "Circle", "radius": 5}), 400),
    ("geometry-deep-collection", "POST", "/query/geometry",
     _geometry_body(json.loads('{"type":"GeometryCollection","geometries":[' * 20 + "]}" * 20)), 400),
    ("geometry-predicate", "POST", "/query/geometry",
     {"json": {"geometry": {"type": "Point", "coordinates": [121, 31.3]}, "predicate": "touches"}}, 400),
    ("geometry-extra-field", "POST", "/query/geometry",
     {"json": {"geometry": {"type": "Point", "coordinates": [121, 31.3]}, "evil": 1}}, 400),
    ("geometry-body-array", "POST", "/query/geometry", {"json": [1, 2, 3]}, 400),
    ("body-over-limit", "POST", "/query/geometry",
     {"content": b"{" + b" " * (3 * 1024 * 1024) + b"}", "headers": {"content-type": "application/json"}}, 413),
    ("chunked-body-over-limit", "POST", "/query/geometry",
     {"content": iter([b"{", b" " * (3 * 1024 * 1024), b"}"]), "headers": {"content-type": "application/json"}},
     413),
    ("near-unknown-layer", "GET", "/query/near?near=nope&distance=10", {}, 404),
    ("near-negative-distance", "GET", "/query/near?near=cores&distance=-1", {}, 400),
    ("nearest-k-zero", "GET", "/query/nearest?lon=121&lat=31.3&layer=cores&k=0", {}, 400),
    ("search-too-long", "GET", "/search?q=" + "搜" * 101, {}, 400),
    ("search-missing-q", "GET", "/search", {}, 400),
    # tiles
    ("tile-unicode-digit", "GET", "/tiles/plan/1/0/%C2%B2.mvt", {}, 400),
    ("tile-arabic-digit", "GET", "/tiles/plan/1/%D9%A1/0.mvt", {}, 400),
    ("tile-zoom-99", "GET", "/tiles/plan/99/0/0.mvt", {}, 400),
    ("tile-x-outside", "GET", "/tiles/plan/1/5/0.mvt", {}, 400),
    ("tile-negative-zoom", "GET", "/tiles/plan/-1/0/0.mvt", {}, 400),
    ("tile-huge-number", "GET", "/tiles/plan/1/0/99999999999999999999.mvt", {}, 400),
    ("tile-gif", "GET", "/tiles/plan/1/0/0.gif", {}, 400),
    ("tile-2x-mvt", "GET", "/tiles/plan/1/0/0@2x.mvt", {}, 400),
    ("tile-unknown-tileset", "GET", "/tiles/nope/1/0/0.mvt", {}, 404),
    ("ogc-tile-unknown-tms", "GET", "/collections/cores/tiles/Nope/1/0/0", {}, 404),
    ("ogc-tile-jpg", "GET", "/collections/cores/tiles/WebMercatorQuad/1/0/0?f=jpg", {}, 400),
    ("tms-unknown", "GET", "/tileMatrixSets/Nope", {}, 404),
    ("style-unknown", "GET", "/styles/nope.json", {}, 404),
    # exports
    ("export-format-exe", "GET", "/export?layers=cores&format=exe", {}, 400),
    ("export-unknown-layer", "GET", "/export?layers=nope", {}, 404),
    ("export-missing-layers", "GET", "/export", {}, 400),
    ("export-crs-unknown", "GET", "/export?layers=cores&crs=EPSG:1", {}, 400),
    ("export-dxf-wgs84", "GET", "/export?layers=cores&format=dxf&crs=EPSG:4326", {}, 400),
    ("export-png-huge", "GET", "/export?layers=cores&format=png&size=20000x20000px", {}, 400),
    ("export-png-megapixels", "GET", "/export?layers=cores&format=png&size=A3&dpi=600", {}, 400),
    ("export-png-dpi", "GET", "/export?layers=cores&format=png&dpi=5000", {}, 400),
    ("export-pdf-page", "GET", "/export?layers=cores&format=pdf&size=5000x5000mm", {}, 400),
    ("export-title-get", "GET", "/export?layers=cores&format=png&title=" + LONG, {}, 400),
    ("export-title-post", "POST", "/export", {"json": {"layers": ["cores"], "format": "png", "title": LONG}}, 400),
    ("export-title-900kb", "POST", "/export",
     {"json": {"layers": ["cores"], "format": "png", "title": "标" * 300_000}}, 400),
    ("export-layers-object", "POST", "/export", {"json": {"layers": {"a": 1}}}, 400),
    ("export-geometry-features-int", "POST", "/export",
     {"json": {"layers": ["cores"], "geometry": {"type": "FeatureCollection", "features": [1]}}}, 400),
    ("export-xlsx-empty", "GET", "/export?layers=cores&format=xlsx&bbox=0,0,1,1", {}, 404),
    ("export-geojson-empty", "GET", "/export?layers=cores&format=geojson&bbox=0,0,1,1", {}, 404),
    ("export-put", "PUT", "/export", {}, 405),
    ("export-delete", "DELETE", "/collections/cores/items", {}, 405),
    # web viewer files
    ("web-nul", "GET", "/web/%00", {}, 400),
    ("web-package-json", "GET", "/web/package.json", {}, 404),
    ("web-package-lock", "GET", "/web/package-lock.json", {}, 404),
    ("web-traversal", "GET", "/web/%2e%2e/pyproject.toml", {}, 404),
    ("web-node-modules", "GET", "/web/node_modules/maplibre-gl/package.json", {}, 404),
    ("vendor-traversal", "GET", "/vendor/maplibre-gl/%2e%2e/%2e%2e/package.json", {}, 404),
    ("web-dotfile", "GET", "/web/.gitignore", {}, 404),
    # the connection itself
    ("host-not-trusted", "GET", "/collections", {"headers": {"host": "evil.example"}}, 400),
    ("url-too-long", "GET", "/collections?x=" + "a" * 70_000, {"stdlib": True}, 414),
    # a few CQL2 cases that are 400 already (the CQL2 fixes have their own tests)
    ("cql-unknown-property", "GET", "/collections/cores/items?filter=nosuchprop%20%3D%201", {}, 400),
    ("cql-unknown-function", "GET", "/collections/cores/items?filter=EVIL(name)", {}, 400),
    ("cql-query-point", "GET", Q + "&filter=%3D%3D%3D", {}, 400),
]

LEAKS = ("Traceback", "object has no attribute", "/work/", "/tmp/", "site-packages", "Error:")


def _hostile(url: str, method: str, path: str, kwargs: dict) -> httpx.Response:
    if kwargs.get("stdlib"):     # httpx refuses URLs over 64 KB itself; http.client sends them
        host, port = url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT.read)
        try:
            conn.request(method, path)
            raw = conn.getresponse()
            return httpx.Response(raw.status, headers=raw.getheaders(), content=raw.read())
        finally:
            conn.close()
    with httpx.Client(base_url=url, timeout=TIMEOUT) as client:
        return client.request(method, path, **kwargs)


def _probe(url: str) -> httpx.Response:
    with httpx.Client(base_url=url, timeout=TIMEOUT) as client:
        return client.get("/collections/cores/items?limit=1")


def test_at_least_sixty_cases():
    assert len({case[0] for case in CASES}) == len(CASES) >= 60


@pytest.mark.parametrize("name,method,path,kwargs,status", CASES, ids=[c[0] for c in CASES])
def test_hostile_request(server, name, method, path, kwargs, status):
    with ThreadPoolExecutor(2) as pool:
        hostile = pool.submit(_hostile, server.url, method, path, kwargs)
        probe = pool.submit(_probe, server.url)
        response, probe_response = hostile.result(), probe.result()
    assert response.status_code == status, response.text[:400]
    assert response.headers["content-type"] == "application/problem+json", response.text[:200]
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    assert not any(leak in body["detail"] for leak in LEAKS), body["detail"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert probe_response.status_code == 200 and probe_response.json()["type"] == "FeatureCollection"


def test_oversized_headers_refused_and_server_still_answers(server):
    """Request heads over the limit are refused before the app (431 problem+json from the protocol,
    ``server.http_protocol``), and the server goes on answering."""
    with httpx.Client(base_url=server.url, timeout=TIMEOUT) as client:
        try:
            r = client.get("/conformance", headers={"x-big": "a" * (200 * 1024)})
            assert r.status_code == 431 and r.headers["content-type"] == "application/problem+json"
            assert r.json()["status"] == 431 and "KB" in r.json()["detail"]
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
            pass    # the server may close (or reset) the connection while the client is still sending
        assert client.get("/conformance").status_code == 200


def _raw(url: str, data: bytes, *, chunk: int = 4096) -> bytes:
    """Send ``data`` over one socket in ``chunk``-byte writes and read the answer (until close or 10 s)."""
    import socket
    from urllib.parse import urlsplit
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        try:
            for i in range(0, len(data), chunk):
                sock.sendall(data[i:i + chunk])
        except (BrokenPipeError, ConnectionResetError):
            pass                        # refused mid-way: read what it answered
        answer = b""
        try:
            while b"\r\n\r\n" not in answer or len(answer) < 64:
                more = sock.recv(65536)
                if not more:
                    break
                answer += more
        except (ConnectionResetError, TimeoutError, socket.timeout):
            pass
        return answer


def test_endless_header_is_cut_off_at_the_limit(server):
    """A head that never ends (one header sent in small pieces) is refused with 431 once it passes the limit:
    the worker does not buffer it without bound."""
    from kfqmap.deploy import MAX_HEAD_BYTES
    head = b"GET /conformance HTTP/1.1\r\nhost: 127.0.0.1\r\nx-endless: " + b"a" * (MAX_HEAD_BYTES + 8192)
    answer = _raw(server.url, head, chunk=1024)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    assert httpx.get(server.url + "/conformance", timeout=TIMEOUT).status_code == 200


def test_large_body_with_small_head_is_not_mistaken_for_a_large_head(server):
    """A head and a large body arriving in one read must not count the body as head bytes."""
    body = b'{"layers": ["cores"], "format": "geojson"}'.ljust(200 * 1024)
    head = (b"POST /export HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n")
    answer = _raw(server.url, head + body, chunk=len(head) + len(body))
    assert answer and not answer.startswith(b"HTTP/1.1 431"), answer[:200]


def test_options_lists_every_method(server):
    r = httpx.options(server.url + "/export", timeout=TIMEOUT)
    assert r.status_code == 204
    assert {"GET", "HEAD", "POST", "OPTIONS"} <= {m.strip() for m in r.headers["allow"].split(",")}
    r = httpx.put(server.url + "/export", timeout=TIMEOUT)
    assert "POST" in r.headers["allow"]


def test_security_headers(server):
    viewer = httpx.get(server.url + "/", headers={"accept": "text/html"}, timeout=TIMEOUT)
    assert viewer.status_code == 200 and viewer.headers["content-type"].startswith("text/html")
    csp = viewer.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert viewer.headers["x-frame-options"] == "DENY"
    assert viewer.headers["referrer-policy"] == "same-origin"
    api = httpx.get(server.url + "/collections", timeout=TIMEOUT)
    assert api.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in api.headers["content-security-policy"]
    tile = httpx.get(server.url + "/tiles/plan/10/856/415.mvt", timeout=TIMEOUT)
    assert tile.headers["x-content-type-options"] == "nosniff"


def test_style_with_host_links_is_not_publicly_cached(server):
    r = httpx.get(server.url + "/styles/plan.json", headers={"host": "localhost"}, timeout=TIMEOUT)
    assert r.status_code == 200
    assert r.headers["cache-control"].startswith("private") and "Host" in r.headers["vary"]
    assert "localhost" in json.dumps(r.json())


def test_exports_beyond_the_queue_are_503_with_retry_after(server):
    """One export runs and one waits (this server's limits); of six map images asked at once, the rest are
    refused 503 with Retry-After, every answer is either the PNG or that problem, and a probe still answers."""
    def png(_):
        return _hostile(server.url, "GET", "/export?layers=cores&format=png&size=800x600px", {})

    with ThreadPoolExecutor(7) as pool:
        answers = list(pool.map(png, range(6)))
        probe = pool.submit(_probe, server.url).result()
    statuses = sorted(r.status_code for r in answers)
    assert set(statuses) <= {200, 503} and 200 in statuses and 503 in statuses, statuses
    for r in answers:
        if r.status_code == 503:
            assert r.headers["content-type"] == "application/problem+json"
            assert int(r.headers["retry-after"]) > 0 and r.json()["title"] == "ServerBusy"
        else:
            assert r.content.startswith(b"\x89PNG")
    assert probe.status_code == 200
