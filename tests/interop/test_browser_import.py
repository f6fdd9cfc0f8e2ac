"""Issue 12, the viewer's 导入数据 dialog: upload a Shapefile made by ogr2ogr, see the server's report and the preview
overlay where the parcels will land, commit, and find the new layer served; a broken upload shows the server's
message and changes nothing."""
from __future__ import annotations

import pytest

from server.testing import live_server  # noqa: F401  (session-scoped fixture)
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
    return page.evaluate("([u, m]) => fetch(u, {method: m}).then(async (r) => ({status: r.status, body: await r.json()}))",
                         [url, method])


def test_check_preview_and_commit_a_shapefile(page, tmp_path, artifacts):
    upload = F.shapefile_gbk_zip(tmp_path)
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
    log = _fetch_json(page, "/imports")["body"]["imports"]
    entry = next(e for e in log if e["layer_id"] == "browser_import" and not e["undone_at"])
    assert _fetch_json(page, f"/imports/{entry['import_id']}/undo", "POST")["status"] == 200   # leave the server as it was
    assert _fetch_json(page, "/collections/browser_import")["status"] == 404
    page.keyboard.press("Escape")
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
