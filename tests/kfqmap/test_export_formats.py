"""Format helpers that need no reader: the shapefile field-name mapping, image sizes, KML/DXF colours."""
from __future__ import annotations

import hashlib

import numpy as np

import pytest

from kfqmap.errors import InvalidParameter
from kfqmap.export import image, kml, shapefile
from kfqmap.export.dxf import _nearest_aci, _rgb, cad_text


# ------------------------------------------------------------------ shapefile field names
def test_field_names_fit_in_ten_bytes_and_are_unique():
    columns = ["id", "name", "illustrative", "value_2020_text", "园区类型说明文字", "a_very_long_name_1",
               "a_very_long_name_2", "NAME", "accuracy_m", "description", "descr"]
    mapping = shapefile.field_name_map(columns)
    names = [v[0] for v in mapping.values()]
    assert all(len(n.encode("utf-8")) <= 10 for n in names)
    assert len({n.upper() for n in names}) == len(names)        # unique, case-insensitively like dBASE


def test_field_name_rules():
    m = shapefile.field_name_map(["id", "illustrative", "园区类型说明文字", "a_very_long_name_1", "a_very_long_name_2",
                                  "NAME", "name"])
    assert m["id"] == ("id", "unchanged")
    assert m["illustrative"] == ("illustr", "abbreviation")
    digest = hashlib.sha1("园区类型说明文字".encode("utf-8")).hexdigest()[:8]
    assert m["园区类型说明文字"] == (f"c_{digest}", "non-ascii")
    assert m["a_very_long_name_1"] == ("a_very_lon", "truncated")
    assert m["a_very_long_name_2"] == ("a_very_l_2", "truncated+numbered")
    assert m["NAME"] == ("NAME", "unchanged")
    assert m["name"] == ("name_2", "unchanged+numbered")


def test_field_names_do_not_depend_on_other_columns():
    a = shapefile.field_name_map(["园区类型说明文字", "x"])["园区类型说明文字"]
    b = shapefile.field_name_map(["y", "z", "园区类型说明文字"])["园区类型说明文字"]
    assert a == b


def test_every_abbreviation_is_short_and_distinct():
    values = list(shapefile.ABBREVIATIONS.values())
    assert all(len(v) <= 10 and v.isascii() for v in values)
    assert len(set(values)) == len(values)


def test_cut_keeps_whole_characters():
    text = "夏驾河" * 100
    cut = shapefile._cut(text)
    assert len(cut.encode("utf-8")) <= 254
    assert text.startswith(cut) and len(cut) == 84          # 84 × 3 bytes = 252


# ------------------------------------------------------------------ image sizes
@pytest.mark.parametrize("size,dpi,pixels", [
    ("A4", 150, (1754, 1240)),
    ("A4-portrait", 100, (827, 1169)),
    ("A3", 72, (1191, 842)),
    ("1600x1200px", 200, (1600, 1200)),
    ("8x6in", 100, (800, 600)),
    ("200x100mm", 254, (2000, 1000)),
])
def test_pixel_size(size, dpi, pixels):
    assert image.pixel_size(size, dpi) == pixels


@pytest.mark.parametrize("size", ["A9", "big", "10x", "x10mm"])
def test_bad_sizes(size):
    with pytest.raises(InvalidParameter):
        image.parse_size(size, 150)


def test_cjk_font_is_registered():
    assert image.cjk_font() == "Noto Sans CJK SC"


# ------------------------------------------------------------------ colours
def test_kml_colour_is_aabbggrr():
    assert kml.kml_color("#e4572e", 0.4) == "662e57e4"
    assert kml.kml_color("#fff", 1) == "ffffffff"


def test_dxf_colour():
    assert _rgb("#a4161a") == (164, 22, 26)
    assert _nearest_aci((255, 0, 0)) == 1


def test_dxf_text_fits_the_gbk_code_page():
    """DXF text is written in GBK ($DWGCODEPAGE ANSI_936): characters GBK lacks get a GBK equivalent where one
    exists, anything else is left for ezdxf's \\U+nnnn escape."""
    assert cad_text("核心商业区 0.8 km²，8万m²") == "核心商业区 0.8 km2，8万㎡"
    assert cad_text("青阳港城市客厅“一带四园”·—") == "青阳港城市客厅“一带四园”·—"
    cad_text("核心商业区 0.8 km²").encode("gbk")
    assert cad_text("😀") == "😀"


@pytest.mark.parametrize("dpi", [0, -1, 10, 5000, float("nan")])
def test_bad_dpi_is_refused_not_replaced_by_the_default(dpi, tmp_path):
    """dpi=0 used to fall back silently to 150 (``dpi or 150``); every value outside 72–600 is a 400."""
    with pytest.raises(InvalidParameter, match="dpi"):
        image.write_selection([], tmp_path / "m.png", None, dpi=dpi)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ CSV: WKT within a spreadsheet cell
@pytest.mark.parametrize("code", ["EPSG:4326", "EPSG:4549"])
def test_csv_wkt_fits_a_cell_and_says_by_how_much(code):
    import shapely
    from kfqmap.crs import parse_crs, transform_geometry
    from kfqmap.export.csv import CELL_LIMIT, fit_wkt

    crs = parse_crs(code)
    ring = shapely.Point(120.98, 31.38).buffer(0.05, quad_segs=2000)         # 8,000 vertices, ~250,000 chars
    geom = transform_geometry(np.array([ring], dtype=object), "EPSG:4326", code)[0] if code != "EPSG:4326" else ring
    wkt, note = fit_wkt(geom, crs)
    assert len(wkt) <= CELL_LIMIT and note and "GeoPackage" in note
    small = shapely.Point(120.98, 31.38).buffer(0.001)
    small = transform_geometry(np.array([small], dtype=object), "EPSG:4326", code)[0] if code != "EPSG:4326" else small
    wkt_small, note_small = fit_wkt(small, crs)
    assert note_small is None and shapely.from_wkt(wkt_small).equals_exact(small, 1e-3 if code != "EPSG:4326" else 1e-8)
