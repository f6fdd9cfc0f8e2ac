"""分割 over real HTTP (``POST /collections/{id}/items/{fid}/split``) against a real ``kfqmap serve`` process, with
bearer tokens as the other edit tests: the parts tile the original, attributes are copied (the id is not), one
transaction with history rows carrying the 修改说明, and the refusals (422 for a line that does not divide the
polygon, 428/412 for If-Match, 403 for a viewer, 401 anonymous)."""
from __future__ import annotations

import httpx
import pytest
from pyproj import Transformer
from shapely.geometry import LineString, Point, Polygon, shape
from shapely.ops import unary_union

from .test_edit_http import LEL, bearer, create, parcel, site  # noqa: F401 - site: the module's own server

X0, Y0, D = 121.03, 31.34, 0.002


def split(client, fid, line, etag=None, **kw) -> httpx.Response:
    headers = {"If-Match": etag} if etag else {}
    headers.update(kw.pop("headers", {}))
    return client.post(f"{LEL}/{fid}/split", json={"line": line, **kw}, headers=headers)


def vertical(x, y0=Y0 - D, y1=Y0 + 3 * D) -> dict:
    return {"type": "LineString", "coordinates": [[x, y0], [x, y1]]}


def history(client, fid) -> list[dict]:
    return client.get(f"{LEL}/{fid}/history").json()["changes"]


def assert_tiles(original, parts):
    """Areas add up to the original's within 1e-9 (relative); their union is the original. The geometries are the
    history's (stored precision), not the items' (rounded to 1e-7° on output)."""
    assert abs(sum(p.area for p in parts) - original.area) <= 1e-9 * original.area
    assert unary_union(parts).symmetric_difference(original).area <= 1e-9 * original.area


def test_split_a_parcel_in_two(site):
    client = bearer(site, "ed")
    made = create(client, parcel("分割地块", lon=X0, lat=Y0, park="老旧工业区"))
    fid, etag = made.json()["id"], made.headers["etag"]
    before = client.get(LEL).json()["numberMatched"]
    line = {"type": "LineString", "coordinates": [[X0 - D, Y0 + 0.3 * D], [X0 + 0.5 * D, Y0 + 0.5 * D],
                                                  [X0 + 2 * D, Y0 + 0.9 * D]]}     # a bent line, oblique
    r = split(client, fid, line, etag)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["parts"] == 2 and [x["op"] for x in body["results"]] == ["update", "create"]
    kept_id, new_id = (x["id"] for x in body["results"])
    assert kept_id == fid and new_id != fid
    assert client.get(LEL).json()["numberMatched"] == before + 1
    # the original keeps its id, its attributes and the largest part; the new one has a copy of the attributes
    kept, new = client.get(f"{LEL}/{fid}").json(), client.get(f"{LEL}/{new_id}").json()
    assert kept["properties"]["name"] == new["properties"]["name"] == "分割地块"
    for key in ("status", "year", "park"):
        assert new["properties"][key] == kept["properties"][key] == made.json()["properties"][key]
    assert new["id"] == new["properties"]["id"] == new_id
    assert client.get(f"{LEL}/{fid}").headers["etag"] == body["results"][0]["etag"]
    # history: an update of the original and a create of the new part, both with the default note
    [update, created] = history(client, fid)[:1] + history(client, new_id)
    note = f"分割：分割地块（{fid}）分为 2 个面"
    assert (update["op"], update["note"], update["user"]) == ("update", note, "ed")
    assert (created["op"], created["note"], created["user"]) == ("create", note, "ed")
    assert update["changed"] == ["geometry"]
    original = shape(update["before"]["geometry"])
    parts = [shape(update["after"]["geometry"]), shape(created["after"]["geometry"])]
    assert parts[0].area > parts[1].area
    assert_tiles(original, parts)
    # the new feature's ETag works for the next edit
    assert client.patch(f"{LEL}/{new_id}", json={"properties": {"name": "分割地块（北）"}},
                        headers={"If-Match": body["results"][1]["etag"]}).status_code == 200


def test_split_a_ring_and_a_multipolygon_with_a_note(site):
    client = bearer(site, "ed")
    outer = [[X0, Y0], [X0 + 3 * D, Y0], [X0 + 3 * D, Y0 + 3 * D], [X0, Y0 + 3 * D], [X0, Y0]]
    hole = [[X0 + D, Y0 + D], [X0 + D, Y0 + 2 * D], [X0 + 2 * D, Y0 + 2 * D], [X0 + 2 * D, Y0 + D], [X0 + D, Y0 + D]]
    ring = create(client, {**parcel("环形地块"), "geometry": {"type": "Polygon", "coordinates": [outer, hole]}})
    fid = ring.json()["id"]
    r = split(client, fid, vertical(X0 + 1.5 * D), ring.headers["etag"], note="按道路红线分割")
    assert r.status_code == 200, r.text
    assert r.json()["parts"] == 2
    ids = [x["id"] for x in r.json()["results"]]
    rows = [history(client, i)[0] for i in ids]
    assert {row["note"] for row in rows} == {"按道路红线分割"}
    assert_tiles(shape(rows[0]["before"]["geometry"]), [shape(row["after"]["geometry"]) for row in rows])
    assert all(len(shape(row["after"]["geometry"]).interiors) == 0 for row in rows)

    west = [[X0 + 4 * D, Y0], [X0 + 5 * D, Y0], [X0 + 5 * D, Y0 + D], [X0 + 4 * D, Y0 + D], [X0 + 4 * D, Y0]]
    east = [[x + 2 * D, y] for x, y in west]
    multi = create(client, {**parcel("两块地"), "geometry": {"type": "MultiPolygon", "coordinates": [[west], [east]]}})
    mid = multi.json()["id"]
    # through both squares (a note in the header, as the viewer sends it)
    line = {"type": "LineString", "coordinates": [[X0 + 3.5 * D, Y0 + 0.4 * D], [X0 + 7.5 * D, Y0 + 0.6 * D]]}
    r = split(client, mid, line, multi.headers["etag"], headers={"X-Change-Note": "%E4%B8%A4%E5%9D%97"})
    assert r.status_code == 200, r.text
    ids = [x["id"] for x in r.json()["results"]]
    assert r.json()["parts"] == len(ids) == 4 and ids[0] == mid             # each square in two
    rows = [history(client, i)[0] for i in ids]
    assert {row["note"] for row in rows} == {"两块"}
    parts = [shape(row["after"]["geometry"]) for row in rows]
    assert {p.geom_type for p in parts} == {"MultiPolygon"}          # the original's type is kept
    assert_tiles(shape(rows[0]["before"]["geometry"]), parts)


def test_a_line_in_another_crs_is_honoured(site):
    from kfqmap.crs import transform_xy

    client = bearer(site, "ed")
    made = create(client, parcel("高斯分割", lon=X0, lat=Y0 + 5 * D))
    x, y = transform_xy(X0 + 0.25 * D, Y0 + 5 * D, "EPSG:4326", "EPSG:4549")
    # EPSG:4549 in its authority axis order (northing, easting), a line 500 m north-south through the west quarter
    line = {"type": "LineString", "coordinates": [[y - 100, x], [y + 400, x]]}
    r = split(client, made.json()["id"], line, made.headers["etag"],
              headers={"Content-Crs": "<http://www.opengis.net/def/crs/EPSG/0/4549>"})
    assert r.status_code == 200, r.text
    small = shape(history(client, r.json()["results"][1]["id"])[0]["after"]["geometry"])
    assert small.bounds[0] == pytest.approx(X0, abs=1e-9)
    # its east side is the line, taken back to lon/lat (grid north is ~0.5° off true north here: ~2 m over the parcel)
    to_ll = Transformer.from_crs("EPSG:4549", "EPSG:4326", always_xy=True)
    cut = LineString([to_ll.transform(e, n) for n, e in line["coordinates"]])
    east = [Point(c) for c in small.exterior.coords if c[0] > X0 + 1e-9]
    assert len(east) >= 2 and max(cut.distance(p) for p in east) < 1e-9
    (x0, y0), (x1, y1) = cut.coords
    south, north = Y0 + 5 * D, Y0 + 6 * D
    at = [x0 + (lat - y0) * (x1 - x0) / (y1 - y0) for lat in (south, north)]
    assert small.area == pytest.approx(Polygon([(X0, south), (at[0], south), (at[1], north), (X0, north)]).area, rel=1e-9)


def test_lines_that_do_not_divide_the_polygon_are_422_and_change_nothing(site):
    client = bearer(site, "ed")
    made = create(client, parcel("不分割", lon=X0, lat=Y0 + 10 * D))
    fid, etag = made.json()["id"], made.headers["etag"]
    before = client.get(LEL).json()["numberMatched"]
    y = Y0 + 10 * D
    cases = {
        "不相交": vertical(X0 + 3 * D, y - D, y + 2 * D),                                           # misses
        "没有把要素分成两部分": {"type": "LineString", "coordinates": [[X0 - D, y + 0.5 * D],
                                                                   [X0 + 0.5 * D, y + 0.5 * D]]},  # stops inside
        "LineString": {"type": "Point", "coordinates": [X0, y]},
        "2 个不同的点": {"type": "LineString", "coordinates": [[X0, y], [X0, y]]},
    }
    for words, line in cases.items():
        r = split(client, fid, line, etag)
        assert r.status_code == 422, (words, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert words in r.json()["detail"] and r.json()["parameter"] == "line"
    r = client.post(f"{LEL}/{fid}/split", json={"note": "没有线"}, headers={"If-Match": etag})
    assert r.status_code == 422 and r.json()["parameter"] == "line"
    # a missing feature is 404
    assert split(client, "no_such_feature", vertical(X0), '"x"').status_code == 404
    assert client.get(LEL).json()["numberMatched"] == before
    assert len(history(client, fid)) == 1 and client.get(f"{LEL}/{fid}").headers["etag"] == etag


def test_if_match_and_permissions(site):
    editor = bearer(site, "ed")
    made = create(editor, parcel("权限分割", lon=X0, lat=Y0 + 15 * D))
    fid, etag = made.json()["id"], made.headers["etag"]
    line = vertical(X0 + 0.5 * D, Y0 + 14 * D, Y0 + 17 * D)
    anon = httpx.Client(base_url=site["url"], timeout=60)
    viewer = httpx.Client(base_url=site["url"], timeout=60,
                          headers={"Authorization": f"Bearer {site['viewer_token']}"})
    r = split(anon, fid, line, etag)
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    assert split(viewer, fid, line, etag).status_code == 403
    assert split(editor, fid, line).status_code == 428                       # no If-Match
    changed = editor.patch(f"{LEL}/{fid}", json={"properties": {"year": 2026}}, headers={"If-Match": etag})
    assert changed.status_code == 200
    stale = split(editor, fid, line, etag)
    assert stale.status_code == 412 and stale.headers["etag"] == changed.headers["etag"]
    assert stale.json()["current_etag"] == changed.headers["etag"]
    assert [c["op"] for c in history(editor, fid)] == ["update", "create"]  # the refusals left no trace
    ok = split(editor, fid, line, changed.headers["etag"])
    assert ok.status_code == 200 and ok.json()["parts"] == 2
    # an editor of another layer only: 403
    core = bearer(site, "boss").post("/collections/cores/items", json={
        "type": "Feature", "geometry": parcel("x")["geometry"], "properties": {"name": "分割核心区"}})
    assert core.status_code == 201
    r = editor.post(f"/collections/cores/items/{core.json()['id']}/split", json={"line": vertical(121.001)},
                    headers={"If-Match": core.headers["etag"]})
    assert r.status_code == 403
