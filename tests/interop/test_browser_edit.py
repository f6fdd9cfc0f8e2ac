"""Issue 13 in the viewer: 登录, 编辑 mode and 修改记录, in Debian's Chromium against a real KFQMap server (its own
process, a throw-away embedded store, users created with the ``kfqmap users add`` CLI).

A planner logs in, draws a parcel, fills its attributes in the form generated from the layer's queryables, saves
(POST), sees it counted in the statistics panel, edits it (drags a vertex, renames it, changes its status: PATCH
with If-Match) and finds both changes in the popup's history. A second client changing the feature meanwhile gives
the 412 panel, which shows their version and reapplies this one's changes. An administrator restores a version.
Screenshots (desktop and phone) go to ``test-artifacts/``.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pyproj import Geod
from shapely.geometry import Point, shape

from server.testing import free_port

from .test_browser_mobile import LAYOUT
from .test_browser_viewer import wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.interop]

REPO = Path(__file__).resolve().parents[2]
LAYER = "low_efficiency_land"
EDITOR, EDITOR_PW = "planner", "规划-编辑-2026"
ADMIN, ADMIN_PW = "chief", "管理-2026-secret"
CLI = [sys.executable, "-c", "from kfqmap.cli.main import cli; cli()"]


# ---------------------------------------------------------------------------- a real server on its own store
class Server:
    def __init__(self, data_dir: Path):
        self.env = {**os.environ, "KFQMAP_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO)}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def cli(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run([*CLI, *args], env=self.env, input=stdin, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def start(self) -> None:
        self.proc = subprocess.Popen([*CLI, "serve", "--port", str(self.port)], env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for _ in range(600):
            try:
                urllib.request.urlopen(self.url + "/auth/me", timeout=2)   # public also on a closed server
                return
            except (urllib.error.URLError, ConnectionError):
                assert self.proc.poll() is None, self.proc.stderr.read()
                time.sleep(0.1)
        raise AssertionError("server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)

    def get(self, path: str):
        with urllib.request.urlopen(self.url + path, timeout=20) as r:
            return json.loads(r.read()), r.headers


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("edit-store"))
    srv.cli("users", "add", EDITOR, "--role", "editor", "--layers", f"{LAYER},renewal_sites", "--password-stdin", stdin=EDITOR_PW + "\n")
    srv.cli("users", "add", ADMIN, "--role", "admin", "--password-stdin", stdin=ADMIN_PW + "\n")
    srv.start()
    yield srv
    srv.stop()


class Session:
    """A second client (a colleague in another browser) speaking HTTP with a login cookie and the CSRF token."""

    def __init__(self, url: str, user: str, password: str):
        self.url = url
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        body = self.request("POST", "/auth/login", {"username": user, "password": password})[1]
        self.csrf = body["csrf"]

    def request(self, method, path, body=None, headers=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Content-Type": "application/json", **({"X-CSRF-Token": self.csrf} if hasattr(self, "csrf") else {}),
            **(headers or {})})
        try:
            with self.opener.open(req, timeout=20) as r:
                text = r.read()
                return r.status, (json.loads(text) if text else None), r.headers
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null"), e.headers


# ---------------------------------------------------------------------------- the page
def free_spot(server) -> tuple[float, float]:
    """A place in the zone at least 600 m from every 低效用地 parcel (so nothing snaps and a click hits only ours)."""
    fc, _ = server.get(f"/collections/{LAYER}/items?f=json&limit=1000")
    parcels = [shape(f["geometry"]) for f in fc["features"]]
    extent = shape(server.get("/collections/etdz_extent/items?f=json&limit=1")[0]["features"][0]["geometry"])
    minx, miny, maxx, maxy = extent.bounds
    best = None
    for i in range(1, 30):
        for j in range(1, 30):
            p = Point(minx + (maxx - minx) * i / 30, miny + (maxy - miny) * j / 30)
            if not extent.contains(p.buffer(0.01)):
                continue
            d = min(p.distance(g) for g in parcels)
            if best is None or d > best[0]:
                best = (d, p)
    assert best and best[0] > 0.006, "no free spot in the zone"
    return best[1].x, best[1].y


def open_viewer(chromium, make_offline_context, server, lon, lat, viewport=None, zoom=16):
    context, log = make_offline_context(chromium, viewport=viewport or {"width": 1366, "height": 768})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors
    page.goto(f"{server.url}/#map={zoom}/{lat}/{lon}&layers={LAYER},etdz_extent", wait_until="load")
    page.wait_for_function("document.body.dataset.mapReady === '1'", timeout=60_000)
    wait_idle(page)
    return context, page


def screen(page, lon, lat):
    return tuple(page.evaluate("([lon, lat]) => { const p = window.kfqMap.project([lon, lat]); const r = window.kfqMap.getCanvas().getBoundingClientRect(); return [p.x + r.left, p.y + r.top]; }", [lon, lat]))


def login(page, user, password):
    if not page.locator("#dlg-login").is_visible():
        page.locator("#btn-login").click()
    page.locator("#dlg-login input[name=username]").fill(user)
    page.locator("#dlg-login input[name=password]").fill(password)
    page.locator("#btn-login-go").click()
    page.wait_for_function("document.body.dataset.role !== 'anonymous'", timeout=10_000)


def area_mu(geometry) -> float:
    geod = Geod(ellps="GRS80")        # CGCS2000's ellipsoid
    return abs(geod.geometry_area_perimeter(shape(geometry))[0]) / (2000 / 3)


def progress_done(server) -> float:
    return server.get("/stats/progress")[0]["land"]["achieved_mu"]


def shown_number(page, selector) -> float:
    return float(page.locator(selector).inner_text().replace(",", ""))


# ---------------------------------------------------------------------------- tests
def test_anonymous_reads_only(chromium, make_offline_context, server):
    lon, lat = free_spot(server)
    context, page = open_viewer(chromium, make_offline_context, server, lon, lat)
    try:
        assert page.locator("#btn-login").is_visible()
        assert page.locator("#btn-edit").is_hidden()
        assert page.evaluate("document.body.dataset.role") == "anonymous"
        # a wrong password is refused with a message, and nothing changes
        page.locator("#btn-login").click()
        page.locator("#dlg-login input[name=username]").fill(EDITOR)
        page.locator("#dlg-login input[name=password]").fill("wrong")
        page.locator("#btn-login-go").click()
        page.wait_for_function("document.querySelector('#login-error').textContent.length > 0")
        assert page.locator("#login-error").inner_text() == "用户名或密码不正确"
        assert page.locator("#btn-edit").is_hidden()
        assert not page.errors, page.errors
    finally:
        context.close()


def test_draw_save_edit_and_history(chromium, make_offline_context, server, artifacts):
    lon, lat = free_spot(server)
    done_before = progress_done(server)
    context, page = open_viewer(chromium, make_offline_context, server, lon, lat)
    try:
        login(page, EDITOR, EDITOR_PW)
        assert page.locator("#user-name").inner_text() == EDITOR
        assert page.locator("#user-role").inner_text() == "编辑"
        m = page.evaluate(LAYOUT)        # at 1366 px the signed-in toolbar fits (its groups may wrap), nothing scrolls
        assert m["scrollWidth"] <= m["vw"] and [b["text"] for b in m["buttons"] if not b["inside"]] == [], m
        page.locator("#btn-edit").click()
        assert page.locator("#edit-panel").is_visible()
        page.locator("#edit-layer").select_option(LAYER)
        page.locator("#edit-new").click()

        page.wait_for_function("document.querySelector('#draw-hint').textContent.includes('单击添加顶点')")
        # draw a square of about 230 m × 270 m (≈ 90 亩) east of the free spot (the edit panel covers the map's
        # left), closing it on its first vertex
        lon += 0.0017
        d = 0.0012
        corners = [(lon - d, lat - d), (lon + d, lat - d), (lon + d, lat + d), (lon - d, lat + d)]
        for c in corners:
            page.mouse.click(*screen(page, *c))
        page.mouse.click(*screen(page, *corners[0]))
        page.wait_for_selector("#ef-name")

        # the form comes from the queryables; a wrong value is refused before anything is sent
        page.locator("#ef-id").fill("DX-T01")
        page.locator("#ef-name").fill("测试地块甲")
        page.locator("#ef-year").fill("2024.5")
        page.locator("#edit-save").click()
        assert page.locator("#ef-year").get_attribute("aria-invalid") == "true"
        assert "年度" in page.locator("#edit-message").inner_text()
        status = page.locator("#ef-status")
        if status.evaluate("el => el.tagName") == "SELECT":
            status.select_option("已完成")
        else:
            status.fill("已完成")
        page.locator("#ef-year").fill("2024")
        page.locator("#ef-park").fill("老旧工业区")
        page.locator("#edit-note").fill("新增测试地块")
        with page.expect_response(lambda r: r.request.method == "POST" and f"/collections/{LAYER}/items" in r.url) as resp:
            page.locator("#edit-save").click()
        assert resp.value.status == 201, resp.value.text()
        page.wait_for_function("document.querySelector('#edit-message').textContent.includes('已新建要素')")

        feature, _ = server.get(f"/collections/{LAYER}/items/DX-T01?f=json")
        _, _, headers = Session(server.url, EDITOR, EDITOR_PW).request("GET", f"/collections/{LAYER}/items/DX-T01?f=json")
        assert headers["ETag"]                      # given to users who may edit the layer
        assert feature["properties"]["name"] == "测试地块甲" and feature["properties"]["status"] == "已完成"
        assert feature["properties"]["year"] == 2024
        ring = feature["geometry"]["coordinates"][0]
        assert len(ring) == 5 and ring[0] == ring[-1]
        for (x, y), (cx, cy) in zip(ring[:4], corners):
            assert abs(x - cx) < 2e-5 and abs(y - cy) < 2e-5    # where it was clicked (a pixel at z16 is ~2 m)

        # counted in the statistics panel: 已完成 grows by the parcel's area (the server's figure, shown rounded)
        done_after = progress_done(server)
        assert done_after - done_before == pytest.approx(area_mu(feature["geometry"]), abs=0.5)
        page.wait_for_function(f"document.querySelector('#progress-done')?.textContent.replace(/,/g, '') === '{round(done_after)}'", timeout=15_000)
        # and drawn by the refreshed tiles
        wait_idle(page)
        x, y = screen(page, lon, lat)
        assert page.evaluate("([x, y]) => window.kfqMap.queryRenderedFeatures([x, y]).some((f) => f.sourceLayer === 'low_efficiency_land' && f.properties.id === 'DX-T01')",
                             [x - page.evaluate("window.kfqMap.getCanvas().getBoundingClientRect().left"),
                              y - page.evaluate("window.kfqMap.getCanvas().getBoundingClientRect().top")])
        page.screenshot(path=str(artifacts / "viewer-edit-new-parcel.png"))

        # edit it: drag the north-east vertex 40 px to the east, rename it, change its status
        ne = screen(page, *corners[2])
        page.mouse.move(*ne)
        page.mouse.down()
        for k in range(1, 9):
            page.mouse.move(ne[0] + 5 * k, ne[1])
        page.mouse.up()
        assert page.locator("#edit-undo").is_enabled()
        page.locator("#ef-name").fill("测试地块乙")
        page.locator("#ef-name").dispatch_event("change")
        if status.evaluate("el => el.tagName") == "SELECT":
            status.select_option("实施中")
        else:
            status.fill("实施中")
        with page.expect_response(lambda r: r.request.method == "PATCH" and "/items/DX-T01" in r.url) as resp:
            page.locator("#edit-save").click()
        assert resp.value.status == 200, resp.value.text()
        assert resp.value.request.headers.get("if-match") == headers["ETag"]
        page.wait_for_function("document.querySelector('#edit-message').textContent.includes('已保存修改')")
        edited, _ = server.get(f"/collections/{LAYER}/items/DX-T01?f=json")
        assert edited["properties"]["name"] == "测试地块乙" and edited["properties"]["status"] == "实施中"
        moved = edited["geometry"]["coordinates"][0][2]
        assert moved[0] > corners[2][0] + 0.0002 and abs(moved[1] - corners[2][1]) < 2e-5
        page.wait_for_function(f"document.querySelector('#progress-done')?.textContent.replace(/,/g, '') === '{round(progress_done(server))}'", timeout=15_000)
        page.screenshot(path=str(artifacts / "viewer-edit-form.png"))

        # 修改记录 in the popup: both changes, newest first, who and when (北京时间)
        page.locator("#edit-close").click()
        wait_idle(page)
        page.mouse.click(*screen(page, lon, lat))
        page.wait_for_selector('.pop[data-feature="DX-T01"]', timeout=10_000)
        page.locator("#btn-history").click()
        page.wait_for_selector(".history-entry")
        entries = page.locator(".history-entry")
        assert entries.count() == 2
        assert [entries.nth(i).get_attribute("data-op") for i in range(2)] == ["update", "create"]
        newest = entries.nth(0)
        assert EDITOR in newest.locator(".who").inner_text()
        diff = newest.locator("table.history-diff").inner_text()
        assert "测试地块甲" in diff and "测试地块乙" in diff and "已完成" in diff and "实施中" in diff and "图形" in diff
        assert entries.nth(1).locator(".history-note").inner_text() == "修改说明：新增测试地块"
        status_, body, _ = Session(server.url, EDITOR, EDITOR_PW).request("GET", f"/collections/{LAYER}/items/DX-T01/history")
        assert status_ == 200
        rows = body["changes"]
        assert [r["op"] for r in rows] == ["update", "create"] and {r["user"] for r in rows} == {EDITOR}
        at = datetime.fromisoformat(rows[0]["at"].replace("Z", "+00:00")).astimezone(timezone(timedelta(hours=8)))
        assert newest.locator("time").inner_text() == at.strftime("%Y-%m-%d %H:%M:%S") + "（北京时间）"
        # hovering the edit draws the outline it replaced
        newest.hover()
        page.wait_for_function("document.body.dataset.historyOutline === '1'")
        assert shape(page.evaluate("window.kfqApp.history.geometry")).equals_exact(shape(feature["geometry"]), 1e-6)
        wait_idle(page)
        page.screenshot(path=str(artifacts / "viewer-edit-history.png"))
        assert not page.errors, page.errors
    finally:
        context.close()


def square(lon, lat, d=0.0012):
    ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d], [lon - d, lat - d]]
    return {"type": "Polygon", "coordinates": [ring]}


def test_conflict_shows_theirs_and_reapplies(chromium, make_offline_context, server, artifacts):
    """Two planners edit one parcel: the colleague saves first (HTTP, their own session); this browser's save gets
    412, the panel shows their version beside these changes, and 重新应用 saves these changes on top of theirs."""
    lon, lat = free_spot(server)
    lon += 0.0017
    colleague = Session(server.url, ADMIN, ADMIN_PW)
    status, created, headers = colleague.request("POST", f"/collections/{LAYER}/items", {
        "type": "Feature", "geometry": square(lon, lat),
        "properties": {"id": "DX-T02", "name": "冲突地块", "status": "未启动", "year": 2025}})
    assert status == 201, created
    context, page = open_viewer(chromium, make_offline_context, server, lon - 0.0017, lat)
    try:
        login(page, EDITOR, EDITOR_PW)
        page.locator("#btn-edit").click()
        page.mouse.click(*screen(page, lon, lat))
        page.wait_for_function("document.querySelector('#edit-title').textContent.includes('DX-T02')")
        # the colleague renames it meanwhile
        status, _, _ = colleague.request("PATCH", f"/collections/{LAYER}/items/DX-T02", {"properties": {"name": "冲突地块（已核实）"}},
                                         {"If-Match": headers["ETag"], "Content-Type": "application/merge-patch+json"})
        assert status == 200
        page.locator("#ef-status").select_option("实施中")
        with page.expect_response(lambda r: r.request.method == "PATCH" and "/items/DX-T02" in r.url) as resp:
            page.locator("#edit-save").click()
        assert resp.value.status == 412
        box = page.locator("#edit-conflict")
        box.wait_for()
        assert "已被其他用户修改" in box.inner_text() and ADMIN in box.inner_text()
        name_row = box.locator('tr[data-field="name"]').inner_text()
        assert "冲突地块（已核实）" in name_row
        assert "实施中" in box.locator('tr[data-field="status"]').inner_text()
        page.screenshot(path=str(artifacts / "viewer-edit-conflict.png"))
        page.locator("#edit-reapply").click()
        assert page.locator("#ef-name").input_value() == "冲突地块（已核实）"
        assert page.locator("#ef-status").input_value() == "实施中"
        with page.expect_response(lambda r: r.request.method == "PATCH" and "/items/DX-T02" in r.url) as resp:
            page.locator("#edit-save").click()
        assert resp.value.status == 200
        page.wait_for_function("document.querySelector('#edit-message').textContent.includes('已保存修改')")
        final, _ = server.get(f"/collections/{LAYER}/items/DX-T02?f=json")
        assert final["properties"]["name"] == "冲突地块（已核实）" and final["properties"]["status"] == "实施中"
        _, body, _ = colleague.request("GET", f"/collections/{LAYER}/items/DX-T02/history")
        assert [(c["op"], c["user"]) for c in body["changes"]] == [("update", EDITOR), ("update", ADMIN), ("create", ADMIN)]
        assert body["changes"][0]["changed"] == ["status"]
        assert not page.errors, page.errors
    finally:
        context.close()


def vertex_drag(page, start, end, steps=8):
    page.mouse.move(*start)
    page.mouse.down()
    for k in range(1, steps + 1):
        page.mouse.move(start[0] + (end[0] - start[0]) * k / steps, start[1] + (end[1] - start[1]) * k / steps)
    page.mouse.up()


def metres(a, b) -> float:
    return Geod(ellps="GRS80").inv(a[0], a[1], b[0], b[1])[2]


def test_undo_snap_and_delete(chromium, make_offline_context, server):
    """撤销 puts the outline back; a vertex dropped a few pixels from another parcel's corner lands on that corner
    (snapping); 删除 asks first (取消 keeps the feature) and then deletes it with If-Match."""
    lon, lat = free_spot(server)
    lon += 0.0017
    admin = Session(server.url, ADMIN, ADMIN_PW)
    west, east = square(lon - 0.0006, lat, 0.0004), square(lon + 0.0006, lat, 0.0004)   # ~40 m apart
    for fid, geom in (("DX-T03", west), ("DX-T04", east)):
        status, body, _ = admin.request("POST", f"/collections/{LAYER}/items", {"type": "Feature", "geometry": geom, "properties": {"id": fid, "name": fid}})
        assert status == 201, body
    # at z17 (0.5 m a pixel) both squares sit right of the edit panel
    context, page = open_viewer(chromium, make_offline_context, server, lon - 0.0008, lat, zoom=17)
    try:
        login(page, EDITOR, EDITOR_PW)
        page.locator("#btn-edit").click()
        page.mouse.click(*screen(page, lon + 0.0006, lat))
        page.wait_for_function("document.querySelector('#edit-title').textContent.includes('DX-T04')")
        original = page.evaluate("window.kfqApp.edit.draft.geometry")

        # a drag, then 撤销: the outline is the one read from the server again
        se = east["coordinates"][0][1]
        x, y = screen(page, *se)
        vertex_drag(page, (x, y), (x + 30, y + 30))
        assert page.evaluate("window.kfqApp.edit.draft.geometry") != original
        page.locator("#edit-undo").click()
        assert page.evaluate("window.kfqApp.edit.draft.geometry") == original
        assert page.locator("#edit-undo").is_disabled()
        # a form change is a step too
        page.locator("#ef-name").fill("临时名称")
        page.locator("#ef-name").dispatch_event("change")
        page.locator("#edit-undo").click()
        assert page.locator("#ef-name").input_value() == "DX-T04"
        assert page.locator("#edit-undo").is_disabled()

        # drag DX-T04's north-west corner to 5 px from DX-T03's north-east corner: it snaps onto it
        nw, target = east["coordinates"][0][3], west["coordinates"][0][2]
        tx, ty = screen(page, *target)
        vertex_drag(page, screen(page, *nw), (tx + 5, ty - 4))
        dropped = page.evaluate("window.kfqApp.edit.draft.geometry.coordinates[0][3]")
        assert metres(dropped, target) < 0.5          # the tile's copy of the corner (quantised to ~0.1 m at z17)
        with page.expect_response(lambda r: r.request.method == "PATCH" and "/items/DX-T04" in r.url) as resp:
            page.locator("#edit-save").click()
        assert resp.value.status == 200
        saved, _ = server.get(f"/collections/{LAYER}/items/DX-T04?f=json")
        assert metres(saved["geometry"]["coordinates"][0][3], target) < 0.5
        assert saved["geometry"]["coordinates"][0][0] == pytest.approx(east["coordinates"][0][0])

        # 删除: the question first; 取消 keeps it
        page.locator("#edit-delete").click()
        dlg = page.locator("#dlg-confirm")
        dlg.wait_for()
        assert "确定删除“DX-T04”" in dlg.inner_text()
        dlg.locator("button[value=cancel]").click()
        assert server.get(f"/collections/{LAYER}/items/DX-T04?f=json")[0]["id"] == "DX-T04"
        page.locator("#edit-delete").click()
        with page.expect_response(lambda r: r.request.method == "DELETE" and "/items/DX-T04" in r.url) as resp:
            page.locator("#dlg-confirm #btn-confirm-ok").click()
        assert resp.value.status == 204 and resp.value.request.headers.get("if-match")
        page.wait_for_function("document.querySelector('#edit-message').textContent.includes('已删除')")
        with pytest.raises(urllib.error.HTTPError) as gone:
            server.get(f"/collections/{LAYER}/items/DX-T04?f=json")
        assert gone.value.code == 404
        _, body, _ = admin.request("GET", f"/collections/{LAYER}/items/DX-T04/history")
        assert [c["op"] for c in body["changes"]] == ["delete", "update", "create"]
        assert not page.errors, page.errors
    finally:
        context.close()


def test_admin_restores_a_version(chromium, make_offline_context, server, artifacts):
    """An administrator sees 恢复此版本 in the history and brings an earlier version back (a recorded change)."""
    lon, lat = free_spot(server)
    lon += 0.0017
    editor = Session(server.url, EDITOR, EDITOR_PW)
    status, _, headers = editor.request("POST", f"/collections/{LAYER}/items", {"type": "Feature", "geometry": square(lon, lat), "properties": {"id": "DX-T05", "name": "原名称", "status": "未启动"}})
    assert status == 201
    status, _, _ = editor.request("PATCH", f"/collections/{LAYER}/items/DX-T05", {"properties": {"name": "改后名称"}},
                                  {"If-Match": headers["ETag"], "Content-Type": "application/merge-patch+json", "X-Change-Note": "%E6%94%B9%E5%90%8D"})
    assert status == 200
    context, page = open_viewer(chromium, make_offline_context, server, lon - 0.0017, lat)
    try:
        # an editor sees the history but no restore button
        login(page, EDITOR, EDITOR_PW)
        page.mouse.click(*screen(page, lon, lat))
        page.wait_for_selector('.pop[data-feature="DX-T05"]')
        page.locator("#btn-history").click()
        page.wait_for_selector(".history-entry")
        assert page.locator(".history-entry").nth(0).locator(".history-note").inner_text() == "修改说明：改名"
        assert page.locator(".history-restore").count() == 0
        page.locator("#btn-logout").click()
        page.wait_for_function("document.body.dataset.role === 'anonymous'")
        page.keyboard.press("Escape")

        login(page, ADMIN, ADMIN_PW)
        assert page.locator("#user-role").inner_text() == "管理"
        page.mouse.click(*screen(page, lon, lat))
        page.wait_for_selector('.pop[data-feature="DX-T05"]')
        page.locator("#btn-history").click()
        page.wait_for_selector(".history-entry")
        created = page.locator('.history-entry[data-op="create"]')
        with page.expect_response(lambda r: r.request.method == "POST" and "/history/" in r.url and r.url.endswith("/restore")) as resp:
            created.locator(".history-restore").click()
        assert resp.value.status == 200
        page.wait_for_function("document.querySelectorAll('.history-entry').length === 3")
        newest = page.locator(".history-entry").nth(0)
        assert newest.get_attribute("data-op") == "restore" and ADMIN in newest.inner_text()
        assert "改后名称" in newest.inner_text() and "原名称" in newest.inner_text()
        restored, _ = server.get(f"/collections/{LAYER}/items/DX-T05?f=json")
        assert restored["properties"]["name"] == "原名称"
        wait_idle(page)
        page.screenshot(path=str(artifacts / "viewer-edit-restore.png"))
        assert not page.errors, page.errors
    finally:
        context.close()


def test_phone_layout(chromium, make_offline_context, server, artifacts):
    """At 414×896 the account buttons wrap with the toolbar, the edit panel is a bottom sheet, nothing scrolls
    sideways, and the Chinese renders (screenshot)."""
    lon, lat = free_spot(server)
    context, page = open_viewer(chromium, make_offline_context, server, lon, lat, viewport={"width": 414, "height": 896})
    try:
        login(page, EDITOR, EDITOR_PW)
        page.locator("#btn-edit").click()
        page.locator("#edit-new").click()
        page.wait_for_function("document.querySelector('#draw-hint').textContent.includes('单击添加顶点')")
        box = page.locator("#edit-panel").bounding_box()
        assert box["y"] + box["height"] <= 896 + 1 and box["width"] <= 414
        m = page.evaluate(LAYOUT)
        assert m["scrollWidth"] <= m["vw"] and m["bodyScroll"] <= m["vw"], m
        assert [b["text"] for b in m["buttons"] if not b["inside"]] == []
        assert {"编辑", "退出"} <= {b["text"] for b in m["buttons"]}
        # draw a triangle in the map's free upper part; the form opens in the bottom sheet
        mx = page.locator("#map").bounding_box()
        top = mx["y"] + 60
        for x, y in ((120, top), (300, top), (210, top + 120), (120, top)):
            page.mouse.click(x, y)
        page.wait_for_selector("#ef-name")
        page.locator("#ef-name").fill("手机端新地块")
        box = page.locator("#edit-panel").bounding_box()
        assert box["y"] + box["height"] <= 896 + 1 and box["width"] <= 414
        page.screenshot(path=str(artifacts / "viewer-edit-phone-414x896.png"))
        assert not page.errors, page.errors
    finally:
        context.close()


HELPERS = """async () => {
  const g = await import('/web/js/geomedit.js');
  const f = await import('/web/js/editform.js');
  const hist = await import('/web/js/history.js');
  const sq = { type: 'Polygon', coordinates: [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]] };
  const bow = { type: 'Polygon', coordinates: [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]] };
  const tri = { type: 'Polygon', coordinates: [[[0, 0], [1, 0], [0, 1], [0, 0]]] };
  const moved = g.moveVertex(sq, 0, 0, [-1, -1]);
  const removed = g.removeVertex(sq, 0, 0);
  const inserted = g.insertVertex(sq, 0, 1, [1.5, 0.5]);
  const snap = g.snapToVertices({ x: 10, y: 10 }, [{ geometry: sq }], ([x, y]) => ({ x: x * 10 + 3, y: y * 10 + 4 }), 10);
  return {
    square: g.geometryProblems(sq), bowtie: g.geometryProblems(bow), flat: g.geometryProblems({ type: 'Polygon', coordinates: [[[0, 0], [1, 1], [0, 0], [1, 1]]] }),
    movedRing: moved.coordinates[0], original: sq.coordinates[0],
    removedRing: removed.coordinates[0], triangle: g.removeVertex(tri, 0, 1),
    inserted: inserted.coordinates[0],
    multi: g.geometryFromDrawing('MultiPolygon', [[0, 0], [1, 0], [1, 1]]),
    line: g.geometryFromDrawing('LineString', [[0, 0]]),
    point: g.geometryFromDrawing('Point', [[3, 4]]),
    snap,
    checks: [
      f.checkValue(2024.5, { type: ['integer', 'null'] }), f.checkValue(2024, { type: ['integer', 'null'] }),
      f.checkValue('完成', { type: 'string', enum: ['已完成', '实施中', null] }), f.checkValue(null, { type: 'string' }, { required: true }),
      f.checkValue(null, { type: ['string', 'null'] }), f.checkValue(5, { type: 'number', minimum: 10 }),
    ],
    patch: f.propertiesPatch({ a: 1, b: 'x', c: null }, { a: 1, b: 'y', c: '' , d: true }),
    bj: hist.beijingTime('2026-06-30T16:00:00.000Z'),
    entries: hist.historyEntries({ changes: [
      { seq: 3, op: 'replace', restored_from: 1, user: 'chief', at: '2026-06-30T16:00:00.000Z',
        before: { geometry: sq, properties: { name: 'B' } }, after: { geometry: sq, properties: { name: 'A' } } },
      { seq: 2, op: 'update', user: 'planner', at: '2026-06-30T15:00:00.000Z', at_beijing: '2026-06-30 23:00:00', note: '改名', changed: ['name', 'geometry'],
        before: { geometry: sq, properties: { name: 'A' } }, after: { geometry: moved, properties: { name: 'B' } } },
    ] }).map((e) => [e.seq, e.op, e.opZh, e.time, e.changes, e.geometryChanged]),
  };
}"""


def test_edit_helpers(chromium, make_offline_context, server):
    """The viewer's own checks before sending (outline, form values), the merge patch it builds, the vertex
    operations, snapping, and how history rows are read (北京时间, restores)."""
    context, log = make_offline_context(chromium)
    page = context.new_page()
    try:
        page.goto(server.url + "/web/index.html", wait_until="load")
        r = page.evaluate(HELPERS)
    finally:
        context.close()
    assert r["square"] == [] and r["bowtie"] == ["面的边界自相交（请拖动顶点消除交叉）"]
    assert r["flat"] == ["面至少需要 3 个不同的顶点"]
    assert r["movedRing"][0] == [-1, -1] and r["movedRing"][-1] == [-1, -1] and r["original"][0] == [0, 0]
    assert r["removedRing"] == [[1, 0], [1, 1], [0, 1], [1, 0]]
    assert r["triangle"] is None
    assert r["inserted"] == [[0, 0], [1, 0], [1.5, 0.5], [1, 1], [0, 1], [0, 0]]
    assert r["multi"] == {"type": "MultiPolygon", "coordinates": [[[[0, 0], [1, 0], [1, 1], [0, 0]]]]}
    assert r["line"] is None and r["point"] == {"type": "Point", "coordinates": [3, 4]}
    assert r["snap"]["coord"] == [1, 1] and r["snap"]["distance"] == pytest.approx((3 ** 2 + 4 ** 2) ** 0.5)
    assert r["checks"] == ["须为整数", None, "须为：已完成 / 实施中", "必填", None, "不能小于 10"]
    assert r["patch"] == {"b": "y", "d": True}
    assert r["bj"] == "2026-07-01 00:00:00"
    assert r["entries"] == [
        [3, "restore", "恢复", "2026-07-01 00:00:00", [{"field": "name", "before": "B", "after": "A"}], False],
        [2, "update", "修改", "2026-06-30 23:00:00", [{"field": "name", "before": "A", "after": "B"}], True]]


def test_closed_server_asks_for_login_first(chromium, make_offline_context, tmp_path):
    """KFQMAP_ANONYMOUS=none (an intranet system): the viewer opens on the login dialog, which cannot be dismissed,
    and loads the map once signed in; 退出 brings the dialog back."""
    srv = Server(tmp_path)
    srv.env["KFQMAP_ANONYMOUS"] = "none"
    srv.cli("users", "add", "reader", "--role", "viewer", "--password-stdin", stdin="只读-用户-2026\n")
    srv.start()
    context, log = make_offline_context(chromium)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(srv.url + "/", wait_until="load")
        dlg = page.locator("#dlg-login")
        dlg.wait_for()
        assert "本系统仅限登录用户使用" in dlg.inner_text()
        assert page.evaluate("document.body.dataset.mapReady") is None     # nothing is shown before the login
        page.keyboard.press("Escape")
        assert dlg.is_visible()
        login(page, "reader", "只读-用户-2026")
        page.wait_for_function("document.body.dataset.mapReady === '1'", timeout=60_000)
        assert page.locator("#user-role").inner_text() == "查看" and page.locator("#btn-edit").is_hidden()
        page.locator("#btn-logout").click()
        page.wait_for_selector("#dlg-login .login-required", state="visible")
        assert not errors, errors
    finally:
        context.close()
        srv.stop()


def test_edit_under_the_gcj02_basemap(chromium, make_offline_context, server):
    """Under 高德 the map is in GCJ-02: the feature is read with crs=GCJ-02 and written with Content-Crs: GCJ-02, so
    a dragged vertex lands where it was dropped and the other vertices stay where they were (not ~500 m off)."""
    lon, lat = free_spot(server)
    lon += 0.0017
    editor = Session(server.url, EDITOR, EDITOR_PW)
    geom = square(lon, lat)
    status, _, _ = editor.request("POST", f"/collections/{LAYER}/items", {"type": "Feature", "geometry": geom, "properties": {"id": "DX-T06", "name": "高德底图下编辑"}})
    assert status == 201
    context, page = open_viewer(chromium, make_offline_context, server, lon - 0.0017, lat)
    try:
        login(page, EDITOR, EDITOR_PW)
        page.locator('input[name=basemap][value=amap]').check()
        page.wait_for_function("location.hash.includes('base=amap')")
        page.wait_for_timeout(1500)
        wait_idle(page)
        gcj, _ = server.get(f"/collections/{LAYER}/items/DX-T06?f=json&crs=GCJ-02")
        ring = gcj["geometry"]["coordinates"][0]
        page.locator("#btn-edit").click()
        with page.expect_response(lambda r: "/items/DX-T06" in r.url and "crs=GCJ-02" in r.url) as read:
            page.mouse.click(*screen(page, (ring[0][0] + ring[2][0]) / 2, (ring[0][1] + ring[2][1]) / 2))
        assert read.value.headers.get("etag")
        page.wait_for_function("document.querySelector('#edit-title').textContent.includes('DX-T06')")
        x, y = screen(page, *ring[2])
        vertex_drag(page, (x, y), (x + 40, y))
        with page.expect_response(lambda r: r.request.method == "PATCH" and "/items/DX-T06" in r.url) as resp:
            page.locator("#edit-save").click()
        assert resp.value.status == 200 and resp.value.request.headers.get("content-crs") == "<GCJ-02>"
        saved, _ = server.get(f"/collections/{LAYER}/items/DX-T06?f=json")
        new, old = saved["geometry"]["coordinates"][0], geom["coordinates"][0]
        for i in (0, 1, 3):
            assert metres(new[i], old[i]) < 1.0, (i, new[i], old[i])
        assert 10 < metres(new[2], old[2]) < 60 and abs(new[2][1] - old[2][1]) < 2e-5
        assert not page.errors, page.errors
    finally:
        context.close()


def test_expired_session_keeps_the_changes(chromium, make_offline_context, server):
    """The session ends while a planner edits (cookie gone): 保存 gets 401, the login dialog opens, the typed
    change is kept, and after signing in again 保存 sends it."""
    lon, lat = free_spot(server)
    lon += 0.0017
    editor = Session(server.url, EDITOR, EDITOR_PW)
    status, _, _ = editor.request("POST", f"/collections/{LAYER}/items", {"type": "Feature", "geometry": square(lon, lat), "properties": {"id": "DX-T07", "name": "会话过期"}})
    assert status == 201
    context, page = open_viewer(chromium, make_offline_context, server, lon - 0.0017, lat)
    try:
        login(page, EDITOR, EDITOR_PW)
        page.locator("#btn-edit").click()
        page.mouse.click(*screen(page, lon, lat))
        page.wait_for_function("document.querySelector('#edit-title').textContent.includes('DX-T07')")
        page.locator("#ef-current_use").fill("工业厂房")
        page.context.clear_cookies()
        with page.expect_response(lambda r: r.request.method == "PATCH" and "/items/DX-T07" in r.url) as resp:
            page.locator("#edit-save").click()
        assert resp.value.status == 401
        page.wait_for_selector("#dlg-login", state="visible")
        assert "登录已过期" in page.locator("#edit-message").inner_text()
        login(page, EDITOR, EDITOR_PW)
        assert page.locator("#ef-current_use").input_value() == "工业厂房"
        with page.expect_response(lambda r: r.request.method == "PATCH" and "/items/DX-T07" in r.url) as resp:
            page.locator("#edit-save").click()
        assert resp.value.status == 200
        assert server.get(f"/collections/{LAYER}/items/DX-T07?f=json")[0]["properties"]["current_use"] == "工业厂房"
        assert not page.errors, page.errors
    finally:
        context.close()


def test_admin_draws_a_point_and_a_line(chromium, make_offline_context, server):
    """新建点 / 新建线 follow the layer's geometry type: one click places a point (key_projects); clicks and a
    double-click make a line (roads); both are saved as drawn."""
    lon, lat = free_spot(server)
    lon += 0.0017
    context, page = open_viewer(chromium, make_offline_context, server, lon - 0.0017, lat)
    try:
        login(page, ADMIN, ADMIN_PW)
        page.locator("#btn-edit").click()
        page.locator("#edit-layer").select_option("key_projects")
        assert page.locator("#edit-new").inner_text() == "新建点"
        page.locator("#edit-new").click()
        page.wait_for_function("document.querySelector('#draw-hint').textContent.includes('单击地图放置新点')")
        page.mouse.click(*screen(page, lon, lat))
        page.wait_for_selector("#ef-name")
        page.locator("#ef-name").fill("测试重点项目")
        with page.expect_response(lambda r: r.request.method == "POST" and "/collections/key_projects/items" in r.url) as resp:
            page.locator("#edit-save").click()
        assert resp.value.status == 201
        point = resp.value.json()
        assert point["geometry"]["type"] == "Point" and metres(point["geometry"]["coordinates"], (lon, lat)) < 3
        assert re.fullmatch(r"key_projects-\d+", point["id"]) or point["id"]          # numbered by the server

        page.locator("#edit-layer").select_option("roads")
        assert page.locator("#edit-new").inner_text() == "新建线"
        page.locator("#edit-new").click()
        page.wait_for_function("document.querySelector('#draw-hint').textContent.includes('双击结束')")
        pts = [(lon - 0.001, lat + 0.001), (lon, lat + 0.0015), (lon + 0.001, lat + 0.001)]
        for p in pts[:-1]:
            page.mouse.click(*screen(page, *p))
        page.mouse.dblclick(*screen(page, *pts[-1]))
        page.wait_for_selector("#ef-name")
        page.locator("#ef-name").fill("测试道路")
        with page.expect_response(lambda r: r.request.method == "POST" and "/collections/roads/items" in r.url) as resp:
            page.locator("#edit-save").click()
        assert resp.value.status == 201, resp.value.text()
        line = resp.value.json()["geometry"]
        assert line["type"] in ("LineString", "MultiLineString")
        coords = line["coordinates"] if line["type"] == "LineString" else line["coordinates"][0]
        assert len(coords) == 3 and all(metres(c, p) < 3 for c, p in zip(coords, pts))
        assert not page.errors, page.errors
    finally:
        context.close()


def test_login_and_edit_under_the_content_security_policy(chromium, make_offline_context, server):
    """Without Playwright's CSP bypass: logging in, the edit panel, drawing, the form, saving, the confirm dialog
    and the history list raise no CSP violation (no inline script or style attribute is needed)."""
    from .test_browser_viewer import CSP_WATCH

    lon, lat = free_spot(server)
    context, log = make_offline_context(chromium, viewport={"width": 1366, "height": 768}, bypass_csp=False)
    page = context.new_page()
    page.add_init_script(CSP_WATCH)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "Content Security Policy" in m.text else None)

    def until(js, timeout_s=30):
        for _ in range(int(timeout_s * 10)):     # polled from Python: wait_for_function needs eval
            if page.evaluate(f"() => {js}"):
                return
            page.wait_for_timeout(100)
        page.screenshot(path=str(REPO / "test-artifacts" / "viewer-edit-csp-timeout.png"))
        pops = page.evaluate("() => [...document.querySelectorAll('.pop')].map((p) => p.dataset.feature)")
        raise AssertionError(f"timed out: {js}; popups: {pops}")

    try:
        page.goto(f"{server.url}/#map=16/{lat}/{lon + 0.0017}&layers={LAYER}", wait_until="load")
        until("document.body.dataset.mapReady === '1'", 60)
        page.locator("#btn-login").click()
        page.locator("#dlg-login input[name=username]").fill(EDITOR)
        page.locator("#dlg-login input[name=password]").fill(EDITOR_PW)
        page.locator("#btn-login-go").click()
        until("document.body.dataset.role === 'editor'")
        page.locator("#btn-edit").click()
        page.locator("#edit-new").click()
        until("document.querySelector('#draw-hint').textContent.includes('单击添加顶点')")
        d = 0.0008
        pts = [(lon + 0.0017 - d, lat - d), (lon + 0.0017 + d, lat - d), (lon + 0.0017, lat + d)]
        for p in pts:
            page.mouse.click(*screen(page, *p))
        page.mouse.click(*screen(page, *pts[0]))
        until("!!document.querySelector('#ef-name')")
        page.locator("#ef-id").fill("DX-CSP")
        page.locator("#ef-name").fill("安全策略测试")
        page.locator("#edit-save").click()
        until("document.querySelector('#edit-message').textContent.includes('已新建要素')")
        page.locator("#edit-delete").click()
        page.locator("#dlg-confirm button[value=cancel]").click()
        page.locator("#edit-close").click()
        for _ in range(10):          # until the refreshed tiles draw the new feature (a popup can take a while)
            page.mouse.click(*screen(page, lon + 0.0017, lat - d / 2))
            for _ in range(30):
                page.wait_for_timeout(200)
                if page.evaluate("() => !!document.querySelector('.pop[data-feature]')"):
                    break
            if page.evaluate("() => !!document.querySelector('.pop[data-feature=\"DX-CSP\"]')"):
                break
        until("!!document.querySelector('.pop[data-feature=\"DX-CSP\"]')")
        page.locator("#btn-history").click()
        until("document.querySelectorAll('.history-entry').length === 1")
        assert page.evaluate("window.__cspViolations") == []
        assert errors == []
    finally:
        context.close()


def test_merge_two_neighbouring_parcels(chromium, make_offline_context, server):
    """合并: two parcels sharing an edge become one (their union, computed by the server's repair) in one
    transaction; the absorbed one is deleted; both changes are in the history with the merge note."""
    lon, lat = free_spot(server)
    lon += 0.0017
    editor = Session(server.url, EDITOR, EDITOR_PW)
    d = 0.0004
    west = {"type": "Polygon", "coordinates": [[[lon - 2 * d, lat - d], [lon, lat - d], [lon, lat + d], [lon - 2 * d, lat + d], [lon - 2 * d, lat - d]]]}
    east = {"type": "Polygon", "coordinates": [[[lon, lat - d], [lon + 2 * d, lat - d], [lon + 2 * d, lat + d], [lon, lat + d], [lon, lat - d]]]}
    for fid, geom in (("DX-M1", west), ("DX-M2", east)):
        status, body, _ = editor.request("POST", f"/collections/{LAYER}/items", {"type": "Feature", "geometry": geom, "properties": {"id": fid, "name": f"合并{fid}", "status": "未启动"}})
        assert status == 201, body
    context, page = open_viewer(chromium, make_offline_context, server, lon - 0.0008, lat, zoom=17)
    try:
        login(page, EDITOR, EDITOR_PW)
        page.locator("#btn-edit").click()
        page.mouse.click(*screen(page, lon - d, lat))
        page.wait_for_function("document.querySelector('#edit-title').textContent.includes('DX-M1')")
        page.locator("#edit-merge").click()
        page.mouse.click(*screen(page, lon + d, lat))
        dlg = page.locator("#dlg-confirm")
        dlg.wait_for()
        assert "将“合并DX-M2”并入“合并DX-M1”" in dlg.inner_text()
        with page.expect_response(lambda r: "/transactions" in r.url) as resp:
            dlg.locator("#btn-confirm-ok").click()
        assert resp.value.status == 200, resp.value.text()
        page.wait_for_function("document.querySelector('#edit-message').textContent.includes('已合并')")
        merged, _ = server.get(f"/collections/{LAYER}/items/DX-M1?f=json")
        union = shape(west).union(shape(east))
        assert merged["geometry"]["type"] == "Polygon"
        assert shape(merged["geometry"]).symmetric_difference(union).area < 1e-3 * union.area   # coordinates kept to 1e-7°
        with pytest.raises(urllib.error.HTTPError):
            server.get(f"/collections/{LAYER}/items/DX-M2?f=json")
        _, h1, _ = editor.request("GET", f"/collections/{LAYER}/items/DX-M1/history")
        _, h2, _ = editor.request("GET", f"/collections/{LAYER}/items/DX-M2/history")
        assert h1["changes"][0]["op"] == "update" and h2["changes"][0]["op"] == "delete"
        assert h1["changes"][0]["note"] == h2["changes"][0]["note"] == "合并：合并DX-M2（DX-M2）并入 DX-M1"
        assert not page.errors, page.errors
    finally:
        context.close()


def test_signed_in_queries_carry_the_csrf_token(chromium, make_offline_context, server):
    """Signed in, the viewer's other POSTs (a drawn-polygon query) carry X-CSRF-Token too: the server refuses a
    state-changing request made with the session cookie but without it."""
    lon, lat = free_spot(server)
    context, page = open_viewer(chromium, make_offline_context, server, lon + 0.0017, lat)
    try:
        login(page, EDITOR, EDITOR_PW)
        page.locator('.toolbar .tool[data-tool="polygon"]').click()
        pts = [(lon + 0.0005, lat - 0.001), (lon + 0.003, lat - 0.001), (lon + 0.002, lat + 0.001)]
        for p in pts[:-1]:
            page.mouse.click(*screen(page, *p))
        with page.expect_response(lambda r: "/query/geometry" in r.url) as resp:
            page.mouse.dblclick(*screen(page, *pts[-1]))
        assert resp.value.status == 200, resp.value.text()
        assert resp.value.request.headers.get("x-csrf-token")
        assert not page.errors, page.errors
    finally:
        context.close()
