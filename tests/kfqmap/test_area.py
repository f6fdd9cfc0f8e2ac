"""Areas (kfqmap.area): ellipsoidal (CGCS2000) vs pyproj.Geod, Gauss-Krüger EPSG:4549, lengths; statistics (kfqmap.stats)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from hypothesis import given, settings, strategies as st
from shapely.geometry import LineString, MultiLineString, MultiPolygon, Point, Polygon, box

import kfqmap.area as area_mod
import kfqmap.stats as stats_mod
from kfqmap.area import (CGCS2000_GEOD, EQUAL_AREA_PROJ, MAX_EDGE_M, ellipsoidal_area, geodesic_area, gk_area,
                         intersection_area, laea_xy, lengths_m, to_equal_area)
from kfqmap.catalog import load_catalog
from kfqmap.crs import transform_geometry
from kfqmap.errors import InvalidParameter
from kfqmap.stats import overlay_pairs
from kfqmap.units import mu_from_m2


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def square_4549(x0=595_000.0, y0=3_472_000.0, side=1000.0):
    """A square drawn in EPSG:4549 (metres) over the Kunshan ETDZ, returned in lon/lat."""
    sq = box(x0, y0, x0 + side, y0 + side)
    return transform_geometry(sq, "EPSG:4549", "EPSG:4326")


def random_parcels(n, seed=1):
    """Valid, irregular parcel-sized polygons (radius 30–500 m, ~0.1–55 ha, 4–12 vertices) over Kunshan."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        cx, cy = rng.uniform(120.75, 121.25), rng.uniform(31.1, 31.6)
        k = int(rng.integers(4, 13))
        ang = (np.arange(k) + rng.uniform(-0.4, 0.4, k)) * 2 * np.pi / k     # star-shaped: always simple
        r = rng.uniform(30, 500) * rng.uniform(0.6, 1.0, k)
        xs = cx + r * np.cos(ang) / (111_320 * math.cos(math.radians(cy)))
        ys = cy + r * np.sin(ang) / 110_574
        out.append(Polygon(zip(xs, ys)))
    return np.array(out, dtype=object)


# ------------------------------------------------------------------------------------------- exact cases
def test_one_square_km_in_4549_is_1500_mu():
    sq = square_4549()
    gk = gk_area(sq)
    assert gk == pytest.approx(1_000_000, abs=0.01)            # drawn in 4549: exactly 1 km² projected
    assert mu_from_m2(gk) == pytest.approx(1500, abs=1e-5)
    ell = ellipsoidal_area(sq)
    assert ell == pytest.approx(1_000_000, rel=5e-4)          # within 0.05 % ellipsoidal
    # Gauss-Krüger enlarges areas ~1° east of CM 120°E by a few hundredths of a percent: pin it
    assert 1e-4 < (gk - ell) / ell < 4e-4


def test_known_parcel_mu_is_m2_times_3_over_2000(catalog):
    f = catalog.read("low_efficiency_land")
    g = f.geometry.iloc[0]
    m2 = ellipsoidal_area(g)
    stats = stats_mod.layer_stats(catalog, "low_efficiency_land", "mu")
    row = stats.features[0]
    assert row.id == str(f.index[0])
    assert row.area == round(m2 * 3 / 2000, 2)
    assert row.area_m2 == round(m2, 1)


def test_projection_matches_proj():
    from pyproj import Transformer
    tr = Transformer.from_crs("EPSG:4326", EQUAL_AREA_PROJ, always_xy=True)
    lon = np.linspace(120.5, 121.5, 50)
    lat = np.linspace(30.8, 31.9, 50)
    X, Y = tr.transform(lon, lat)
    x, y = laea_xy(lon, lat)
    assert np.max(np.abs(X - x)) < 1e-6 and np.max(np.abs(Y - y)) < 1e-6


def test_hot_path_projection_matches_the_exact_one():
    """The area hot loop replaces sin/arctanh by polynomials inside LAEA_WINDOW: same metres to ~1e-8 m."""
    rng = np.random.default_rng(0)
    lon = rng.uniform(area_mod.LAEA_WINDOW[0], area_mod.LAEA_WINDOW[2], 200_000)
    lat = rng.uniform(area_mod.LAEA_WINDOW[1], area_mod.LAEA_WINDOW[3], 200_000)
    x1, y1 = area_mod._laea_unit(lon, lat)
    x2, y2 = area_mod._laea_unit_window(lon, lat)
    kx, ky = area_mod._RQ * area_mod._D, area_mod._RQ / area_mod._D
    assert np.max(np.abs(x1 - x2)) * kx < 1e-7 and np.max(np.abs(y1 - y2)) * ky < 1e-7


# ------------------------------------------------------------------------------------------- vs Geod
def test_parcels_agree_with_geod_to_1e_6():
    geoms = random_parcels(2000)
    fast = ellipsoidal_area(geoms)
    ref = geodesic_area(geoms)
    assert all(g.is_valid for g in geoms)
    rel = np.abs(fast - ref) / ref
    # measured: max ~8e-8. (Geod's own result carries ~0.01 m² of rounding noise, so for much smaller
    # polygons, a few hundred m², the relative difference is dominated by Geod, not by the projection.)
    assert rel.max() < 1e-6
    assert rel.mean() < 1e-7


@pytest.mark.parametrize("layer_id", ["low_efficiency_land", "parks", "cores", "belts", "corridor_parks",
                                      "renewal_sites", "etdz_extent", "admin_boundaries"])
def test_real_layers_agree_with_geod(catalog, layer_id):
    geoms = catalog.read(layer_id).geometry.values
    fast = ellipsoidal_area(geoms)
    ref = np.array([abs(CGCS2000_GEOD.geometry_area_perimeter(shapely.orient_polygons(g))[0]) for g in geoms])
    assert np.all(fast > 0)
    assert np.max(np.abs(fast - ref) / ref) < 1e-6   # includes the whole city of Kunshan (admin_boundaries)


def test_large_polygons_stay_within_bound_thanks_to_geod_fallback(monkeypatch):
    """The straight-edge error grows with the square of the edge length (~3e-9 per km²): a square of
    28 km edges is off by ~2.5e-6 on the fast path alone; edges over MAX_EDGE_M go to Geod instead."""
    big = square_4549(x0=580_000, y0=3_455_000, side=28_000)
    ref = geodesic_area(big)
    assert abs(ellipsoidal_area(big) - ref) / ref < 1e-9          # fallback: exact
    monkeypatch.setattr(area_mod, "MAX_EDGE_M", 1e9)              # fast path only
    err = abs(ellipsoidal_area(big) - ref) / ref
    assert 5e-7 < err < 1e-5
    # densified to 1 km edges the fast path is fine again (error ∝ edge²)
    dense = shapely.segmentize(transform_geometry(big, "EPSG:4326", "EPSG:4549"), 1000)
    dense = transform_geometry(dense, "EPSG:4549", "EPSG:4326")
    assert abs(ellipsoidal_area(dense) - geodesic_area(dense)) / geodesic_area(dense) < 1e-7


def test_edge_bound_documented_value():
    assert MAX_EDGE_M == 10_000
    # a 10 km-edge square is the worst case the fast path accepts: still < 1e-6
    sq = square_4549(x0=590_000, y0=3_465_000, side=9_900)
    assert abs(ellipsoidal_area(sq) - geodesic_area(sq)) / geodesic_area(sq) < 1e-6


def test_far_away_polygons_use_geod():
    beijing = box(116.30, 39.90, 116.31, 39.91)
    assert ellipsoidal_area(beijing) == pytest.approx(geodesic_area(beijing), rel=1e-12)


def test_mixed_batches_route_each_geometry_correctly():
    """Near and far, small and large-edged, empty and holed polygons in one call give each its own answer."""
    near = random_parcels(5, seed=9)
    shell = [(121.0, 31.3), (121.05, 31.3), (121.05, 31.35), (121.0, 31.35)]
    holed = Polygon(shell, [[(121.01, 31.31), (121.02, 31.31), (121.02, 31.32), (121.01, 31.32)]])
    big = square_4549(x0=580_000, y0=3_455_000, side=28_000)
    batch = [near[0], box(116.30, 39.90, 116.31, 39.91), near[1], shapely.from_wkt("POLYGON EMPTY"), big, holed,
             near[2], MultiPolygon([near[3], near[4]]), None, near[0]]
    together = ellipsoidal_area(batch)
    one_by_one = [ellipsoidal_area(g) if g is not None else 0.0 for g in batch]
    assert together == pytest.approx(one_by_one, rel=1e-12)
    assert together[0] == together[-1] and together[3] == 0 and together[8] == 0
    assert together[4] == pytest.approx(geodesic_area(big), rel=1e-12)            # long edges: Geod


# ------------------------------------------------------------------------------------------- shapes
def test_holes_multipolygons_and_non_polygons():
    shell = [(121.0, 31.3), (121.05, 31.3), (121.05, 31.35), (121.0, 31.35)]
    hole = [(121.01, 31.31), (121.02, 31.31), (121.02, 31.32), (121.01, 31.32)]
    with_hole = Polygon(shell, [hole])
    outer, inner = ellipsoidal_area(Polygon(shell)), ellipsoidal_area(Polygon(hole))
    assert ellipsoidal_area(with_hole) == pytest.approx(outer - inner, rel=1e-12)
    # a hole drawn in the same direction as its shell is still subtracted
    assert ellipsoidal_area(Polygon(shell, [hole[::-1]])) == pytest.approx(outer - inner, rel=1e-12)
    a, b = box(121.0, 31.3, 121.01, 31.31), box(121.02, 31.3, 121.03, 31.31)
    assert ellipsoidal_area(MultiPolygon([a, b])) == pytest.approx(ellipsoidal_area(a) + ellipsoidal_area(b))
    res = ellipsoidal_area([with_hole, None, Point(121, 31), LineString([(121, 31), (121.1, 31)]),
                            shapely.from_wkt("POLYGON EMPTY"), shapely.GeometryCollection([a, Point(0, 0)])])
    assert res[0] == pytest.approx(outer - inner) and list(res[1:5]) == [0, 0, 0, 0]
    assert res[5] == pytest.approx(ellipsoidal_area(a), rel=1e-7)     # collections go through Geod
    assert ellipsoidal_area([]).shape == (0,)
    assert isinstance(ellipsoidal_area(a), float)


def test_orientation_does_not_matter():
    p = random_parcels(1)[0]
    assert ellipsoidal_area(p) == pytest.approx(ellipsoidal_area(shapely.reverse(p)), rel=1e-14)


def test_chunked_threads_give_the_same_answer(monkeypatch):
    geoms = random_parcels(600, seed=3)
    one = ellipsoidal_area(geoms)
    monkeypatch.setattr(area_mod, "_CHUNK", 50)
    monkeypatch.setattr(area_mod, "_WORKERS", 3)
    assert np.array_equal(ellipsoidal_area(geoms), one)


def test_geoseries_and_frames_accepted(catalog):
    f = catalog.read("parks")
    assert np.array_equal(ellipsoidal_area(f), ellipsoidal_area(f.geometry))
    assert np.array_equal(ellipsoidal_area(f.geometry), ellipsoidal_area(list(f.geometry)))


# ------------------------------------------------------------------------------------------- lengths
def test_lengths_are_geodesic():
    line = LineString([(120.9, 31.3), (121.0, 31.35), (121.1, 31.32)])
    assert lengths_m(line) == pytest.approx(CGCS2000_GEOD.line_length(*line.xy), rel=1e-12)
    multi = MultiLineString([[(121, 31.3), (121.01, 31.3)], [(121.05, 31.3), (121.06, 31.3)]])
    assert lengths_m(multi) == pytest.approx(2 * CGCS2000_GEOD.line_length([121, 121.01], [31.3, 31.3]), rel=1e-9)
    sq = box(121.0, 31.3, 121.01, 31.31)
    assert lengths_m(sq) == pytest.approx(CGCS2000_GEOD.geometry_area_perimeter(sq)[1], rel=1e-12)
    assert list(lengths_m([Point(121, 31), None])) == [0, 0]


def test_real_axes_lengths(catalog):
    f = catalog.read("axes")
    ln = lengths_m(f.geometry.values)
    gk = shapely.length(transform_geometry(np.asarray(f.geometry.values), "EPSG:4326", "EPSG:4549"))
    assert np.all(ln > 1000)
    assert np.allclose(ln, gk, rtol=5e-4)     # GK scale ~1.0001 here


# ------------------------------------------------------------------------------------------- overlay
coords = st.tuples(st.floats(120.95, 121.05), st.floats(31.30, 31.40))


@st.composite
def polygons(draw):
    cx, cy = draw(coords)
    w = draw(st.floats(0.0005, 0.03))
    h = draw(st.floats(0.0005, 0.03))
    angle = draw(st.floats(0, 90))
    import shapely.affinity as aff
    return aff.rotate(box(cx - w, cy - h, cx + w, cy + h), angle)


@settings(max_examples=150, deadline=None)
@given(polygons(), polygons())
def test_overlay_conserves_area(a, b):
    """The parts of A inside B plus the parts outside B sum to A (overlay in the equal-area plane)."""
    inside = intersection_area(a, b)
    outside = shapely.area(shapely.difference(to_equal_area(a), to_equal_area(b)))
    total = ellipsoidal_area(a)
    assert inside + outside == pytest.approx(total, rel=1e-9, abs=1e-6)
    _, _, pieces = overlay_pairs(np.array([a], dtype=object), np.array([b], dtype=object))
    assert pieces.sum() + outside == pytest.approx(total, rel=1e-9, abs=1e-6)


def test_why_overlays_are_done_in_the_equal_area_plane():
    """Cut in lon/lat, a 3 km east-west edge gains a vertex; as two geodesics it encloses ~150 m² more than
    as one (Geod agrees). In the equal-area plane the cut changes nothing."""
    a = box(120.984375, 31.359375, 121.015625, 31.390625)
    b = box(121.0, 31.328125, 121.03125, 31.359375)              # touches A's bottom edge at lon 121.0
    lonlat = geodesic_area(shapely.difference(a, b)) + geodesic_area(shapely.intersection(a, b))
    assert lonlat - geodesic_area(a) > 100
    ea, eb = to_equal_area(a), to_equal_area(b)
    plane = shapely.area(shapely.difference(ea, eb)) + shapely.area(shapely.intersection(ea, eb))
    assert plane == pytest.approx(ellipsoidal_area(a), rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.lists(polygons(), min_size=1, max_size=12), st.lists(polygons(), min_size=1, max_size=4))
def test_overlay_pairs_match_pairwise_intersections(a_list, b_list):
    a = np.array(a_list, dtype=object)
    b = np.array(b_list, dtype=object)
    bi, ai, area = overlay_pairs(a, b)
    expect = {}
    for j, bg in enumerate(b):
        for i, ag in enumerate(a):
            if to_equal_area(ag).intersects(to_equal_area(bg)):      # the overlay's predicates are planar too
                expect[(j, i)] = float(intersection_area(ag, bg))
    assert set(zip(bi.tolist(), ai.tolist())) == set(expect)
    for j, i, v in zip(bi, ai, area):
        assert v == pytest.approx(expect[(j, i)], rel=1e-9, abs=1e-6)


# ------------------------------------------------------------------------------------------- statistics
def test_layer_stats_totals(catalog):
    s = stats_mod.layer_stats(catalog, "parks", "ha")
    f = catalog.read("parks")
    assert s.count == len(f) == len(s.features)
    m2 = ellipsoidal_area(f.geometry.values)
    assert s.area_m2 == pytest.approx(m2.sum(), abs=0.1)
    assert s.area == round(m2.sum() / 10_000, 4)
    assert 0.01 < s.gk_minus_ellipsoidal_pct < 0.04
    assert s.unit.code == "ha" and s.unit.symbol_zh == "公顷"
    assert s.union_area_m2 <= s.area_m2 + 0.1


def test_line_and_point_layers(catalog):
    axes = stats_mod.layer_stats(catalog, "axes")
    assert axes.area_m2 is None and axes.length_m > 1000
    st_ = stats_mod.layer_stats(catalog, "s1_stations")
    assert st_.area_m2 is None and st_.length_m is None and st_.count == len(catalog.read("s1_stations"))
    with pytest.raises(InvalidParameter):
        stats_mod.layer_stats(catalog, "indicators")


def test_group_stats(catalog):
    groups = stats_mod.group_stats(catalog, "km2")
    names = [g.group for g in groups]
    assert names == [g for g in stats_mod.PLAN_GROUPS if g in names]
    assert {"两轴三带", "两核多园", "一带四园", "更新地块", "低效用地"} <= set(names)
    for g in groups:
        total = sum(s.area_m2 or 0 for s in g.layers)
        if g.union_area_m2 is not None:
            assert g.union_area_m2 <= total + 1.0
        assert g.count == sum(s.count for s in g.layers)
        assert all(not s.features for s in g.layers)


def test_overlay_low_efficiency_land_in_parks(catalog):
    o = stats_mod.overlay_stats(catalog, "low_efficiency_land", "parks", "mu")
    le = catalog.read("low_efficiency_land")
    parks = catalog.read("parks")
    assert len(o.rows) == len(parks)
    assert o.a_area_m2 == pytest.approx(ellipsoidal_area(le.geometry.values).sum(), abs=0.1)
    assert o.inside_m2 + o.outside_m2 == pytest.approx(o.a_area_m2, abs=0.5)
    for r in o.rows:
        assert 0 <= r.share <= 1
        assert r.percent == round(r.share * 100, 2)
        assert r.inside_m2 <= r.area_m2 + 0.1
        assert r.count == len(r.ids)
        # each parcel's ``park`` attribute names the park it was drawn in
        for pid in r.ids:
            if le.loc[pid, "park"] == r.name:
                break
        else:
            assert not r.ids
    assert sum(r.count for r in o.rows) >= len(le) * 0.9


def test_overlay_needs_a_polygon_layer(catalog):
    with pytest.raises(InvalidParameter):
        stats_mod.overlay_stats(catalog, "parks", "s1_stations")


def test_overlay_counts_points_in_polygons(catalog):
    o = stats_mod.overlay_stats(catalog, "s1_stations", "etdz_extent")
    assert o.rows[0].count >= 1 and o.a_area_m2 == 0


# ------------------------------------------------------------------------------------------- progress
def test_progress_matches_an_independent_count(catalog):
    p = stats_mod.progress(catalog, 2023)
    land = p.land
    f = catalog.read("low_efficiency_land")
    done = (f["status"] == "已完成") & ~(f["year"] > 2023)
    assert land.achieved_mu == round(float(f.loc[done, "area_mu"].sum()), 2)
    assert land.target_mu == 5000
    assert land.remaining_mu == round(max(5000 - land.achieved_mu, 0), 2)
    assert land.percent == round(land.achieved_mu / 50, 2)
    assert land.planned_mu == 3000
    assert land.on_track == (land.achieved_mu >= 3000)
    assert sum(s.count for s in land.by_status) == len(f)
    assert land.identified_mu == round(float(f["area_mu"].sum()), 2)
    assert land.illustrative
    cum = [y.cumulative_completed_mu for y in land.by_year if y.year]
    assert cum == sorted(cum)


def test_progress_year_changes_achieved(catalog):
    early = stats_mod.progress(catalog, 2021).land
    late = stats_mod.progress(catalog, 2025).land
    assert early.achieved_mu <= late.achieved_mu
    assert early.planned_mu == 1000 and late.planned_mu == 5000


def test_indicator_trajectory(catalog):
    p = stats_mod.progress(catalog, 2023)
    gdp = next(i for i in p.indicators if i.id == "t2_01")
    assert gdp.value_2020 == pytest.approx(1595) and gdp.target == pytest.approx(2250) and gdp.target_year == 2025
    # the plan's path (规划路径), labelled as such; without actuals the status is 无数据, never a progress figure
    assert gdp.plan_path == pytest.approx(1595 + (2250 - 1595) * 3 / 5)
    assert gdp.status == "无数据" and gdp.actual is None
    assert all(i.table != "表1" for i in p.indicators)
    pv = next(i for i in p.indicators if "光伏" in i.name)
    assert pv.kind == "pv_area"             # solar panel area is neither floor area nor land area


def test_floor_areas_are_figures_never_polygon_areas(catalog):
    p = stats_mod.progress(catalog, 2023)
    kinds = {f.kind for f in p.figures}
    assert "land_area" in kinds and kinds & {"floor_area", "demolition_floor_area"}
    for f in p.figures:
        if f.kind != "land_area":
            assert f.drawn_area_m2 is None and f.drawn_over_stated is None
        else:
            assert f.drawn_area_m2 and f.drawn_over_stated
    core = next(f for f in p.figures if f.feature_id == "renewal_core_commercial" and f.kind == "land_area")
    assert core.value_m2 == pytest.approx(800_000)      # 占地0.8平方公里
    for i in p.indicators:
        if i.kind in ("floor_area", "pv_area"):
            assert i.plan_path is None


@pytest.mark.parametrize("bad", [1999, 2100, "abc"])
def test_progress_rejects_bad_years(catalog, bad):
    with pytest.raises(InvalidParameter):
        stats_mod.progress(catalog, bad)
