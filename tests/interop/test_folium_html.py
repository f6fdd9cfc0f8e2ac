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


def test_page_has_a_title(html_file, catalog, tmp_path):
    """Issue 15: the page had no <title> (the tab said the file name)."""
    from html.parser import HTMLParser

    from kfqmap.export.html import DEFAULT_TITLE

    class Titles(HTMLParser):
        def __init__(self):
            super().__init__()
            self.titles, self._in = [], False

        def handle_starttag(self, tag, attrs):
            self._in = tag == "title"

        def handle_endtag(self, tag):
            self._in = False

        def handle_data(self, data):
            if self._in:
                self.titles.append(data)

    def titles(path):
        parser = Titles()
        parser.feed(path.read_text(encoding="utf-8"))
        return parser.titles

    path, _ = html_file
    assert titles(path) == [DEFAULT_TITLE]
    custom = tmp_path / "custom.html"
    export_layers(catalog, ["cores"], "html", custom, options={"title": "核心区 <示意> & 范围"})
    assert titles(custom) == ["核心区 <示意> & 范围"]                   # escaped in the file, read back intact
    assert "<title>核心区 &lt;示意&gt; &amp; 范围</title>" in custom.read_text(encoding="utf-8")


def _plan_bounds(catalog, ids):
    import numpy as np
    b = np.array([catalog.read(i).geometry.dropna().total_bounds for i in ids])
    return b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()


@pytest.mark.parametrize("with_background", [False, True])
def test_opens_zoomed_to_the_zone(chromium, make_offline_context, catalog, tmp_path, with_background):
    """The page opens fitted to the exported plan layers — also when the administrative boundaries of Kunshan and
    its neighbours are exported with them (they must not zoom the page out to eight cities)."""
    plan = [i for i in ("cores", "parks", "renewal_sites") if i in catalog.ids]
    ids = plan + (["admin_boundaries"] if with_background and "admin_boundaries" in catalog.ids else [])
    target = tmp_path / "zone.html"
    export_layers(catalog, ids, "html", target)
    context, _ = make_offline_context(chromium, allow_hosts=(), allow_file=True, viewport={"width": 1366, "height": 768})
    try:
        page = context.new_page()
        page.goto(target.as_uri(), wait_until="load")
        page.wait_for_function("document.querySelectorAll('.leaflet-interactive').length > 0", timeout=30_000)
        view = page.evaluate("""() => {
            for (const k in window) {
              const m = window[k];
              if (m && m instanceof L.Map) { const b = m.getBounds();
                return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]; }
            }
            return null; }""")
    finally:
        context.close()
    assert view is not None
    w, s, e, n = _plan_bounds(catalog, plan)
    assert view[0] <= w and view[1] <= s and view[2] >= e and view[3] >= n, (view, (w, s, e, n))   # all of it
    ratio = min((view[2] - view[0]) / (e - w), (view[3] - view[1]) / (n - s))
    assert ratio < 2.5, (view, (w, s, e, n))                           # and zoomed to it, not to the region
