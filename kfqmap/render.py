"""PNG raster tiles of the plan, drawn with the same style as the web viewer (``kfqmap.style.layer_paint``).

>>> from kfqmap.render import TileRenderer
>>> png = TileRenderer(engine).render(13, 6853, 3348, scale=2)     # 512×512 "@2x" PNG bytes   # doctest: +SKIP

Drawing is Pillow ``ImageDraw`` with 2× supersampling for geometry (antialiased edges after a box
downsample) and Pillow's own antialiased text for labels, drawn at the final resolution with a white
halo in Noto Sans CJK so that Chinese names stay legible. Geometry comes from the tile engine's prepared
layers (EPSG:3857 + STRtree); each tile draws the features within a margin around it, and label anchors
are computed on whole features so neighbouring tiles place a shared label at the same spot.
Fill opacity, outline width, dash (schematic: dashed; illustrative: dotted, with "（示例）" after the name)
and point radius are the MapLibre style's numbers, in CSS pixels (× ``scale`` for @2x).
"""
from __future__ import annotations

import io
from functools import lru_cache

import numpy as np
import shapely
from PIL import Image, ImageDraw, ImageFont

from .style import (BACKGROUND, FONT_FILE, LABEL_COLOR, LABEL_HALO, TEXT_SIZE, feature_colours, layer_paint,
                    ordered_layers)
from .tiles import ORIGIN, check_tile, lonlat_tile, tile_bounds  # noqa: F401  (lonlat_tile: re-exported)

TILE_SIZE = 256
SUPERSAMPLE = 2
MARGIN_PX = 32          # features within this many px of the tile are drawn
LABEL_MARGIN_PX = 160   # labels anchored within this many px are drawn (so a label crossing an edge shows in both tiles)


def _rgb(color: str | None) -> tuple[int, int, int]:
    c = (color or "#000000").lstrip("#")
    if len(c) == 3:
        c = "".join(ch * 2 for ch in c)
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont:
    try:
        # index 2 of NotoSansCJK-Regular.ttc is "Noto Sans CJK SC" (simplified Chinese glyph forms)
        return ImageFont.truetype(FONT_FILE, size=size, index=2)
    except OSError:
        try:
            return ImageFont.truetype(FONT_FILE, size=size)
        except OSError:
            return ImageFont.load_default(size=size)


def _dashes(xy: np.ndarray, pattern: list[float]) -> list[np.ndarray]:
    """Split a polyline (n×2 pixels) into dash pieces following ``pattern`` (on, off, ...)."""
    seg = np.hypot(*np.diff(xy, axis=0).T)
    dist = np.concatenate([[0.0], np.cumsum(seg)])
    total = dist[-1]
    period = float(sum(pattern))
    if total <= 0 or period <= 0:
        return [xy]
    pieces = []
    starts = np.cumsum([0.0] + list(pattern))[:-1:2]   # start offsets of the "on" parts within a period
    ons = pattern[0::2]
    for k in range(int(total // period) + 1):
        for off, on in zip(starts, ons):
            a = k * period + off
            b = min(a + on, total)
            if a >= total:
                break
            inner = (dist > a) & (dist < b)
            xa = np.interp(a, dist, xy[:, 0]), np.interp(a, dist, xy[:, 1])
            xb = np.interp(b, dist, xy[:, 0]), np.interp(b, dist, xy[:, 1])
            pts = np.vstack([[xa], xy[inner], [xb]])
            pieces.append(pts)
    return pieces


def label_text(name, paint: dict) -> str:
    """The label of a feature: its name, plus "（示例）" for illustrative layers unless the name says so."""
    if name is None or str(name) in ("", "nan", "None"):
        return ""
    text = str(name)
    suffix = paint["label_suffix"]
    if suffix and suffix.strip("（）") not in text:
        text += suffix
    return text


class TileRenderer:
    """Renders PNG tiles of a tileset (default ``plan``) from a ``kfqmap.tiles.TileEngine``."""

    def __init__(self, engine, tileset: str = "plan"):
        self.engine = engine
        self.tileset = tileset
        if tileset == "plan":
            self.layers = ordered_layers(engine.plan_layers())
        else:
            self.layers = [engine.catalog.get(tileset)]
        self._anchors: dict[str, tuple[np.ndarray, np.ndarray, list[str]]] = {}
        self._placed: dict[tuple[int, int], dict] = {}

    # ------------------------------------------------------------------ labels
    def _label_anchors(self, layer, paint) -> tuple[np.ndarray, np.ndarray, list[str]]:
        cached = self._anchors.get(layer.id)
        if cached is not None:
            return cached
        src = self.engine.source(layer.id)
        frame = self.engine.catalog.read(layer.id)
        names = frame["name"].iloc[src.rows].tolist() if "name" in frame.columns else [""] * src.n
        if paint["kind"] == "fill":
            pts = shapely.point_on_surface(src.geoms)
        elif paint["kind"] == "line":
            pts = shapely.line_interpolate_point(src.geoms, 0.5, normalized=True)
        else:
            pts = shapely.centroid(src.geoms)
        xy = shapely.get_coordinates(pts)
        texts = [label_text(n, paint) for n in names]
        area = shapely.area(src.geoms) if paint["kind"] == "fill" else np.zeros(src.n)
        cached = (xy, area, texts)
        self._anchors[layer.id] = cached
        return cached

    # ------------------------------------------------------------------ drawing
    def render(self, z: int, x: int, y: int, *, scale: int = 1) -> bytes:
        """PNG bytes of tile z/x/y at ``scale`` 1 (256 px) or 2 (512 px). Raises TileOutOfRange."""
        check_tile(z, x, y)
        img = self.render_image(z, x, y, scale=scale)
        buf = io.BytesIO()
        img.save(buf, format="PNG", optimize=False, compress_level=6)
        return buf.getvalue()

    def render_image(self, z: int, x: int, y: int, *, scale: int = 1) -> Image.Image:
        size = TILE_SIZE * scale
        ss = SUPERSAMPLE
        big = size * ss
        b = tile_bounds(z, x, y)
        res = (b.right - b.left) / big                       # metres per supersampled pixel
        margin = MARGIN_PX * scale * ss * res
        box = (b.left - margin, b.bottom - margin, b.right + margin, b.top + margin)
        query_box = shapely.box(*box)
        canvas = Image.new("RGBA", (big, big), _rgb(BACKGROUND) + (255,))

        def to_px(coords: np.ndarray) -> np.ndarray:
            return np.column_stack([(coords[:, 0] - b.left) / res, (b.top - coords[:, 1]) / res])

        for layer in self.layers:
            paint = layer_paint(layer)
            src = self.engine.source(layer.id)
            if src.n == 0:
                continue
            cand = np.sort(src.tree.query(query_box))
            if len(cand) == 0:
                continue
            geoms = shapely.clip_by_rect(shapely.simplify(src.geoms[cand], res * 0.5), *box)
            overlay = Image.new("RGBA", (big, big), (0, 0, 0, 0))
            draw = ImageDraw.Draw(overlay)
            stroke = _rgb(paint["stroke"]) + (int(255 * paint["opacity"]),)
            width = max(1, int(round(paint["width"] * scale * ss)))
            dash = [d * scale * ss for d in paint["dash"]] if paint["dash"] else None
            if paint["kind"] == "fill":
                keep = ~shapely.is_empty(geoms)
                polys, part_of = shapely.get_parts(geoms[keep], return_index=True)
                is_poly = np.isin(shapely.get_type_id(polys), (3,))
                polys, part_of = polys[is_poly], part_of[is_poly]
                cats = paint.get("categories")
                values = src.column(cats["field"])[cand][keep][part_of] if cats else [None] * len(polys)
                fills, strokes = feature_colours(paint, values)
                alpha = int(255 * paint["fill_opacity"])
                for poly, fill_hex in zip(polys, fills):
                    if not fill_hex:
                        continue
                    draw.polygon([tuple(p) for p in to_px(shapely.get_coordinates(poly.exterior))],
                                 fill=_rgb(fill_hex) + (alpha,))
                    for ring in poly.interiors:
                        draw.polygon([tuple(p) for p in to_px(np.asarray(ring.coords))], fill=(0, 0, 0, 0))
                lines, line_colours = [], []
                for poly, stroke_hex in zip(polys, strokes):
                    for ring in shapely.get_rings(poly):
                        lines.append(to_px(shapely.get_coordinates(ring)))
                        line_colours.append(_rgb(stroke_hex) + (int(255 * paint["opacity"]),))
            elif paint["kind"] == "line":
                parts = shapely.get_parts(geoms[~shapely.is_empty(geoms)])
                parts = parts[np.isin(shapely.get_type_id(parts), (1, 2))]
                lines = [to_px(shapely.get_coordinates(p)) for p in parts]
            else:
                lines = []
                r = paint["radius"] * scale * ss
                fill = _rgb(paint["fill"]) + (255,)
                pts = to_px(shapely.get_coordinates(geoms[~shapely.is_empty(geoms)]))
                for px, py in pts:
                    draw.ellipse([px - r, py - r, px + r, py + r], fill=fill, outline=stroke,
                                 width=max(1, int(round(paint["width"] * scale * ss))))
            if paint["kind"] != "fill":
                line_colours = [stroke] * len(lines)
            for line, colour in zip(lines, line_colours):
                if len(line) < 2:
                    continue
                pieces = _dashes(line, dash) if dash else [line]
                for piece in pieces:
                    if len(piece) >= 2:
                        draw.line([tuple(p) for p in piece], fill=colour, width=width,
                                  joint="curve" if not dash else None)
            canvas.alpha_composite(overlay)

        img = canvas.reduce(ss) if ss > 1 else canvas
        self._draw_labels(img, z, x, y, scale)
        return img.convert("RGB")

    def placed_labels(self, z: int, scale: int) -> dict:
        """Labels kept at zoom ``z`` after collision, decided once for the whole map (so tiles agree).

        Returns arrays ``x, y`` (world pixels at this zoom and scale, anchor point), ``text``, ``anchor``.
        Upper layers win, then larger features.
        """
        key = (z, scale)
        cached = self._placed.get(key)
        if cached is not None:
            return cached
        font = _font(TEXT_SIZE * scale)
        halo = max(1, int(round(1.5 * scale)))
        world = TILE_SIZE * scale * (1 << z)
        cands = []
        for layer in self.layers:
            paint = layer_paint(layer)
            if not paint["label"]:
                continue
            xy, area, texts = self._label_anchors(layer, paint)
            wx = (xy[:, 0] + ORIGIN) / (2 * ORIGIN) * world
            wy = (ORIGIN - xy[:, 1]) / (2 * ORIGIN) * world
            for i, text in enumerate(texts):
                if text and np.isfinite(wx[i]) and np.isfinite(wy[i]):
                    cands.append((paint["z"], float(area[i]), text, float(wx[i]), float(wy[i]),
                                  paint["kind"], paint["radius"]))
        cands.sort(key=lambda t: (-t[0], -t[1]))
        boxes = np.zeros((0, 4))
        out = {"x": [], "y": [], "text": [], "anchor": []}
        for _, _, text, ax, ay, kind, radius in cands:
            if kind == "circle":
                anchor, ax = "lm", ax + (radius + 3) * scale
            else:
                anchor = "mm"
            l, t, r, btm = font.getbbox(text, anchor=anchor, stroke_width=halo)
            box = (ax + l - 2, ay + t - 2, ax + r + 2, ay + btm + 2)
            if len(boxes) and np.any((boxes[:, 0] < box[2]) & (boxes[:, 2] > box[0])
                                     & (boxes[:, 1] < box[3]) & (boxes[:, 3] > box[1])):
                continue
            boxes = np.vstack([boxes, box])
            out["x"].append(ax)
            out["y"].append(ay)
            out["text"].append(text)
            out["anchor"].append(anchor)
        placed = {"x": np.array(out["x"]), "y": np.array(out["y"]), "text": out["text"], "anchor": out["anchor"]}
        self._placed[key] = placed
        return placed

    def _draw_labels(self, img: Image.Image, z: int, x: int, y: int, scale: int) -> None:
        placed = self.placed_labels(z, scale)
        if not placed["text"]:
            return
        size = img.size[0]
        ox, oy = x * size, y * size
        m = LABEL_MARGIN_PX * scale
        sel = np.flatnonzero((placed["x"] > ox - m) & (placed["x"] < ox + size + m)
                             & (placed["y"] > oy - m) & (placed["y"] < oy + size + m))
        if not len(sel):
            return
        draw = ImageDraw.Draw(img)
        font = _font(TEXT_SIZE * scale)
        halo = max(1, int(round(1.5 * scale)))
        for i in sel:
            draw.text((placed["x"][i] - ox, placed["y"][i] - oy), placed["text"][i], font=font,
                      anchor=placed["anchor"][i], fill=_rgb(LABEL_COLOR), stroke_width=halo,
                      stroke_fill=_rgb(LABEL_HALO))


def mosaic(renderer: TileRenderer, z: int, x0: int, y0: int, n: int = 3, *, scale: int = 1) -> Image.Image:
    """An n×n mosaic of tiles starting at x0/y0 (for looking at seams and labels)."""
    size = TILE_SIZE * scale
    out = Image.new("RGB", (size * n, size * n))
    for dy in range(n):
        for dx in range(n):
            out.paste(renderer.render_image(z, x0 + dx, y0 + dy, scale=scale), (dx * size, dy * size))
    return out
