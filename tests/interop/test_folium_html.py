"""``kfqmap export --format html`` (folium) opens in headless Chromium with the network unplugged and shows the
layers: Leaflet is inlined, no request leaves the file, every layer is drawn, popups are Chinese."""
from __future__ import annotations

import re

import pytest

from kfqmap.catalog import load_catalog
from kfqmap.export import export_layers
from server.testing import default_catalog_settings

pytestmark = [pytest.mark.browser, pytest.mark.interop]

LAYERS = ["etdz_extent", "rivers", "roads", "cores", "parks", "corridor_parks", "renewal_sites",
          "low_efficiency_land", "key_projects", "axes"]


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(default_catalog_settings())


@pytest.fixture(scope="module")
def html_file(catalog, tmp_path_factory):
    ids = [i for i in LAYERS if i in catalog.ids]
    target = tmp_path_factory.mktemp("folium") / "kfqmap.html"
    result = export_layers(catalog, ids, "html", target)
    assert result.path == target and target.stat().st_size > 100_000
    return target, ids


def test_file_references_nothing_outside(html_file):
    path, _ = html_file
    text = path.read_text(encoding="utf-8")
    assert not re.findall(r"<(?:script|link)[^>]+(?:src|href)=[\"'](?:https?:)?//", text)
    assert "cdn.jsdelivr" not in text and "code.jquery" not in text and "cdnjs" not in text
    assert "图例" in text and "昆山开发区" in text


def test_opens_offline_and_shows_the_layers(chromium, make_offline_context, html_file, catalog, artifacts):
    path, ids = html_file
    context, log = make_offline_context(chromium, allow_hosts=(), allow_file=True, viewport={"width": 1366, "height": 768})
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri(), wait_until="load")
        page.wait_for_function("document.querySelectorAll('.leaflet-interactive').length > 0", timeout=30_000)
        page.wait_for_timeout(500)
        page.screenshot(path=str(artifacts / "folium-html.png"))
        assert not log.blocked, log.blocked[:5]
        assert not errors, errors
        assert all(u.startswith(("file:", "data:")) for u in log.urls), log.urls
        drawn = page.locator(".leaflet-interactive").count()
        expected = sum(len(catalog.read(i)) for i in ids)
        assert drawn >= expected * 0.9, (drawn, expected)
        control = page.locator(".leaflet-control-layers").inner_text()
        for i in ids:
            assert catalog.get(i).title_zh in control
        assert "图例" in page.locator(".kfq-legend").inner_text()
        # a popup in Chinese: click the first core's path
        name = catalog.read("cores").iloc[0]["name"]
        page.evaluate("""(name) => {
            for (const k in window) {
              const m = window[k];
              if (m && m instanceof L.Map) {
                let hit = null;
                m.eachLayer((l) => { if (!hit && l.feature && l.feature.properties && l.feature.properties.name === name) hit = l; });
                if (hit) { hit.fire('click', { latlng: hit.getBounds ? hit.getBounds().getCenter() : hit.getLatLng() }, true); return; }
              }
            }
        }""", name)
        popup = page.locator(".leaflet-popup-content")
        popup.wait_for(timeout=10_000)
        text = popup.inner_text()
        assert name in text and "亩" in text and "规划章节" in text
        page.screenshot(path=str(artifacts / "folium-html-popup.png"))
    finally:
        context.close()
