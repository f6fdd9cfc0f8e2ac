"""The one style definition of KFQMap: a MapLibre style built from each catalog ``Layer.style``.

Everything that draws the plan reads its colours here:

* the web viewer loads ``plan_style(base_url)`` from ``/styles/plan.json`` (MapLibre GL JS ≥ 5.11; the style
  has **no** ``glyphs`` entry, so labels use the local Noto Sans CJK font named in ``text-font``);
* ``kfqmap.render`` draws PNG tiles from ``layer_paint(layer)``;
* the KML / DXF / folium exporters call ``layer_paint(layer)`` for fill, stroke, width, opacity and dash.

Colours come from the catalog (``Layer.style``); any field the catalog leaves unset falls back to the
palette below, chosen so that axes, belts, cores, parks and renewal sites are told apart at a glance.
Schematic layers (geometry drawn from the plan's diagrams) get a dashed outline; illustrative layers
(examples, not the plan's own geometry) get a dotted outline, a lighter fill and "（示例）" after their labels.
"""
from __future__ import annotations

from typing import Any

#: fallback look per layer id, used for the fields a catalog entry does not set
PALETTE: dict[str, dict[str, Any]] = {
    "admin_boundaries": {"fill": None, "stroke": "#8c8c8c", "stroke_width": 1.2, "z": 0, "dash": [6, 3]},
    "etdz_extent": {"fill": "#fff7d6", "fill_opacity": 0.25, "stroke": "#b8860b", "stroke_width": 2.0, "z": 1},
    "rivers": {"stroke": "#3d8fd1", "stroke_width": 2.5, "z": 2},
    "roads": {"stroke": "#9a9a9a", "stroke_width": 1.6, "z": 3},
    "railways": {"stroke": "#404040", "stroke_width": 2.0, "z": 4},
    "belts": {"fill": "#41ab5d", "fill_opacity": 0.28, "stroke": "#238b45", "stroke_width": 1.8, "z": 5},
    "parks": {"fill": "#4292c6", "fill_opacity": 0.30, "stroke": "#2166ac", "stroke_width": 1.5, "z": 6},
    "corridor_parks": {"fill": "#17becf", "fill_opacity": 0.35, "stroke": "#0e8a96", "stroke_width": 1.5, "z": 7},
    "low_efficiency_land": {"fill": "#b07a2a", "fill_opacity": 0.30, "stroke": "#8c5a12", "stroke_width": 1.0,
                            "z": 8, "label": False},
    "renewal_sites": {"fill": "#8c6bb1", "fill_opacity": 0.45, "stroke": "#5e3c99", "stroke_width": 1.5, "z": 9},
    "cores": {"fill": "#e6550d", "fill_opacity": 0.35, "stroke": "#b63c05", "stroke_width": 2.2, "z": 10},
    "axes": {"stroke": "#d6246e", "stroke_width": 5.0, "z": 11},
    "s1_stations": {"fill": "#ffffff", "stroke": "#303030", "stroke_width": 2.0, "radius": 4.5, "z": 12},
    "axis_carriers": {"fill": "#d6246e", "stroke": "#ffffff", "stroke_width": 1.5, "radius": 5.5, "z": 13},
    "key_projects": {"fill": "#5e3c99", "stroke": "#ffffff", "stroke_width": 1.5, "radius": 5.5, "z": 14},
}
DEFAULT = {"fill": None, "fill_opacity": 0.35, "stroke": "#333333", "stroke_width": 1.5, "dash": None,
           "radius": 5.0, "label": True, "z": 0}
SCHEMATIC_DASH = [4.0, 2.0]      # px, as in Leaflet's dashArray (MapLibre's is in line widths: converted)
ILLUSTRATIVE_DASH = [1.0, 2.0]
ILLUSTRATIVE_SUFFIX = "（示例）"
BACKGROUND = "#f4f2ec"
LABEL_COLOR = "#1f1f1f"
LABEL_HALO = "#ffffff"
FONT_STACK = ["Noto Sans CJK SC", "sans-serif"]
TEXT_SIZE = 12
FONT_FILE = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"   # the same font for PNG tiles


def _family(layer) -> str:
    gt = layer.geometry_type
    if gt in ("Point", "MultiPoint"):
        return "circle"
    if gt in ("LineString", "MultiLineString"):
        return "line"
    return "fill"


def layer_paint(layer) -> dict[str, Any]:
    """How a layer is drawn, for every renderer and exporter.

    Returns ``dict(kind, fill, fill_opacity, stroke, width, opacity, dash, radius, label, label_suffix,
    z, schematic, illustrative)``: ``kind`` is ``fill`` | ``line`` | ``circle``; colours are ``#rrggbb``
    (``fill`` may be None: outline only); ``width``/``radius``/``dash`` are CSS pixels at 1×.
    """
    style = getattr(layer, "style", None)
    merged = dict(DEFAULT)
    merged.update(PALETTE.get(getattr(layer, "id", ""), {}))
    if style is not None:
        explicit = getattr(style, "model_fields_set", set())
        for key in explicit:
            merged[key] = getattr(style, key)
    schematic = bool(getattr(layer, "schematic", False))
    illustrative = bool(getattr(layer, "illustrative", False))
    dash = merged.get("dash")
    if not dash:
        dash = ILLUSTRATIVE_DASH if illustrative else (SCHEMATIC_DASH if schematic else None)
    fill_opacity = float(merged["fill_opacity"])
    if illustrative:
        fill_opacity = round(fill_opacity * 0.7, 3)
    kind = _family(layer)
    fill = merged.get("fill")
    if kind == "circle" and not fill:
        fill = merged["stroke"]
    return {
        "kind": kind,
        "fill": fill,
        "fill_opacity": fill_opacity,
        "stroke": merged["stroke"],
        "width": float(merged["stroke_width"]),
        "opacity": 0.95,
        "dash": [float(d) for d in dash] if dash else None,
        "radius": float(merged["radius"]),
        "label": bool(merged["label"]),
        "label_suffix": ILLUSTRATIVE_SUFFIX if illustrative else "",
        "z": int(merged["z"]),
        "schematic": schematic,
        "illustrative": illustrative,
        "categories": _categories(style),
    }


def _categories(style) -> dict[str, Any] | None:
    """Per-category colours (e.g. parks by ``park_type``): ``{"field": name, "values": {value: {fill, stroke}}}``."""
    field = getattr(style, "category_field", None)
    values = getattr(style, "categories", None)
    if not field or not values:
        return None
    return {"field": field, "values": {str(k): {"fill": v.get("fill"), "stroke": v.get("stroke")}
                                       for k, v in values.items()}}


def _by_category(paint: dict, key: str) -> Any:
    """A MapLibre ``match`` expression on the category field, or the plain colour when there are no categories.

    Each label is a one-element array (``[value]``): QGIS 3.22's converter turns a bare string label into an empty
    ``IN ()`` (measured with Debian's python3-qgis), an array into ``"field" IN ('value')``."""
    cats = paint.get("categories")
    if not cats:
        return paint[key]
    expr: list[Any] = ["match", ["to-string", ["get", cats["field"]]]]
    for value, colours in cats["values"].items():
        expr += [[value], colours.get(key) or paint[key]]
    return expr + [paint[key]]


def feature_colours(paint: dict, values) -> tuple[list[str | None], list[str]]:
    """Fill and stroke colour of each feature, given its category values (renderers without expressions)."""
    cats = paint.get("categories") or {"values": {}}
    fills, strokes = [], []
    for value in values:
        colours = cats["values"].get(str(value), {})
        fills.append(colours.get("fill") or paint["fill"])
        strokes.append(colours.get("stroke") or paint["stroke"])
    return fills, strokes


def ordered_layers(layers) -> list:
    """Layers bottom to top, by their paint ``z`` (then their catalog order)."""
    layers = list(layers)
    return sorted(layers, key=lambda lyr: (layer_paint(lyr)["z"], layers.index(lyr)))


#: The expression operators the style may use. QGIS's MapLibre/Mapbox GL style converter
#: (``QgsMapBoxGlStyleConverter::parseExpression`` in QGIS's src/core/vectortile/qgsmapboxglstyleconverter.cpp,
#: QGIS 3.22 as in Debian 12) understands only these; any other operator (``coalesce``, ``case``, ``concat``,
#: ``!``) makes it drop the whole property — with ``["coalesce", ["get", "name"], ""]`` QGIS showed no label at all.
#: ``match`` needs array labels (see ``_by_category``); text with a fixed suffix uses the ``"{name}…"`` token string,
#: which both MapLibre and QGIS (as ``concat("name", '…')``) read. tests/kfqmap/test_style.py holds the style to
#: this list and, where python3-qgis is installed, runs QGIS's converter on it.
QGIS_EXPRESSION_OPERATORS = frozenset({"all", "any", "none", "==", "!=", ">=", ">", "<=", "<", "has", "!has",
                                       "in", "!in", "get", "match", "to-string", "interpolate", "zoom", "linear",
                                       "exponential"})


def _label_layer(layer, paint: dict, source: str, *, text: Any, filter: Any = None, id_suffix: str = "") -> dict:
    out: dict[str, Any] = {
        "id": f"{layer.id}-label{id_suffix}", "type": "symbol", "source": source, "source-layer": layer.id,
        "layout": {"text-field": text, "text-font": FONT_STACK, "text-size": TEXT_SIZE,
                   "text-max-width": 8, "text-allow-overlap": False},
        "paint": {"text-color": LABEL_COLOR, "text-halo-color": LABEL_HALO, "text-halo-width": 1.5},
        "metadata": {"kfqmap:layer": layer.id, "kfqmap:role": "label"},
    }
    if filter is not None:
        out["filter"] = filter
    if paint["kind"] == "line":
        out["layout"]["symbol-placement"] = "line"
    elif paint["kind"] == "circle":
        out["layout"].update({"text-anchor": "left", "text-offset": [0.7, 0], "text-optional": True})
    return out


def _label_layers(layer, paint: dict, source: str, names=None) -> list[dict]:
    """The label layer(s) of one catalog layer, in expressions MapLibre and QGIS both read.

    A plain layer labels with ``["get", "name"]`` (a feature without a name gets no label). An illustrative layer
    appends "（示例）" unless the name already says 示例 (the rule of ``kfqmap.render.label_text``); QGIS's converter
    has no substring test, so ``names`` (the layer's feature names, when the caller has them) decide which
    features already say it, and those get a second label layer without the suffix (``match`` filters on the
    names). Without ``names`` every label gets the suffix."""
    plain = ["get", "name"]
    suffix = paint["label_suffix"]
    if not suffix:
        return [_label_layer(layer, paint, source, text=plain)]
    word = suffix.strip("（）")
    named = [n for n in names if isinstance(n, str) and n] if names is not None else None
    said = sorted({n for n in named or () if word in n})
    all_said = bool(named) and len(said) == len(set(named))
    if all_said:
        return [_label_layer(layer, paint, source, text=plain)]
    suffixed = "{name}" + suffix
    if not said:
        return [_label_layer(layer, paint, source, text=suffixed, filter=["has", "name"])]
    return [_label_layer(layer, paint, source, text=suffixed,
                         filter=["all", ["has", "name"], ["match", ["get", "name"], said, False, True]]),
            _label_layer(layer, paint, source, text=plain, id_suffix="-named",
                         filter=["match", ["get", "name"], said, True, False])]


def maplibre_layers(layer, source: str = "plan", *, names=None) -> list[dict]:
    """The MapLibre style layers that draw one catalog layer (fill/outline/circle/line, then label).

    ``names``: the layer's feature names, for an illustrative layer's labels (see ``_label_layers``)."""
    p = layer_paint(layer)
    meta = {"kfqmap:layer": layer.id, "kfqmap:schematic": p["schematic"], "kfqmap:illustrative": p["illustrative"],
            "kfqmap:title": layer.title_zh}
    base = {"source": source, "source-layer": layer.id}
    out: list[dict] = []
    if p["kind"] == "fill":
        if p["fill"]:
            out.append({"id": f"{layer.id}-fill", "type": "fill", **base, "metadata": meta,
                        "paint": {"fill-color": _by_category(p, "fill"), "fill-opacity": p["fill_opacity"]}})
        line = {"id": f"{layer.id}-outline", "type": "line", **base, "metadata": meta,
                "layout": {"line-join": "round"},
                "paint": {"line-color": _by_category(p, "stroke"), "line-width": p["width"], "line-opacity": p["opacity"]}}
        if p["dash"]:
            line["paint"]["line-dasharray"] = [d / max(p["width"], 0.5) for d in p["dash"]]
        out.append(line)
    elif p["kind"] == "line":
        line = {"id": f"{layer.id}-line", "type": "line", **base, "metadata": meta,
                "layout": {"line-join": "round", "line-cap": "round" if not p["dash"] else "butt"},
                "paint": {"line-color": p["stroke"], "line-width": p["width"], "line-opacity": p["opacity"]}}
        if p["dash"]:
            line["paint"]["line-dasharray"] = [d / max(p["width"], 0.5) for d in p["dash"]]
        out.append(line)
    else:
        out.append({"id": f"{layer.id}-circle", "type": "circle", **base, "metadata": meta,
                    "paint": {"circle-color": p["fill"], "circle-radius": p["radius"],
                              "circle-stroke-color": p["stroke"], "circle-stroke-width": p["width"],
                              "circle-opacity": p["opacity"]}})
    if p["label"]:
        out.extend(_label_layers(layer, p, source, names))
    return out


def plan_style(catalog, base_url: str = "", *, tileset: str = "plan", layers=None) -> dict:
    """The MapLibre style JSON (version 8) of the plan tileset. ``base_url`` makes the TileJSON URL absolute.

    Deliberately no ``glyphs``: MapLibre GL JS ≥ 5.11 then draws labels with the local font in ``text-font``.
    """
    if layers is None:
        layers = [lyr for lyr in catalog.layers if lyr.is_spatial and lyr.kind != "extra"]
    layers = ordered_layers(layers)
    style_layers: list[dict] = [{"id": "background", "type": "background", "paint": {"background-color": BACKGROUND}}]
    geometry_layers, label_layers = [], []
    for lyr in layers:
        for sl in maplibre_layers(lyr, source=tileset, names=_names(catalog, lyr)):
            (label_layers if sl["type"] == "symbol" else geometry_layers).append(sl)
    style_layers += geometry_layers + label_layers   # labels above all geometry; upper layers' labels win collisions
    return {
        "version": 8,
        "name": "KFQMap 昆山开发区“十四五”规划空间格局",
        "metadata": {"kfqmap:legend": legend(layers)},
        "sources": {tileset: {"type": "vector", "url": f"{base_url.rstrip('/')}/tiles/{tileset}/tilejson.json",
                              "attribution": "昆山开发区“十四五”规划（示意）"}},
        "layers": style_layers,
    }


def _names(catalog, layer):
    """Feature names of an illustrative, labelled layer (the only ones whose labels depend on them), else None."""
    if catalog is None or not layer.illustrative or not layer_paint(layer)["label"]:
        return None
    try:
        frame = catalog.read(layer.id)
    except Exception:  # noqa: BLE001 - an unreadable store must not take the style down; labels keep the suffix
        return None
    return list(frame["name"]) if "name" in frame.columns else None


def legend(layers) -> list[dict]:
    """Legend entries (bottom-to-top order reversed: top layer first) for the viewer and the exporters."""
    out = []
    for lyr in reversed(ordered_layers(layers)):
        p = layer_paint(lyr)
        out.append({"id": lyr.id, "title_zh": lyr.title_zh, "title_en": lyr.title_en, "group": lyr.group, **p})
    return out
