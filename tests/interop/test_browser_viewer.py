"""The planners' viewer in a real browser: Debian's headless Chromium (swiftshader WebGL) driven by Playwright,
against a live KFQMap server on 127.0.0.1. Every request is recorded; any request leaving 127.0.0.1 is aborted
and fails the test. Screenshots of the main states go to ``test-artifacts/`` (look at them).
"""
from __future__ import annotations

import io
import re

import numpy as np
import pytest
import shapely
from shapely.geometry import box

from server.testing import live_server  # noqa: F401  (session-scoped fixture)

pytestmark = [pytest.mark.browser, pytest.mark.interop]

LAPTOP = {"width": 1366, "height": 768}
WALL = {"width": 2560, "height": 1440}
PLAN_GROUPS = ["两轴三带", "两核多园", "一带四园", "更新地块", "低效用地", "背景"]

WAIT_IDLE = """() => new Promise((resolve) => {
  const m = window.kfqMap; let done = false;
  const fin = () => { if (!done) { done = true; resolve(true); } };
  m.once('idle', fin); m.triggerRepaint();
  const poll = () => { if (done) return; if (m.loaded() && m.areTilesLoaded() && !m.isMoving()) fin(); else setTimeout(poll, 250); };
  setTimeout(poll, 1500);
})"""


def wait_idle(page):
    page.evaluate(WAIT_IDLE)


def map_image(page) -> np.ndarray:
    from PIL import Image
    png = page.locator("#map canvas").screenshot()
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def changed_fraction(a: np.ndarray, b: np.ndarray) -> float:
    return float((np.abs(a - b).sum(axis=2) > 30).mean())


def to_screen(page, lon: float, lat: float) -> tuple[float, float]:
    """Page coordinates of a lon/lat on the map."""
    p = page.evaluate("([lon, lat]) => { const pt = window.kfqMap.project([lon, lat]); const r = window.kfqMap.getCanvas().getBoundingClientRect(); return [pt.x + r.left, pt.y + r.top]; }", [lon, lat])
    return p[0], p[1]


def fit(page, bounds, padding=60):
    page.evaluate("([b, p]) => window.kfqMap.fitBounds([[b[0], b[1]], [b[2], b[3]]], {padding: p, duration: 0})", [list(bounds), padding])
    wait_idle(page)


@pytest.fixture(scope="module")
def make_offline_context(make_offline_context):
    """The conftest's offline contexts with ``bypass_csp``: Playwright's ``wait_for_function`` evaluates its
    predicate with ``eval``, which the viewer's CSP forbids. The CSP itself is tested, without the bypass, in
    ``test_viewer_runs_under_its_content_security_policy``."""
    def make(browser, **kwargs):
        kwargs.setdefault("bypass_csp", True)
        return make_offline_context(browser, **kwargs)
    return make


def open_viewer(make_context, browser, url, viewport=LAPTOP, console=None, hash_=""):
    context, log = make_context(browser, viewport=viewport)
    page = context.new_page()
    if console is not None:
        console(page)
    page.goto(url + "/" + hash_, wait_until="load")
    page.wait_for_function("document.body.dataset.mapReady === '1'", timeout=60_000)
    wait_idle(page)
    return context, page, log


@pytest.fixture(scope="module")
def viewer(chromium, live_server, make_offline_context):
    errors: list[str] = []

    def watch(page):
        page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))

    context, page, log = open_viewer(make_offline_context, chromium, live_server.url, console=watch)
    page.errors = errors
    page.log = log
    yield page
    context.close()


def outside_other_features(catalog, layer_id: str, fid: str):
    """A point inside feature ``fid`` that no other plan feature covers (so a click there hits only it)."""
    target = catalog.read(layer_id).loc[fid].geometry
    others = []
    for layer in catalog.layers:
        if not layer.is_spatial or layer.group in ("背景", "指标", "额外"):
            continue
        frame = catalog.read(layer.id)
        if layer.id == layer_id:
            frame = frame[frame.index != fid]
        geoms = frame.geometry.dropna()
        if layer.is_polygonal:
            others.extend(geoms)
        else:
            others.extend(shapely.buffer(np.asarray(geoms.values, dtype=object), 0.0025))  # ~250 m: markers, labels
    free = target.difference(shapely.union_all(others)) if others else target
    if free.is_empty:
        free = target
    # the biggest free piece, shrunk a little so the click is not on an outline
    pieces = getattr(free, "geoms", [free])
    piece = max(pieces, key=lambda g: g.area)
    inner = piece.buffer(-0.0008)
    return (inner if not inner.is_empty else piece).representative_point()


# ---------------------------------------------------------------------------- the page
def test_loads_offline_without_errors(viewer, artifacts):
    page = viewer
    page.screenshot(path=str(artifacts / "viewer-1366x768.png"))
    assert not page.errors, page.errors
    assert page.log.urls, "no request recorded"
    assert not page.log.blocked, f"requests left 127.0.0.1: {page.log.blocked[:5]}"
    assert all(re.match(r"^(http://127\.0\.0\.1:\d+/|data:|blob:)", u) for u in page.log.urls), page.log.urls
    assert any("/vendor/maplibre-gl/maplibre-gl.js" in u for u in page.log.urls)
    assert any("/styles/plan.json" in u for u in page.log.urls)


CSP_WATCH = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__cspViolations.push(`${e.violatedDirective}: ${e.blockedURI}`));
"""


def test_viewer_runs_under_its_content_security_policy(chromium, live_server, make_offline_context):
    """The server sends a CSP without 'unsafe-inline' scripts; the viewer (MapLibre worker from blob:, tiles,
    style, panels, a popup) loads and draws under it with no violation reported and no CSP console error."""
    context, log = make_offline_context(chromium, viewport=LAPTOP, bypass_csp=False)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.add_init_script(CSP_WATCH)
    try:
        response = page.goto(live_server.url + "/", wait_until="load")
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp and "frame-ancestors 'none'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        for _ in range(600):     # polled from Python: wait_for_function would need eval, which the CSP forbids
            if page.evaluate("() => document.body.dataset.mapReady === '1'"):
                break
            page.wait_for_timeout(100)
        assert page.evaluate("() => document.body.dataset.mapReady") == "1"
        wait_idle(page)
        page.locator("#search-input").fill("青阳港")
        page.wait_for_timeout(800)
        violations = page.evaluate("window.__cspViolations")
        assert violations == [], violations
        assert not [e for e in errors if "Content Security Policy" in e], errors
    finally:
        context.close()


def test_map_canvas_is_not_blank(viewer):
    img = map_image(viewer)
    colours = len(np.unique(img.reshape(-1, 3) // 8, axis=0))
    background = np.median(img.reshape(-1, 3), axis=0)
    drawn = float((np.abs(img - background).sum(axis=2) > 40).mean())
    assert colours > 30, f"only {colours} distinct colours: blank map?"
    assert drawn > 0.03, f"only {drawn:.1%} of the map differs from the background"


def test_layer_panel_is_chinese_and_grouped(viewer):
    text = viewer.locator("#layer-groups").inner_text()
    for group in PLAN_GROUPS:
        assert group in text
    assert len(re.findall(r"[\u4e00-\u9fff]", text)) > 50
    assert viewer.locator(".badge.schematic").count() > 0        # 示意 ± accuracy
    assert "示意" in text and "示例" in text
    assert viewer.locator("#layer-groups svg.swatch").count() >= 10


def test_toggling_a_layer_changes_pixels(viewer, live_server, artifacts):
    page = viewer
    parks = live_server.catalog.read("parks")
    fit(page, parks.total_bounds)
    before = map_image(page)
    page.locator('input[data-layer="parks"]').uncheck()
    wait_idle(page)
    after = map_image(page)
    page.screenshot(path=str(artifacts / "viewer-parks-off.png"))
    assert changed_fraction(before, after) > 0.01
    assert "parks" not in re.search(r"layers=([^&]*)", page.url).group(1).split(",")
    page.locator('input[data-layer="parks"]').check()
    wait_idle(page)
    assert changed_fraction(before, map_image(page)) < 0.01
    # opacity slider
    slider = page.locator('li[data-layer="parks"] input[type=range]')
    slider.fill("20")
    wait_idle(page)
    assert changed_fraction(before, map_image(page)) > 0.005
    slider.fill("100")
    wait_idle(page)


def test_click_feature_opens_chinese_popup(viewer, live_server, artifacts):
    page = viewer
    catalog = live_server.catalog
    cores = catalog.read("cores")
    fid = cores.index[0]
    name = cores.loc[fid, "name"]
    fit(page, cores.loc[[fid]].total_bounds, padding=120)
    pt = outside_other_features(catalog, "cores", fid)
    x, y = to_screen(page, pt.x, pt.y)
    page.mouse.click(x, y)
    popup = page.locator(".maplibregl-popup .pop h3")
    popup.wait_for(timeout=15_000)
    for _ in range(8):
        if popup.inner_text() == name:
            break
        page.locator(".maplibregl-popup .pager button").last.click()
        page.wait_for_timeout(300)
    assert popup.inner_text() == name
    body = page.locator(".maplibregl-popup .pop").inner_text()
    assert "两核多园" in body and "规划章节" in body
    assert re.search(r"[\d,.]+ 亩 · [\d,.]+ 公顷", body), body
    assert "sel=cores/" in page.url
    wait_idle(page)
    page.screenshot(path=str(artifacts / "viewer-popup.png"))
    page.locator(".maplibregl-popup-close-button").click()


def test_stats_panel_shows_the_5000_mu_target(viewer, artifacts):
    page = viewer
    page.locator('.tab[data-tab="stats"]').click()
    target = page.locator("#progress-target")
    target.wait_for(timeout=15_000)
    assert target.inner_text().replace(",", "") == "5000"
    text = page.locator("#tab-stats").inner_text()
    assert "亩" in text and "已完成" in text
    page.locator("#stat-groups .bars").wait_for(timeout=15_000)
    page.locator("#stat-parks .bars").wait_for(timeout=15_000)
    page.locator('.tab[data-tab="indicators"]').click()
    page.locator("#tab-indicators .ind-row").first.wait_for(timeout=15_000)
    assert page.locator("#tab-indicators .ind-row").count() >= 20
    page.screenshot(path=str(artifacts / "viewer-indicators.png"))
    page.locator('.tab[data-tab="stats"]').click()


def test_draw_polygon_over_a_park_returns_it_with_its_area(viewer, live_server, artifacts):
    page = viewer
    parks = live_server.catalog.read("parks")
    fid = parks.index[0]
    name = parks.loc[fid, "name"]
    minx, miny, maxx, maxy = parks.loc[fid].geometry.bounds
    pad = 0.002
    fit(page, (minx - 3 * pad, miny - 3 * pad, maxx + 3 * pad, maxy + 3 * pad), padding=40)
    ring = [(minx - pad, miny - pad), (maxx + pad, miny - pad), (maxx + pad, maxy + pad), (minx - pad, maxy + pad)]
    page.locator('.tool[data-tool="polygon"]').click()
    points = [to_screen(page, lon, lat) for lon, lat in ring]
    for x, y in points[:-1]:
        page.mouse.click(x, y)
        page.wait_for_timeout(150)
    page.mouse.dblclick(*points[-1])
    page.locator("#result-summary").wait_for(timeout=20_000)
    row = page.locator(f'#tab-results tr[data-layer="parks"][data-feature="{fid}"]')
    row.wait_for(timeout=10_000)
    cells = row.locator("td").all_inner_texts()
    assert cells[0] == name
    area, inter = (float(c.replace(",", "")) for c in cells[1:3])
    assert area > 0
    assert inter == pytest.approx(area, rel=0.01)        # the drawn box covers the whole park
    wait_idle(page)
    page.screenshot(path=str(artifacts / "viewer-polygon-query.png"))


def test_draw_circle_returns_features_with_intersection_areas(viewer, live_server):
    page = viewer
    parks = live_server.catalog.read("parks")
    fid = parks.index[0]
    centre = parks.loc[fid].geometry.representative_point()
    page.locator('.tool[data-tool="circle"]').click()
    x, y = to_screen(page, centre.x, centre.y)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 30, y, steps=4)
    page.mouse.move(x + 60, y, steps=4)
    page.mouse.up()
    page.wait_for_function("document.querySelector('#result-summary')?.textContent.includes('圆形范围')", timeout=20_000)
    row = page.locator(f'#tab-results tr[data-layer="parks"][data-feature="{fid}"]')
    row.wait_for(timeout=10_000)
    area, inter = (float(c.replace(",", "")) for c in row.locator("td").all_inner_texts()[1:3])
    assert 0 < inter < area
    page.locator('.tool[data-tool="select"]').click()


def test_export_button_downloads_a_file_gdal_opens(viewer, tmp_path):
    pyogrio = pytest.importorskip("pyogrio")
    page = viewer
    page.locator("#btn-export").click()
    dialog = page.locator("#dlg-export")
    dialog.locator('input[name=scope][value=selection]').check()
    dialog.locator("select[name=format]").select_option("gpkg")
    dialog.locator("select[name=crs]").select_option("EPSG:4549")
    with page.expect_download(timeout=60_000) as dl:
        dialog.locator("#btn-export-go").click()
    target = tmp_path / "export.gpkg"
    dl.value.save_as(target)
    layers = pyogrio.list_layers(target)
    assert len(layers) >= 1
    names = [str(n) for n in layers[:, 0]]
    assert "parks" in names
    frame = pyogrio.read_dataframe(target, layer="parks")
    assert len(frame) >= 1 and frame.crs.to_epsg() == 4549


def test_point_query_and_near_query(viewer, live_server):
    page = viewer
    catalog = live_server.catalog
    cores = catalog.read("cores")
    fid = cores.index[0]
    fit(page, cores.loc[[fid]].total_bounds, padding=120)
    pt = outside_other_features(catalog, "cores", fid)
    page.locator('.tool[data-tool="point"]').click()
    page.mouse.click(*to_screen(page, pt.x, pt.y))
    page.locator(f'#tab-results tr[data-layer="cores"][data-feature="{fid}"]').wait_for(timeout=15_000)
    # within 1000 m of an S1 station: key projects, with distances
    page.locator("#btn-near").click()
    dialog = page.locator("#dlg-near")
    page.wait_for_function("document.querySelectorAll('#near-target option').length > 2", timeout=15_000)
    dialog.locator("#near-layer").select_option("key_projects")
    dialog.locator("#near-target").select_option("s1_stations:")
    dialog.locator("input[name=distance]").fill("1000")
    dialog.locator("button[value=ok]").click()
    page.wait_for_function("document.querySelector('#result-summary')?.textContent.includes('1,000 米')", timeout=15_000)
    expected = catalog.read("key_projects")
    stations = catalog.read("s1_stations").to_crs(4549).union_all()
    near = expected[expected.to_crs(4549).distance(stations) <= 1000]
    rows = page.locator('#tab-results tr[data-layer="key_projects"]')
    assert rows.count() == len(near) > 0
    assert "米" in rows.first.locator("td").last.inner_text()


def test_measure_distance(viewer):
    page = viewer
    page.evaluate("() => window.kfqMap.jumpTo({center: [121.0, 31.36], zoom: 14})")
    wait_idle(page)
    page.locator('.tool[data-tool="measure-line"]').click()
    a = to_screen(page, 121.0, 31.36)
    b = to_screen(page, 121.01, 31.36)
    page.mouse.click(*a)
    page.mouse.dblclick(*b)
    text = page.locator("#measure-box").inner_text()
    metres = float(re.search(r"([\d,.]+) 米", text).group(1).replace(",", ""))
    assert metres == pytest.approx(951, rel=0.01)      # 0.01° of longitude at 31.36°N
    page.keyboard.press("Escape")
    page.locator('.tool[data-tool="select"]').click()


def test_search_zooms_to_a_chinese_name(viewer, live_server):
    page = viewer
    page.locator("#btn-clear").click()
    page.locator('.tool[data-tool="select"]').click()
    cores = live_server.catalog.read("cores")
    name = cores.iloc[-1]["name"]
    page.locator("#search-input").fill(name[:3])
    item = page.locator(f'#search-results li[data-layer="cores"][data-feature="{cores.index[-1]}"]')
    item.wait_for(timeout=10_000)
    item.click()
    page.wait_for_function("location.hash.includes('sel=cores/')")
    # the hash changes before the feature is fetched and fitBounds starts: under load the map could still be
    # idle at the old view when wait_idle ran, so wait for the camera to arrive (then settle)
    bounds = cores.iloc[-1].geometry.buffer(0.01).bounds
    page.wait_for_function("([a, b, c, d]) => { const [x, y] = window.kfqMap.getCenter().toArray();"
                           " return x >= a && x <= c && y >= b && y <= d; }", arg=list(bounds), timeout=20_000)
    wait_idle(page)
    lon, lat = page.evaluate("() => window.kfqMap.getCenter().toArray()")
    assert box(*bounds).contains(shapely.Point(lon, lat))


def test_png_of_the_view_has_title_and_legend(viewer, artifacts):
    from PIL import Image
    page = viewer
    with page.expect_download(timeout=60_000) as dl:
        page.locator("#btn-png").click()
    path = artifacts / "viewer-export.png"
    dl.value.save_as(path)
    img = Image.open(path)
    assert img.width >= 600 and img.height >= 400
    arr = np.asarray(img.convert("RGB")).astype(int)
    # the blue title band at the top
    assert abs(arr[5, 5] - np.array([0x1d, 0x4e, 0x89])).sum() < 30
    assert len(np.unique(arr.reshape(-1, 3) // 8, axis=0)) > 30


def test_no_errors_and_no_outside_requests_after_interaction(viewer):
    assert not viewer.errors, viewer.errors
    assert not viewer.log.blocked, viewer.log.blocked[:5]


# ---------------------------------------------------------------------------- links and screens
def test_url_hash_restores_the_view(chromium, live_server, make_offline_context):
    context, page, log = open_viewer(make_offline_context, chromium, live_server.url, hash_="#map=13.00/31.36000/121.00000&layers=cores,rivers")
    try:
        centre = page.evaluate("() => window.kfqMap.getCenter().toArray()")
        assert centre == pytest.approx([121.0, 31.36], abs=1e-4)
        assert page.evaluate("() => window.kfqMap.getZoom()") == pytest.approx(13.0, abs=0.01)
        assert page.locator('input[data-layer="cores"]').is_checked()
        assert not page.locator('input[data-layer="parks"]').is_checked()
        assert not log.blocked
    finally:
        context.close()


def test_wall_screen(chromium, live_server, artifacts, make_offline_context):
    context, page, log = open_viewer(make_offline_context, chromium, live_server.url, viewport=WALL)
    try:
        page.locator("#progress-target").wait_for(timeout=15_000)
        wait_idle(page)
        page.screenshot(path=str(artifacts / "viewer-wall-2560x1440.png"))
        # the UI scales up: panel text is bigger than on the laptop
        size = page.evaluate("() => parseFloat(getComputedStyle(document.body).fontSize)")
        assert size >= 18
        assert not log.blocked
    finally:
        context.close()


def test_online_basemap_only_when_switched_on_and_amap_overlays_in_gcj02(chromium, live_server, make_offline_context):
    context, page, log = open_viewer(make_offline_context, chromium, live_server.url)
    try:
        assert not log.blocked                                   # offline basemap: nothing outside 127.0.0.1
        centre = page.evaluate("() => window.kfqMap.getCenter().toArray()")
        page.locator('input[name=basemap][value=amap]').check()
        page.wait_for_function("location.hash.includes('base=amap')")
        page.wait_for_function("document.querySelectorAll('.layer-item').length > 0")
        page.wait_for_timeout(3000)
        assert log.blocked and all("autonavi.com" in u for u in log.blocked), log.blocked[:3]
        assert any("crs=GCJ-02" in u and "/collections/" in u for u in log.urls)
        sources = page.evaluate("() => Object.values(window.kfqMap.getStyle().sources).map((s) => s.type)")
        assert "vector" not in sources and "geojson" in sources
        shifted = page.evaluate("() => window.kfqMap.getCenter().toArray()")
        # the view stays on the same ground: GCJ-02 is ~+0.004° lon, ~-0.002° lat from WGS 84 in Kunshan
        assert 0.003 < shifted[0] - centre[0] < 0.006 and -0.004 < shifted[1] - centre[1] < -0.001
    finally:
        context.close()
