"""Standalone HTML map (folium / Leaflet) of the selected layers, that opens with the network unplugged.

Folium normally links Leaflet, jQuery, Bootstrap and Font Awesome from CDNs. This writer drops all of those and
inlines Leaflet's JavaScript and CSS (from the npm package installed into ``web/node_modules/leaflet`` by
``make install-web``; its CSS images become data: URIs). There is no tile layer: the map shows only our layers
on a light background, so nothing is ever requested from outside the file.

What the page holds: one folium ``GeoJson`` per layer in the layer's shared default style (``Layer.style``:
fill, stroke, dash, opacity, point radius), Chinese tooltips (name) and popups (name, group, plan section, land
area in 亩 and 公顷 for polygons, figures stated by the plan, positional accuracy, 示意/示例 flags), a layer
control, a legend built from the same styles, and a title (on the page and as the document ``<title>``). The page
opens fitted to the exported plan layers (background layers only when nothing else was exported). Areas are ellipsoidal (CGCS2000), from
``kfqmap.area``.

Entry points:

- ``write_selection(selection, target, crs, *, progress=None, title=None)`` — what ``kfqmap.export`` calls;
- ``write(frames, target, crs=None, layer=None, *, layers=None, title=None)`` — a single frame with its
  ``Layer``, or ``{layer_id: frame}`` with ``layers={layer_id: Layer}`` (or a catalog to look them up in).
"""
from __future__ import annotations

import base64
import html
import math
import re
from pathlib import Path
from typing import Any, Mapping

import geopandas as gpd
import numpy as np
import pandas as pd

from ..area import ellipsoidal_area
from ..catalog import load_catalog, parse_figures
from ..errors import InvalidCRS, KFQMapError

#: where ``npm ci`` (``make install-web``) puts Leaflet
LEAFLET_DIST = Path(__file__).resolve().parents[2] / "web" / "node_modules" / "leaflet" / "dist"

DEFAULT_TITLE = "昆山开发区“十四五”规划空间格局"
_M2_PER_MU = 2000.0 / 3.0

#: order of the plan's groups in the legend and layer control
_GROUP_ORDER = ["背景", "两轴三带", "两核多园", "一带四园", "更新地块", "低效用地", "额外"]

_FIGURE_KIND_ZH = {"land_area": "用地面积", "floor_area": "建筑面积", "demolition_floor_area": "拆除建筑面积",
                   "pv_area": "光伏面积", "target": "目标", "year": "年份", "count": "数量"}
_UNIT_ZH = {"m2": "平方米", "km2": "平方公里", "mu": "亩", "ha": "公顷", "year": "年", "count": "个", "wan_m2": "万平方米"}


# ---------------------------------------------------------------- offline assets
def _leaflet_assets() -> tuple[str, str]:
    """Leaflet's JS and CSS (images inlined as data: URIs), read from the locally installed npm package."""
    js_path, css_path = LEAFLET_DIST / "leaflet.js", LEAFLET_DIST / "leaflet.css"
    if not js_path.is_file() or not css_path.is_file():
        raise KFQMapError(f"找不到 Leaflet（{LEAFLET_DIST}）：请先运行 `make install-web`（cd web && npm ci）")
    css = css_path.read_text(encoding="utf-8")

    def inline(match: re.Match) -> str:
        name = match.group(1).strip("'\"")
        path = LEAFLET_DIST / name
        if not path.is_file():
            return "url()"
        mime = "image/svg+xml" if path.suffix == ".svg" else "image/png"
        return f"url(data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')})"

    css = re.sub(r"url\(([^)]+)\)", inline, css)
    return js_path.read_text(encoding="utf-8"), css


# ---------------------------------------------------------------- popups
def _fmt(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def _popup_html(props: Mapping[str, Any], layer, area_m2: float | None) -> str:
    e = html.escape
    rows = [("分组", layer.group if layer is not None else props.get("layer_title", "")),
            ("图层", layer.title_zh if layer is not None else props.get("layer_title", "")),
            ("规划章节", props.get("source") or (layer.plan_section if layer is not None else ""))]
    if area_m2:
        rows.append(("用地面积", f"{_fmt(area_m2 / _M2_PER_MU, 1)} 亩 · {_fmt(area_m2 / 10_000, 2)} 公顷"
                                 "（CGCS2000 椭球面积）"))
    for fig in parse_figures(props.get("figures")):
        kind = _FIGURE_KIND_ZH.get(fig.get("kind"), fig.get("kind") or "")
        val = fig.get("value")
        unit = _UNIT_ZH.get(fig.get("unit"), fig.get("unit") or "")
        shown = f"{val:g} {unit}" if isinstance(val, (int, float)) else (fig.get("text") or "")
        rows.append((kind, shown))
    for key, label in (("functions", "功能"), ("park_type", "园区类型"), ("current_use", "现状用途"),
                       ("planned_use", "规划用途"), ("status", "实施状态"), ("year", "年度")):
        v = props.get(key)
        if v is not None and not (isinstance(v, float) and math.isnan(v)) and v != "":
            rows.append((label, v))
    acc = props.get("accuracy_m")
    if acc is not None and not (isinstance(acc, float) and math.isnan(acc)):
        rows.append(("定位精度", f"约 ±{acc:g} 米"))
    flags = []
    if _truthy(props.get("schematic")):
        flags.append("示意")
    if _truthy(props.get("illustrative")):
        flags.append("示例（非规划数据）")
    if flags:
        rows.append(("说明", "、".join(flags)))
    body = "".join(f"<tr><th>{e(str(k))}</th><td>{e(str(v))}</td></tr>" for k, v in rows if v not in (None, ""))
    return (f"<div class='kfq-pop'><h4>{e(str(props.get('name') or ''))}</h4>"
            f"<table>{body}</table></div>")


def _truthy(v) -> bool:
    if isinstance(v, str):
        return v.lower() in ("true", "1", "yes")
    return bool(v) if v is not None and not (isinstance(v, float) and math.isnan(v)) else False


# ---------------------------------------------------------------- styles and legend
def _style(layer) -> dict:
    """Leaflet path options from the shared paint (``kfqmap.style.layer_paint``), else the catalog's Layer.style."""
    if layer is not None:
        try:
            from ..style import layer_paint
        except ImportError:
            layer_paint = None
        if layer_paint is not None:
            p = layer_paint(layer)
            fill = p["fill"] or "#000000"
            return {"fill": p["fill"], "fillColor": fill, "fillOpacity": float(p["fill_opacity"]) if p["fill"] else 0.0,
                    "color": p["stroke"], "weight": float(p["width"]),
                    "dashArray": " ".join(f"{d:g}" for d in p["dash"]) if p["dash"] else None,
                    "radius": float(p["radius"])}
    s = layer.style if layer is not None else None
    fill = getattr(s, "fill", None) or "#3388ff"
    return {
        "fill": fill,
        "fillColor": fill,
        "fillOpacity": float(getattr(s, "fill_opacity", 0.35)),
        "color": getattr(s, "stroke", None) or "#333333",
        "weight": float(getattr(s, "stroke_width", 1.5)),
        "dashArray": " ".join(f"{d:g}" for d in s.dash) if s is not None and s.dash else None,
        "radius": float(getattr(s, "radius", 5.0)),
    }


def _rgba(colour: str, alpha: float) -> str:
    c = colour.lstrip("#")
    if len(c) == 3:
        c = "".join(ch * 2 for ch in c)
    try:
        r, g, b = (int(c[i:i + 2], 16) for i in (0, 2, 4))
    except ValueError:
        return colour
    return f"rgba({r},{g},{b},{alpha:.2f})"


def _legend_html(entries: list[tuple[Any, str]]) -> str:
    e = html.escape
    items = []
    for layer, family in entries:
        st = _style(layer)
        dash = "dashed" if st["dashArray"] else "solid"
        if family == "point":
            sw = (f"<span class='sw' style='border-radius:50%;width:12px;height:12px;margin:0 5px;background:{st['fillColor']};"
                  f"border:2px solid {st['color']}'></span>")
        elif family == "line":
            sw = f"<span class='sw' style='height:0;border-top:{max(2, st['weight']):.0f}px {dash} {st['color']}'></span>"
        else:
            bg = _rgba(st["fillColor"], max(st["fillOpacity"], 0.3)) if st["fill"] else "transparent"
            sw = (f"<span class='sw' style='background:{bg};"
                  f"border:2px {dash} {st['color']}'></span>")
        badges = ""
        if layer is not None and layer.schematic:
            acc = f" ±{layer.accuracy_m:g}米" if layer.accuracy_m else ""
            badges += f"<span class='bd sc'>示意{acc}</span>"
        if layer is not None and layer.illustrative:
            badges += "<span class='bd il'>示例</span>"
        title = layer.title_zh if layer is not None else "要素"
        items.append(f"<div class='it'>{sw}<span>{e(title)}</span>{badges}</div>")
    return ("<div class='kfq-legend'><div class='hd'>图例</div>" + "".join(items) +
            "<div class='ft'>示意：位置由规划文本推断；示例：说明性数据，非规划数据</div></div>")


_PAGE_CSS = """
html,body{font-family:"Noto Sans CJK SC","Microsoft YaHei","PingFang SC",sans-serif}
.folium-map{background:#eef1f4}
.leaflet-container{background:#eef1f4;font-family:inherit}
.kfq-title{position:fixed;top:10px;left:60px;z-index:1000;background:rgba(29,78,137,.94);color:#fff;padding:6px 14px;
 border-radius:6px;font-size:18px;font-weight:600;box-shadow:0 2px 6px rgba(0,0,0,.25)}
.kfq-title small{display:block;font-size:12px;font-weight:normal;opacity:.85}
.kfq-legend{position:fixed;bottom:64px;left:10px;z-index:1000;background:rgba(255,255,255,.95);padding:8px 10px;
 border-radius:6px;box-shadow:0 2px 8px rgba(0,0,0,.25);font-size:13px;max-height:60vh;overflow:auto}
.kfq-legend .hd{font-weight:600;color:#163a66;margin-bottom:4px}
.kfq-legend .it{display:flex;align-items:center;gap:6px;margin:3px 0}
.kfq-legend .sw{display:inline-block;width:22px;height:12px;flex:none}
.kfq-legend .bd{font-size:11px;padding:0 4px;border-radius:3px;border:1px solid}
.kfq-legend .bd.sc{color:#8a5a00;border-color:#e0b050;background:#fff7e3}
.kfq-legend .bd.il{color:#a01b2c;border-color:#e89aa4;background:#fdeef0}
.kfq-legend .ft{color:#5f6b7a;font-size:11px;margin-top:4px;max-width:260px}
.kfq-pop h4{margin:0 0 4px;color:#163a66;font-size:15px}
.kfq-pop table{border-collapse:collapse;font-size:12px}
.kfq-pop th{color:#5f6b7a;font-weight:normal;text-align:left;padding:2px 8px 2px 0;white-space:nowrap;vertical-align:top}
.kfq-pop td{padding:2px 0}
.kfq-label{background:transparent;border:0;box-shadow:none;color:#1f2933;font-weight:600;
 text-shadow:0 0 2px #fff,0 0 2px #fff,0 0 3px #fff}
"""


# ---------------------------------------------------------------- the map
def _geojson_for(frame: gpd.GeoDataFrame, layer) -> dict:
    """A FeatureCollection of the frame with display properties only (popup HTML, name, area)."""
    frame = frame[~frame.geometry.isna()]
    areas = ellipsoidal_area(frame.geometry.values) if layer is None or layer.is_polygonal else np.zeros(len(frame))
    feats = []
    for (_, row), area in zip(frame.iterrows(), areas):
        props = {k: v for k, v in row.items() if k != frame.geometry.name}
        feats.append({
            "type": "Feature",
            "geometry": row.geometry.__geo_interface__,
            "properties": {
                "name": str(props.get("name") or ""),
                "popup": _popup_html(props, layer, float(area) if area else None),
            },
        })
    return {"type": "FeatureCollection", "features": feats}


def _family(frame: gpd.GeoDataFrame, layer) -> str:
    gt = (layer.geometry_type if layer is not None else None) or (
        frame.geometry.dropna().geom_type.iloc[0] if len(frame.geometry.dropna()) else "Polygon")
    gt = gt.replace("Multi", "")
    return {"Point": "point", "LineString": "line"}.get(gt, "polygon")


def _opening_bounds(frames: Mapping[str, gpd.GeoDataFrame], layers: Mapping[str, Any]) -> tuple[float, ...]:
    """Where the page opens: the extent of the exported plan layers (lon/lat minx, miny, maxx, maxy).

    Background layers (group 背景: the administrative boundaries of Kunshan and its neighbours, rivers, roads …)
    reach far beyond the zone, so they only count when nothing else was exported; the page then opens on the
    zone instead of on eight cities."""
    def group(lid):
        return getattr(layers.get(lid), "group", None)

    plan = {lid: f for lid, f in frames.items() if group(lid) != "背景"}
    chosen = plan or frames
    bounds = np.array([f.geometry.dropna().total_bounds for f in chosen.values()])
    return (float(bounds[:, 0].min()), float(bounds[:, 1].min()), float(bounds[:, 2].max()), float(bounds[:, 3].max()))


def build_map(frames: Mapping[str, gpd.GeoDataFrame], layers: Mapping[str, Any], *, title: str = DEFAULT_TITLE):
    """A ``folium.Map`` with the given layers, legend and title; no remote resource referenced."""
    import folium

    usable = {lid: f for lid, f in frames.items() if f is not None and len(f) and not f.geometry.isna().all()}
    if not usable:
        raise KFQMapError("没有可绘制的要素：HTML 地图只能包含有几何的图层")
    minx, miny, maxx, maxy = _opening_bounds(usable, layers)

    m = folium.Map(location=[(miny + maxy) / 2, (minx + maxx) / 2], zoom_start=12, tiles=None,
                   control_scale=True, prefer_canvas=False)
    # no CDN: drop folium's default JS/CSS links (Leaflet is inlined below, the rest is not needed)
    m.default_js = []
    m.default_css = []
    m.get_root().title = html.escape(title)   # the browser tab and bookmarks say what the map is (branca does not escape)
    leaflet_js, leaflet_css = _leaflet_assets()
    m.get_root().header.add_child(folium.Element(f"<style>{leaflet_css}</style>\n<style>{_PAGE_CSS}</style>"
                                                 f"\n<script>{leaflet_js}</script>"), name="kfq_leaflet")

    def order_key(lid: str) -> tuple:
        layer = layers.get(lid)
        group = getattr(layer, "group", "额外")
        z = getattr(getattr(layer, "style", None), "z", 0)
        return (_GROUP_ORDER.index(group) if group in _GROUP_ORDER else len(_GROUP_ORDER), z)

    legend_entries = []
    for lid in sorted(usable, key=order_key):
        frame, layer = usable[lid], layers.get(lid)
        family = _family(frame, layer)
        st = _style(layer)
        name = layer.title_zh if layer is not None else lid
        tag = ("示例" if layer is not None and layer.illustrative else
               "示意" if layer is not None and layer.schematic else "")
        label = name if not tag or tag in name else f"{name}（{tag}）"
        style = {k: st[k] for k in ("fillColor", "fillOpacity", "color", "weight", "dashArray") if st[k] is not None}
        if family == "line" or not st["fill"]:
            style["fillOpacity"] = 0
        kwargs = {}
        if family == "point":
            kwargs["marker"] = folium.CircleMarker(radius=st["radius"], fill=True, fill_color=st["fillColor"],
                                                   fill_opacity=0.9, color=st["color"], weight=1.5)
        gj = folium.GeoJson(
            _geojson_for(frame, layer), name=label,
            style_function=lambda _f, s=style: s,
            highlight_function=lambda _f: {"weight": 3, "color": "#f2a900"},
            tooltip=folium.GeoJsonTooltip(fields=["name"], labels=False),
            popup=folium.GeoJsonPopup(fields=["popup"], labels=False, max_width=420),
            **kwargs,
        )
        gj.add_to(m)
        legend_entries.append((layer, family))

    folium.LayerControl(collapsed=False).add_to(m)
    m.fit_bounds([[miny, minx], [maxy, maxx]], padding=(12, 12))
    e = html.escape
    m.get_root().html.add_child(folium.Element(
        f"<div class='kfq-title'>{e(title)}<small>KFQMap 离线网页地图 · WGS 84 · 面积为 CGCS2000 椭球面积</small></div>"
        + _legend_html(list(reversed(legend_entries)))))
    return m


def _check_offline(text: str) -> None:
    """Fail loudly if any script or stylesheet still points outside the file."""
    remote = re.findall(r"<(?:script|link)[^>]+(?:src|href)=[\"'](https?:)?//[^\"']+", text)
    if remote:
        raise KFQMapError(f"HTML 导出仍引用外部资源：{remote[:3]}")


def write_map(frames: Mapping[str, gpd.GeoDataFrame], layers: Mapping[str, Any], target, *,
              title: str | None = None) -> Path:
    target = Path(target)
    m = build_map(frames, layers, title=title or DEFAULT_TITLE)
    text = m.get_root().render()
    _check_offline(text)
    target.write_text(text, encoding="utf-8")
    return target


# ---------------------------------------------------------------- export registry entry points
def _require_wgs84(crs) -> None:
    code = getattr(crs, "code", crs)
    if code not in (None, "", "EPSG:4326", "EPSG:4490"):
        raise InvalidCRS(f"HTML 网页地图只能使用 WGS 84（EPSG:4326），收到 {code}", parameter="crs")


def write_selection(selection, target, crs=None, *, progress=None, title: str | None = None, **_options) -> None:
    """Called by :func:`kfqmap.export.export_layers` with a ``Selection`` (frames in EPSG:4326)."""
    _require_wgs84(crs)
    items = [i for i in selection.items if i.layer.is_spatial]
    write_map({i.layer.id: i.frame for i in items}, {i.layer.id: i.layer for i in items}, target, title=title)
    if progress is not None:
        progress(sum(len(i.frame) for i in items))


def write(frames, target, crs=None, layer=None, *, layers=None, catalog=None, title: str | None = None) -> Path:
    """One frame with its ``Layer`` (``layer`` may be None for a combined frame with a ``layer_id`` column), or a
    ``{layer_id: frame}`` mapping whose ``Layer``s come from ``layers`` or ``catalog`` (default: the project's)."""
    _require_wgs84(crs)
    if isinstance(frames, Mapping):
        if layers is None:
            if catalog is None:
                catalog = load_catalog()
            layers = {lid: catalog.get(lid) for lid in frames}
        return write_map(frames, layers, target, title=title)
    frame = frames
    if layer is not None:
        return write_map({layer.id: frame}, {layer.id: layer}, target, title=title)
    if "layer_id" in frame.columns:
        by = {str(lid): gpd.GeoDataFrame(part, geometry=frame.geometry.name, crs=frame.crs)
              for lid, part in frame.groupby("layer_id", sort=False)}
        return write(by, target, crs, layers=layers, catalog=catalog, title=title)
    return write_map({"features": frame}, {}, target, title=title)
