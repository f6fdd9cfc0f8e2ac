"""Exports of a drawn area or of the viewer's current view match what the screen showed (issue 15):
the XLSX lists each feature's area *inside* the drawing exactly as ``POST /query/geometry`` reports it, with
per-layer subtotals and no total across overlapping layers, and its 说明 sheet states one scope; a PNG/PDF of a
bbox shows that bbox, not the selected features' whole extent."""
from __future__ import annotations

import openpyxl
import pytest
from pyproj import Geod
from shapely.geometry import box, mapping

from kfqmap import export as X
from kfqmap import query as Q
from kfqmap.catalog import load_catalog
from kfqmap.crs import parse_crs
from kfqmap.export import image

DRAWN = box(120.98, 31.33, 121.06, 31.39)
GEOD = Geod(a=6378137.0, f=1 / 298.257222101)


@pytest.fixture(scope="module")
def catalog():
    """The real catalog (the layers planners see): the drawn box covers parts of several parks and cores."""
    return load_catalog()


def test_xlsx_of_a_drawn_area_lists_the_areas_inside_it(catalog, tmp_path):
    layers = ["parks", "cores", "key_projects"]
    X.export_layers(catalog, layers, "xlsx", tmp_path / "r.xlsx", geometry=mapping(DRAWN))
    wb = openpyxl.load_workbook(tmp_path / "r.xlsx")
    about = {r[0]: r[1] for r in wb["说明"].iter_rows(values_only=True)}
    assert about["范围"].startswith("绘制范围") and "全部" not in about["范围"]
    assert "绘制范围" not in about                      # one scope row, not two that contradict each other
    drawn_mu = abs(GEOD.geometry_area_perimeter(DRAWN)[0]) * 3 / 2000
    shown = float(about["范围"].split("椭球面积 ")[1].split(" 亩")[0].replace(",", ""))
    assert shown == pytest.approx(drawn_mu, rel=1e-4)

    rows = list(wb["范围内要素"].iter_rows(values_only=True))
    head = rows[0]
    col = {name: i for i, name in enumerate(head)}
    sheet = {(r[0], r[2]): r[col["范围内面积（亩）"]] for r in rows[1:] if r[0] and r[2]}
    hits = Q.in_geometry(catalog, mapping(DRAWN), layers=["parks", "cores"]).hits
    assert hits
    for h in hits:
        assert sheet[(h.layer_id, h.id)] == h.intersection_mu        # exactly the viewer's number
    # independent check of one partial park against pyproj's geodesic area of the clipped polygon
    partial = [h for h in hits if h.share_of_feature and h.share_of_feature < 0.9][0]
    geom = catalog.read(partial.layer_id).loc[partial.id].geometry.intersection(DRAWN)
    assert sheet[(partial.layer_id, partial.id)] == pytest.approx(abs(GEOD.geometry_area_perimeter(geom)[0]) * 3 / 2000, rel=1e-3)
    # subtotals per layer, never a sum across layers
    labels = [str(r[1]) for r in rows[1:] if r[0] in layers and r[1]]
    assert sum("小计" in x for x in labels) == 2                      # parks and cores (points have no area)
    assert not any("合计" in str(r[0]) for r in rows[1:] if r[0])
    subtotal = [r for r in rows if r[1] and "多园 小计" in str(r[1])][0][col["范围内面积（亩）"]]
    assert subtotal == pytest.approx(sum(h.intersection_mu for h in hits if h.layer_id == "parks"), abs=0.02)


def test_xlsx_without_a_drawing_says_all_and_has_no_inside_sheet(catalog, tmp_path):
    X.export_layers(catalog, ["parks"], "xlsx", tmp_path / "r.xlsx")
    wb = openpyxl.load_workbook(tmp_path / "r.xlsx")
    about = {r[0]: r[1] for r in wb["说明"].iter_rows(values_only=True)}
    assert about["范围"].startswith("全部")
    assert "范围内要素" not in wb.sheetnames


@pytest.mark.parametrize("bbox", [(121.0, 31.33, 121.03, 31.35), (120.9, 31.30, 121.1, 31.42)])
def test_map_image_of_a_bbox_shows_that_bbox(catalog, bbox):
    crs = parse_crs("EPSG:4549")
    sel = X.select(catalog, ["parks", "admin_boundaries"], bbox=",".join(map(str, bbox)))
    fig = image._draw(sel, crs, 11.69, 8.27, "t", None)
    ax = fig.axes[0]
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    from kfqmap.crs import transform_xy
    corners = [transform_xy(x, y, "EPSG:4326", crs) for x in bbox[::2] for y in bbox[1::2]]
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    # the whole view is on the map …
    assert x0 <= min(xs) + 1 and x1 >= max(xs) - 1 and y0 <= min(ys) + 1 and y1 >= max(ys) - 1
    # … and the map is no bigger than the view along its tighter axis (was: the whole 昆山市 boundary)
    assert min((x1 - x0) / (max(xs) - min(xs)), (y1 - y0) / (max(ys) - min(ys))) == pytest.approx(1.0, abs=0.01)


def test_map_image_without_an_area_still_fits_the_features(catalog):
    crs = parse_crs("EPSG:4549")
    sel = X.select(catalog, ["cores"])
    fig = image._draw(sel, crs, 11.69, 8.27, "t", None)
    (x0, x1), _ = fig.axes[0].get_xlim(), None
    bounds = X.to_crs(catalog.read("cores"), crs).total_bounds
    assert x0 < bounds[0] and x1 > bounds[2]
