"""分割, snapping to edges and moving a vertex with the keyboard in the viewer (issue 13), in Debian's Chromium under the viewer's real Content Security
Policy (no Playwright bypass: waits use locators, never ``wait_for_function``), against a real KFQMap server on its
own store (the ``server`` of ``test_browser_edit``: users made with the ``kfqmap users add`` CLI).

A planner signs in, opens a parcel, clicks 分割…, draws a line across it (double-click ends it) and saves: the layer
has one more feature, the original keeps its id, attributes and the largest part. Esc cancels a cut; a line that
stays inside the parcel is refused with the server's reason. Dragging a vertex next to another parcel's edge (far
from its corners) puts it on that edge. A selected vertex moves 1 px per arrow key (10 with Shift) while the map
stays put, and Delete removes it. Screenshots (1280×800 and 390×844) go to ``test-artifacts/``.
"""
from __future__ import annotations

import pytest
from shapely.geometry import LineString, Point, shape

from .signin import login
from .test_browser_edit import EDITOR, EDITOR_PW, LAYER, Session, free_spot, metres, screen, server  # noqa: F401
from .test_browser_viewer import CSP_WATCH, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.interop]

D = 0.0004          # half a parcel's side in degrees (≈ 40 m × 45 m): at z17 about 80 px across


def square(lon, lat, d=D):
    return {"type": "Polygon", "coordinates": [[[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d],
                                                [lon - d, lat + d], [lon - d, lat - d]]]}


def add_parcel(srv, fid, geometry, **props) -> None:
    status, body, _ = Session(srv.url, EDITOR, EDITOR_PW).request("POST", f"/collections/{LAYER}/items", {
        "type": "Feature", "geometry": geometry,
        "properties": {"id": fid, "name": f"地块{fid}", "status": "未启动", "year": 2025, **props}})
    assert status == 201, body


def open_page(chromium, make_offline_context, srv, lon, lat, viewport, zoom=17):
    """The viewer under its CSP (violations collected in ``window.__cspViolations``), signed in, in 编辑 mode."""
    context, _ = make_offline_context(chromium, viewport=viewport, bypass_csp=False)
    page = context.new_page()
    page.add_init_script(CSP_WATCH)
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(f"{srv.url}/#map={zoom}/{lat}/{lon}&layers={LAYER}", wait_until="load")
    page.locator("body[data-map-ready='1']").wait_for(state="attached", timeout=60_000)
    wait_idle(page)
    login(page, EDITOR, EDITOR_PW)
    page.locator("#btn-edit").click()
    page.locator("#edit-panel").wait_for()
    return context, page


def open_feature(page, lon, lat, fid):
    """Click the parcel at lon/lat until the edit panel has it (the tiles of a just-made parcel may lag)."""
    for _ in range(20):
        page.mouse.click(*screen(page, lon, lat))
        try:
            page.locator("#edit-title", has_text=fid).wait_for(timeout=1_500)
            wait_idle(page)                  # its vertex handles drawn (a GeoJSON source updates asynchronously)
            return
        except Exception:  # noqa: BLE001 - playwright's TimeoutError: the tiles were not there yet
            wait_idle(page)
    raise AssertionError(f"could not open {fid}")


def message(page, text, timeout=15_000):
    page.locator("#edit-message", has_text=text).wait_for(timeout=timeout)


def count(srv) -> int:
    return srv.get(f"/collections/{LAYER}/items?f=json&limit=1")[0]["numberMatched"]


def test_split_a_parcel_in_the_viewer(chromium, make_offline_context, server, artifacts):
    lon, lat = free_spot(server)
    lon += 0.0017
    add_parcel(server, "DX-S1", square(lon, lat), park="老旧工业区")
    before = count(server)
    context, page = open_page(chromium, make_offline_context, server, lon - 0.0008, lat, {"width": 1280, "height": 800})
    try:
        open_feature(page, lon, lat, "DX-S1")
        split = page.locator("#edit-split")
        assert split.is_visible() and split.is_enabled() and split.inner_text() == "分割…"

        # Esc cancels a cut being drawn; the outline's handles come back
        split.click()
        page.locator("#draw-hint", has_text="画分割线").wait_for()
        assert split.is_disabled() and page.locator("#edit-merge").is_disabled()
        page.mouse.click(*screen(page, lon - 2 * D, lat))
        page.keyboard.press("Escape")
        message(page, "已取消分割")
        assert split.is_enabled()

        # a line that stays inside the parcel: the server's reason, nothing written
        split.click()
        page.mouse.click(*screen(page, lon - D / 2, lat))
        page.mouse.click(*screen(page, lon + D / 2, lat + D / 4))
        page.keyboard.press("Enter")                                  # Enter ends the line too
        message(page, "分割线已画好")
        with page.expect_response(lambda r: r.url.endswith("/items/DX-S1/split")) as resp:
            page.locator("#edit-save").click()
        assert resp.value.status == 422
        message(page, "无法分割")
        assert "没有把要素分成两部分" in page.locator("#edit-message").inner_text()
        assert count(server) == before

        # across the parcel, west to east, a little oblique; double-click ends it
        split.click()
        page.locator("#draw-hint", has_text="画分割线").wait_for()
        west, east = (lon - 2 * D, lat + 0.4 * D), (lon + 2 * D, lat - 0.2 * D)
        page.mouse.click(*screen(page, *west))
        page.mouse.dblclick(*screen(page, *east))
        message(page, "分割线已画好")
        assert page.locator("#edit-undo").is_enabled()
        wait_idle(page)
        page.screenshot(path=str(artifacts / "viewer-split-line-1280x800.png"))
        with page.expect_response(lambda r: r.url.endswith("/items/DX-S1/split")) as resp:
            page.locator("#edit-save").click()
        assert resp.value.status == 200, resp.value.text()
        assert resp.value.request.headers["if-match"]
        message(page, "已分割为 2 个面")
        new_id = resp.value.json()["results"][1]["id"]
        assert new_id in page.locator("#edit-message").inner_text()
        # the original stays open in the panel, the layer has one more feature
        page.locator("#edit-title", has_text="DX-S1").wait_for()
        assert count(server) == before + 1
        kept, _ = server.get(f"/collections/{LAYER}/items/DX-S1?f=json")
        new, _ = server.get(f"/collections/{LAYER}/items/{new_id}?f=json")
        assert kept["properties"]["name"] == new["properties"]["name"] == "地块DX-S1"
        assert new["properties"]["park"] == "老旧工业区" and new["id"] != "DX-S1"
        a, b = shape(kept["geometry"]), shape(new["geometry"])
        whole = shape(square(lon, lat))
        assert a.area > b.area and abs(a.area + b.area - whole.area) < 1e-6 * whole.area     # output has 1e-7°
        # the cut runs where the line was drawn (a pixel at z17 is ≈ 1 m ≈ 1e-5°)
        drawn = LineString([west, east])
        shared = a.intersection(b)
        assert shared.length > 0 and max(drawn.distance(Point(c)) for c in shared.coords) < 2e-5
        _, hist, _ = Session(server.url, EDITOR, EDITOR_PW).request("GET", f"/collections/{LAYER}/items/DX-S1/history")
        assert hist["changes"][0]["note"] == "分割：地块DX-S1（DX-S1）分为 2 个面"
        wait_idle(page)
        page.screenshot(path=str(artifacts / "viewer-split-done-1280x800.png"))
        assert page.evaluate("window.__cspViolations") == []
        assert not page.errors, page.errors
    finally:
        context.close()


def test_split_on_a_phone(chromium, make_offline_context, server, artifacts):
    """At 390×844 the edit panel is a bottom sheet: 分割… fits in it, and the line is drawn in the map above."""
    lon, lat = free_spot(server)
    add_parcel(server, "DX-S2", square(lon, lat))
    context, page = open_page(chromium, make_offline_context, server, lon, lat - 0.0012, {"width": 390, "height": 844},
                              zoom=16)
    try:
        open_feature(page, lon, lat, "DX-S2")
        box, panel = page.locator("#edit-split").bounding_box(), page.locator("#edit-panel").bounding_box()
        assert box["x"] >= panel["x"] and box["x"] + box["width"] <= panel["x"] + panel["width"] + 1
        assert panel["y"] + panel["height"] <= 844 + 1
        # bring the parcel to the middle of the map's strip above the sheet, as a user would
        strip = page.locator("#map").bounding_box()["y"], panel["y"]
        page.evaluate("(dy) => window.kfqMap.panBy([0, dy], { animate: false })", screen(page, lon, lat)[1] - sum(strip) / 2)
        wait_idle(page)
        page.locator("#edit-split").click()
        page.mouse.click(*screen(page, lon - 2 * D, lat + 0.3 * D))
        page.mouse.dblclick(*screen(page, lon + 2 * D, lat - 0.3 * D))
        message(page, "分割线已画好")
        assert strip[0] < screen(page, lon, lat)[1] < strip[1]             # the parcel is above the sheet
        wait_idle(page)
        page.screenshot(path=str(artifacts / "viewer-split-phone-390x844.png"))
        with page.expect_response(lambda r: r.url.endswith("/items/DX-S2/split")) as resp:
            page.locator("#edit-save").click()
        assert resp.value.status == 200, resp.value.text()
        message(page, "已分割为 2 个面")
        assert not page.errors, page.errors
    finally:
        context.close()


def test_a_dragged_vertex_snaps_to_an_edge(chromium, make_offline_context, server):
    """A vertex dropped 4 px from the middle of a neighbour's edge (≈ 40 px from its corners) lands on the edge."""
    lon, lat = free_spot(server)
    lon += 0.0017
    add_parcel(server, "DX-E1", square(lon - 0.0006, lat))
    add_parcel(server, "DX-E2", square(lon + 0.0006, lat))      # its west edge is 0.0004° (≈ 40 px) east of E1's
    context, page = open_page(chromium, make_offline_context, server, lon - 0.0008, lat, {"width": 1280, "height": 800})
    try:
        open_feature(page, lon - 0.0006, lat, "DX-E1")
        ne = screen(page, lon - 0.0006 + D, lat + D)
        edge_x = screen(page, lon + 0.0006 - D, lat)[0]
        target = (edge_x - 4, screen(page, lon, lat + D / 4)[1])
        page.mouse.move(*ne)
        page.mouse.down()
        for k in range(1, 11):
            page.mouse.move(ne[0] + (target[0] - ne[0]) * k / 10, ne[1] + (target[1] - ne[1]) * k / 10)
        page.mouse.up()
        with page.expect_response(lambda r: r.request.method == "PATCH" and "/items/DX-E1" in r.url) as resp:
            page.locator("#edit-save").click()
        assert resp.value.status == 200, resp.value.text()
        moved = resp.value.json()["geometry"]["coordinates"][0][2]
        # on E2's west edge (the tile's copy of it: quantised to ~0.1 m at z17); 4 px off would be ≈ 4 m
        assert metres(moved, (lon + 0.0006 - D, moved[1])) < 0.5
        assert lat < moved[1] < lat + D / 2                                   # between its corners, not on one
        assert page.evaluate("window.__cspViolations") == []
        assert not page.errors, page.errors
    finally:
        context.close()


def test_keyboard_moves_a_selected_vertex(chromium, make_offline_context, server):
    lon, lat = free_spot(server)
    lon += 0.0017
    add_parcel(server, "DX-K1", square(lon, lat))
    context, page = open_page(chromium, make_offline_context, server, lon - 0.0008, lat, {"width": 1280, "height": 800})
    try:
        open_feature(page, lon, lat, "DX-K1")
        centre = page.evaluate("() => window.kfqMap.getCenter().toArray()")
        ne = screen(page, lon + D, lat + D)
        page.mouse.click(*ne)                                         # a click on a vertex selects it
        page.locator("#draw-hint", has_text="已选中顶点").wait_for()
        for key in ("ArrowRight", "ArrowRight", "Shift+ArrowRight", "ArrowUp"):
            page.keyboard.press(key)
        assert page.evaluate("() => window.kfqMap.getCenter().toArray()") == centre     # the map did not pan
        moved = page.evaluate("() => window.kfqApp.edit.draft.geometry.coordinates[0][2]")
        x, y = screen(page, *moved)
        assert x == pytest.approx(ne[0] + 12, abs=0.05) and y == pytest.approx(ne[1] - 1, abs=0.05)
        page.locator("#edit-undo").click()                             # each key is one undo step
        assert screen(page, *page.evaluate("() => window.kfqApp.edit.draft.geometry.coordinates[0][2]"))[1] == pytest.approx(ne[1], abs=0.05)
        # Delete removes the selected vertex (the south-west one): a triangle is left
        page.mouse.click(*screen(page, lon - D, lat - D))
        page.keyboard.press("Delete")
        with page.expect_response(lambda r: r.request.method == "PATCH" and "/items/DX-K1" in r.url) as resp:
            page.locator("#edit-save").click()
        assert resp.value.status == 200, resp.value.text()
        ring = resp.value.json()["geometry"]["coordinates"][0]
        assert len(ring) == 4 and [lon - D, lat - D] not in ring
        assert metres(ring[1], (lon + D, lat + D)) > 5                # the moved corner: 12 px east of where it was
        message(page, "已保存修改")                                     # read again: a new selection from here
        wait_idle(page)
        # Esc unselects: arrows pan the map again
        page.mouse.click(*screen(page, *ring[0]))
        page.locator("#draw-hint", has_text="已选中顶点").wait_for()
        page.keyboard.press("Escape")
        page.locator("#draw-hint", has_text="拖动顶点").wait_for()
        assert not page.evaluate("() => window.kfqApp.edit.canvas.selected")
        assert page.evaluate("() => window.kfqMap.keyboard.isEnabled()")
        page.locator("canvas.maplibregl-canvas").focus()             # the map's keyboard handler needs its focus
        page.keyboard.press("ArrowRight")
        for _ in range(50):                                           # the pan is animated (slower under load)
            if page.evaluate("() => window.kfqMap.getCenter().toArray()") != centre:
                break
            page.wait_for_timeout(100)
        assert page.evaluate("() => window.kfqMap.getCenter().toArray()") != centre
        assert page.evaluate("window.__cspViolations") == []
        assert not page.errors, page.errors
    finally:
        context.close()


SNAP = """async () => {
  const g = await import('/web/js/geomedit.js');
  const sq = { type: 'Polygon', coordinates: [[[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]] };
  const px = ([x, y]) => ({ x: x * 10, y: 100 - y * 10 });        // 10 px a unit, y down
  const tile = { z: 1, x: 1, y: 0 };                               // lon 0…180, lat 0…85.05
  const clipped = { type: 'Polygon', coordinates: [[[-1, 20], [30, 20], [30, 40], [-1, 40], [-1, 20]]] };
  return {
    edge: g.snapToEdges({ x: 53, y: 96 }, [{ geometry: sq }], px, 10),           // near the south edge, x = 5.3
    none: g.snapToEdges({ x: 50, y: 50 }, [{ geometry: sq }], px, 10),           // the middle: no edge within 10 px
    vertexWins: g.snapPoint({ x: 96, y: 4 }, [{ geometry: sq }], px, 10),        // a corner 5.7 px, an edge 4 px
    edgeOnly: g.snapPoint({ x: 53, y: 96 }, [{ geometry: sq }], px, 10),
    line: g.snapToEdges({ x: 21, y: 48 }, [{ geometry: { type: 'LineString', coordinates: [[0, 0], [4, 8]] } }], px, 10),
    ghost: g.snapToEdges({ x: -8, y: 30 * -10 + 100 }, [{ geometry: clipped, ghost: (a, b) => g.onTileBorder(a, b, tile) }],
      ([x, y]) => ({ x: x * 10, y: 100 - y * 10 }), 10),
    border: [g.onTileBorder([-1, 20], [-1, 40], tile), g.onTileBorder([0, 20], [0, 40], tile),
      g.onTileBorder([0, 20], [30, 20], tile), g.onTileBorder([-1, 20], [30, 20], tile)],
  };
}"""


def test_edge_snapping_helpers(chromium, make_offline_context, server):
    """geomedit's edge snapping as the page runs it: the nearest point on an edge within the tolerance (interpolated
    in lon/lat), a vertex in range winning over a nearer edge, and tile-border edges (clipping artefacts) ignored."""
    context, _ = make_offline_context(chromium)
    page = context.new_page()
    try:
        page.goto(server.url + "/web/index.html", wait_until="load")
        r = page.evaluate(SNAP)
    finally:
        context.close()
    assert r["edge"]["coord"] == pytest.approx([5.3, 0]) and r["edge"]["distance"] == pytest.approx(4)
    assert r["none"] is None
    assert r["vertexWins"]["kind"] == "vertex" and r["vertexWins"]["coord"] == [10, 10]
    assert r["edgeOnly"]["kind"] == "edge" and r["edgeOnly"]["coord"] == pytest.approx([5.3, 0])
    # the point of segment (0,0)–(4,8) nearest to (2.1, 5.2): t = (2.1·4 + 5.2·8) / 80 = 0.625
    assert r["line"]["coord"] == pytest.approx([2.5, 5.0])
    # the clipped polygon's west side runs along the tile's west border (lon 0): not an edge to snap to
    assert r["ghost"] is None
    assert r["border"] == [True, True, False, False]
