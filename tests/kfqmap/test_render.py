"""kfqmap.render: PNG tiles (256 and 512 @2x), style colours at known pixels, Chinese labels drawn."""
from __future__ import annotations

import io
from pathlib import Path

import geopandas as gpd
import morecantile
import numpy as np
import pytest
from PIL import Image
from shapely.geometry import Point, box

from kfqmap.catalog import Catalog, load_catalog
from kfqmap.models import Layer, Style
from kfqmap.errors import TileOutOfRange
from kfqmap.render import TileRenderer, label_text, lonlat_tile
from kfqmap.settings import CatalogSettings
from kfqmap.style import BACKGROUND, layer_paint
from kfqmap.tiles import TileEngine, tile_pixel

TMS = morecantile.tms.get("WebMercatorQuad")

Z = 14
LON, LAT = 121.0, 31.38
TX, TY = TMS.tile(LON, LAT, Z).x, TMS.tile(LON, LAT, Z).y
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _layer(layer_id, geometry_type, style, **kw):
    return Layer(id=layer_id, title_zh=layer_id, title_en=layer_id, group="更新地块", kind="plan",
                 geometry_type=geometry_type, file=f"layers/{layer_id}.geojson", plan_section="测试",
                 description="测试图层", schematic=False, style=style, **kw)


@pytest.fixture(scope="module")
def renderer():
    w, s, e, n = TMS.bounds(TX, TY, Z)
    dx, dy = (e - w) / 8, (n - s) / 8
    catalog = Catalog([], Path("."))
    sites = gpd.GeoDataFrame({"id": ["a"], "name": ["核心商业区"]},
                             geometry=[box(w + dx, s + dy, w + 5 * dx, s + 5 * dy)], crs=4326)
    catalog.add_layer(_layer("demo_sites", "Polygon", Style(fill="#ff0000", fill_opacity=1.0, stroke="#0000ff",
                                                            stroke_width=2, z=1)), sites)
    pts = gpd.GeoDataFrame({"id": ["p"], "name": ["市民文化广场"]}, geometry=[Point(w + 2 * dx, n - 2 * dy)], crs=4326)
    catalog.add_layer(_layer("demo_points", "Point", Style(fill="#00aa00", stroke="#ffffff", stroke_width=1,
                                                           radius=5, z=2)), pts)
    return TileRenderer(TileEngine(catalog)), (w, s, e, n, dx, dy)


def _png(data: bytes) -> np.ndarray:
    img = Image.open(io.BytesIO(data))
    assert img.format == "PNG"
    return np.asarray(img.convert("RGB")).astype(int)


@pytest.mark.parametrize("scale", [1, 2])
def test_sizes_colours_and_label(renderer, scale):
    r, (w, s, e, n, dx, dy) = renderer
    px = _png(r.render(Z, TX, TY, scale=scale))
    size = 256 * scale
    assert px.shape == (size, size, 3)
    assert len(np.unique(px.reshape(-1, 3), axis=0)) > 10           # antialiased, not blank
    # a pixel well inside the opaque red polygon (away from its outline and its centred label)
    fx, fy = tile_pixel(w + 1.6 * dx, s + 1.6 * dy, Z, TX, TY, extent=size)
    assert np.abs(px[int(fy), int(fx)] - [255, 0, 0]).max() <= 3
    # background outside every feature
    bx, by = tile_pixel(w + 7.5 * dx, s + 0.5 * dy, Z, TX, TY, extent=size)
    bg = tuple(int(BACKGROUND[i:i + 2], 16) for i in (1, 3, 5))
    assert np.abs(px[int(by), int(bx)] - bg).max() <= 3
    # the point marker in its fill colour, and its Chinese label to its right: dark text pixels
    cx, cy = tile_pixel(w + 2 * dx, n - 2 * dy, Z, TX, TY, extent=size)
    assert np.abs(px[int(cy), int(cx)] - [0, 170, 0]).max() <= 10
    region = px[int(cy) - 8 * scale:int(cy) + 8 * scale, int(cx) + 8 * scale:int(cx) + 80 * scale]
    dark = (region.sum(axis=2) < 200).sum()
    assert dark > 20 * scale * scale, dark
    # outline in the stroke colour along the polygon's left edge
    ex, ey = tile_pixel(w + dx, s + 3 * dy, Z, TX, TY, extent=size)
    edge = px[int(ey), int(ex) - 2 * scale:int(ex) + 2 * scale + 1]
    assert (np.abs(edge - [0, 0, 255]).max(axis=1) <= 60).any()


def test_out_of_range(renderer):
    with pytest.raises(TileOutOfRange):
        renderer[0].render(23, 0, 0)


def test_label_text_marks_illustrative():
    paint = {"label_suffix": "（示例）"}
    assert label_text("地块1", paint) == "地块1（示例）"
    assert label_text("示例低效地块001", paint) == "示例低效地块001"
    assert label_text(None, paint) == ""


@pytest.fixture(scope="module")
def real():
    try:
        catalog = load_catalog()
    except Exception:
        from server.testing import MINI_GEODATA
        catalog = load_catalog(CatalogSettings(geodata_dir=MINI_GEODATA, extra_layers=""))
    return TileRenderer(TileEngine(catalog))


def test_real_catalog_mosaic(real):
    """A 3×3 block over the zone: not blank, labels present, same colours as the style. Saved for a look."""
    engine = real.engine
    layer_id = "etdz_extent" if "etdz_extent" in engine.catalog.ids else engine.plan_layers()[0].id
    w, s, e, n = engine.source(layer_id).lonlat_bounds
    x0, y0 = lonlat_tile((w + e) / 2, (s + n) / 2, 13)
    from kfqmap.render import mosaic
    img = mosaic(real, 13, x0 - 1, y0 - 1, 3)
    px = np.asarray(img).astype(int)
    assert px.shape == (768, 768, 3)
    assert len(np.unique(px.reshape(-1, 3), axis=0)) > 100
    assert (px.sum(axis=2) < 150).sum() > 500            # label text (near-black) somewhere
    ARTIFACTS.mkdir(exist_ok=True)
    img.save(ARTIFACTS / "render_mosaic_z13.png")


def test_renderer_reads_the_style(real):
    for layer in real.layers:
        p = layer_paint(layer)
        assert p["stroke"] == (layer.style.stroke if "stroke" in layer.style.model_fields_set else p["stroke"])


def test_category_colours_per_feature():
    """A layer coloured by a category field (多园 by park_type) fills each feature with its category's colour."""
    w, s, e, n = TMS.bounds(TX, TY, Z)
    dx = (e - w) / 8
    catalog = Catalog([], Path("."))
    parks = gpd.GeoDataFrame({"id": ["life", "industry"], "name": ["甲", "乙"], "park_type": ["城市生活园区", "特色产业园区"]},
                             geometry=[box(w + dx, s + dx, w + 3 * dx, n - dx), box(w + 5 * dx, s + dx, w + 7 * dx, n - dx)],
                             crs=4326)
    style = Style(fill="#000000", fill_opacity=1.0, stroke="#000000", stroke_width=1, label=False,
                  category_field="park_type",
                  categories={"城市生活园区": {"fill": "#ffff00", "stroke": "#ffff00"},
                              "特色产业园区": {"fill": "#0000ff", "stroke": "#0000ff"}})
    catalog.add_layer(_layer("demo_parks", "Polygon", style), parks)
    px = _png(TileRenderer(TileEngine(catalog)).render(Z, TX, TY))
    assert tuple(px[128, 2 * 32]) == (255, 255, 0)      # inside the life park (x ≈ 2/8 of the tile)
    assert tuple(px[128, 6 * 32]) == (0, 0, 255)        # inside the industrial park (x ≈ 6/8)
