"""Issue 15, 属性表: a layer's table sorts, filters through a filter builder that writes CQL2 for the items endpoint
(the rows checked against pandas), selects on the map and follows the map's selection back, exports the ticked
rows (the file holds exactly them); the last query's hits open in the same table."""
from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

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
    page.log = log
    yield page
    context.close()


def rows(page):
    return page.locator("#attr-table tbody tr")


def column(page, title):
    heads = page.locator("#attr-table thead th").all_inner_texts()
    idx = next(i for i, t in enumerate(heads) if t.strip().startswith(title))
    return [tr.locator("td").nth(idx).inner_text() for tr in rows(page).all()]


def test_open_a_layer_table_and_sort(page, live_server, artifacts):
    parks = live_server.catalog.read("parks")
    page.locator('li[data-layer="parks"] button.open-table').click()
    page.wait_for_function(f"document.querySelectorAll('#attr-table tbody tr').length === {len(parks)}", timeout=15_000)
    assert set(tr.get_attribute("data-feature") for tr in rows(page).all()) == set(parks.index)
    # sort by area, descending after a second click; areas as /stats computes them
    page.locator('#attr-table th[data-field="__area_mu"] button').click()
    page.locator('#attr-table th[data-field="__area_mu"] button').click()
    assert page.locator('#attr-table th[data-field="__area_mu"]').get_attribute("aria-sort") == "descending"
    areas = [float(v.replace(",", "")) for v in column(page, "面积（亩）")]
    assert areas == sorted(areas, reverse=True) and len(areas) == len(parks)
    stats = page.evaluate("() => fetch('/stats/layers/parks?unit=mu').then((r) => r.json())")
    assert areas[0] == pytest.approx(max(f["area"] for f in stats["features"]), abs=0.05)
    wait_idle(page)
    page.screenshot(path=str(artifacts / "viewer-attribute-table.png"))


def test_filter_builder_writes_cql2(page, live_server):
    parks = live_server.catalog.read("parks")
    page.locator("#attr-add").click()
    cond = page.locator("#attr-filter .cond").first
    cond.locator("select.cond-field").select_option("park_type")
    cond.locator("select.cond-op").select_option("=")
    cond.locator("input.cond-value").fill("特色产业园区")
    with page.expect_request(lambda r: "/collections/parks/items" in r.url and "filter=" in r.url) as req:
        page.locator("#attr-apply").click()
    assert parse_qs(urlsplit(req.value.url).query)["filter"] == ["park_type = '特色产业园区'"]
    expected = parks[parks["park_type"] == "特色产业园区"]
    page.wait_for_function(f"document.querySelectorAll('#attr-table tbody tr').length === {len(expected)}", timeout=15_000)
    assert page.locator("#attr-cql").inner_text() == "filter=park_type = '特色产业园区'"
    # a second condition, joined with AND: contains 园 (LIKE)
    page.locator("#attr-add").click()
    cond = page.locator("#attr-filter .cond").nth(1)
    cond.locator("select.cond-field").select_option("name")
    cond.locator("select.cond-op").select_option("LIKE")
    cond.locator("input.cond-value").fill("产业")
    page.locator("#attr-apply").click()
    expected = expected[expected["name"].str.contains("产业")]
    page.wait_for_function(f"document.querySelectorAll('#attr-table tbody tr').length === {len(expected)}", timeout=15_000)
    assert page.locator("#attr-cql").inner_text() == "filter=park_type = '特色产业园区' AND name LIKE '%产业%'"
    assert set(tr.get_attribute("data-feature") for tr in rows(page).all()) == set(expected.index)


def test_table_selects_on_the_map_and_back(page, live_server):
    first = rows(page).first
    fid = first.get_attribute("data-feature")
    first.locator("td").nth(2).click()
    page.wait_for_function(f"location.hash.includes('sel=parks/{fid}')", timeout=10_000)
    assert page.evaluate("() => window.kfqApp.selection.id") == fid
    assert "selected" in first.get_attribute("class")
    # the map's selection → the row
    other = rows(page).nth(1).get_attribute("data-feature")
    page.evaluate(f"() => window.kfqApp.select({{layer: 'parks', id: '{other}'}})")
    page.wait_for_function(f"document.querySelector('#attr-table tr[data-feature=\"{other}\"]').classList.contains('selected')")
    assert "selected" not in (first.get_attribute("class") or "")


def test_export_the_ticked_rows(page, tmp_path):
    ids = [tr.get_attribute("data-feature") for tr in rows(page).all()[:2]]
    for fid in ids:
        page.locator(f'#attr-table tr[data-feature="{fid}"] td.tick input').check()
    assert "已勾选 2 条" in page.locator("#attr-count").inner_text()
    page.locator("#attr-format").select_option("geojson")
    with page.expect_download(timeout=60_000) as dl:
        page.locator("#attr-export").click()
    path = tmp_path / "sel.geojson"
    dl.value.save_as(path)
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert sorted(f["properties"]["id"] for f in doc["features"]) == sorted(ids)


def test_query_results_open_in_the_table(page, live_server):
    cores = live_server.catalog.read("cores")
    fid = cores.index[0]
    g = cores.loc[fid].geometry.representative_point()
    page.evaluate(f"() => window.kfqMap.jumpTo({{center: [{g.x}, {g.y}], zoom: 13}})")
    wait_idle(page)
    page.locator('.tool[data-tool="point"]').click()
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.locator(f'#tab-results tr[data-layer="cores"][data-feature="{fid}"]').wait_for(timeout=15_000)
    n = page.locator("#tab-results tr.clickable").count()
    page.locator("#tab-results .result-actions button", has_text="属性表").click()
    page.wait_for_function(f"document.querySelectorAll('#attr-table tbody tr').length === {n}", timeout=10_000)
    assert page.locator(f'#attr-table tr[data-layer="cores"][data-feature="{fid}"]').count() == 1
    assert "查询结果" in page.locator("#attr-table .attr-head").inner_text()
    page.locator('.tool[data-tool="select"]').click()
    page.locator("#attr-table .attr-close").click()
    assert page.locator("#attr-table").is_hidden()


def test_no_page_errors(page):
    assert not page.errors, page.errors
    assert not page.log.blocked
