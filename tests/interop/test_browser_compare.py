"""Issue 14, 对比分析 in the viewer: two layers compared through GET /compare — the summary and the list show the
server's numbers, the differences are drawn (green/red/amber), the swipe shows layer B in a second map clipped by
the slider and following the main map, the split view halves the map; ending the comparison restores the map."""
from __future__ import annotations

import pytest

from server.testing import live_server  # noqa: F401  (session-scoped fixture)

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


def run_compare(page, a, b, match, view):
    page.locator("#btn-compare").click()
    page.locator("#compare-a").select_option(a)
    page.locator("#compare-b").select_option(b)
    page.locator("#compare-match").select_option(match)
    page.locator("#compare-view").select_option(view)
    page.evaluate("() => document.getElementById('tab-results').replaceChildren()")
    page.locator("#btn-compare-go").click()
    page.wait_for_selector("#compare-summary", timeout=15_000)
    page.wait_for_selector(f"#map-compare.{view}", state="attached", timeout=15_000)


def test_swipe_comparison_shows_the_servers_numbers(page, artifacts):
    run_compare(page, "renewal_sites", "low_efficiency_land", "overlap", "swipe")
    expected = page.evaluate("() => fetch('/compare?a=renewal_sites&b=low_efficiency_land&match=overlap')"
                             ".then((r) => r.json())")
    s = expected["summary"]
    text = page.locator("#compare-summary").inner_text()
    assert f"新增 {s['added']}，删除 {s['removed']}，变化 {s['changed']}" in text
    assert page.locator("#compare-table tbody tr").count() == len(expected["changes"])
    assert "示例" in page.locator("#tab-results").inner_text()          # placeholder differences are flagged
    drawn = page.evaluate("() => window.kfqMap.getSource('kfq-compare') !== undefined "
                          "&& !!window.kfqMap.getLayer('kfq-compare-fill')")
    assert drawn
    # the second map covers the map area exactly (the layout is untouched); it shows B, the main one A;
    # the slider clips it
    box = page.evaluate("() => ['.map-wrap', '#map-compare'].map((s) => {"
                        "const r = document.querySelector(s).getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; })")
    assert box[0] == box[1] and box[0][2] > 500 and box[0][3] > 400
    page.locator("#compare-swipe").fill("30")
    assert "30%" in page.locator("#map-compare").evaluate("(el) => el.style.clipPath")
    vis = page.evaluate("""() => {
        const m = window.kfqMap, s = window.kfqApp.compare.second;
        const lay = (map, id) => map.getStyle().layers.filter((l) => (l.metadata || {})['kfqmap:layer'] === id
            || l['source-layer'] === id).map((l) => map.getLayoutProperty(l.id, 'visibility') || 'visible');
        return {mainB: lay(m, 'low_efficiency_land'), secondB: lay(s, 'low_efficiency_land'),
                secondA: lay(s, 'renewal_sites')};
    }""")
    assert vis["mainB"] and set(vis["mainB"]) == {"none"}
    assert set(vis["secondB"]) == {"visible"} and set(vis["secondA"]) == {"none"}
    # the second map follows the main one
    page.evaluate("() => window.kfqMap.jumpTo({center: [121.0, 31.35], zoom: 13})")
    centre = page.evaluate("() => window.kfqApp.compare.second.getCenter().toArray()")
    assert centre == pytest.approx([121.0, 31.35], abs=1e-6)
    wait_idle(page)
    page.screenshot(path=str(artifacts / "viewer-compare-swipe.png"))
    assert not page.errors


def test_split_view_and_ending_the_comparison(page, artifacts):
    run_compare(page, "renewal_sites", "low_efficiency_land", "overlap", "split")
    width = page.evaluate("() => document.getElementById('map').getBoundingClientRect().width")
    full = page.evaluate("() => document.querySelector('.map-wrap').getBoundingClientRect().width")
    assert width == pytest.approx(full / 2, abs=3)
    wait_idle(page)
    page.screenshot(path=str(artifacts / "viewer-compare-split.png"))
    page.get_by_role("button", name="结束对比").click()
    assert page.locator("#map-compare").count() == 0
    state = page.evaluate("""() => ({src: window.kfqMap.getSource('kfq-compare') === undefined,
        hidden: window.kfqMap.getStyle().layers.filter((l) => l['source-layer'] === 'low_efficiency_land')
            .map((l) => window.kfqMap.getLayoutProperty(l.id, 'visibility') || 'visible')})""")
    assert state["src"] and "none" not in state["hidden"]
    assert not page.errors
