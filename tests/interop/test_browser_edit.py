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
                urllib.request.urlopen(self.url + "/collections?f=json", timeout=2)
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


def open_viewer(chromium, make_offline_context, server, lon, lat, viewport=None):
    context, log = make_offline_context(chromium, viewport=viewport or {"width": 1366, "height": 768})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors
    page.goto(f"{server.url}/#map=16/{lat}/{lon}&layers={LAYER},etdz_extent", wait_until="load")
    page.wait_for_function("document.body.dataset.mapReady === '1'", timeout=60_000)
    wait_idle(page)
    return context, page


def screen(page, lon, lat):
    return tuple(page.evaluate("([lon, lat]) => { const p = window.kfqMap.project([lon, lat]); const r = window.kfqMap.getCanvas().getBoundingClientRect(); return [p.x + r.left, p.y + r.top]; }", [lon, lat]))


def login(page, user, password):
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

        feature, headers = server.get(f"/collections/{LAYER}/items/DX-T01?f=json")
        assert feature["properties"]["name"] == "测试地块甲" and feature["properties"]["status"] == "已完成"
        assert feature["properties"]["year"] == 2024
        ring = feature["geometry"]["coordinates"][0]
        assert len(ring) == 5 and ring[0] == ring[-1]
        for (x, y), (cx, cy) in zip(ring[:4], corners):
            assert abs(x - cx) < 2e-5 and abs(y - cy) < 2e-5    # where it was clicked (a pixel at z16 is ~2 m)

        # counted in the statistics panel: 已完成 grows by the parcel's area (the server's figure, shown rounded)
        done_after = progress_done(server)
        assert done_after - done_before == pytest.approx(area_mu(feature["geometry"]), abs=0.5)
        page.wait_for_function(f"document.querySelector('#progress-done') && document.querySelector('#progress-done').textContent.replace(/,/g, '') === '{round(done_after)}'", timeout=15_000)
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
        page.wait_for_function(f"document.querySelector('#progress-done').textContent.replace(/,/g, '') === '{round(progress_done(server))}'", timeout=15_000)
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
