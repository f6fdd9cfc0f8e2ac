"""KML 2.2 for Google Earth / 奥维 / GIS viewers: one Folder per plan layer, styled with the shared colours.

* Folder ``name`` = the layer's Chinese title; Placemark ``name`` = the feature's Chinese name;
  ``description`` = a small Chinese HTML table (来源、绘制方式、位置精度、示意/示例 …);
  every attribute is also in ``ExtendedData`` so GIS readers get the fields back.
* One shared ``Style`` per layer from ``Layer.style`` (KML colours are ``aabbggrr``): line colour/width from
  ``stroke``/``stroke_width``, polygon fill from ``fill`` with ``fill_opacity``, point icon tinted with ``fill``.
* KML coordinates are lon/lat. WGS 84 (and CGCS2000, numerically the same here) are written as such; GCJ-02 is
  allowed for AMap-based tools and the Document's description says plainly that the coordinates are GCJ-02.
"""
from __future__ import annotations

import json
from pathlib import Path
from xml.sax.saxutils import escape

from shapely.geometry.base import BaseGeometry

from ..crs import CRSInfo
from ._common import Ticker, crs_label, plain_value
from .selection import LayerSelection, Selection, to_crs
from .shapefile import short_name

LABELS_ZH = {
    "id": "编号", "name": "名称", "source": "规划章节", "placement": "绘制方式", "accuracy_m": "位置精度（米）",
    "illustrative": "示例数据", "schematic": "示意位置", "functions": "功能", "park_type": "园区类型",
    "parcel_id": "地块编号", "area_mu": "面积（亩）", "current_use": "现状用途", "planned_use": "规划用途",
    "status": "实施状态", "year": "年份", "park": "所属园区", "axis_id": "所属轴线", "description": "说明",
    "figures": "规划数据",
}
_DOC_NAME = "昆山开发区“十四五”规划空间格局"


def kml_color(hex_colour: str | None, opacity: float = 1.0) -> str:
    """``#rrggbb`` + opacity → KML ``aabbggrr``."""
    h = (hex_colour or "#333333").lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    r, g, b = h[0:2], h[2:4], h[4:6]
    a = max(0, min(255, round(float(opacity) * 255)))
    return f"{a:02x}{b}{g}{r}".lower()


def _style(layer) -> str:
    s = layer.style
    fill = s.fill or s.stroke
    poly = (f"<PolyStyle><color>{kml_color(s.fill, s.fill_opacity)}</color><fill>1</fill><outline>1</outline></PolyStyle>"
            if s.fill else "<PolyStyle><fill>0</fill><outline>1</outline></PolyStyle>")
    return (f'<Style id="style-{layer.id}">'
            f"<IconStyle><color>{kml_color(fill, 1.0)}</color><scale>{max(0.5, s.radius / 6):.2f}</scale>"
            "<Icon><href>http://maps.google.com/mapfiles/kml/shapes/placemark_circle.png</href></Icon></IconStyle>"
            f"<LabelStyle><scale>{0.9 if s.label else 0}</scale></LabelStyle>"
            f"<LineStyle><color>{kml_color(s.stroke, 1.0)}</color><width>{s.stroke_width:g}</width></LineStyle>"
            f"{poly}</Style>")


def _coords(seq) -> str:
    return " ".join(f"{x:.8f},{y:.8f}" for x, y, *_ in seq)


def _geometry(g: BaseGeometry) -> str:
    t = g.geom_type
    if t == "Point":
        return f"<Point><coordinates>{_coords(g.coords)}</coordinates></Point>"
    if t == "LineString":
        return f"<LineString><tessellate>1</tessellate><coordinates>{_coords(g.coords)}</coordinates></LineString>"
    if t == "LinearRing":
        return f"<LinearRing><coordinates>{_coords(g.coords)}</coordinates></LinearRing>"
    if t == "Polygon":
        inner = "".join(f"<innerBoundaryIs><LinearRing><coordinates>{_coords(r.coords)}</coordinates></LinearRing>"
                        "</innerBoundaryIs>" for r in g.interiors)
        return (f"<Polygon><tessellate>1</tessellate><outerBoundaryIs><LinearRing><coordinates>{_coords(g.exterior.coords)}"
                f"</coordinates></LinearRing></outerBoundaryIs>{inner}</Polygon>")
    return "<MultiGeometry>" + "".join(_geometry(p) for p in g.geoms) + "</MultiGeometry>"


def _text(v) -> str:
    v = plain_value(v)
    if v is None:
        return ""
    if isinstance(v, bool):
        return "是" if v else "否"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _figures_html(value) -> str:
    try:
        items = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return escape(str(value))
    if not isinstance(items, list):
        return escape(str(value))
    return "<br/>".join(escape(str(i.get("text") or i)) for i in items if isinstance(i, dict))


def _description(row: dict, layer) -> str:
    cells = []
    for key, value in row.items():
        text = _text(value)
        if key == "name" or not text:
            continue
        shown = _figures_html(value) if key == "figures" else escape(text)
        cells.append(f"<tr><th align='left'>{escape(LABELS_ZH.get(key, key))}</th><td>{shown}</td></tr>")
    notes = []
    if row.get("schematic") is True or (row.get("schematic") is None and layer.schematic):
        notes.append("示意：位置为规划图示意，并非精确边界。")
    if row.get("illustrative") is True:
        notes.append("示例：几何或数值为示例，不是规划给定的。")
    head = f"<p>{escape(layer.title_zh)}（{escape(layer.group)}）</p>"
    note = "".join(f"<p><i>{escape(n)}</i></p>" for n in notes)
    return f"<![CDATA[{head}<table>{''.join(cells)}</table>{note}]]>"


def _extended(row: dict) -> str:
    """Every attribute as ``<Data>`` (booleans as true/false so readers can type them).

    ``name`` is the Placemark's own name and is not repeated. ``Data`` names must be ASCII for GDAL's LIBKML
    reader, so ``description`` (which would clash with the Placemark's HTML description) becomes ``descr`` and
    Chinese names use the shapefile's ``c_xxxxxxxx`` mapping; ``displayName`` keeps the Chinese label.
    """
    out = []
    for key, value in row.items():
        key = str(key)
        if key == "name":
            continue
        data_name = "descr" if key == "description" else (key if key.isascii() else short_name(key)[0])
        v = plain_value(value)
        text = str(v).lower() if isinstance(v, bool) else _text(v)
        out.append(f'<Data name="{escape(data_name, {chr(34): "&quot;"})}"><displayName>'
                   f'{escape(LABELS_ZH.get(key, key))}</displayName><value>{escape(text)}</value></Data>')
    return "<ExtendedData>" + "".join(out) + "</ExtendedData>"



def write_selection(selection, target: Path, crs: CRSInfo, *, progress=None, title: str | None = None, **_):
    title = title or _DOC_NAME
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<kml xmlns="http://www.opengis.net/kml/2.2">\n<Document>',
             f"<name>{escape(title)}</name>",
             f"<description>{escape(crs_label(crs))}。带“示意”的图层位置为规划图示意，并非精确边界。</description>"]
    parts += [_style(item.layer) for item in selection.items]
    ticker = Ticker(progress)
    for item in selection.items:
        layer = item.layer
        frame = to_crs(item.frame, crs)
        geom_name = frame.geometry.name
        parts.append(f"<Folder><name>{escape(layer.title_zh)}</name>"
                     f"<description>{escape(layer.title_en)} — {escape(layer.group)} — 规划章节 {escape(layer.plan_section)}"
                     f"{'（示意）' if layer.schematic else ''}</description>")
        records = frame.drop(columns=geom_name).to_dict("records")
        for row, geom in zip(records, frame.geometry.values):
            ticker.tick()
            if geom is None or geom.is_empty:
                continue
            name = _text(row.get("name")) or _text(row.get("id"))
            parts.append(f"<Placemark><name>{escape(name)}</name><description>{_description(row, layer)}</description>"
                         f"<styleUrl>#style-{layer.id}</styleUrl>{_extended(row)}{_geometry(geom)}</Placemark>")
        parts.append("</Folder>")
    ticker.flush()
    parts.append("</Document>\n</kml>\n")
    Path(target).write_text("\n".join(parts), encoding="utf-8")


def write(frame, target, crs, layer=None):
    write_selection(Selection(None, [LayerSelection(layer, frame)]), Path(target), crs)


__all__ = ["write_selection", "write", "kml_color"]
