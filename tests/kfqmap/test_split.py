"""kfqmap.split: 分割 a polygon with a line — the geometry (pieces that add up to the original, holes, multipolygons,
lines that miss or stop inside) and the edit through the embedded store (one transaction, history, the schema's
read-only id not copied)."""
from __future__ import annotations

import pytest
from shapely.geometry import LineString, MultiLineString, MultiPolygon, Polygon, shape
from shapely.ops import split as shapely_split
from shapely.ops import unary_union

from kfqmap import history
from kfqmap.catalog import load_catalog
from kfqmap.errors import InvalidFeature, PreconditionFailed
from kfqmap.providers.base import ChangeContext, WriteOp
from kfqmap.settings import CatalogSettings
from kfqmap.split import REACH_DEG, split_feature, split_polygonal
from server.testing import MINI_GEODATA

X0, Y0, D = 121.02, 31.33, 0.002


def box(x0, y0, dx, dy=None):
    dy = dx if dy is None else dy
    return Polygon([(x0, y0), (x0 + dx, y0), (x0 + dx, y0 + dy), (x0, y0 + dy)])


def assert_partition(original, outlines):
    """The outlines tile the original: areas add up (1e-9 relative), nothing overlaps, the union is the original."""
    total = sum(o.area for o in outlines)
    assert abs(total - original.area) <= 1e-9 * original.area
    union = unary_union(outlines)
    assert union.symmetric_difference(original).area <= 1e-9 * original.area
    for i, a in enumerate(outlines):
        for b in outlines[i + 1:]:
            assert a.intersection(b).area <= 1e-12 * original.area


# ------------------------------------------------------------------------------------------ geometry
def test_an_oblique_line_cuts_a_polygon_in_two_largest_first():
    square = box(X0, Y0, D)
    line = LineString([(X0 - D, Y0 + 0.2 * D), (X0 + 2 * D, Y0 + 0.6 * D)])    # crosses west and east edges
    outlines = split_polygonal(square, line)
    assert [o.geom_type for o in outlines] == ["Polygon", "Polygon"]
    assert outlines[0].area > outlines[1].area
    assert_partition(square, outlines)
    # the cut follows the line: both pieces touch it along its chord through the square
    chord = line.intersection(square)
    assert outlines[0].intersection(outlines[1]).length == pytest.approx(chord.length, rel=1e-9)


def test_a_line_through_a_hole_cuts_the_ring_on_both_sides():
    ring = Polygon(box(X0, Y0, 3 * D).exterior.coords, [box(X0 + D, Y0 + D, D).exterior.coords])
    outlines = split_polygonal(ring, LineString([(X0 + 1.5 * D, Y0 - D), (X0 + 1.5 * D, Y0 + 4 * D)]))
    assert len(outlines) == 2
    assert_partition(ring, outlines)
    assert all(o.is_valid and len(o.interiors) == 0 for o in outlines)     # each half is a "U"


def test_a_multipolygon_keeps_its_uncut_parts_with_the_largest_piece():
    west, east = box(X0, Y0, D), box(X0 + 2 * D, Y0, D)
    multi = MultiPolygon([west, east])
    line = LineString([(X0 + 0.3 * D, Y0 - D), (X0 + 0.3 * D, Y0 + 2 * D)])   # cuts only the west square
    kept, new = split_polygonal(multi, line)
    assert kept.geom_type == new.geom_type == "MultiPolygon"               # the layer's type is kept
    assert len(kept.geoms) == 2 and kept.contains(east.representative_point())
    assert new.area == pytest.approx(0.3 * D * D, rel=1e-9)
    assert_partition(multi, [kept, new])
    # a line through both squares: three pieces, the largest stays, two new
    three = split_polygonal(multi, LineString([(X0 - D, Y0 + 0.5 * D), (X0 + 4 * D, Y0 + 0.8 * D)]))
    assert len(three) == 4 and len(three[0].geoms) == 1
    assert_partition(multi, three)


def test_two_lines_make_three_pieces_and_a_vertex_to_vertex_diagonal_cuts():
    square = box(X0, Y0, D)
    lines = MultiLineString([[(X0 + 0.25 * D, Y0 - D), (X0 + 0.25 * D, Y0 + 2 * D)],
                             [(X0 + 0.5 * D, Y0 - D), (X0 + 0.5 * D, Y0 + 2 * D)]])
    outlines = split_polygonal(square, lines)
    assert [round(o.area / square.area, 9) for o in outlines] == [0.5, 0.25, 0.25]
    # corner to corner, the ends a hair inside (as a client's rounded, snapped coordinates can be): still a cut
    eps = REACH_DEG / 10
    diagonal = split_polygonal(square, LineString([(X0 + eps, Y0 + eps), (X0 + D - eps, Y0 + D - eps)]))
    assert len(diagonal) == 2
    assert_partition(square, diagonal)


@pytest.mark.parametrize("line, words", [
    (LineString([(X0 + 2 * D, Y0), (X0 + 3 * D, Y0 + D)]), "不相交"),                 # misses
    (LineString([(X0 - D, Y0 + 0.5 * D), (X0 + 0.5 * D, Y0 + 0.5 * D)]), "没有把要素分成两部分"),  # stops inside
    (LineString([(X0 + 0.2 * D, Y0 + 0.2 * D), (X0 + 0.8 * D, Y0 + 0.8 * D)]), "没有把要素分成两部分"),  # inside
    (LineString([(X0, Y0 - D), (X0, Y0 + 2 * D)]), "没有把要素分成两部分"),           # along an edge
])
def test_a_line_that_does_not_divide_the_polygon_is_refused(line, words):
    with pytest.raises(InvalidFeature, match=words) as info:
        split_polygonal(box(X0, Y0, D), line)
    assert info.value.parameter == "line"


# ------------------------------------------------------------------------------------------ the edit
@pytest.fixture()
def parcels(tmp_path):
    catalog = load_catalog(CatalogSettings(geodata_dir=MINI_GEODATA, data_dir=tmp_path, extra_layers=""))
    yield catalog.collection("low_efficiency_land")
    catalog.store.close()


def test_split_feature_is_one_transaction_with_history(parcels):
    fid = parcels.create({"type": "Feature", "geometry": box(X0, Y0, D).__geo_interface__,
                          "properties": {"id": "SPLIT-1", "name": "分割测试", "status": "实施中", "year": 2025}})
    before = len(parcels.frame())
    _, original, etag = parcels.provider.feature(fid)
    with pytest.raises(PreconditionFailed):
        split_feature(parcels, fid, {"type": "LineString", "coordinates": [[X0 + 0.4 * D, Y0 - D], [X0 + 0.4 * D, Y0 + 2 * D]]},
                      if_match="stale")
    result = split_feature(parcels, fid, {"type": "LineString",
                                          "coordinates": [[X0 + 0.4 * D, Y0 - D], [X0 + 0.4 * D, Y0 + 2 * D]]},
                           if_match=etag, context=ChangeContext("王工"))
    assert result.ids[0] == fid and len(result.ids) == 2 and result.ids[1] != fid
    assert len(parcels.frame()) == before + 1
    kept, new = (shape(f["geometry"]) for f in result.features)
    assert kept.area > new.area
    assert_partition(shape(original["geometry"]), [kept, new])
    props = result.features[1]["properties"]
    assert {k: props[k] for k in ("name", "status", "year")} == {"name": "分割测试", "status": "实施中", "year": 2025}
    assert props["id"] == result.ids[1] != fid                        # the id is the store's, not a copy
    rows = [parcels.provider.store.history(lambda conn, i=i: history.feature_history(conn, parcels.id, i))[0]
            for i in result.ids]
    note = "分割：分割测试（SPLIT-1）分为 2 个面"
    assert [(r.op, r.user, r.note) for r in rows] == [("update", "王工", note), ("create", "王工", note)]
    # the ETag it was based on is gone now: the same split again is refused, and nothing changes
    with pytest.raises(PreconditionFailed):
        parcels.apply([WriteOp("update", fid, {"properties": {"year": 2026}}, if_match=etag)])


def test_a_sliver_along_an_edge_stays_with_its_neighbour():
    """A cut meant to start at the south-west corner that comes in 1e-7° (≈ 1 cm) beside it — as a point snapped to a
    tile's copy of a neighbour's corner can — crosses the south edge at a grazing angle and cuts off a sliver of a few
    hundred cm²: it joins the piece it borders instead of becoming a feature."""
    square = box(X0, Y0, D)
    eps = 1e-7
    line = LineString([(X0 - D, Y0 + 3 * eps), (X0 + 0.5 * D, Y0 - eps), (X0 + 0.5 * D, Y0 + 2 * D)])
    assert len(shapely_split(square, line).geoms) == 3                   # shapely alone: west, east and the sliver
    outlines = split_polygonal(square, line)
    assert len(outlines) == 2 and all(o.geom_type == "Polygon" for o in outlines)
    assert_partition(square, outlines)
    assert [o.area / square.area for o in outlines] == pytest.approx([0.5, 0.5], rel=1e-5)
    # only a sliver is left beside a line that grazes an edge: that is no cut
    with pytest.raises(InvalidFeature, match="没有把要素分成两部分"):
        split_polygonal(square, LineString([(X0 - D, Y0 + 3 * eps), (X0 + 0.5 * D, Y0 - eps)]))
