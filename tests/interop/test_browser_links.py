"""Issue 15, smaller tools: search finds plan groups and layers (一带四园, 多园) and a chosen feature opens its popup;
the permalink keeps opacity and the open popup; an unknown layer in a link gives a message, not a blank map;
measurements stay until cleared and can be exported; an unreachable online basemap is reported in the status bar."""
from __future__ import annotations

import json
import re

import pytest

from server.testing import live_server  # noqa: F401  (session-scoped fixture)

from .test_browser_viewer import open_viewer, to_screen, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.interop]


@pytest.fixture(scope="module")
def page(chromium, live_server, make_offline_context):
    context, page, log = open_viewer(make_offline_context, chromium, live_server.url)
    yield page
    context.close()


def test_search_finds_groups_and_layers(page, live_server):
    corridor = live_server.catalog.read("corridor_parks")
    page.locator('input[data-layer="corridor_parks"]').uncheck()
    page.evaluate("() => window.kfqMap.jumpTo({center: [120.8, 31.2], zoom: 14})")
    page.locator("#search-input").fill("一带四园")
    item = page.locator('#search-results li[data-kind="group"][data-group="一带四园"]')
    item.wait_for(timeout=10_000)
    item.click()
    page.wait_for_function("() => window.kfqApp.layers.visible.has('corridor_parks')")
    assert page.locator('input[data-layer="corridor_parks"]').is_checked()
    minx, miny, maxx, maxy = corridor.total_bounds
    page.wait_for_function("([a, b, c, d]) => { const m = window.kfqMap.getBounds();"
                           " return m.getWest() <= a && m.getSouth() <= b && m.getEast() >= c && m.getNorth() >= d; }",
                           arg=[minx, miny, maxx, maxy], timeout=15_000)
    page.locator("#search-input").fill("多园")
    page.locator('#search-results li[data-kind="layer"][data-layer="parks"]').wait_for(timeout=10_000)
    page.keyboard.press("Escape")


def test_choosing_a_search_result_opens_its_popup(page, live_server):
    cores = live_server.catalog.read("cores")
    fid = cores.index[-1]
    page.locator("#search-input").fill(cores.loc[fid, "name"])
    item = page.locator(f'#search-results li[data-layer="cores"][data-feature="{fid}"]')
    item.wait_for(timeout=10_000)
    item.click()
    page.locator(f'.maplibregl-popup .pop[data-feature="{fid}"]').wait_for(timeout=20_000)
    page.wait_for_function("location.hash.includes('pop=1')", timeout=10_000)
    assert f"sel=cores/{fid}" in page.url


def test_permalink_keeps_opacity_and_the_open_popup(chromium, live_server, make_offline_context):
    hash_ = "#map=12.00/31.36000/121.02000&layers=parks,cores&sel=parks/park_tienan&pop=1&op=parks:0.40"
    context, page, log = open_viewer(make_offline_context, chromium, live_server.url, hash_=hash_)
    try:
        page.locator('.maplibregl-popup .pop[data-feature="park_tienan"]').wait_for(timeout=20_000)
        assert page.locator('li[data-layer="parks"] input[type=range]').input_value() == "40"
        assert page.evaluate("() => window.kfqApp.layers.opacity.get('parks')") == pytest.approx(0.4)
        fill = page.evaluate("() => window.kfqMap.getPaintProperty('parks-fill', 'fill-opacity')")
        base = page.evaluate("() => window.kfqApp.layers.baseOpacity.get('parks-fill')['fill-opacity']")
        assert fill == pytest.approx(base * 0.4)
        page.wait_for_function("location.hash.includes('op=parks:0.40') && location.hash.includes('pop=1')")
        # changing the slider updates the link; closing the popup drops pop=1
        page.locator('li[data-layer="cores"] input[type=range]').fill("70")
        page.wait_for_function("location.hash.includes('cores:0.70')", timeout=5_000)
        page.locator(".maplibregl-popup-close-button").click()
        page.wait_for_function("!location.hash.includes('pop=1')", timeout=5_000)
    finally:
        context.close()


@pytest.mark.parametrize("layers,visible", [("nope,parks", ["parks"]), ("nope", None)])
def test_unknown_layer_in_a_link_gives_a_message(chromium, live_server, make_offline_context, layers, visible):
    context, page, log = open_viewer(make_offline_context, chromium, live_server.url,
                                     hash_=f"#map=12.00/31.36000/121.02000&layers={layers}")
    try:
        msg = page.locator("#status-msg").inner_text()
        assert "链接中的图层不存在" in msg and "nope" in msg
        shown = page.evaluate("() => window.kfqApp.layers.visibleIds()")
        if visible:
            assert shown == visible
        else:
            assert len(shown) > 5            # never a blank map: all layers instead
    finally:
        context.close()


def test_measurements_stay_until_cleared_and_export(page, tmp_path):
    page.keyboard.press("Escape")
    page.locator("#btn-clear").click()
    page.evaluate("() => window.kfqMap.jumpTo({center: [121.0, 31.36], zoom: 14})")
    wait_idle(page)
    page.locator('.tool[data-tool="measure-line"]').click()
    page.mouse.click(*to_screen(page, 121.0, 31.36))
    page.mouse.dblclick(*to_screen(page, 121.01, 31.36))
    page.locator('.tool[data-tool="measure-area"]').click()
    for lon, lat in [(121.0, 31.365), (121.005, 31.365), (121.005, 31.369)]:
        page.mouse.click(*to_screen(page, lon, lat))
        page.wait_for_timeout(150)
    page.mouse.dblclick(*to_screen(page, 121.0, 31.369))
    page.locator('.tool[data-tool="select"]').click()
    kept = page.evaluate("() => window.kfqApp.draw.measures.length")
    assert kept == 2
    labels = page.evaluate("() => window.kfqMap.querySourceFeatures('kfq-draw').filter((f) => f.properties.label).map((f) => f.properties.label)")
    assert any(re.search(r"米|公里", x) for x in labels) and any("亩" in x for x in labels)
    # the box is hidden when the tool changes, but the measurements are still there; measure again to get the buttons
    page.locator('.tool[data-tool="measure-line"]').click()
    page.mouse.click(*to_screen(page, 121.0, 31.355))
    page.mouse.dblclick(*to_screen(page, 121.002, 31.355))
    with page.expect_download(timeout=30_000) as dl:
        page.locator("#btn-measure-export").click()
    path = tmp_path / "m.geojson"
    dl.value.save_as(path)
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert len(doc["features"]) == 3
    line = doc["features"][0]["properties"]
    assert line["length_m"] == pytest.approx(951, rel=0.01)
    page.locator("#btn-measure-clear").click()
    assert page.evaluate("() => window.kfqApp.draw.measures.length") == 0
    page.keyboard.press("Escape")
    page.locator('.tool[data-tool="select"]').click()


def test_unreachable_online_basemap_is_reported(page):
    page.locator("#status-msg").evaluate("(el) => { el.textContent = '请先填写天地图密钥（tk）'; }")
    page.locator('input[name=basemap][value=osm]').check()
    page.wait_for_function("document.body.dataset.basemapError === 'osm'", timeout=30_000)
    msg = page.locator("#status-msg").inner_text()
    assert "OpenStreetMap无法加载" in msg and "天地图密钥" not in msg
    page.locator('input[name=basemap][value=offline]').check()
    page.wait_for_function("!document.querySelector('#status-msg').textContent.includes('无法加载')", timeout=10_000)
