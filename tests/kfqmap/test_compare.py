"""Comparison (对比分析) of two states of the 5000亩 parcel layer with known added, removed and changed parcels:
counts, which attributes changed, and the 亩 gained and lost — the expected areas computed independently (pyproj's
geodesic area on the CGCS2000 ellipsoid, and a parcel drawn with a known size in EPSG:4549)."""
from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import numpy as np
import shapely
from click.testing import CliRunner
from pyproj import Transformer
from shapely.geometry import box

from kfqmap.area import geodesic_area
from kfqmap.compare import OUTSIDE, compare, compare_frames
from kfqmap.errors import InvalidParameter
from kfqmap.models import Layer, Style

MU = 2000 / 3
TO_LL = Transformer.from_crs(4549, 4326, always_xy=True)
TO_GK = Transformer.from_crs(4326, 4549, always_xy=True)


def _mu(m2: float) -> float:
    return m2 / MU


@pytest.fixture(scope="module")
def catalog():
    from kfqmap.catalog import load_catalog
    return load_catalog()


@pytest.fixture(scope="module")
def before(catalog):
    return catalog.read("low_efficiency_land").copy()


@pytest.fixture(scope="module")
def states(before):
    """After: DX-003 removed; DX-001's status changed; DX-002 cut to its western half; a new 200 m × 100 m parcel."""
    after = before.drop(index="DX-003").copy()
    after.loc["DX-001", "status"] = "已完成"
    g = after.loc["DX-002", "geometry"]
    minx, miny, maxx, maxy = g.bounds
    after.loc["DX-002", "geometry"] = g.intersection(box(minx, miny, (minx + maxx) / 2, maxy))
    cx, cy = TO_GK.transform(*before.loc["DX-005", "geometry"].centroid.coords[0])
    cx += 3000                                           # 3 km east: on nobody's parcel
    square = shapely.transform(box(cx, cy, cx + 200, cy + 100), lambda xy: np.column_stack(
        TO_LL.transform(xy[:, 0], xy[:, 1])))
    new = gpd.GeoDataFrame({"id": ["DX-NEW"], "name": ["新增地块"], "status": ["未启动"], "park": ["测试"]},
                           geometry=[square], crs=4326, index=pd.Index(["DX-NEW"], name=before.index.name))
    after = pd.concat([after, new])
    return before, after, square


def test_counts_and_attributes(states):
    before, after, _ = states
    c = compare_frames(before, after, a_label="2023", b_label="2024")
    assert c.counts == {"added": 1, "removed": 1, "changed": 2, "unchanged": len(before) - 3}
    by_id = {f.id: f for f in c.features}
    assert by_id["DX-NEW"].change == "added" and by_id["DX-003"].change == "removed"
    status = by_id["DX-001"]
    assert not status.geometry_changed and [(a.name, a.a, a.b) for a in status.attributes] == [("status", "实施中", "已完成")]
    assert status.gained_mu == 0 and status.lost_mu == 0
    cut = by_id["DX-002"]
    assert cut.geometry_changed and cut.attributes == []


def test_areas_gained_and_lost(states):
    before, after, square = states
    c = compare_frames(before, after)
    by_id = {f.id: f for f in c.features}
    # the new parcel: 200 m × 100 m in EPSG:4549 = 30 亩 (Gauss-Krüger scale at 121°E changes it by ~3e-4)
    assert by_id["DX-NEW"].gained_mu == pytest.approx(30, rel=1e-3)
    assert by_id["DX-NEW"].gained_mu == pytest.approx(_mu(geodesic_area(square)), abs=0.01)
    # the removed parcel: its whole area lost
    assert by_id["DX-003"].lost_mu == pytest.approx(_mu(geodesic_area(before.loc["DX-003", "geometry"])), abs=0.01)
    # the cut parcel: lost what is no longer there, gained nothing
    cut = by_id["DX-002"]
    lost = geodesic_area(before.loc["DX-002", "geometry"]) - geodesic_area(after.loc["DX-002", "geometry"])
    assert cut.gained_mu == 0 and cut.lost_mu == pytest.approx(_mu(lost), abs=0.01)
    assert cut.area_a_mu - cut.area_b_mu == pytest.approx(cut.lost_mu, abs=0.02)
    assert c.gained_mu == pytest.approx(by_id["DX-NEW"].gained_mu, abs=0.01)
    assert c.lost_mu == pytest.approx(by_id["DX-003"].lost_mu + cut.lost_mu, abs=0.02)
    assert c.net_mu == pytest.approx(c.gained_mu - c.lost_mu, abs=0.01)


def test_summary_by_park(catalog, states):
    before, after, _ = states
    parks = catalog.read("parks")
    c = compare_frames(before, after, zones=parks, zones_label="parks")
    assert c.by == "parks"
    total_lost = sum(z.lost_mu for z in c.by_zone)
    total_gained = sum(z.gained_mu for z in c.by_zone)
    assert total_lost == pytest.approx(c.lost_mu, abs=0.05)          # split among parks and 区外, nothing lost
    assert total_gained == pytest.approx(c.gained_mu, abs=0.05)
    # the removed parcel is counted in the park that holds it
    holder = parks[parks.geometry.intersects(before.loc["DX-003", "geometry"])]
    zones = {z.zone_id: z for z in c.by_zone}
    assert any(zones.get(str(i)) and zones[str(i)].removed == 1 for i in holder.index) or \
        (OUTSIDE in zones and zones[OUTSIDE].lost_mu > 0)


def test_same_state_has_no_changes(before):
    c = compare_frames(before, before.copy())
    assert c.counts["unchanged"] == len(before) and c.features == [] and c.gained_mu == c.lost_mu == 0


def test_bad_keys(before):
    dup = before.copy()
    dup.loc["DX-002", "id"] = "DX-001"
    with pytest.raises(InvalidParameter, match="不唯一"):
        compare_frames(before, dup)
    with pytest.raises(InvalidParameter, match="比较键"):
        compare_frames(before, before, key="no_such")


def test_compare_catalog_layers_and_cli(tmp_path, states):
    from kfqmap.catalog import load_catalog
    from kfqmap.cli.main import cli
    from kfqmap.settings import CatalogSettings

    _, after, _ = states
    catalog = load_catalog(CatalogSettings(data_dir=tmp_path / "data"))
    try:
        catalog.add_layer(Layer(id="land_v2", title_zh="低效用地（新版）", title_en="v2", group="额外", kind="extra",
                                geometry_type="Polygon", source="frame", file="(frame)", plan_section="（测试）", description="测试",
                                style=Style()), after)
        c = compare(catalog, "low_efficiency_land", "land_v2", by="parks")
        assert c.counts["added"] == 1 and c.counts["removed"] == 1 and c.counts["changed"] == 2
        with pytest.raises(InvalidParameter):
            compare(catalog, "low_efficiency_land", "land_v2", by="s1_stations")
    finally:
        catalog.store.close()
    path = tmp_path / "after.geojson"
    after.to_file(path, driver="GeoJSON")
    report = tmp_path / "对比.xlsx"
    r = CliRunner().invoke(cli, ["compare", "low_efficiency_land", str(path), "--by", "parks", "--out", str(report)])
    assert r.exit_code == 0, r.output
    assert "新增 1" in r.output and "删除 1" in r.output and "修改 2" in r.output and "DX-NEW" in r.output
    from openpyxl import load_workbook
    wb = load_workbook(report)
    assert wb.sheetnames == ["汇总", "变化要素", "按区域"]
    rows = list(wb["变化要素"].iter_rows(min_row=2, values_only=True))
    assert sorted(r[0] for r in rows) == ["修改", "修改", "删除", "新增"]
    new = next(r for r in rows if r[1] == "DX-NEW")
    assert new[7] == pytest.approx(30, rel=1e-3)
    status = next(r for r in rows if r[1] == "DX-001")
    assert status[4] == "status：实施中 → 已完成"
    r = CliRunner().invoke(cli, ["compare", "low_efficiency_land", "no_such_layer"])
    assert r.exit_code == 2 and "错误：" in r.output


def test_geometry_tolerance(before):
    """A parcel moved by 5 cm has changed; one moved by 1 mm (a CRS round trip's noise is far less) has not."""
    def shifted(metres):
        out = before.copy()
        x, y = TO_GK.transform(*np.asarray(out.loc["DX-001", "geometry"].exterior.coords).T)
        lon, lat = TO_LL.transform(x + metres, y)
        out.loc["DX-001", "geometry"] = shapely.Polygon(np.column_stack([lon, lat]))
        return out
    assert compare_frames(before, shifted(0.001)).counts["changed"] == 0
    c = compare_frames(before, shifted(0.05))
    assert c.counts["changed"] == 1 and c.features[0].geometry_changed
