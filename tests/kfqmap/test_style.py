"""kfqmap.style: one MapLibre style from the catalog, and the paint API every renderer/exporter reads."""
from __future__ import annotations

import json

import pytest

from kfqmap.catalog import load_catalog
from kfqmap.settings import CatalogSettings
from kfqmap.style import FONT_STACK, layer_paint, legend, maplibre_layers, plan_style


@pytest.fixture(scope="module")
def catalog():
    try:
        return load_catalog()
    except Exception:
        from server.testing import MINI_GEODATA
        return load_catalog(CatalogSettings(geodata_dir=MINI_GEODATA, extra_layers=""))


@pytest.fixture(scope="module")
def style(catalog):
    return plan_style(catalog, "http://127.0.0.1:8000")


def test_style_shape(style, catalog):
    assert style["version"] == 8
    assert "glyphs" not in style                     # MapLibre ≥ 5.11 then draws labels with local fonts
    assert "sprite" not in style
    assert style["sources"]["plan"] == {"type": "vector", "url": "http://127.0.0.1:8000/tiles/plan/tilejson.json",
                                        "attribution": style["sources"]["plan"]["attribution"]}
    ids = [lyr["id"] for lyr in style["layers"]]
    assert len(ids) == len(set(ids))
    assert style["layers"][0]["type"] == "background"
    plan_ids = {lyr.id for lyr in catalog.layers if lyr.is_spatial and lyr.kind != "extra"}
    used = {lyr["source-layer"] for lyr in style["layers"] if "source-layer" in lyr}
    assert used == plan_ids
    json.dumps(style, ensure_ascii=False)          # serialisable


def test_labels_use_local_cjk_font(style):
    symbols = [lyr for lyr in style["layers"] if lyr["type"] == "symbol"]
    assert symbols
    for lyr in symbols:
        assert lyr["layout"]["text-font"] == FONT_STACK == ["Noto Sans CJK SC", "sans-serif"]
    # labels sit above every geometry layer
    kinds = [lyr["type"] for lyr in style["layers"]]
    assert max(i for i, k in enumerate(kinds) if k != "symbol") < min(i for i, k in enumerate(kinds) if k == "symbol")


def test_schematic_dashed_and_illustrative_marked(catalog, style):
    by_id = {lyr["id"]: lyr for lyr in style["layers"]}
    for layer in catalog.spatial_layers():
        p = layer_paint(layer)
        outline = by_id.get(f"{layer.id}-outline") or by_id.get(f"{layer.id}-line")
        if layer.schematic and outline is not None:
            assert p["dash"], layer.id
            assert "line-dasharray" in outline["paint"], layer.id
        if layer.illustrative:
            assert p["label_suffix"] == "（示例）"
            label = by_id.get(f"{layer.id}-label")
            if label is not None:
                assert "（示例）" in json.dumps(label["layout"]["text-field"], ensure_ascii=False)


def test_layer_paint_api(catalog):
    for layer in catalog.spatial_layers():
        p = layer_paint(layer)
        assert {"kind", "fill", "fill_opacity", "stroke", "width", "opacity", "dash", "radius", "label", "z"} <= set(p)
        assert p["stroke"].startswith("#") and len(p["stroke"]) == 7
        assert p["kind"] in ("fill", "line", "circle")
        if layer.style.model_fields_set and "stroke" in layer.style.model_fields_set:
            assert p["stroke"] == layer.style.stroke          # the catalog's colour wins
        # the style JSON carries the same numbers
        for sl in maplibre_layers(layer):
            def plain(colour):   # a category-coloured layer falls back to its own colour (last match arm)
                return colour[-1] if isinstance(colour, list) else colour

            if sl["type"] == "fill":
                assert plain(sl["paint"]["fill-color"]) == p["fill"]
                assert sl["paint"]["fill-opacity"] == p["fill_opacity"]
            if sl["type"] == "line":
                assert plain(sl["paint"]["line-color"]) == p["stroke"] and sl["paint"]["line-width"] == p["width"]
            if sl["type"] == "circle":
                assert sl["paint"]["circle-color"] == p["fill"]


def test_plan_groups_have_distinct_colours(catalog):
    wanted = [i for i in ("axes", "belts", "cores", "parks", "renewal_sites") if i in catalog.ids]
    colours = {}
    for layer_id in wanted:
        p = layer_paint(catalog.get(layer_id))
        colours[layer_id] = p["fill"] if p["kind"] == "fill" else p["stroke"]
    assert len(set(colours.values())) == len(colours), colours


def test_legend(catalog):
    entries = legend(catalog.spatial_layers())
    assert [e["id"] for e in entries][-1] in catalog.ids
    assert all(e["title_zh"] for e in entries)


def test_parks_are_coloured_by_park_type_from_the_catalog():
    from kfqmap.catalog import load_catalog
    from kfqmap.style import layer_paint, plan_style

    catalog = load_catalog()
    parks = catalog.get("parks")
    cats = layer_paint(parks)["categories"]
    assert cats["field"] == "park_type"
    assert set(cats["values"]) == set(catalog.read("parks")["park_type"])
    fill = next(lyr for lyr in plan_style(catalog)["layers"] if lyr["id"] == "parks-fill")["paint"]["fill-color"]
    assert fill[0] == "match" and fill[1] == ["to-string", ["get", "park_type"]]
    for value, colours in cats["values"].items():
        assert fill[fill.index(value) + 1] == colours["fill"]
