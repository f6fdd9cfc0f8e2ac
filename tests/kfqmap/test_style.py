"""kfqmap.style: one MapLibre style from the catalog, and the paint API every renderer/exporter reads."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from kfqmap.catalog import load_catalog
from kfqmap.settings import CatalogSettings
from kfqmap.style import FONT_STACK, QGIS_EXPRESSION_OPERATORS, layer_paint, legend, maplibre_layers, plan_style


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
            if label is not None and "（示例）" not in json.dumps(label["layout"]["text-field"], ensure_ascii=False):
                # no suffix only where every name already says 示例 (the rule of kfqmap.render.label_text)
                assert all("示例" in n for n in catalog.read(layer.id)["name"].dropna()), layer.id


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
    for value, colours in cats["values"].items():       # labels as one-element arrays: QGIS needs that
        assert fill[fill.index([value]) + 1] == colours["fill"]


# ------------------------------------------------------------------ QGIS's MapLibre style converter (issue 15)
#: properties whose value is a literal array, never an expression
_LITERAL_ARRAYS = {"text-font", "line-dasharray", "text-offset"}


def _operators(expr):
    """Every operator used in a MapLibre expression (match labels and literal arrays skipped)."""
    if not isinstance(expr, list) or not expr or not isinstance(expr[0], str):
        return
    op = expr[0]
    yield op
    if op == "match":
        yield from _operators(expr[1])
        for out in expr[3:-1:2] + [expr[-1]]:
            yield from _operators(out)
    else:
        for arg in expr[1:]:
            yield from _operators(arg)


def _style_operators(style) -> set[str]:
    used = set()
    for lyr in style["layers"]:
        used |= set(_operators(lyr.get("filter")))
        for block in ("layout", "paint"):
            for key, value in lyr.get(block, {}).items():
                if key not in _LITERAL_ARRAYS:
                    used |= set(_operators(value))
    return used


def _mixed_illustrative_style(catalog):
    """A style with an illustrative layer whose names partly say 示例 (two label layers) and a category layer."""
    layer = next(lyr for lyr in catalog.spatial_layers() if lyr.is_polygonal)
    fake = layer.model_copy(update={"illustrative": True, "id": "example_sites"})
    fake = fake.model_copy(update={"style": fake.style.model_copy(update={"label": True})})
    layers = maplibre_layers(fake, names=["示例地块一", "某某园", None])
    return {"version": 8, "sources": {"plan": {"type": "vector", "tiles": ["http://x/{z}/{x}/{y}.mvt"]}},
            "layers": layers}


def test_style_uses_only_expressions_qgis_converts(style, catalog):
    """``["coalesce", ["get","name"], ""]`` made QGIS drop every label; keep to the operators its converter knows."""
    assert _style_operators(style) <= QGIS_EXPRESSION_OPERATORS
    assert _style_operators(_mixed_illustrative_style(catalog)) <= QGIS_EXPRESSION_OPERATORS
    labels = [lyr for lyr in style["layers"] if lyr["type"] == "symbol"]
    assert all(lyr["layout"]["text-field"] == ["get", "name"] or
               (isinstance(lyr["layout"]["text-field"], str) and lyr["layout"]["text-field"].startswith("{name}"))
               for lyr in labels)


def test_illustrative_labels_keep_the_render_rule(catalog):
    """Suffix "（示例）" unless the name already says 示例 — the rule of kfqmap.render.label_text."""
    from kfqmap.render import label_text
    layers = _mixed_illustrative_style(catalog)["layers"]
    labels = {lyr["id"]: lyr for lyr in layers if lyr["type"] == "symbol"}
    assert labels["example_sites-label"]["layout"]["text-field"] == "{name}（示例）"
    assert labels["example_sites-label"]["filter"] == ["all", ["has", "name"],
                                                       ["match", ["get", "name"], ["示例地块一"], False, True]]
    assert labels["example_sites-label-named"]["layout"]["text-field"] == ["get", "name"]
    paint = {"label_suffix": "（示例）"}
    assert label_text("示例地块一", paint) == "示例地块一" and label_text("某某园", paint) == "某某园（示例）"
    if "low_efficiency_land" in catalog.ids:    # every 5000亩 example parcel is named 示例…: one plain label layer
        ids = [lyr["id"] for lyr in plan_style(catalog)["layers"] if lyr["id"].startswith("low_efficiency_land-label")]
        assert ids == ["low_efficiency_land-label"]


DEBIAN_PYTHON = "/usr/bin/python3"
_QGIS_SCRIPT = r"""
import json, sys
from qgis.core import QgsApplication, QgsMapBoxGlStyleConverter, QgsMapBoxGlStyleConversionContext, QgsSymbolLayer
app = QgsApplication([], False)
app.initQgis()
conv = QgsMapBoxGlStyleConverter()
conv.convert(json.load(open(sys.argv[1], encoding="utf-8")), QgsMapBoxGlStyleConversionContext())
out = {"warnings": list(conv.warnings()), "labels": [], "fills": {}}
for s in conv.labeling().styles():
    ls = s.labelSettings()
    out["labels"].append({"style": s.styleName(), "layer": s.layerName(), "field": ls.fieldName,
                          "expression": ls.isExpression, "filter": s.filterExpression(),
                          "font": ls.format().font().family()})
for s in conv.renderer().styles():
    sl = s.symbol().symbolLayer(0)
    prop = sl.dataDefinedProperties().property(QgsSymbolLayer.PropertyFillColor)
    out["fills"][s.styleName()] = {"colour": sl.color().name(), "expression": prop.expressionString() if prop.isActive() else ""}
print(json.dumps(out, ensure_ascii=False))
"""


def _qgis_convert(style, tmp_path) -> dict:
    probe = subprocess.run([DEBIAN_PYTHON, "-c", "import qgis.core"], capture_output=True) \
        if Path(DEBIAN_PYTHON).exists() else None
    if probe is None or probe.returncode != 0:
        pytest.skip("python3-qgis not installed (apt-get install python3-qgis)")
    path = tmp_path / "style.json"
    path.write_text(json.dumps(style, ensure_ascii=False), encoding="utf-8")
    script = tmp_path / "convert.py"
    script.write_text(_QGIS_SCRIPT, encoding="utf-8")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": str(tmp_path)}
    env.pop("PYTHONPATH", None)
    done = subprocess.run([DEBIAN_PYTHON, str(script), str(path)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.interop
def test_qgis_converter_keeps_every_label_and_category_colour(style, catalog, tmp_path):
    """QGIS (Debian's 3.22, QgsMapBoxGlStyleConverter) converts /styles/plan.json with no warning, a label field
    for every label layer, the CJK font and the per-category colours."""
    result = _qgis_convert(style, tmp_path)
    assert result["warnings"] == []
    wanted = {lyr["id"] for lyr in style["layers"] if lyr["type"] == "symbol"}
    assert {lab["style"] for lab in result["labels"]} == wanted
    for lab in result["labels"]:
        # an illustrative layer whose names do not say 示例 is labelled "name（示例）" (the plan's enterprises)
        assert lab["field"] in ('"name"', "concat(\"name\",'（示例）')") and lab["expression"], lab
        assert lab["font"] == FONT_STACK[0]
    if "parks" in catalog.ids:
        cats = layer_paint(catalog.get("parks"))["categories"]
        expression = result["fills"]["parks-fill"]["expression"]
        for value, colours in (cats or {"values": {}})["values"].items():
            assert f"IN ('{value}') THEN '{colours['fill'].lower()}'" in expression


@pytest.mark.interop
def test_qgis_converter_reads_the_illustrative_suffix_and_filters(catalog, tmp_path):
    result = _qgis_convert(_mixed_illustrative_style(catalog), tmp_path)
    assert result["warnings"] == []
    labels = {lab["style"]: lab for lab in result["labels"]}
    assert labels["example_sites-label"]["field"] == "concat(\"name\",'（示例）')"
    said = ('"name" IN (\'示例地块一\')', '"name" = \'示例地块一\'')   # QGIS writes one name as an equality
    assert labels["example_sites-label"]["filter"] in {
        f'("name" IS NOT NULL) AND (CASE WHEN {s} THEN FALSE ELSE TRUE END)' for s in said}
    assert labels["example_sites-label-named"]["field"] == '"name"'
    assert labels["example_sites-label-named"]["filter"] in said
