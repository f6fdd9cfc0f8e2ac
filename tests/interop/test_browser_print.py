"""Issue 15, 打印/专题图: a sheet at a chosen paper size, scale and resolution. The printed scale is checked against
the printed map's own projection: two points 1000 m apart on the ground (pyproj, WGS 84 ellipsoid) must lie
1000 m / (N × 0.0254 m / dpi) pixels apart on the sheet. The PNG has the paper's pixel size; the PDF page has the
paper's size in points and carries the sheet."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image
from pyproj import Geod

from server.testing import live_server  # noqa: F401  (session-scoped fixture)

from .test_browser_viewer import open_viewer, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.interop]

WGS84 = Geod(ellps="WGS84")


@pytest.fixture(scope="module")
def page(chromium, live_server, make_offline_context):
    errors: list[str] = []
    context, page, log = open_viewer(make_offline_context, chromium, live_server.url)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors
    yield page
    assert not errors, errors
    assert not log.blocked
    context.close()


def print_sheet(page, *, paper="A4", orientation="landscape", dpi="150", scale=None, fmt="png", title=None, unit=None):
    page.locator("#btn-print").click()
    dlg = page.locator("#dlg-print")
    dlg.locator("select[name=paper]").select_option(paper)
    dlg.locator("select[name=orientation]").select_option(orientation)
    dlg.locator("select[name=dpi]").select_option(dpi)
    if scale is None:
        dlg.locator("input[name=mode][value=extent]").check()
    else:
        dlg.locator("input[name=mode][value=scale]").check()
        dlg.locator("input[name=scale]").fill(str(scale))
    if title:
        dlg.locator("input[name=title]").fill(title)
    if unit:
        dlg.locator("input[name=unit]").fill(unit)
    dlg.locator("select[name=format]").select_option(fmt)
    with page.expect_download(timeout=120_000) as dl:
        dlg.locator("#btn-print-go").click()
    info = json.loads(page.evaluate("() => document.body.dataset.lastPrint"))
    return dl.value, info


def printed_pixels_for_1000_m(page, dpi: float) -> float:
    lon, lat = page.evaluate("() => window.kfqPrintMap.getCenter().toArray()")
    lon2, lat2, _ = WGS84.fwd(lon, lat, 90, 1000)
    d_css = page.evaluate("([a, b]) => { const m = window.kfqPrintMap; const p = m.project(a), q = m.project(b);"
                          " return Math.hypot(p.x - q.x, p.y - q.y); }", [[lon, lat], [lon2, lat2]])
    return d_css * dpi / 96          # the print map is drawn at pixelRatio dpi/96


@pytest.mark.parametrize("scale,dpi", [(10000, 150), (25000, 96)])
def test_printed_scale_matches_the_map(page, artifacts, scale, dpi):
    page.evaluate("() => window.kfqMap.jumpTo({center: [121.0, 31.36], zoom: 13})")
    wait_idle(page)
    dl, info = print_sheet(page, dpi=str(dpi), scale=scale, title="测试专题图", unit="KFQMap 测试")
    path = artifacts / f"viewer-print-A4-1-{scale}.png"
    dl.save_as(path)
    img = Image.open(path)
    assert img.size == (round(297 / 25.4 * dpi), round(210 / 25.4 * dpi))
    expected = 1000 / (scale * 0.0254 / dpi)          # pixels for 1000 m at 1:scale
    assert printed_pixels_for_1000_m(page, dpi) == pytest.approx(expected, rel=0.005)
    assert info["scale"] == pytest.approx(scale, rel=1e-6)
    # the scale bar drawn on the sheet agrees
    bar = info["bar"]
    assert bar["px"] / bar["metres"] * 1000 == pytest.approx(expected, rel=0.005)
    arr = np.asarray(img.convert("RGB")).astype(int)
    assert len(np.unique(arr.reshape(-1, 3) // 8, axis=0)) > 30                  # a map, not a blank page


def test_print_extent_pdf_a3_portrait(page, tmp_path):
    page.evaluate("() => window.kfqMap.jumpTo({center: [121.02, 31.37], zoom: 12})")
    wait_idle(page)
    dl, info = print_sheet(page, paper="A3", orientation="portrait", dpi="96", fmt="pdf", title="昆山开发区 A3 专题图")
    data = dl.path().read_bytes()
    assert data.startswith(b"%PDF-1.4") and data.rstrip().endswith(b"%%EOF")
    box = [float(v) for v in re.search(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", data).groups()]
    assert box == pytest.approx([297 / 25.4 * 72, 420 / 25.4 * 72], abs=0.01)
    assert b"/DCTDecode" in data
    assert info["width"] == round(297 / 25.4 * 96) and info["height"] == round(420 / 25.4 * 96)
    # the whole current view is on the sheet
    inside = page.evaluate("() => { const v = window.kfqMap.getBounds(), p = window.kfqPrintMap.getBounds();"
                           " return p.getWest() <= v.getWest() + 1e-6 && p.getEast() >= v.getEast() - 1e-6"
                           " && p.getSouth() <= v.getSouth() + 1e-6 && p.getNorth() >= v.getNorth() - 1e-6; }")
    assert inside
    # the JPEG inside the PDF has the sheet's pixel size
    start = data.index(b"stream\n", data.index(b"/DCTDecode")) + len(b"stream\n")
    from io import BytesIO
    jpeg = Image.open(BytesIO(data[start:]))
    assert jpeg.size == (info["width"], info["height"])
