"""The viewer's 对比 panel in headless Chromium: the plan's parcel layer against an edited copy served beside it —
counts, the list with coloured changes, the differences drawn on the map, and the swipe (卷帘) with layer A left
and layer B right. Screenshots: ``test-artifacts/viewer-compare*.png``."""
from __future__ import annotations

import threading
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import uvicorn
from pyproj import Transformer
from shapely.geometry import box

from kfqmap.models import Layer, Style
from kfqmap.settings import CatalogSettings
from server.app import create_app
from server.testing import free_port

pytestmark = [pytest.mark.browser, pytest.mark.interop]

WAIT_IDLE = """() => new Promise((resolve) => {
  const m = window.kfqMap; let done = false;
  const fin = () => { if (!done) { done = true; resolve(true); } };
  m.once('idle', fin); m.triggerRepaint();
  const poll = () => { if (done) return; if (m.loaded() && !m.isMoving()) fin(); else setTimeout(poll, 250); };
  setTimeout(poll, 1500);
})"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    app = create_app(CatalogSettings(data_dir=tmp_path_factory.mktemp("compare-viewer")))
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline
        time.sleep(0.05)
    catalog = app.state.catalog
    before = catalog.read("low_efficiency_land")
    after = before.drop(index=["DX-003"]).copy()
    after.loc["DX-001", "status"] = "已完成"
    g = after.loc["DX-002", "geometry"]
    minx, miny, maxx, maxy = g.bounds
    after.loc["DX-002", "geometry"] = g.intersection(box(minx, miny, (minx + maxx) / 2, maxy))
    to_gk, to_ll = Transformer.from_crs(4326, 4549, always_xy=True), Transformer.from_crs(4549, 4326, always_xy=True)
    cx, cy = to_gk.transform(*before.loc["DX-005", "geometry"].centroid.coords[0])
    square = shapely.transform(box(cx + 800, cy, cx + 1200, cy + 300),
                               lambda xy: np.column_stack(to_ll.transform(xy[:, 0], xy[:, 1])))
    new = gpd.GeoDataFrame({"id": ["DX-NEW"], "name": ["新增地块"]}, geometry=[square], crs=4326,
                           index=pd.Index(["DX-NEW"], name=before.index.name))
    catalog.add_layer(Layer(id="land_v2", title_zh="低效用地（新版）", title_en="Parcels v2", group="额外", kind="extra",
                            geometry_type="Polygon", source="frame", file="(frame)", plan_section="（测试）",
                            description="测试用的新版地块", style=Style(fill="#7b4fa0")), pd.concat([after, new]))
    yield f"http://127.0.0.1:{port}", catalog
    srv.should_exit = True
    thread.join(timeout=10)


def test_compare_panel_lists_and_draws_the_differences(chromium, make_offline_context, server, artifacts, tmp_path):
    server, server_catalog = server
    context, log = make_offline_context(chromium, viewport={"width": 1366, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(server + "/", wait_until="load")
        page.wait_for_function("document.body.dataset.mapReady === '1'", timeout=60_000)
        page.locator('.tab[data-tab="compare"]').click()
        page.locator("#cmp-a").select_option("low_efficiency_land")
        page.locator("#cmp-b").select_option("land_v2")
        page.locator("#cmp-by").select_option("parks")
        page.locator("#cmp-run").click()
        page.locator("#cmp-summary").wait_for(timeout=30_000)
        items = page.locator("#cmp-list li")
        changes = sorted(items.nth(i).get_attribute("data-change") for i in range(items.count()))
        assert changes == ["added", "changed", "changed", "removed"]
        added = page.locator('#cmp-list li[data-id="DX-NEW"] .status-chip')
        assert added.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(46, 157, 79)"     # green
        removed = page.locator('#cmp-list li[data-id="DX-003"] .status-chip')
        assert removed.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(215, 48, 31)"   # red
        assert "亩" in page.locator("#cmp-summary").inner_text()
        assert page.locator("table.cmp-zones tr").count() >= 2
        n = page.evaluate("() => window.kfqMap.getSource('kfq-compare').serialize().data.features.length")
        assert n == 5                      # added, removed, two changed, and the cut parcel's earlier outline
        page.locator('#cmp-list li[data-id="DX-002"]').click()
        page.evaluate(WAIT_IDLE)
        page.screenshot(path=str(artifacts / "viewer-compare.png"))
        page.locator("#cmp-swipe").click()
        page.locator("#swipe-map canvas").wait_for(timeout=30_000)
        assert page.evaluate("() => document.body.dataset.swipe") == "low_efficiency_land|land_v2"
        # the second map shows layer B (drawn from its items: the edited copy is not in the plan style)
        page.wait_for_function("() => window.kfqSwipeMap && window.kfqSwipeMap.getSource('kfq-swipe-land_v2') "
                               "&& window.kfqSwipeMap.isSourceLoaded('kfq-swipe-land_v2')", timeout=30_000)
        time.sleep(1.0)      # the second map draws its frame
        page.screenshot(path=str(artifacts / "viewer-compare-swipe.png"))
        page.locator("#cmp-swipe").click()
        assert page.locator("#swipe-map").count() == 0
        assert page.evaluate("() => window.kfqMap.getStyle().layers.filter(l => l.id.startsWith('kfq-swipe')).length") == 0
        # 并排: the main map in the left half, B in the right half, same view
        width = page.evaluate("() => window.kfqMap.getContainer().clientWidth")
        page.locator("#cmp-side").click()
        page.wait_for_function("() => window.kfqSwipeMap && window.kfqSwipeMap.isSourceLoaded('kfq-swipe-land_v2')",
                               timeout=30_000)
        assert page.evaluate("() => document.body.dataset.sideBySide") == "low_efficiency_land|land_v2"
        half = page.evaluate("() => window.kfqMap.getContainer().clientWidth")
        assert abs(half - width / 2) <= 2
        c1 = page.evaluate("() => window.kfqMap.getCenter().toArray()")
        c2 = page.evaluate("() => window.kfqSwipeMap.getCenter().toArray()")
        assert c1 == pytest.approx(c2, abs=1e-9)
        time.sleep(1.0)
        page.screenshot(path=str(artifacts / "viewer-compare-side-by-side.png"))
        page.locator("#cmp-side").click()
        assert page.locator("#swipe-map").count() == 0
        assert page.evaluate("() => window.kfqMap.getContainer().clientWidth") == width
        # an imported version (a GeoJSON file) against the current layer
        upload = tmp_path / "parcels_v2.geojson"
        upload.write_text(server_catalog.read("land_v2").to_json(drop_id=True), encoding="utf-8")
        page.locator("#cmp-file").set_input_files(str(upload))
        page.locator("#cmp-run").click()
        page.wait_for_function("() => document.querySelector('#tab-compare').dataset.compared.includes('上传')",
                               timeout=30_000)
        items = page.locator("#cmp-list li")
        assert sorted(items.nth(i).get_attribute("data-change") for i in range(items.count())) == \
            ["added", "changed", "changed", "removed"]
        page.locator("#cmp-swipe").click()
        page.wait_for_function("() => window.kfqSwipeMap && window.kfqSwipeMap.isSourceLoaded('kfq-swipe-upload')",
                               timeout=30_000)
        page.locator("#cmp-swipe").click()
        assert not log.blocked and not errors, errors
    finally:
        context.close()
