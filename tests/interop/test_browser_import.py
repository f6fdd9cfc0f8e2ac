"""Issue 12, the viewer's 导入数据 dialog: upload a Shapefile made by ogr2ogr, see the server's report and the preview
overlay where the parcels will land, commit, and find the new layer served; a broken upload shows the server's
message and changes nothing."""
from __future__ import annotations

import pytest

from server.testing import live_server  # noqa: F401  (session-scoped fixture)

from .signin import ensure_user, login
from tests.kfqmap import importfiles as F

from .test_browser_viewer import open_viewer, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.interop]


@pytest.fixture(scope="module")
def page(chromium, live_server, make_offline_context):
    errors: list[str] = []
    context, page, log = open_viewer(make_offline_context, chromium, live_server.url)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors
    yield page
    context.close()


def _fetch_json(page, url, method="GET"):
    """A request as the signed-in page makes it (a POST carries the session's CSRF token, from /auth/me)."""
    return page.evaluate("""async ([u, m]) => {
        const me = await (await fetch('/auth/me')).json();
        const headers = m === 'GET' ? {} : {'X-CSRF-Token': me.csrf || ''};
        const r = await fetch(u, {method: m, headers});
        return {status: r.status, body: await r.json()};
    }""", [url, method])


def test_check_preview_and_commit_a_shapefile(page, live_server, tmp_path, artifacts):
    upload = F.shapefile_gbk_zip(tmp_path)
    ensure_user(live_server.app.state.accounts, "import-editor")
    login(page, "import-editor")                   # checking is a read; the commit below needs an editor
    page.locator("#btn-import").click()
    page.set_input_files("#import-file", str(upload))
    page.fill("#import-new-layer", "browser_import")
    page.fill("#import-title-input", "浏览器导入地块")
    page.locator("#btn-import-check").click()
    page.wait_for_function("document.querySelector('#import-verdict')?.textContent.includes('检查通过')",
                           timeout=30_000)
    report = page.locator("#import-report").inner_text()
    assert "GB18030" in report and "EPSG:4549" in report and "导入 3" in report
    assert page.evaluate("document.body.dataset.importPreview") == "3"
    names = page.evaluate("kfqMap.getSource('kfqmap-import-preview').serialize().data.features.map((f) => f.properties.name)")
    assert sorted(names) == sorted(F.PARCELS)
    centre = page.evaluate("kfqMap.getCenter().toArray()")      # the map went to where the parcels land
    assert 120.94 < centre[0] < 120.97 and 31.32 < centre[1] < 31.345
    wait_idle(page)
    page.screenshot(path=str(artifacts / "viewer-import-preview.png"))
    assert _fetch_json(page, "/collections/browser_import")["status"] == 404          # nothing written yet
    assert page.locator("#btn-import-commit").is_enabled()
    page.locator("#btn-import-commit").click()
    page.wait_for_function("document.querySelector('#import-verdict')?.textContent.includes('已导入')", timeout=30_000)
    items = _fetch_json(page, "/collections/browser_import/items")
    assert items["status"] == 200 and sorted(f["properties"]["name"] for f in items["body"]["features"]) == sorted(F.PARCELS)
    assert page.evaluate("document.body.dataset.importPreview") is None                # the overlay is gone
    with page.expect_navigation():                                                  # 刷新地图: the new layer is drawn
        page.locator("#import-verdict button").click()
    page.wait_for_function("document.body.dataset.mapReady === '1'", timeout=60_000)
    assert page.locator('li[data-layer="browser_import"]').count() == 1
    assert page.evaluate("kfqMap.getStyle().layers.some((l) => l['source-layer'] === 'browser_import')")
    log = _fetch_json(page, "/imports")["body"]["imports"]
    entry = next(e for e in log if e["layer_id"] == "browser_import" and not e["undone_at"])
    assert _fetch_json(page, f"/imports/{entry['import_id']}/undo", "POST")["status"] == 200   # leave the server as it was
    assert _fetch_json(page, "/collections/browser_import")["status"] == 404
    assert not page.errors


def test_a_broken_upload_shows_the_server_message(page, tmp_path):
    bad = tmp_path / "cut.zip"
    bad.write_bytes(b"PK\x03\x04 truncated")
    page.locator("#btn-import").click()
    page.set_input_files("#import-file", str(bad))
    page.fill("#import-new-layer", "broken_upload")
    page.locator("#btn-import-check").click()
    alert = page.locator("#import-report [role=alert]")
    alert.wait_for(timeout=30_000)
    assert "zip" in alert.inner_text()
    assert not page.locator("#btn-import-commit").is_enabled()
    assert page.evaluate("document.body.dataset.importPreview") is None
    page.keyboard.press("Escape")


def test_overlay_only_keeps_the_preview_on_the_map_without_importing(page, tmp_path):
    upload = F.shapefile_gbk_zip(tmp_path)
    page.locator("#btn-import").click()
    page.set_input_files("#import-file", str(upload))
    page.fill("#import-new-layer", "overlay_only")
    page.locator("#btn-import-check").click()
    page.wait_for_function("document.body.dataset.importPreview === '3'", timeout=30_000)
    page.locator("#btn-import-overlay").click()
    assert not page.locator("#dlg-import").evaluate("(d) => d.open")
    assert page.evaluate("document.body.dataset.importPreview") == "3"           # still on the map
    assert _fetch_json(page, "/collections/overlay_only")["status"] == 404       # nothing imported
    page.locator("#btn-clear").click()
    assert page.evaluate("document.body.dataset.importPreview") is None


def _click_map_at(page, lon, lat):
    x, y = page.evaluate("""([lon, lat]) => { const p = kfqMap.project([lon, lat]);
        const r = kfqMap.getCanvas().getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; }""", [lon, lat])
    page.mouse.click(x, y)


def test_control_points_picked_on_the_drawing_and_the_map(page, tmp_path):
    """A drawing in local coordinates: four parcel corners clicked on the drawing, then on the map; the server fits
    them (residuals shown) and the preview lands where the parcels are."""
    import numpy as np

    dxf, _csv = F.dxf_local_with_control(tmp_path, residual_m=0.0)
    corners = [F.PARCELS["新园区甲"][0], F.PARCELS["新园区乙"][2], F.PARCELS["科创园丙"][2], F.PARCELS["科创园丙"][4]]
    page.locator("#btn-import").click()
    page.set_input_files("#import-file", str(dxf))
    page.fill("#import-new-layer", "picked")
    page.locator("#import-pick summary").click()
    page.fill("#import-max-rms", "25")
    page.locator("#btn-import-drawing").click()
    page.locator("#import-drawing path").first.wait_for(timeout=30_000)
    # the whole drawing's area in one view at zoom 15 (MapLibre's 512 px tiles: ≈ 2 m a pixel here): one map move
    page.evaluate("([lon, lat]) => kfqMap.jumpTo({center: [lon, lat], zoom: 15})",
                  list(F.TO_WGS84.transform(590650, 3468350)))
    for e, n in corners:
        sx, sy = (float(v) for v in F.to_local(e, n))
        page.locator("#import-drawing").scroll_into_view_if_needed()
        x, y = page.evaluate("""([sx, sy]) => { const m = document.querySelector('#import-drawing').getScreenCTM();
            return [m.a * sx + m.c * -sy + m.e, m.b * sx + m.d * -sy + m.f]; }""", [sx, sy])
        page.mouse.click(x, y)
        page.wait_for_function("document.body.dataset.importPicking === '1'", timeout=10_000)
        lon, lat = F.TO_WGS84.transform(e, n)
        _click_map_at(page, lon, lat)
        page.wait_for_function("document.querySelector('#dlg-import').open", timeout=10_000)
    assert page.locator("#import-pairs li").count() == 4
    page.locator("#btn-import-check").click()
    page.wait_for_function("document.querySelector('#import-verdict')?.textContent.includes('检查通过')", timeout=30_000)
    report = page.locator("#import-report").inner_text()
    assert "控制点" in report and "RMS" in report
    rms = float(report.split("RMS ")[1].split(" m")[0])
    assert rms < 10          # a click on a 16em drawing is worth a few metres; the map side is at zoom 19
    feats = page.evaluate("kfqMap.getSource('kfqmap-import-preview').serialize().data.features")
    got = {f["properties"]["name"]: np.asarray(f["geometry"]["coordinates"][0]) for f in feats}
    truth = np.asarray(F.ring_lonlat(F.PARCELS["新园区甲"]))
    assert np.abs(got["新园区甲"][: len(truth)] - truth).max() < 2e-4          # within about 20 m
    page.keyboard.press("Escape")
