"""Issue 15, coordinates: the readout under the cursor in CGCS2000 geographic, EPSG:4549 (X northing / Y easting as
Chinese surveying writes them), WGS 84 and GCJ-02, checked against pyproj and kfqmap.crs; 坐标定位 from a typed
coordinate in each system; copying the coordinates of a clicked point. proj4js comes from /vendor/proj4/."""
from __future__ import annotations

import json
import re

import pytest
from pyproj import Transformer

from kfqmap.crs import wgs84_to_gcj02
from server.testing import live_server  # noqa: F401  (session-scoped fixture)

from .test_browser_viewer import open_viewer, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.interop]

TO_4549 = Transformer.from_crs(4326, 4549, always_xy=True)
TO_4490 = Transformer.from_crs(4326, 4490, always_xy=True)


@pytest.fixture(scope="module")
def page(chromium, live_server, make_offline_context):
    context, page, log = open_viewer(make_offline_context, chromium, live_server.url)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.log = log
    yield page
    assert not log.blocked, log.blocked[:5]
    assert any("/vendor/proj4/proj4.js" in u for u in log.urls)
    context.close()


def readout(page, system: str, x: float, y: float):
    page.locator("#coord-system").select_option(system)
    page.mouse.move(x, y)
    page.mouse.move(x + 1, y)
    page.mouse.move(x, y)
    page.wait_for_function("document.querySelector('#status-coords').dataset.wgs !== undefined")
    el = page.locator("#status-coords")
    return el.inner_text(), json.loads(el.get_attribute("data-wgs"))


@pytest.mark.parametrize("fx,fy", [(0.5, 0.5), (0.2, 0.8), (0.85, 0.15)])
def test_readout_matches_pyproj(page, fx, fy):
    box = page.locator("#map").bounding_box()
    x, y = round(box["x"] + box["width"] * fx), round(box["y"] + box["height"] * fy)   # whole pixels, as mouse events report
    text, (lon, lat) = readout(page, "gk4549", x, y)
    # the cursor's lon/lat is the map's own
    ulon, ulat = page.evaluate("([x, y]) => { const r = window.kfqMap.getCanvas().getBoundingClientRect();"
                               " return window.kfqMap.unproject([x - r.left, y - r.top]).toArray(); }", [x, y])
    assert (lon, lat) == pytest.approx((ulon, ulat), abs=1e-6)
    m = re.search(r"EPSG:4549\s+X=([\d.]+) Y=([\d.]+)", text)
    assert m, text
    east, north = TO_4549.transform(lon, lat)
    assert float(m.group(1)) == pytest.approx(north, abs=0.011)        # X is the northing (≈ 3.47e6 m here)
    assert float(m.group(2)) == pytest.approx(east, abs=0.011)         # Y the easting (≈ 5.9e5 m, 500 km false E)
    assert float(m.group(1)) > 3_000_000 and 400_000 < float(m.group(2)) < 700_000

    text, (lon, lat) = readout(page, "cgcs2000", x, y)
    m = re.search(r"CGCS2000\s+([\d.]+)°E ([\d.]+)°N", text)
    clon, clat = TO_4490.transform(lon, lat)
    assert (float(m.group(1)), float(m.group(2))) == pytest.approx((clon, clat), abs=1.1e-6)

    text, (lon, lat) = readout(page, "gcj02", x, y)
    m = re.search(r"GCJ-02\s+([\d.]+)°E ([\d.]+)°N", text)
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert (float(m.group(1)), float(m.group(2))) == pytest.approx((float(glon), float(glat)), abs=1.1e-6)
    assert abs(float(m.group(1)) - lon) > 0.003                        # the GCJ-02 shift is really applied

    text, (lon, lat) = readout(page, "wgs84", x, y)
    m = re.search(r"WGS 84\s+([\d.]+)°E ([\d.]+)°N", text)
    assert (float(m.group(1)), float(m.group(2))) == pytest.approx((lon, lat), abs=1.1e-6)


@pytest.mark.parametrize("system", ["gk4549", "cgcs2000", "wgs84", "gcj02"])
def test_goto_a_typed_coordinate(page, system):
    target = (121.0123, 31.3712)
    if system == "gk4549":
        e, n = TO_4549.transform(*target)
        typed = f"X={n:.3f} Y={e:.3f}"
    elif system == "gcj02":
        g = wgs84_to_gcj02(*target)
        typed = f"{float(g[0]):.8f}, {float(g[1]):.8f}"
    else:
        typed = f"{target[1]}, {target[0]}"           # lat first: the parser tells them apart
    page.locator("#btn-goto").click()
    dlg = page.locator("#dlg-goto")
    dlg.locator("select[name=system]").select_option(system)
    dlg.locator("input[name=coords]").fill(typed)
    dlg.locator("#btn-goto-go").click()
    page.locator(".coords-pop").wait_for(timeout=10_000)
    centre = page.evaluate("() => window.kfqMap.getCenter().toArray()")
    assert centre == pytest.approx(list(target), abs=2e-6)
    assert page.locator(".maplibregl-marker").count() == 1
    # the popup lists the point in EPSG:4549 as pyproj computes it
    e, n = TO_4549.transform(*target)
    cell = page.locator('.coords-pop tr[data-system="gk4549"] td.coord').inner_text()
    x, y = (float(v) for v in re.findall(r"[\d.]+", cell))
    assert (x, y) == pytest.approx((n, e), abs=0.02)
    page.locator(".maplibregl-popup-close-button").last.click()


def test_goto_rejects_nonsense(page):
    page.locator("#btn-goto").click()
    dlg = page.locator("#dlg-goto")
    dlg.locator("select[name=system]").select_option("gk4549")
    dlg.locator("input[name=coords]").fill("X=12 Y=34")
    dlg.locator("#btn-goto-go").click()
    page.wait_for_function("document.querySelector('#status-msg').textContent.includes('不在中国范围内')", timeout=5_000)


def test_copy_the_coordinates_of_a_clicked_point(page):
    page.evaluate("() => window.kfqMap.jumpTo({center: [121.0, 31.36], zoom: 14})")
    wait_idle(page)
    box = page.locator("#map").bounding_box()
    x, y = round(box["x"] + box["width"] * 0.5), round(box["y"] + box["height"] * 0.5)
    page.mouse.click(x, y, button="right")
    pop = page.locator(".coords-pop")
    pop.wait_for(timeout=10_000)
    assert pop.locator("tr").count() == 4
    pop.locator('tr[data-system="gk4549"] button.copy').click()
    page.wait_for_function("document.body.dataset.lastCopy !== undefined")
    copied = page.evaluate("() => document.body.dataset.lastCopy")
    assert copied == pop.locator('tr[data-system="gk4549"] td.coord').inner_text()
    assert page.evaluate("() => navigator.clipboard.readText()") == copied
    lon, lat = page.evaluate("([x, y]) => { const r = window.kfqMap.getCanvas().getBoundingClientRect();"
                             " return window.kfqMap.unproject([x - r.left, y - r.top]).toArray(); }", [x, y])
    e, n = TO_4549.transform(lon, lat)
    cx, cy = (float(v) for v in re.findall(r"[\d.]+", copied))
    assert (cx, cy) == pytest.approx((n, e), abs=0.02)
    # the status-bar button copies the last clicked point in the chosen system
    page.locator(".maplibregl-popup-close-button").last.click()
    page.locator("#coord-system").select_option("cgcs2000")
    page.mouse.click(x, y)
    page.locator("#btn-copy-coords").click()
    page.wait_for_function("document.body.dataset.lastCopy.includes('°E')")
    assert page.evaluate("() => document.body.dataset.lastCopy") == f"{lon:.6f}°E {lat:.6f}°N"
