"""对比分析: known added / removed / changed parcels with their 亩 computed independently (pyproj.Geod on the
CGCS2000/GRS80 ellipsoid), overlap matching of two layers, zone rows, the XLSX report read back with openpyxl,
the CLI on a file, and /compare over HTTP."""
from __future__ import annotations

import json

import geopandas as gpd
import openpyxl
import pytest
import shapely
from click.testing import CliRunner
from fastapi.testclient import TestClient
from pyproj import Geod

from kfqmap.catalog import load_catalog
from kfqmap.cli.main import cli
from kfqmap.compare import Side, compare, compare_frames, zone_frames
from kfqmap.compare_xlsx import write_report
from kfqmap.errors import InvalidParameter
from server.app import create_app

GEOD = Geod(ellps="GRS80")
MU = 10_000 / 15


def mu(geom) -> float:
    return abs(GEOD.geometry_area_perimeter(geom)[0]) / MU


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture(scope="module")
def states(catalog):
    """Before = the parcels layer; after = two removed, one added, one redrawn (a box added), one re-statused."""
    before = catalog.read("low_efficiency_land").copy()
    after = before.copy()
    gone = list(after.index[:2])
    redrawn, restatused = after.index[2], after.index[3]
    after = after.drop(gone)
    g = after.geometry.loc[redrawn]
    x0, y0, x1, y1 = g.bounds
    extra = shapely.box(x1, y0, x1 + 0.001, y1)                    # a strip east of the parcel, touching it
    after.loc[redrawn, "geometry"] = shapely.union(g, extra)
    after.loc[restatused, "status"] = "已完成" if after.loc[restatused, "status"] != "已完成" else "实施中"
    new = shapely.box(121.05, 31.33, 121.052, 31.3318)
    row = after.iloc[[0]].copy()
    row.index = ["新增-1"]
    row["id"] = "新增-1"
    row["name"] = "新增地块"
    row["placeholder"] = False
    row["illustrative"] = False
    row = gpd.GeoDataFrame(row, geometry=[new], crs="EPSG:4326")
    after = gpd.GeoDataFrame(__import__("pandas").concat([after, row]), crs="EPSG:4326")
    return before, after, {"gone": gone, "redrawn": redrawn, "restatused": restatused, "new": new, "extra": extra,
                           "old": g}


def test_known_changes_and_their_mu(catalog, states):
    before, after, k = states
    result = compare_frames(Side("之前", before), Side("之后", after), zones=zone_frames(catalog))
    rows = {(c.change, c.id_a or c.id_b): c for c in result.changes}
    assert result.count("added") == 1 and result.count("removed") == 2 and result.count("changed") == 2
    assert result.count("unchanged") == len(before) - 4
    assert rows[("added", "新增-1")].gained_m2 / MU == pytest.approx(mu(k["new"]), rel=1e-6)
    for fid in k["gone"]:
        assert rows[("removed", fid)].lost_m2 / MU == pytest.approx(mu(before.geometry.loc[fid]), rel=1e-6)
    redrawn = rows[("changed", k["redrawn"])]
    assert redrawn.geometry_changed and redrawn.fields == []
    assert redrawn.gained_m2 / MU == pytest.approx(mu(shapely.difference(k["extra"], k["old"])), rel=1e-5)
    assert redrawn.lost_m2 == pytest.approx(0, abs=0.01)
    status = rows[("changed", k["restatused"])]
    assert status.fields == ["status"] and not status.geometry_changed
    assert status.before["status"] == before.loc[k["restatused"], "status"]
    s = result.summary()
    expected_gain = mu(k["new"]) + mu(shapely.difference(k["extra"], k["old"]))
    expected_loss = sum(mu(before.geometry.loc[f]) for f in k["gone"])
    assert s["gained"] == pytest.approx(expected_gain, abs=0.01)
    assert s["lost"] == pytest.approx(expected_loss, abs=0.01)
    assert s["net"] == pytest.approx(expected_gain - expected_loss, abs=0.02)
    # zone rows: what was gained/lost inside each park/core adds up to no more than the totals
    assert sum(z.gained_m2 for z in result.zones) <= result.total("gained_m2") * 2 + 1
    geo = result.to_geojson()
    kinds = [f["properties"]["change"] for f in geo["features"]]
    assert kinds.count("added") == 1 and kinds.count("removed") == 2 and "gained" in kinds


def test_the_same_layer_twice_has_no_differences(catalog):
    r = compare(catalog, "renewal_sites", "renewal_sites")
    assert r.summary()["added"] == r.summary()["removed"] == r.summary()["changed"] == 0
    assert r.to_dict()["changes"] == []


def test_overlap_matching_of_two_layers(states):
    before, after, k = states
    renamed = after.copy()
    renamed["id"] = [f"x{i}" for i in range(len(renamed))]            # no common keys: match by overlap
    result = compare_frames(Side("规划", before), Side("现状", renamed), match="overlap")
    assert result.count("added") == 1 and result.count("removed") == 2
    assert result.count("changed") == 2 and result.count("unchanged") == len(before) - 4


def test_bad_requests_are_clear(catalog, states):
    before, after, _ = states
    with pytest.raises(InvalidParameter, match="配对字段 nope"):
        compare_frames(Side("a", before), Side("b", after), key="nope")
    dup = after.copy()
    dup["name"] = "同名"
    with pytest.raises(InvalidParameter, match="重复值"):
        compare_frames(Side("a", before), Side("b", dup), key="name")
    with pytest.raises(InvalidParameter, match="配对方式"):
        compare_frames(Side("a", before), Side("b", after), match="fuzzy")


def test_xlsx_report_reads_back(catalog, states, tmp_path):
    before, after, k = states
    result = compare_frames(Side("之前", before), Side("之后", after), zones=zone_frames(catalog))
    path = write_report(result, tmp_path / "对比.xlsx")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["说明", "汇总", "明细", "分区"]
    detail = list(wb["明细"].iter_rows(values_only=True))
    assert detail[0][0] == "变化类型" and len(detail) == 1 + 5
    assert sorted(r[0] for r in detail[1:]) == sorted(["新增", "删除", "删除", "变化", "变化"])
    added = next(r for r in detail[1:] if r[0] == "新增")
    assert added[2] == "新增-1" and added[3] == "新增地块" and added[10] == pytest.approx(mu(k["new"]), abs=0.01)
    summary = {r[0]: r for r in wb["汇总"].iter_rows(values_only=True)}
    assert summary["删除要素"][1] == 2
    assert result.placeholders == 4          # the plan's parcels are examples (示例): the report says so
    notes = {r[0]: r[1] for r in wb["说明"].iter_rows(values_only=True)}
    assert "4 处差异涉及占位/示例要素" in notes["注意"]


def test_cli_compares_a_layer_with_a_file(tmp_path, states):
    before, after, _ = states
    src = tmp_path / "现状.gpkg"
    after.to_file(src, driver="GPKG")
    out = tmp_path / "r.xlsx"
    res = CliRunner().invoke(cli, ["compare", "low_efficiency_land", str(src), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "新增 1，删除 2，变化 2" in res.output and out.exists()
    res = CliRunner().invoke(cli, ["compare", "low_efficiency_land", "nope"])
    assert res.exit_code == 2 and "错误" in res.output


def test_http_compare():
    with TestClient(create_app()) as client:
        r = client.get("/compare", params={"a": "renewal_sites", "b": "low_efficiency_land", "match": "overlap"})
        assert r.status_code == 200
        body = r.json()
        assert body["summary"]["added"] + body["summary"]["removed"] == len(body["changes"])
        r = client.get("/compare", params={"a": "renewal_sites", "b": "renewal_sites", "f": "geojson"})
        assert r.headers["content-type"].startswith("application/geo+json") and r.json()["features"] == []
        r = client.get("/compare", params={"a": "renewal_sites", "b": "parks", "f": "xlsx", "match": "overlap"})
        assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
        r = client.get("/compare", params={"a": "renewal_sites", "b": "indicators"})
        assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"
        r = client.get("/compare", params={"a": "renewal_sites", "b": "parks", "match": "zz"})
        assert r.status_code == 400


def test_two_states_from_the_history(tmp_path):
    """``layer@TIME`` is the layer as it was, rebuilt from the editing history: after a scripted session (one parcel
    added, one deleted, one redrawn, one re-statused) the comparison of before and now names exactly those, with the
    亩 pyproj.Geod gives; the same over HTTP; a time in the future equals now; a file layer has no history (400)."""
    import time
    from datetime import datetime, timezone

    from kfqmap.providers.base import ChangeContext, WriteOp
    from kfqmap.settings import CatalogSettings

    settings = CatalogSettings(data_dir=tmp_path / "data")
    catalog = load_catalog(settings)
    col = catalog.collection("low_efficiency_land")
    frame = catalog.read("low_efficiency_land")
    gone, redrawn, restatused = frame.index[0], frame.index[1], frame.index[2]
    time.sleep(0.05)
    t0 = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    time.sleep(0.05)
    old = frame.geometry.loc[redrawn]
    x0, y0, x1, y1 = old.bounds
    grown = shapely.union(old, shapely.box(x1, y0, x1 + 0.001, y1))
    new = shapely.box(121.05, 31.33, 121.052, 31.3318)
    row = frame.loc[restatused]
    status = "已完成" if row["status"] != "已完成" else "实施中"
    who = ChangeContext(user="测试员", note="对比测试")
    col.apply([WriteOp("delete", feature_id=gone)], who)
    col.apply([WriteOp("update", feature_id=redrawn, feature={"geometry": shapely.geometry.mapping(grown)})], who)
    col.apply([WriteOp("update", feature_id=restatused,
                       feature={"properties": {"status": status, "year": 2025 if status == "已完成" else None}})], who)
    created = col.apply([WriteOp("create", feature={
        "type": "Feature", "geometry": shapely.geometry.mapping(new),
        "properties": {"id": "HIST-1", "name": "历史对比新增", "source": "测试", "placement": "测试", "accuracy_m": 5.0,
                       "illustrative": False, "schematic": False, "status": "未启动", "year": None}})], who).ids[0]

    result = compare(catalog, f"low_efficiency_land@{t0}", "low_efficiency_land")
    rows = {(c.change, c.id_a or c.id_b): c for c in result.changes if c.change != "unchanged"}
    assert set(rows) == {("removed", gone), ("changed", redrawn), ("changed", restatused), ("added", created)}
    assert rows[("removed", gone)].lost_m2 / MU == pytest.approx(mu(frame.geometry.loc[gone]), rel=1e-6)
    assert rows[("added", created)].gained_m2 / MU == pytest.approx(mu(new), rel=1e-6)
    assert rows[("changed", redrawn)].gained_m2 / MU == pytest.approx(mu(shapely.difference(grown, old)), rel=1e-5)
    assert "status" in rows[("changed", restatused)].fields and not rows[("changed", restatused)].geometry_changed
    assert "北京时间" in result.a
    future = compare(catalog, "low_efficiency_land@2100-01-01", "low_efficiency_land")
    assert future.summary()["added"] == future.summary()["removed"] == future.summary()["changed"] == 0

    from kfqmap.cli import main as cli_main  # noqa: F401  (the same parser serves the CLI and HTTP)
    from server.settings import APISettings

    with TestClient(create_app(APISettings(catalog=settings, warm_up=False))) as client:
        r = client.get("/compare", params={"a": f"low_efficiency_land@{t0}", "b": "low_efficiency_land"})
        assert r.status_code == 200, r.text
        s = r.json()["summary"]
        assert (s["added"], s["removed"], s["changed"]) == (1, 1, 2)
        r = client.get("/compare", params={"a": "low_efficiency_land@昨天", "b": "low_efficiency_land"})
        assert r.status_code == 400 and "不是合法的时间" in r.json()["detail"]
