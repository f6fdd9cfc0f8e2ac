"""Issue 15, phone and tablet: at 414×896 and 768×1024 the viewer has no horizontal scroll, every toolbar button
lies inside the viewport, the map keeps at least half of the screen with the panels closed, and the panels open
as drawers (screenshots in test-artifacts/). Also the keyboard bits of the accessibility list: tabs carry
aria-selected and move with the arrow keys, group headers are buttons, collapse buttons are named."""
from __future__ import annotations

import pytest

from server.testing import live_server  # noqa: F401  (session-scoped fixture)

from .test_browser_viewer import wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.interop]

PHONE = {"width": 414, "height": 896}
TABLET = {"width": 768, "height": 1024}

LAYOUT = """() => {
  const vw = window.innerWidth, vh = window.innerHeight;
  const inside = (r) => r.left >= -0.5 && r.top >= -0.5 && r.right <= vw + 0.5 && r.bottom <= vh + 0.5 && r.width > 0 && r.height > 0;
  // buttons not rendered (hidden: 编辑 and 退出 while nobody is logged in) take no room
  const buttons = [...document.querySelectorAll('.toolbar button')].filter((b) => b.getClientRects().length > 0).map((b) => ({ text: b.textContent, inside: inside(b.getBoundingClientRect()) }));
  // the map's area not covered by a visible panel
  const map = document.querySelector('#map').getBoundingClientRect();
  let covered = 0;
  for (const p of document.querySelectorAll('.panel')) {
    const s = getComputedStyle(p);
    if (s.visibility === 'hidden' || s.display === 'none') continue;
    const r = p.getBoundingClientRect();
    const w = Math.max(0, Math.min(r.right, map.right, vw) - Math.max(r.left, map.left, 0));
    const h = Math.max(0, Math.min(r.bottom, map.bottom, vh) - Math.max(r.top, map.top, 0));
    covered += w * h;
  }
  const mapVisible = Math.max(0, Math.min(map.right, vw) - Math.max(map.left, 0)) * Math.max(0, Math.min(map.bottom, vh) - Math.max(map.top, 0));
  return {
    scrollWidth: document.documentElement.scrollWidth, bodyScroll: document.body.scrollWidth, vw, vh, buttons,
    mapShare: (mapVisible - covered) / (vw * vh),
  };
}"""


def open_viewer(make_context, browser, url, viewport=None):
    """The viewer with reduced motion (drawers snap open: under a loaded CPU a slide can take seconds)."""
    context, log = make_context(browser, viewport=viewport or {"width": 1366, "height": 768}, reduced_motion="reduce")
    page = context.new_page()
    page.goto(url + "/", wait_until="load")
    page.wait_for_function("document.body.dataset.mapReady === '1'", timeout=60_000)
    wait_idle(page)
    return context, page, log


def settle(page, selector):
    """Wait until a drawer has finished sliding (its transform no longer changes)."""
    page.wait_for_function("""(sel) => new Promise((resolve) => {
      const el = document.querySelector(sel); let last = null;
      const tick = () => { const t = getComputedStyle(el).transform; if (t === last) resolve(true); else { last = t; setTimeout(tick, 150); } };
      tick(); })""", arg=selector, timeout=10_000)


def check_layout(page):
    m = page.evaluate(LAYOUT)
    assert m["scrollWidth"] <= m["vw"] and m["bodyScroll"] <= m["vw"], m       # no horizontal scroll
    outside = [b["text"] for b in m["buttons"] if not b["inside"]]
    assert not outside, f"toolbar buttons outside the viewport: {outside}"
    assert m["mapShare"] >= 0.5, m
    return m


@pytest.mark.parametrize("name,viewport", [("phone-414x896", PHONE), ("tablet-768x1024", TABLET)])
def test_small_screens(chromium, live_server, make_offline_context, artifacts, name, viewport):
    context, page, log = open_viewer(make_offline_context, chromium, live_server.url, viewport=viewport)
    try:
        wait_idle(page)
        page.screenshot(path=str(artifacts / f"viewer-{name}.png"))
        check_layout(page)
        # the layer drawer opens over the map, has the layer list, and closes again
        page.locator("#btn-drawer-layers").click()
        page.locator('input[data-layer="parks"]').wait_for(state="visible", timeout=10_000)
        settle(page, "#layer-panel")
        assert page.locator("#btn-drawer-layers").get_attribute("aria-expanded") == "true"
        page.screenshot(path=str(artifacts / f"viewer-{name}-layers.png"))
        page.locator('input[data-layer="parks"]').uncheck()
        assert "parks" not in page.evaluate("() => window.kfqApp.layers.visibleIds()")
        page.locator('#layer-panel .collapse').click()
        page.locator('input[data-layer="parks"]').wait_for(state="hidden", timeout=10_000)
        # the statistics drawer
        page.locator("#btn-drawer-side").click()
        page.locator("#progress-target").wait_for(state="visible", timeout=15_000)
        settle(page, "#side-panel")
        page.screenshot(path=str(artifacts / f"viewer-{name}-stats.png"))
        m = page.evaluate(LAYOUT)
        assert m["scrollWidth"] <= m["vw"], m
        page.locator('#side-panel .collapse').click()
        page.locator("#side-panel").wait_for(state="hidden", timeout=10_000)
        check_layout(page)
        # a query result opens the drawer by itself
        page.locator('.tool[data-tool="point"]').click()
        page.mouse.click(viewport["width"] / 2, viewport["height"] * 0.6)
        page.locator("#result-summary").wait_for(state="visible", timeout=20_000)
        assert page.locator("#btn-drawer-side").get_attribute("aria-expanded") == "true"
        assert not log.blocked
    finally:
        context.close()


def test_keyboard_tabs_groups_and_named_buttons(chromium, live_server, make_offline_context):
    context, page, log = open_viewer(make_offline_context, chromium, live_server.url)
    try:
        stats = page.locator('.tab[data-tab="stats"]')
        assert stats.get_attribute("aria-selected") == "true"
        stats.focus()
        page.keyboard.press("ArrowRight")
        results = page.locator('.tab[data-tab="results"]')
        assert results.get_attribute("aria-selected") == "true" and stats.get_attribute("aria-selected") == "false"
        assert page.evaluate("() => document.activeElement.dataset.tab") == "results"
        assert page.locator("#tab-results").is_visible()
        # group headers are buttons: reachable with Tab, toggled with Enter
        toggle = page.locator('.layer-group[data-group="两核多园"] .group-toggle')
        toggle.focus()
        page.keyboard.press("Enter")
        assert toggle.get_attribute("aria-expanded") == "false"
        assert not page.locator('input[data-layer="parks"]').is_visible()
        page.keyboard.press("Enter")
        assert page.locator('input[data-layer="parks"]').is_visible()
        for c in page.locator(".collapse").all():
            assert c.get_attribute("aria-label")
        # focus on the dark toolbar is visible (an outline, not the browser default that vanishes on blue)
        page.locator('.tool[data-tool="polygon"]').focus()
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("Tab")
        outline = page.evaluate("() => { const s = getComputedStyle(document.activeElement); return [s.outlineStyle, s.outlineWidth]; }")
        assert outline[0] == "solid" and float(outline[1].rstrip("px")) >= 2
        # badges are legible
        size = page.evaluate("() => parseFloat(getComputedStyle(document.querySelector('.badge')).fontSize)")
        assert size >= 11
    finally:
        context.close()
