"""Map images (PNG, PDF) of the selected layers: title, legend, scale bar, north arrow and a "示意" note.

Drawn with matplotlib (Agg / PDF backends) in the layers' shared style, with the Noto Sans CJK SC font
(Debian ``fonts-noto-cjk``) so every Chinese character renders, in a projected CRS so the scale bar is in metres:
EPSG:4549 by default, EPSG:4528 or EPSG:3857 on request (for Web Mercator the bar is corrected by cos φ).

Size and resolution (``options``):

* ``size`` — the paper/image size: ``A4`` (default, landscape 297 × 210 mm), ``A3``, ``A4-portrait`` …, or
  ``WxH`` with a unit: ``297x210mm``, ``11x8.5in``, ``1600x1200px``;
* ``dpi`` — dots per inch (default 150; 72–600).

A PNG is exactly ``round(width_in × dpi) × round(height_in × dpi)`` pixels (``px`` sizes are that many pixels
at any dpi); a PDF page is ``width_in × 72 × height_in × 72`` points (all vector; the dpi does not change it).
"""
from __future__ import annotations

import math
import re
from functools import lru_cache
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # noqa: E402 - no display on servers

import numpy as np
from matplotlib import font_manager
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrow, Patch, PathPatch, Rectangle
from matplotlib.path import Path as MplPath

from ..crs import CRSInfo, transform_xy
from ..errors import InvalidParameter
from .selection import LayerSelection, Selection, to_crs

FONT_FILES = ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
              "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc")
FONT_FAMILY = "Noto Sans CJK SC"
DEFAULT_TITLE = "昆山开发区“十四五”规划空间格局"
MM_PER_IN = 25.4
PAPER_MM = {"A5": (210, 148), "A4": (297, 210), "A3": (420, 297), "A2": (594, 420), "A1": (841, 594)}
MIN_DPI, MAX_DPI = 72, 600
#: bounds of one map image. A 12000×12000 px PNG took ~460 MB while drawing; 10,000 px a side and 40 Mpx in all
#: (A4 at 600 dpi is 35 Mpx, A3 at 400 dpi 31 Mpx) keep one render near 200 MB, and the server renders in a
#: child process that exits, so the memory goes back. A PDF is always one page, at most A0 (1189 mm) a side.
MAX_PIXELS = 10000
MAX_TOTAL_PIXELS = 40_000_000
MAX_PAGE_MM = 1189
MAX_TITLE = 200


@lru_cache(maxsize=1)
def cjk_font() -> str:
    """Register Noto Sans CJK with matplotlib (once) and return its family name; fall back to sans-serif."""
    found = False
    for path in FONT_FILES:
        if Path(path).exists():
            font_manager.fontManager.addfont(path)
            found = True
    return FONT_FAMILY if found else "sans-serif"


def parse_size(size: str | tuple | None, dpi: float) -> tuple[float, float]:
    """The image size in inches from ``A4``, ``A3-portrait``, ``297x210mm``, ``11x8.5in``, ``1600x1200px``."""
    if size is None or size == "":
        size = "A4"
    if isinstance(size, (tuple, list)):
        w, h = (float(v) for v in size)
        return w, h
    text = str(size).strip().upper().replace("×", "X").replace("*", "X")
    m = re.fullmatch(r"(A[1-5])(?:-(PORTRAIT|LANDSCAPE|P|L))?", text)
    if m:
        w, h = PAPER_MM[m.group(1)]
        if m.group(2) in ("PORTRAIT", "P"):
            w, h = h, w
        return w / MM_PER_IN, h / MM_PER_IN
    m = re.fullmatch(r"(\d+(?:\.\d+)?)X(\d+(?:\.\d+)?)(MM|CM|IN|PX)?", text.replace(" ", ""))
    if not m:
        raise InvalidParameter(f"无法识别的图片尺寸 '{size}'：可用 A4、A3、A4-portrait、297x210mm、11x8.5in、1600x1200px",
                               parameter="size")
    w, h, unit = float(m.group(1)), float(m.group(2)), (m.group(3) or "MM")
    factor = {"MM": 1 / MM_PER_IN, "CM": 10 / MM_PER_IN, "IN": 1.0, "PX": 1 / dpi}[unit]
    return w * factor, h * factor


def pixel_size(size, dpi: float) -> tuple[int, int]:
    """The PNG's pixel size for a size and dpi (the documented rule)."""
    w, h = parse_size(size, dpi)
    return round(w * dpi), round(h * dpi)


def _nice_length(max_m: float) -> float:
    exp = math.floor(math.log10(max_m))
    for m in (5, 2, 1):
        if m * 10 ** exp <= max_m:
            return m * 10 ** exp
    return 10 ** exp


def _fmt_m(m: float) -> str:
    return f"{m:,.0f}" if m >= 1 else f"{m:g}"


def _true_north_angle(cx: float, cy: float, crs: CRSInfo) -> float:
    """Angle (radians, counter-clockwise from grid up) of true north at the map centre (meridian convergence)."""
    lon, lat = transform_xy(cx, cy, crs, "EPSG:4326")
    x2, y2 = transform_xy(lon, lat + 0.01, "EPSG:4326", crs)
    return math.atan2(-(x2 - cx), y2 - cy)


def check_options(*, title: str | None = None, size=None, dpi=None, file_format: str = "png",
                  **_) -> tuple[float, float, float]:
    """Validate an image request's options; return ``(width_in, height_in, dpi)``. ``InvalidParameter`` (or
    ``RequestTooLarge`` for sizes over the bounds) names the option at fault."""
    try:
        dpi = 150.0 if dpi is None else float(dpi)   # 0 is a mistake to report, not "use the default"
    except (TypeError, ValueError):
        raise InvalidParameter(f"dpi 必须是数字，收到 '{str(dpi)[:40]}'", parameter="dpi") from None
    if not MIN_DPI <= dpi <= MAX_DPI:
        raise InvalidParameter(f"dpi 必须在 {MIN_DPI}–{MAX_DPI} 之间，收到 {dpi:g}", parameter="dpi")
    if title is not None and len(str(title)) > MAX_TITLE:
        raise InvalidParameter(f"标题过长（最多 {MAX_TITLE} 个字符）", parameter="title")
    if size is not None and len(str(size)) > 40:
        raise InvalidParameter("图片尺寸写法过长", parameter="size")
    w_in, h_in = parse_size(size, dpi)
    if not (math.isfinite(w_in) and math.isfinite(h_in)) or w_in <= 0 or h_in <= 0:
        raise InvalidParameter("图片尺寸必须为正数", parameter="size")
    w_px, h_px = w_in * dpi, h_in * dpi
    if max(w_px, h_px) > MAX_PIXELS or w_px * h_px > MAX_TOTAL_PIXELS:
        raise InvalidParameter(f"图片过大：每边不超过 {MAX_PIXELS} 像素、总数不超过 {MAX_TOTAL_PIXELS // 1_000_000} 百万像素"
                               f"（收到 {w_px:.0f}×{h_px:.0f}；请减小尺寸或 dpi）", parameter="size")
    if file_format == "pdf" and max(w_in, h_in) * MM_PER_IN > MAX_PAGE_MM + 0.5:
        raise InvalidParameter(f"PDF 页面每边不超过 {MAX_PAGE_MM} 毫米（A0）", parameter="size")
    return w_in, h_in, dpi


def write_selection(selection, target: Path, crs: CRSInfo, *, progress=None, title: str | None = None,
                    size=None, dpi=None, file_format: str = "png", **_):
    w_in, h_in, dpi = check_options(title=title, size=size, dpi=dpi, file_format=file_format)
    if file_format == "png":   # snap to whole pixels so the PNG is exactly round(w × dpi) × round(h × dpi)
        w_in, h_in = (round(w_in * dpi) + 1e-4) / dpi, (round(h_in * dpi) + 1e-4) / dpi
    family = cjk_font()
    rc = {"font.family": family, "font.sans-serif": [family, "DejaVu Sans"], "axes.unicode_minus": False,
          "pdf.fonttype": 42}
    with matplotlib.rc_context(rc):
        fig = _draw(selection, crs, w_in, h_in, title or DEFAULT_TITLE, progress)
        fig.savefig(target, format=file_format, dpi=dpi, facecolor="white",
                    metadata={"Title": title or DEFAULT_TITLE} if file_format == "pdf" else None)


def _draw(selection, crs: CRSInfo, w_in: float, h_in: float, title: str, progress):
    fig = Figure(figsize=(w_in, h_in))
    base = min(w_in, h_in)                     # font sizes scale with the paper
    fs = max(6.0, base * 1.15)
    # map area: leave a band for the title on top and the note at the bottom, legend on the right
    legend_w = 0.22 if w_in >= h_in else 0.0
    ax = fig.add_axes((0.03, 0.09, 0.94 - legend_w, 0.80))
    ax.set_facecolor("#f7f9fb")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_color("#555555")

    items = sorted(selection.items, key=lambda i: (i.layer.style.z, _order(i.layer.geometry_type)))
    frames = [(i.layer, to_crs(i.frame, crs)) for i in items]
    area = _requested_extent(selection, crs)
    if area is not None:     # a bbox (the viewer's current view) or a drawn outline: draw that, not the features'
        minx, miny, maxx, maxy = area      # whole extent (features are selected whole and may reach far beyond it)
    else:
        b = np.array([f.total_bounds for _, f in frames if len(f) and not f.geometry.isna().all()])
        minx, miny, maxx, maxy = b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()
    w, h = max(maxx - minx, 50.0), max(maxy - miny, 50.0)
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    # equal scale in x and y, fitted to the axes' shape, with a 6% margin around the data (none around a
    # requested extent: the map shows at least exactly that area)
    ax_w_in, ax_h_in = (0.94 - legend_w) * w_in, 0.80 * h_in
    scale = max(w / ax_w_in, h / ax_h_in) * (1.0 if area is not None else 1.12)   # map units per inch of paper
    half_w, half_h = scale * ax_w_in / 2, scale * ax_h_in / 2
    ax.set_xlim(cx - half_w, cx + half_w)
    ax.set_ylim(cy - half_h, cy + half_h)
    ax.set_aspect("equal", adjustable="box")

    handles = []
    placed: list[tuple[float, float, float, float]] = []   # label boxes already drawn (map units)
    label_fs = fs * 0.55
    for layer, frame in frames:
        s = layer.style
        dash = (0, tuple(s.dash)) if s.dash else "solid"
        lw = max(0.4, s.stroke_width * 0.6)
        fam = layer.geometry_type.replace("Multi", "")
        _plot_layer(ax, frame.geometry.values, s, dash, lw)
        label = layer.title_zh + ("（示意）" if layer.schematic else "")
        if fam == "Polygon":
            handles.append(Patch(facecolor=_rgba(s.fill, s.fill_opacity) if s.fill else "none", edgecolor=s.stroke,
                                 linewidth=lw, linestyle=dash, label=label))
        elif fam == "LineString":
            handles.append(Line2D([], [], color=s.stroke, linewidth=lw * 1.5, linestyle=dash, label=label))
        else:
            handles.append(Line2D([], [], marker="o", linestyle="none", markerfacecolor=s.fill or s.stroke,
                                  markeredgecolor=s.stroke, markersize=6, label=label))
        if s.label:
            names = frame["name"] if "name" in frame.columns else [None] * len(frame)
            for name, g in zip(names, frame.geometry.values):
                if g is None or g.is_empty or not isinstance(name, str):
                    continue
                _label(ax, name, g, fam, scale, label_fs, placed)
        if progress:
            progress(len(frame))

    fig.text(0.5, 0.955, title, ha="center", va="center", fontsize=fs * 1.6, fontweight="bold")
    fig.text(0.5, 0.91, f"坐标系 {crs.code}（{crs.name_zh}）", ha="center", va="center", fontsize=fs * 0.7,
             color="#555555")
    if handles:
        leg_x = 0.97 - legend_w + 0.01 if legend_w else 0.04
        leg = fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(leg_x, 0.89) if legend_w else (0.04, 0.88),
                         frameon=True, fontsize=fs * 0.7, title="图例", title_fontsize=fs * 0.8, borderpad=0.8,
                         labelspacing=0.7)
        leg.get_frame().set_edgecolor("#888888")

    _scale_bar(ax, crs, cx, cy, half_w, half_h, fs)
    _north_arrow(ax, crs, cx, cy, half_w, half_h, fs)
    schematic = [i.layer.title_zh for i in items if i.layer.schematic]
    if not schematic:
        note = "本图依据《昆山开发区“十四五”规划》绘制。"
    elif len(schematic) <= 3:
        note = "示意：" + "、".join(schematic) + " 为规划图示意位置，并非精确边界，不作为用地依据。"
    else:
        note = f"示意：图例中标注“（示意）”的 {len(schematic)} 个图层为规划图示意位置，并非精确边界，不作为用地依据。"
    fig.text(0.03, 0.045, note, ha="left", va="center", fontsize=fs * 0.65, color="#a4161a" if schematic else "#333333")
    fig.text(0.03, 0.018, "KFQMap · 昆山开发区“十四五”规划空间格局 · 面积为 CGCS2000 椭球面积", ha="left", va="center",
             fontsize=fs * 0.5, color="#777777")
    return fig


def _requested_extent(selection, crs: CRSInfo) -> tuple[float, float, float, float] | None:
    """The bounds (in ``crs``) of the selection's drawn geometry, else of its bbox, else None."""
    import geopandas as gpd
    from shapely.geometry import box

    if getattr(selection, "geometry", None) is not None:
        shape = selection.geometry
    elif getattr(selection, "bbox", None) is not None:
        shape = box(*selection.bbox).segmentize(0.01)     # densified: its edges curve in a projected CRS
    else:
        return None
    bounds = to_crs(gpd.GeoDataFrame(geometry=[shape], crs=4326), crs).total_bounds
    return tuple(float(v) for v in bounds) if np.isfinite(bounds).all() else None


def _label(ax, name, g, fam, scale, fontsize, placed) -> None:
    """Write a feature's name unless it would not fit in its polygon or would overlap an earlier label."""
    text_w = len(name) * fontsize / 72 * scale * 1.05       # CJK glyphs are about 1 em wide
    text_h = fontsize / 72 * scale * 1.3
    if fam == "Polygon":
        minx, miny, maxx, maxy = g.bounds
        if maxx - minx < text_w * 0.8:
            return
        p = g.representative_point()
        x, y = p.x, p.y
    elif fam == "LineString":
        line = g if g.geom_type == "LineString" else max(g.geoms, key=lambda part: part.length)
        p = line.interpolate(0.5, normalized=True)
        x, y = p.x, p.y + text_h * 0.8
    else:
        p = g if g.geom_type == "Point" else g.geoms[0]
        x, y = p.x, p.y + text_h * 0.9
    box = (x - text_w / 2, y - text_h / 2, x + text_w / 2, y + text_h / 2)
    if any(box[0] < o[2] and o[0] < box[2] and box[1] < o[3] and o[1] < box[3] for o in placed):
        return
    placed.append(box)
    ax.text(x, y, name, ha="center", va="center", fontsize=fontsize, color="#222222", zorder=20, clip_on=True,
            bbox={"boxstyle": "round,pad=0.15", "fc": (1, 1, 1, 0.65), "ec": "none"})


def _order(geometry_type: str) -> int:
    return {"Polygon": 0, "MultiPolygon": 0, "LineString": 1, "MultiLineString": 1}.get(geometry_type, 2)


def _rgba(hex_colour: str | None, alpha: float):
    h = (hex_colour or "#999999").lstrip("#")
    return (int(h[0:2], 16) / 255, int(h[2:4], 16) / 255, int(h[4:6], 16) / 255, alpha)


def _plot_layer(ax, geoms, s, dash, lw) -> None:
    """Every geometry of one layer as at most three artists (polygons, lines, points): one matplotlib artist per
    feature made a 20,000-polygon map take minutes; a collection draws them in one pass, each path on its own
    (overlaps still show through the fill's transparency)."""
    polygons, lines, points = [], [], []

    def collect(g):
        t = g.geom_type
        if t == "Polygon":
            polygons.append(_polygon_path(g))
        elif t in ("LineString", "LinearRing"):
            lines.append(np.asarray(g.coords)[:, :2])
        elif t == "Point":
            points.append((g.x, g.y))
        elif hasattr(g, "geoms"):
            for part in g.geoms:
                collect(part)

    for g in geoms:
        if g is not None and not g.is_empty:
            collect(g)
    if polygons:
        ax.add_collection(PathCollection(
            polygons, facecolors=[_rgba(s.fill, s.fill_opacity) if s.fill else "none"], edgecolors=[s.stroke],
            linewidths=lw, linestyles=dash, zorder=2 + s.z * 0.01), autolim=False)
    if lines:
        ax.add_collection(LineCollection(lines, colors=[s.stroke], linewidths=lw * 1.5, linestyles=dash,
                                         capstyle="round", zorder=5 + s.z * 0.01), autolim=False)
    if points:
        xy = np.asarray(points)
        ax.scatter(xy[:, 0], xy[:, 1], s=max(12, s.radius ** 2 * 1.2), c=[s.fill or s.stroke], edgecolors=s.stroke,
                   linewidths=0.6, zorder=8 + s.z * 0.01)


def _polygon_path(p) -> MplPath:
    verts, codes = [], []
    for ring in [p.exterior, *p.interiors]:
        xy = np.asarray(ring.coords)[:, :2]
        verts.extend(xy.tolist())
        codes.extend([MplPath.MOVETO] + [MplPath.LINETO] * (len(xy) - 2) + [MplPath.CLOSEPOLY])
    return MplPath(verts, codes)


def _plot(ax, g, s, dash, lw):
    t = g.geom_type
    if t in ("Polygon", "MultiPolygon"):
        polys = [g] if t == "Polygon" else list(g.geoms)
        for p in polys:
            verts, codes = [], []
            for ring in [p.exterior, *p.interiors]:
                xy = np.asarray(ring.coords)[:, :2]
                verts.extend(xy.tolist())
                codes.extend([MplPath.MOVETO] + [MplPath.LINETO] * (len(xy) - 2) + [MplPath.CLOSEPOLY])
            ax.add_patch(PathPatch(MplPath(verts, codes), facecolor=_rgba(s.fill, s.fill_opacity) if s.fill else "none",
                                   edgecolor=s.stroke, linewidth=lw, linestyle=dash, zorder=2 + s.z * 0.01))
    elif t in ("LineString", "MultiLineString", "LinearRing"):
        for line in ([g] if t != "MultiLineString" else g.geoms):
            xy = np.asarray(line.coords)
            ax.plot(xy[:, 0], xy[:, 1], color=s.stroke, linewidth=lw * 1.5, linestyle=dash, zorder=5 + s.z * 0.01,
                    solid_capstyle="round")
    elif t in ("Point", "MultiPoint"):
        pts = [g] if t == "Point" else list(g.geoms)
        ax.scatter([p.x for p in pts], [p.y for p in pts], s=max(12, s.radius ** 2 * 1.2), c=[s.fill or s.stroke],
                   edgecolors=s.stroke, linewidths=0.6, zorder=8 + s.z * 0.01)
    elif hasattr(g, "geoms"):
        for part in g.geoms:
            _plot(ax, part, s, dash, lw)


def _scale_bar(ax, crs: CRSInfo, cx, cy, half_w, half_h, fs):
    """Alternating black/white bar, about a quarter of the map width, labelled in metres/kilometres."""
    ground_per_unit = 1.0
    if crs.code == "EPSG:3857":        # Web Mercator units shrink by cos(latitude) on the ground
        _, lat = transform_xy(cx, cy, crs, "EPSG:4326")
        ground_per_unit = math.cos(math.radians(lat))
    length_m = _nice_length(half_w * 2 * 0.25 * ground_per_unit)
    length_u = length_m / ground_per_unit
    x0 = cx - half_w + half_w * 0.06
    y0 = cy - half_h + half_h * 0.07
    bar_h = half_h * 0.018
    for i in range(4):
        seg = length_u / 4
        ax.add_patch(Rectangle((x0 + i * seg, y0), seg, bar_h, facecolor="black" if i % 2 == 0 else "white",
                               edgecolor="black", linewidth=0.6, zorder=30))
    for frac, text in ((0, "0"), (0.5, _fmt_m(length_m / 2)), (1, _fmt_m(length_m) + " 米")):
        ax.text(x0 + frac * length_u, y0 + bar_h * 1.6, text, ha="center", va="bottom", fontsize=fs * 0.6, zorder=30)
    ax.text(x0 + length_u / 2, y0 - bar_h * 0.8, "比例尺", ha="center", va="top", fontsize=fs * 0.55, zorder=30,
            color="#444444")


def _north_arrow(ax, crs: CRSInfo, cx, cy, half_w, half_h, fs):
    """An arrow pointing to true north (rotated by the meridian convergence), labelled 北."""
    angle = _true_north_angle(cx, cy, crs)
    x = cx + half_w * 0.88
    y = cy + half_h * 0.72
    length = half_h * 0.16
    dx, dy = -math.sin(angle) * length, math.cos(angle) * length
    ax.add_patch(FancyArrow(x - dx / 2, y - dy / 2, dx, dy, width=length * 0.16, head_width=length * 0.42,
                            head_length=length * 0.38, length_includes_head=True, color="#222222", zorder=30))
    ax.text(x + dx * 0.6, y + dy * 0.6, "北", ha="center", va="bottom", fontsize=fs * 0.8, fontweight="bold",
            zorder=30)


def write(frame, target, crs, layer=None, **options):
    write_selection(Selection(None, [LayerSelection(layer, frame)]), Path(target), crs, **options)

