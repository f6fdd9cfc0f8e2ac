"""DXF (AutoCAD 2004 format, AC1018, code page ANSI_936 = GBK) for planning CAD work, in CGCS2000 3° Gauss-Krüger metres.

* Encoding: DXF R2004 with ``$DWGCODEPAGE = ANSI_936`` and every string encoded in GBK. This is the one
  combination that GDAL 3.6 (Debian's ogrinfo, QGIS), current GDAL (pyogrio), ezdxf and AutoCAD all read with the
  Chinese intact, measured in docs/export.md: GDAL decodes every DXF by ``$DWGCODEPAGE`` whatever ``$ACADVER``
  says, so the UTF-8 of an R2007+ file under ``ANSI_1252`` came out as mojibake, and UTF-8 under ``ANSI_936`` too;
  AutoCAD and ezdxf read R2004-and-older files by ``$DWGCODEPAGE`` (the DXF reference: AC1021+ is UTF-8, older
  versions use the drawing code page). A character GBK lacks is written as AutoCAD's ``\\U+nnnn`` escape
  (AutoCAD shows the character, GDAL shows the escape); :func:`cad_text` first swaps the common ones (m² → ㎡,
  other compatibility forms by NFKC) so labels stay plain GBK.

* Coordinates: EPSG:4549 (CM 120°E, easting without zone number) by default, EPSG:4528 (zone 40, easting with
  the "40" prefix) on request — what Chinese planning CAD drawings use. Drawing units are metres
  (``$INSUNITS`` = 6, ``$MEASUREMENT`` = 1); the CRS is named in the custom header property ``KFQMAP_CRS``.
* One DXF layer per plan layer, named with the layer id (ASCII, safe in every CAD program) and described with
  the Chinese title; its colour is the layer's shared stroke colour as a true colour (with the nearest ACI
  colour for old viewers); schematic outlines with a dash style get the DASHED linetype.
* Polygons are closed LWPOLYLINEs (one per ring, holes included); lines are open LWPOLYLINEs; points are
  POINTs. Every feature's Chinese name is a TEXT on the same layer, centred on the feature. Each entity carries
  XDATA (application ``KFQMAP``) with the feature id and name.
* Text style ``KFQ_CJK`` uses **simsun.ttc (宋体 SimSun)**: it is installed with every Chinese Windows and is
  AutoCAD's usual CJK TrueType font, so the Chinese labels show in the program planners open DXF files with.
  (Noto Sans CJK SC — used for our PNG/PDF maps — is rarely present on Windows CAD workstations; AutoCAD would
  substitute a font without Chinese glyphs.) Pass ``dxf_font="NotoSansCJK-Regular.ttc"`` to choose another.
"""
from __future__ import annotations

import unicodedata
from pathlib import Path

import ezdxf
import numpy as np
from ezdxf import colors
from ezdxf.enums import TextEntityAlignment

from ..crs import CRSInfo
from ._common import Ticker, plain_value
from .selection import LayerSelection, Selection, to_crs

TEXT_STYLE = "KFQ_CJK"
DEFAULT_FONT = "simsun.ttc"
DEFAULT_FONT_FAMILY = "SimSun"
APPID = "KFQMAP"
DXF_VERSION = "R2004"          # AC1018: the last DXF version whose text is in the drawing code page
CODEPAGE_ENCODING = "gbk"      # ezdxf writes $DWGCODEPAGE = ANSI_936 for it


def cad_text(text: str) -> str:
    """``text`` with the characters GBK lacks replaced by GBK equivalents where one exists (m² → ㎡, km² → km2, ² → 2 …).

    Whatever is still outside GBK is left for ezdxf to write as ``\\U+nnnn`` (read correctly by AutoCAD only).
    """
    text = text.replace("km²", "km2").replace("m²", "㎡")    # GBK has ㎡ but no ㎢
    out = []
    for ch in text:
        try:
            ch.encode(CODEPAGE_ENCODING)
        except UnicodeEncodeError:
            alt = unicodedata.normalize("NFKC", ch)
            try:
                alt.encode(CODEPAGE_ENCODING)
                ch = alt
            except UnicodeEncodeError:
                pass
        out.append(ch)
    return "".join(out)


def _rgb(hex_colour: str | None) -> tuple[int, int, int]:
    h = (hex_colour or "#333333").lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def _nearest_aci(rgb: tuple[int, int, int]) -> int:
    best, dist = 7, float("inf")
    for aci in range(1, 256):
        r, g, b = colors.aci2rgb(aci)
        d = (r - rgb[0]) ** 2 + (g - rgb[1]) ** 2 + (b - rgb[2]) ** 2
        if d < dist:
            best, dist = aci, d
    return best


def _text_height(selection_frames) -> float:
    """Label height in metres: about 1/120 of the drawing's smaller side, between 5 m and 150 m."""
    bounds = np.array([f.total_bounds for f in selection_frames if len(f) and not f.geometry.isna().all()])
    if not len(bounds):
        return 20.0
    w = bounds[:, 2].max() - bounds[:, 0].min()
    h = bounds[:, 3].max() - bounds[:, 1].min()
    return float(min(150.0, max(5.0, min(w, h) / 120.0)))


def write_selection(selection, target: Path, crs: CRSInfo, *, progress=None, dxf_font: str | None = None,
                    text_height: float | None = None, **_):
    doc = ezdxf.new(DXF_VERSION, setup=True, units=ezdxf.units.M)
    doc.encoding = CODEPAGE_ENCODING   # → $DWGCODEPAGE ANSI_936, strings written in GBK
    doc.header["$INSUNITS"] = 6        # metres
    doc.header["$MEASUREMENT"] = 1     # metric
    doc.header["$LUNITS"] = 2          # decimal
    doc.header.custom_vars.append("KFQMAP_CRS", f"{crs.code} {crs.name_en}")
    doc.header.custom_vars.append("KFQMAP_SOURCE", "昆山开发区“十四五”规划空间格局（KFQMap 导出，示意性图层仅为示意）")
    doc.header.custom_vars.append("KFQMAP_ENCODING", "DXF R2004 (AC1018), $DWGCODEPAGE ANSI_936 (GBK)")
    doc.appids.add(APPID)
    font = dxf_font or DEFAULT_FONT
    style = doc.styles.add(TEXT_STYLE, font=font)
    if font == DEFAULT_FONT:
        style.set_extended_font_data(family=DEFAULT_FONT_FAMILY)
    msp = doc.modelspace()

    frames = [(item.layer, to_crs(item.frame, crs)) for item in selection.items]
    height = text_height or _text_height([f for _, f in frames])
    ticker = Ticker(progress)
    for layer, frame in frames:
        rgb = _rgb(layer.style.stroke)
        dxf_layer = doc.layers.add(layer.id, color=_nearest_aci(rgb))
        dxf_layer.rgb = rgb
        dxf_layer.description = cad_text(f"{layer.title_zh}（{layer.group}）{'·示意' if layer.schematic else ''}")
        if layer.style.dash and "DASHED" in doc.linetypes:
            dxf_layer.dxf.linetype = "DASHED"
        attribs = {"layer": layer.id}
        records = frame.drop(columns=frame.geometry.name).to_dict("records")
        for row, geom in zip(records, frame.geometry.values):
            ticker.tick()
            if geom is None or geom.is_empty:
                continue
            fid = str(plain_value(row.get("id")) or "")
            name = cad_text(str(plain_value(row.get("name")) or ""))
            xdata = [(1000, fid), (1000, name)]
            for entity in _draw(msp, geom, attribs):
                entity.set_xdata(APPID, xdata)
            if name and layer.style.label:
                x, y = _label_point(geom)
                if geom.geom_type in ("Point", "MultiPoint"):
                    y += 1.2 * height      # above the point, not on it
                text = msp.add_text(name, height=height, dxfattribs={**attribs, "style": TEXT_STYLE})
                text.set_placement((x, y), align=TextEntityAlignment.MIDDLE_CENTER)
                text.set_xdata(APPID, xdata)
    ticker.flush()
    doc.saveas(target)


def _draw(msp, geom, attribs):
    t = geom.geom_type
    if t == "Point":
        return [msp.add_point((geom.x, geom.y), dxfattribs=attribs)]
    if t == "LineString":
        return [msp.add_lwpolyline(list(geom.coords), format="xy", dxfattribs=attribs)]
    if t == "Polygon":
        out = []
        for ring in [geom.exterior, *geom.interiors]:
            pts = list(ring.coords)[:-1]     # closed flag instead of a repeated first vertex
            out.append(msp.add_lwpolyline([p[:2] for p in pts], format="xy", close=True, dxfattribs=attribs))
        return out
    out = []
    for part in getattr(geom, "geoms", []):
        out.extend(_draw(msp, part, attribs))
    return out


def _label_point(geom) -> tuple[float, float]:
    if geom.geom_type in ("LineString", "MultiLineString"):
        line = geom if geom.geom_type == "LineString" else max(geom.geoms, key=lambda g: g.length)
        p = line.interpolate(0.5, normalized=True)
    elif geom.geom_type in ("Point", "MultiPoint"):
        p = geom if geom.geom_type == "Point" else geom.geoms[0]
    else:
        p = geom.representative_point()
    return float(p.x), float(p.y)


def write(frame, target, crs, layer=None):
    write_selection(Selection(None, [LayerSelection(layer, frame)]), Path(target), crs)
