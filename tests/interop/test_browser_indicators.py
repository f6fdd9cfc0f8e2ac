"""The viewer's 指标 panel (监测预警) in headless Chromium, under the viewer's own CSP, against a live server whose
store holds a few actuals: coloured statuses, the warning list (预警清单), a chart per indicator (actuals against
the dashed 规划路径), the year selector. A screenshot goes to ``test-artifacts/viewer-indicator-monitoring.png``.
"""
from __future__ import annotations

import threading
import time

import pytest
import uvicorn

from kfqmap import monitor
from kfqmap.catalog import load_catalog
from kfqmap.indicator_rules import STATUS_COLOURS
from kfqmap.accounts import AccountStore
from kfqmap.settings import CatalogSettings
from server.app import create_app
from server.testing import free_port

from .signin import ensure_user, login

pytestmark = [pytest.mark.browser, pytest.mark.interop]

WAIT_IDLE = """() => new Promise((resolve) => {
  const m = window.kfqMap; let done = false;
  const fin = () => { if (!done) { done = true; resolve(true); } };
  m.once('idle', fin); m.triggerRepaint();
  const poll = () => { if (done) return; if (m.loaded() && !m.isMoving()) fin(); else setTimeout(poll, 250); };
  setTimeout(poll, 1500);
})"""


@pytest.fixture(scope="module")
def server_url(tmp_path_factory):
    settings = CatalogSettings(data_dir=tmp_path_factory.mktemp("indicator-viewer"))
    catalog = load_catalog(settings)
    try:
        for iid, year, value in (("t2_24", 2023, "39"),                     # 约束性, path 43: 超限
                                 ("t2_07", 2021, "3.8"), ("t2_07", 2022, "3.95"), ("t2_07", 2023, "4.2"),  # 正常
                                 ("t2_11", 2021, "5"), ("t2_11", 2022, "5"), ("t2_11", 2023, "6"),   # 16 vs 18: 预警
                                 ("t2_01", 2023, "1850"),                    # path 1988, pace too slow: 滞后
                                 # 5000亩: 2200 by 2023 against 3000 (−26.7 %); 733/yr done, 1400/yr needed: 预警
                                 ("tx_36", 2021, "600"), ("tx_36", 2022, "700"), ("tx_36", 2023, "900")):
            monitor.set_actual(catalog, iid, year, value, source="测试", by="browser-test", via="cli")
    finally:
        catalog.store.close()
    ensure_user(AccountStore.open(settings.store_path()), "统计员", layers=["indicators"])   # 录入 needs an editor
    app = create_app(settings)
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def _rgb(hex_colour: str) -> str:
    h = hex_colour.lstrip("#")
    return "rgb({}, {}, {})".format(*(int(h[i:i + 2], 16) for i in (0, 2, 4)))


def test_indicator_panel_shows_statuses_warnings_and_charts(chromium, make_offline_context, console_errors,
                                                            server_url, artifacts):
    context, log = make_offline_context(chromium, viewport={"width": 1366, "height": 900}, bypass_csp=False)
    page = console_errors(context.new_page())
    try:
        page.goto(server_url + "/", wait_until="load")
        # the tabs are wired once the viewer has started (a locator: this page runs under the CSP, no eval)
        page.locator('body[data-map-ready="1"]').wait_for(state="attached", timeout=60_000)
        page.locator('.tab[data-tab="indicators"]').click()
        page.locator("#ind-year").select_option("2023")
        page.locator('#tab-indicators[data-year="2023"]').wait_for(state="attached", timeout=30_000)
        page.locator("#ind-warnings .warn-list li").first.wait_for(timeout=30_000)
        warnings = page.locator("#ind-warnings .warn-list li")
        ids = [warnings.nth(i).get_attribute("data-id") for i in range(warnings.count())]
        assert ids == ["t2_24", "t2_01", "tx_36", "t2_11"]      # 超限, 滞后, 预警 (furthest behind first)
        chip = warnings.first.locator(".status-chip")
        assert chip.inner_text() == "超限"
        assert chip.evaluate("e => getComputedStyle(e).backgroundColor") == _rgb(STATUS_COLOURS["超限"])
        row = page.locator('#ind-list .ind-row[data-id="t2_07"]')
        assert row.get_attribute("data-status") == "正常"
        assert row.locator(".plan-path").count() == 1             # the plan's path, dashed
        assert row.locator(".plan-path").get_attribute("stroke-dasharray")
        assert row.locator("circle.actual").count() == 3           # 2021–2023 actuals
        cum = page.locator('#ind-list .ind-row[data-id="t2_11"]')
        assert "累计 16" in cum.locator(".ind-facts").inner_text()  # the running total, not the year's 6
        nodata = page.locator('#ind-list .ind-row[data-id="t2_02"]')
        assert nodata.get_attribute("data-status") == "无数据" and nodata.locator("circle.actual").count() == 0
        summary = page.locator("#ind-summary").inner_text()
        assert "超限" in summary and "无数据" in summary
        # features linked to an indicator, coloured by its status: 5000亩 parcels (tx_36), the corridor belt (tx_29),
        # the football stadium (tx_41), the parks (tx_43): the parcels amber (预警), the rest grey (无数据)
        page.locator("#ind-on-map").check()
        page.locator("body[data-indicator-features]").wait_for(state="attached", timeout=30_000)
        n = int(page.evaluate("() => document.body.dataset.indicatorFeatures"))
        assert n >= 31 + 1 + 1 + 11
        colours = page.evaluate("() => [...new Set(window.kfqMap.getSource('kfq-ind-status').serialize().data"
                                ".features.map(f => f.properties.colour))]")
        assert sorted(colours) == sorted([STATUS_COLOURS["预警"], STATUS_COLOURS["无数据"]])
        page.evaluate(WAIT_IDLE)
        page.screenshot(path=str(artifacts / "viewer-indicator-features.png"))
        page.locator("#tab-indicators").screenshot(path=str(artifacts / "viewer-indicator-monitoring.png"))
        page.screenshot(path=str(artifacts / "viewer-indicator-monitoring-page.png"))
        # another year: 2022 has t2_07 and t2_11 values, and t2_24 none
        page.locator("#ind-year").select_option("2022")
        page.locator('#tab-indicators[data-year="2022"]').wait_for(state="attached", timeout=30_000)
        assert page.locator('#ind-list .ind-row[data-id="t2_24"]').get_attribute("data-status") == "无数据"
        # 录入: enter a value in the panel; the row's status follows; a bad value is refused with the server's words
        login(page, "统计员")
        page.locator("#tabbtn-indicators").click()
        page.locator('#tab-indicators[data-year="2022"]').wait_for(state="attached", timeout=30_000)
        row = page.locator('#ind-list .ind-row[data-id="t2_02"]')
        assert row.get_attribute("data-status") == "无数据"
        row.locator(".ind-entry summary").click()
        row.locator(".ind-entry input[name=value]").fill("一点")
        row.locator(".ind-entry button[type=submit]").click()
        msg = row.locator(".ind-entry .msg.error")
        msg.wait_for(timeout=15_000)
        assert "不是数字" in msg.inner_text()
        row.locator(".ind-entry input[name=value]").fill("36.5")       # path 2022: 34.3 + 5.7×2/5 = 36.58, −0.2 %
        row.locator(".ind-entry input[name=source]").fill("2022年统计公报")
        row.locator(".ind-entry button[type=submit]").click()
        page.locator('#ind-list .ind-row[data-id="t2_02"][data-status="正常"]').wait_for(timeout=15_000)
        assert "36.5" in page.locator('#ind-list .ind-row[data-id="t2_02"] .ind-facts').inner_text()
        # 表1 is the 13th plan's review, shown as 2020 actual vs target bars
        page.locator(".ind-filter button", has_text="表1").click()
        assert page.locator("#ind-list .ind-row .pair").count() >= 15
        page.locator("#ind-on-map").uncheck()
        assert page.evaluate("() => !window.kfqMap.getSource('kfq-ind-status')")
        assert not log.blocked
        assert not [e for e in console_errors.errors if "Content Security Policy" in e or "pageerror" in e], \
            console_errors.errors
    finally:
        context.close()
