"""GeoPackage: one table per plan layer (table name = layer id), tables without geometry as attribute tables.

Each table's ``identifier`` is the Chinese layer title and its ``description`` names the CRS. GCJ-02 tables
are written with GDAL's "Undefined SRS" and say "GCJ-02" in their description. Files are GeoPackage 1.2, which
older readers (GDAL 3.6's ogrinfo, ArcGIS) open without warnings.

Styles: the file carries QGIS's ``layer_styles`` table (the one QGIS itself writes with 保存到数据源, columns
f_table_catalog … update_time) with one default style per spatial layer, a QML and an SLD generated from the
shared paint (``kfqmap.style.layer_paint``: fill, stroke, opacity, width and dash in screen pixels, per-category
colours, labels from ``name`` in Noto Sans CJK SC with a white halo, "（示例）" on illustrative layers), so the
layers open in QGIS looking as in the web viewer.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path
from xml.sax.saxutils import escape

import pandas as pd
import pyogrio

from ..crs import CRSInfo
from ._common import clean_attributes, crs_label, write_gdal
from .selection import LayerSelection, Selection, to_crs


def write_selection(selection, target: Path, crs: CRSInfo, *, progress=None, **_):
    first = True
    for item in selection.items:
        layer = item.layer
        options = {"IDENTIFIER": layer.title_zh,
                   "DESCRIPTION": f"{layer.title_zh}（{layer.title_en}）— {layer.group} — 规划章节 {layer.plan_section}。"
                                  f"{crs_label(crs)}"}
        if not layer.is_spatial:
            table = pd.DataFrame(clean_attributes(item.frame).drop(columns=item.frame.geometry.name))
            pyogrio.write_dataframe(table, target, driver="GPKG", layer=layer.id, append=not first,
                                    layer_options=options, dataset_options={"VERSION": "1.2"} if first else None)
        else:
            write_gdal(to_crs(item.frame, crs), target, driver="GPKG", layer=layer.id, crs=crs, append=not first,
                       layer_options=options, dataset_options={"VERSION": "1.2"} if first else None)
        first = False
        if progress:
            progress(len(item.frame))
    _write_styles(target, [item.layer for item in selection.items if item.layer.is_spatial])


def write(frame, target, crs, layer=None):
    write_selection(Selection(None, [LayerSelection(layer, frame)]), Path(target), crs)


# ---------------------------------------------------------------- QGIS layer styles
#: the table QGIS reads a layer's default style from (and writes with 图层属性 → 样式 → 保存到数据源)
STYLE_TABLE = "layer_styles"
LABEL_FONT = "Noto Sans CJK SC"      # the viewer's label font; QGIS substitutes a CJK system font where it is missing
LABEL_SIZE_PT = 9                    # ≈ the viewer's 12 px labels


def _rgba(colour: str | None, alpha: float = 1.0) -> str:
    """``#rrggbb`` → QGIS's "r,g,b,a" (a 0–255)."""
    h = (colour or "#000000").lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    return f"{int(h[0:2], 16)},{int(h[2:4], 16)},{int(h[4:6], 16)},{round(max(0.0, min(1.0, alpha)) * 255)}"


def _attr(text: str) -> str:
    """Text escaped for an XML attribute in double quotes."""
    return escape(text, {'"': "&quot;"})


def _options(values: dict) -> str:
    return ("<Option type=\"Map\">" + "".join(
        f'<Option name="{_attr(k)}" type="QString" value="{_attr(str(v))}"/>'
        for k, v in values.items()) + "</Option>")


def _line_layer(stroke: str, width: float, dash, opacity: float) -> str:
    opts = {"line_color": _rgba(stroke, opacity), "line_width": f"{width:g}", "line_width_unit": "Pixel",
            "line_style": "solid", "joinstyle": "round", "capstyle": "round" if not dash else "flat",
            "use_custom_dash": "1" if dash else "0", "customdash": ";".join(f"{d:g}" for d in dash or [5, 2]),
            "customdash_unit": "Pixel"}
    return f'<layer class="SimpleLine" enabled="1" locked="0" pass="0">{_options(opts)}</layer>'


def _symbol(paint: dict, name: str, fill: str | None, stroke: str) -> str:
    """One QGIS symbol (fill, line or marker) drawn as in the viewer (widths and sizes in screen pixels)."""
    kind = paint["kind"]
    if kind == "fill":
        layers = ""
        if fill:
            fill_opts = {"color": _rgba(fill, paint["fill_opacity"]), "style": "solid", "outline_style": "no",
                         "outline_color": _rgba(stroke), "outline_width": "0"}
            layers += f'<layer class="SimpleFill" enabled="1" locked="0" pass="0">{_options(fill_opts)}</layer>'
        layers += _line_layer(stroke, paint["width"], paint["dash"], paint["opacity"])
        return f'<symbol type="fill" name="{name}" alpha="1" clip_to_extent="1" force_rhr="0">{layers}</symbol>'
    if kind == "line":
        return (f'<symbol type="line" name="{name}" alpha="1" clip_to_extent="1" force_rhr="0">'
                f'{_line_layer(stroke, paint["width"], paint["dash"], paint["opacity"])}</symbol>')
    opts = {"name": "circle", "color": _rgba(fill or stroke, paint["opacity"]), "outline_color": _rgba(stroke),
            "outline_style": "solid", "outline_width": f"{paint['width']:g}", "outline_width_unit": "Pixel",
            "size": f"{2 * paint['radius']:g}", "size_unit": "Pixel"}
    return (f'<symbol type="marker" name="{name}" alpha="1" clip_to_extent="1" force_rhr="0">'
            f'<layer class="SimpleMarker" enabled="1" locked="0" pass="0">{_options(opts)}</layer></symbol>')


def _label_expression(paint: dict) -> tuple[str, bool]:
    """The label: the name, plus "（示例）" on illustrative layers unless the name says so (as in the viewer)."""
    suffix = paint["label_suffix"]
    if not suffix:
        return "name", False
    word = suffix.strip("（）")
    return (f"CASE WHEN \"name\" LIKE '%{word}%' THEN \"name\" ELSE concat(\"name\", '{suffix}') END", True)


def layer_qml(layer) -> str:
    """A QGIS style (QML) for one layer from the shared paint (``kfqmap.style.layer_paint``)."""
    from ..style import LABEL_COLOR, LABEL_HALO, layer_paint
    p = layer_paint(layer)
    cats = p["categories"]
    if cats:
        symbols = [_symbol(p, str(i), c.get("fill") or p["fill"], c.get("stroke") or p["stroke"])
                   for i, c in enumerate(cats["values"].values())]
        symbols.append(_symbol(p, str(len(symbols)), p["fill"], p["stroke"]))
        rows = "".join(f'<category value="{_attr(v)}" symbol="{i}" label="{escape(v)}" render="true"/>'
                       for i, v in enumerate(cats["values"]))
        rows += f'<category value="" symbol="{len(cats["values"])}" label="其他" render="true"/>'
        renderer = (f'<renderer-v2 type="categorizedSymbol" attr="{escape(cats["field"])}" symbollevels="0" '
                    f'enableorderby="0" forceraster="0"><categories>{rows}</categories>'
                    f'<symbols>{"".join(symbols)}</symbols></renderer-v2>')
    else:
        renderer = (f'<renderer-v2 type="singleSymbol" symbollevels="0" enableorderby="0" forceraster="0">'
                    f'<symbols>{_symbol(p, "0", p["fill"], p["stroke"])}</symbols></renderer-v2>')
    labeling = ""
    if p["label"]:
        field, is_expr = _label_expression(p)
        placement = {"fill": 'placement="1"', "line": 'placement="2" placementFlags="10"',
                     "circle": 'placement="0" dist="2" distUnits="Pixel"'}[p["kind"]]
        labeling = (
            '<labeling type="simple"><settings calloutType="simple">'
            f'<text-style fieldName="{_attr(field)}" isExpression="{int(is_expr)}" '
            f'fontFamily="{LABEL_FONT}" namedStyle="Regular" fontSize="{LABEL_SIZE_PT}" fontSizeUnit="Point" '
            f'textColor="{_rgba(LABEL_COLOR)}" textOpacity="1" fontWeight="50" fontItalic="0">'
            f'<text-buffer bufferDraw="1" bufferSize="1.5" bufferSizeUnits="Pixel" bufferColor="{_rgba(LABEL_HALO)}" '
            'bufferOpacity="1" bufferNoFill="1" bufferJoinStyle="128"/></text-style>'
            f'<placement {placement} priority="5" obstacle="1"/>'
            '<rendering obeyScale="0" displayAll="0" upsidedownLabels="0" fontMinPixelSize="3" fontLimitPixelSize="0"/>'
            '</settings></labeling>')
    return ("<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
            f'<qgis version="3.22.16-Białowieża" styleCategories="Symbology|Labeling" labelsEnabled="{int(bool(labeling))}">'
            f"{renderer}{labeling}</qgis>\n")


def _sld_stroke(stroke: str, paint: dict) -> str:
    dash = (f'<se:SvgParameter name="stroke-dasharray">{" ".join(f"{d:g}" for d in paint["dash"])}</se:SvgParameter>'
            if paint["dash"] else "")
    return (f'<se:Stroke><se:SvgParameter name="stroke">{stroke}</se:SvgParameter>'
            f'<se:SvgParameter name="stroke-opacity">{paint["opacity"]:g}</se:SvgParameter>'
            f'<se:SvgParameter name="stroke-width">{paint["width"]:g}</se:SvgParameter>'
            f'<se:SvgParameter name="stroke-linejoin">round</se:SvgParameter>{dash}</se:Stroke>')


def _sld_symbolizer(paint: dict, fill: str | None, stroke: str) -> str:
    kind = paint["kind"]
    if kind == "fill":
        fill_xml = (f'<se:Fill><se:SvgParameter name="fill">{fill}</se:SvgParameter>'
                    f'<se:SvgParameter name="fill-opacity">{paint["fill_opacity"]:g}</se:SvgParameter></se:Fill>'
                    if fill else "")
        return f"<se:PolygonSymbolizer>{fill_xml}{_sld_stroke(stroke, paint)}</se:PolygonSymbolizer>"
    if kind == "line":
        return f"<se:LineSymbolizer>{_sld_stroke(stroke, paint)}</se:LineSymbolizer>"
    return ("<se:PointSymbolizer><se:Graphic><se:Mark><se:WellKnownName>circle</se:WellKnownName>"
            f'<se:Fill><se:SvgParameter name="fill">{fill or stroke}</se:SvgParameter></se:Fill>'
            f'<se:Stroke><se:SvgParameter name="stroke">{stroke}</se:SvgParameter>'
            f'<se:SvgParameter name="stroke-width">{paint["width"]:g}</se:SvgParameter></se:Stroke></se:Mark>'
            f"<se:Size>{2 * paint['radius']:g}</se:Size></se:Graphic></se:PointSymbolizer>")


def layer_sld(layer) -> str:
    """The same style as SLD 1.1 / SE (for QGIS, GeoServer, ArcGIS Pro): widths and sizes in pixels."""
    from ..style import LABEL_COLOR, LABEL_HALO, layer_paint
    p = layer_paint(layer)
    e = escape
    rules = []
    cats = p["categories"]
    if cats:
        for value, c in cats["values"].items():
            rules.append(f"<se:Rule><se:Name>{e(value)}</se:Name><ogc:Filter><ogc:PropertyIsEqualTo>"
                         f"<ogc:PropertyName>{e(cats['field'])}</ogc:PropertyName><ogc:Literal>{e(value)}</ogc:Literal>"
                         f"</ogc:PropertyIsEqualTo></ogc:Filter>"
                         f"{_sld_symbolizer(p, c.get('fill') or p['fill'], c.get('stroke') or p['stroke'])}</se:Rule>")
        rules.append(f"<se:Rule><se:Name>其他</se:Name><se:ElseFilter/>"
                     f"{_sld_symbolizer(p, p['fill'], p['stroke'])}</se:Rule>")
    else:
        rules.append(f"<se:Rule><se:Name>{e(layer.title_zh)}</se:Name>"
                     f"{_sld_symbolizer(p, p['fill'], p['stroke'])}</se:Rule>")
    if p["label"]:
        label = "<ogc:PropertyName>name</ogc:PropertyName>"
        if p["label_suffix"]:   # SE has no conditional: the suffix is appended (QML keeps the 示例 rule)
            label += e(p["label_suffix"])
        placement = ("<se:LabelPlacement><se:LinePlacement><se:GeneralizeLine>true</se:GeneralizeLine>"
                     "</se:LinePlacement></se:LabelPlacement>") if p["kind"] == "line" else ""
        rules.append(f"<se:Rule><se:Name>标注</se:Name><se:TextSymbolizer><se:Label>{label}</se:Label>"
                     f'<se:Font><se:SvgParameter name="font-family">{LABEL_FONT}</se:SvgParameter>'
                     f'<se:SvgParameter name="font-size">{round(LABEL_SIZE_PT * 4 / 3)}</se:SvgParameter></se:Font>'
                     f'{placement}<se:Halo><se:Radius>1.5</se:Radius><se:Fill><se:SvgParameter name="fill">{LABEL_HALO}'
                     f'</se:SvgParameter></se:Fill></se:Halo>'
                     f'<se:Fill><se:SvgParameter name="fill">{LABEL_COLOR}</se:SvgParameter></se:Fill>'
                     "</se:TextSymbolizer></se:Rule>")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<StyledLayerDescriptor xmlns="http://www.opengis.net/sld" xmlns:ogc="http://www.opengis.net/ogc" '
            'xmlns:se="http://www.opengis.net/se" xmlns:xlink="http://www.w3.org/1999/xlink" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" version="1.1.0" '
            'xsi:schemaLocation="http://www.opengis.net/sld http://schemas.opengis.net/sld/1.1.0/StyledLayerDescriptor.xsd">'
            f"<NamedLayer><se:Name>{e(layer.id)}</se:Name><UserStyle><se:Name>{e(layer.title_zh)}</se:Name>"
            f"<se:FeatureTypeStyle>{''.join(rules)}</se:FeatureTypeStyle></UserStyle></NamedLayer>"
            "</StyledLayerDescriptor>\n")


def _write_styles(target: Path, layers) -> None:
    """Append QGIS's ``layer_styles`` table: one default style (QML + SLD) per spatial layer."""
    with sqlite3.connect(target) as con:
        geom_columns = dict(con.execute("SELECT table_name, column_name FROM gpkg_geometry_columns").fetchall())
    now = pd.Timestamp.now(tz="UTC").floor("s").tz_localize(None)
    rows = [{"f_table_catalog": "", "f_table_schema": "", "f_table_name": layer.id,
             "f_geometry_column": geom_columns.get(layer.id, "geom"), "styleName": layer.title_zh,
             "styleQML": layer_qml(layer), "styleSLD": layer_sld(layer), "useAsDefault": True,
             "description": f"KFQMap 默认样式：{layer.title_zh}（与网页地图一致）", "owner": "KFQMap", "ui": None,
             "update_time": now}
            for layer in layers if layer.id in geom_columns]
    if not rows:
        return
    table = pd.DataFrame(rows)
    table["ui"] = table["ui"].astype(object)
    pyogrio.write_dataframe(table, target, driver="GPKG", layer=STYLE_TABLE, append=True,
                            layer_options={"FID": "id", "DESCRIPTION": "QGIS 图层样式（KFQMap 导出）"})
