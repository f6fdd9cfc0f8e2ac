"""CLI: kfqmap stats / query / progress (click's CliRunner, plus one real subprocess)."""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from shapely.geometry import box, mapping

from kfqmap.catalog import load_catalog
from kfqmap.cli.main import cli
from kfqmap.crs import transform_geometry


@pytest.fixture(scope="module")
def runner():
    return CliRunner()


def run(runner, *args):
    return runner.invoke(cli, list(args), catch_exceptions=False)


def one_line_error(result):
    assert result.exit_code == 2, result.output
    text = (result.stderr if hasattr(result, "stderr") else result.output).strip()
    assert text.startswith("错误：") and "\n" not in text, text
    assert "Traceback" not in result.output
    return text


# ------------------------------------------------------------------------------------------- stats
def test_stats_layer_table(runner):
    r = run(runner, "stats", "parks")
    assert r.exit_code == 0
    assert "光电产业园" in r.output and "面积(亩)" in r.output and "合计" in r.output and "EPSG:4549" in r.output


def test_stats_json_matches_library(runner):
    from kfqmap.stats import layer_stats
    r = run(runner, "stats", "cores", "--unit", "公顷", "--format", "json")
    data = json.loads(r.output)
    lib = layer_stats(load_catalog(), "cores", "ha")
    assert data["area"] == lib.area and data["unit"]["code"] == "ha" and len(data["features"]) == lib.count


def test_stats_csv(runner):
    r = run(runner, "stats", "low_efficiency_land", "--unit", "mu", "--format", "csv")
    rows = list(csv.reader(io.StringIO(r.output)))
    assert rows[0][:3] == ["id", "名称", "面积(亩)"]
    assert len(rows) - 1 == len(load_catalog().read("low_efficiency_land"))
    for row in rows[1:]:
        assert float(row[2]) == pytest.approx(float(row[3]) * 3 / 2000, abs=0.006)   # 亩 = m² × 3/2000


def test_stats_summary(runner):
    r = run(runner, "stats", "parks", "--summary")
    assert r.exit_code == 0 and "合计" in r.output and "光电产业园" not in r.output
    rows = list(csv.reader(io.StringIO(run(runner, "stats", "parks", "--summary", "--format", "csv").output)))
    assert len(rows) == 2 and rows[1][0] == "parks" and rows[1][1] == str(len(load_catalog().read("parks")))
    assert json.loads(run(runner, "stats", "parks", "--summary", "--format", "json").output)["features"] == []


def test_stats_by_other_layer(runner):
    r = run(runner, "stats", "low_efficiency_land", "--by", "parks", "--format", "json")
    data = json.loads(r.output)
    assert data["a"] == "low_efficiency_land" and data["b"] == "parks"
    assert {row["name"] for row in data["rows"] if row["count"]} >= {"光电产业园"}
    table = run(runner, "stats", "renewal_sites", "--by", "cores")
    assert table.exit_code == 0 and "占比(%)" in table.output


def test_stats_groups(runner):
    r = run(runner, "stats", "--groups", "--format", "json")
    groups = [g["group"] for g in json.loads(r.output)]
    assert groups[:5] == ["两轴三带", "两核多园", "一带四园", "更新地块", "低效用地"]
    assert run(runner, "stats").exit_code == 0          # no layer: the groups


def test_stats_user_file_in_4549(runner, tmp_path: Path):
    """A 1 km × 1 km square drawn in EPSG:4549 is 1,500 亩 projected; ellipsoidal within 0.05 %."""
    sq = box(595_000, 3_472_000, 596_000, 3_473_000)
    path = tmp_path / "square.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "试验方块"}, "geometry": mapping(sq)}]}), encoding="utf-8")
    r = run(runner, "stats", "--file", str(path), "--crs", "EPSG:4549", "--format", "json")
    data = json.loads(r.output)
    f = data["features"][0]
    assert f["gk_area_m2"] == pytest.approx(1_000_000, abs=0.5)
    assert f["gk_area_m2"] * 3 / 2000 == pytest.approx(1500, abs=0.001)
    assert f["area"] == pytest.approx(1500, rel=5e-4)
    assert f["name"] == "试验方块"


def test_stats_user_file_in_gcj02(runner, tmp_path: Path):
    sq_ll = transform_geometry(box(595_000, 3_472_000, 596_000, 3_473_000), "EPSG:4549", "EPSG:4326")
    gcj = transform_geometry(sq_ll, "EPSG:4326", "gcj02")
    path = tmp_path / "gcj.geojson"
    path.write_text(json.dumps({"type": "Feature", "properties": {}, "geometry": mapping(gcj)}), encoding="utf-8")
    r = run(runner, "stats", "--file", str(path), "--crs", "gcj02", "--format", "json")
    assert json.loads(r.output)["features"][0]["gk_area_m2"] == pytest.approx(1_000_000, rel=1e-6)


# ------------------------------------------------------------------------------------------- query
def test_query_point(runner):
    belt = load_catalog().read("belts").loc["belt_xiajiahe"].geometry.representative_point()
    r = run(runner, "query", "--point", f"{belt.x},{belt.y}", "--format", "json")
    data = json.loads(r.output)
    assert {(h["layer_id"], h["id"]) for h in data["hits"]} >= {("belts", "belt_xiajiahe"), ("parks", "park_xiajiahe")}
    table = run(runner, "query", "--point", f"{belt.x}，{belt.y}")      # a full-width comma is fine too
    assert "沿夏驾河科创走廊景观带" in table.output


def test_query_near_geojson_and_csv(runner):
    r = run(runner, "query", "--near", "s1_stations", "--distance", "500", "--layer", "renewal_sites",
            "--format", "geojson")
    fc = json.loads(r.output)
    assert fc["type"] == "FeatureCollection"
    assert sorted(f["properties"]["id"] for f in fc["features"]) == ["renewal_core_commercial", "renewal_ketang"]
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in fc["features"])
    c = run(runner, "query", "--near", "s1_stations", "--distance", "500", "--layer", "renewal_sites", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(c.output)))
    assert {row["near_name"] for row in rows} == {"金浦大桥东站", "昆山城市广场站"}


def test_query_within_file_and_filter(runner, tmp_path: Path):
    park = load_catalog().read("parks").loc["park_guangdian"].geometry
    path = tmp_path / "park.geojson"
    path.write_text(json.dumps(mapping(park)), encoding="utf-8")
    r = run(runner, "query", "--within", str(path), "--layer", "low_efficiency_land", "--format", "json")
    hits = json.loads(r.output)["hits"]
    assert hits and all(h["intersection_mu"] > 0 for h in hits)
    f = run(runner, "query", "--within", str(path), "--layer", "low_efficiency_land",
            "--filter", "status = '已完成'", "--format", "json")
    done = json.loads(f.output)["hits"]
    assert {h["id"] for h in done} <= {h["id"] for h in hits}
    assert all(h["properties"]["status"] == "已完成" for h in done)
    only = run(runner, "query", "--layer", "low_efficiency_land", "--filter", "status = '已完成' AND year <= 2023")
    assert only.exit_code == 0 and "DX-" in only.output


def test_query_nearest(runner):
    r = run(runner, "query", "--point", "121.0,31.37", "--nearest", "3", "--layer", "s1_stations", "--format", "json")
    d = [h["distance_m"] for h in json.loads(r.output)["hits"]]
    assert len(d) == 3 and d == sorted(d)


# ------------------------------------------------------------------------------------------- progress
def test_progress(runner):
    r = run(runner, "progress", "--year", "2023")
    assert r.exit_code == 0
    assert "5,000 亩" in r.output and "已完成" in r.output and "规划路径" in r.output and "建筑面积" in r.output
    assert "直线进度" not in r.output and "无数据" in r.output
    data = json.loads(run(runner, "progress", "--year", "2024", "--format", "json").output)
    assert data["year"] == 2024 and data["land"]["planned_mu"] == 4000
    assert any(i["id"] == "t2_01" and i["plan_path"] and i["status"] == "无数据" for i in data["indicators"])


def test_progress_headline_says_the_parcels_are_examples(runner):
    """The status/year figures are illustrative: the headline (not only a note at the bottom) says 示例."""
    lines = run(runner, "progress").output.splitlines()
    head = next(i for i, line in enumerate(lines) if "低效用地再利用" in line)
    assert "示例" in lines[head] and "示例" in lines[head + 1]


# ------------------------------------------------------------------------------------------- user mistakes
@pytest.mark.parametrize("args", [
    ["stats", "no_such_layer"],
    ["stats", "parks", "--unit", "acre"],
    ["stats", "parks", "--format", "xml"],
    ["stats", "parks", "--by", "s1_stations"],
    ["stats", "indicators"],
    ["stats", "--file", "/no/such/file.geojson"],
    ["stats", "parks", "--crs", "gcj02"],
    ["query", "--point", "121.0"],
    ["query", "--point", "abc,def"],
    ["query", "--point", "121,31", "--crs", "EPSG:9999"],
    ["query", "--point", "121,31", "--tolerance", "-5"],
    ["query", "--near", "s1_stations", "--distance", "-500"],
    ["query", "--near", "s1_stations", "--distance", "nan"],
    ["query", "--near", "s1_stations", "--distance", "999999"],
    ["query", "--near", "s1_stations"],
    ["query", "--near", "nope", "--distance", "5"],
    ["query", "--layer", "parks", "--filter", "colour = 'red'"],
    ["query", "--layer", "parks", "--filter", "name = "],
    ["query"],
    ["query", "--point", "121,31", "--within", "x.geojson"],
    ["query", "--nosuchoption"],
    ["progress", "--year", "1990"],
    ["progress", "--year", "soon"],
])
def test_user_mistakes_print_one_line(runner, args):
    one_line_error(runner.invoke(cli, args))


def test_broken_geojson_file(runner, tmp_path: Path):
    bad = tmp_path / "bad.geojson"
    bad.write_text('{"type": "Polygon", "coordinates": [[[121, 31], [121.1', encoding="utf-8")
    msg = one_line_error(runner.invoke(cli, ["query", "--within", str(bad)]))
    assert "GeoJSON" in msg
    msg = one_line_error(runner.invoke(cli, ["stats", "--file", str(bad)]))
    assert "无法读取" in msg
    bowtie = tmp_path / "bowtie.geojson"
    bowtie.write_text(json.dumps({"type": "Polygon", "coordinates": [[[121, 31], [121.1, 31.1], [121.1, 31], [121, 31.1], [121, 31]]]}))
    assert "自相交" in one_line_error(runner.invoke(cli, ["query", "--within", str(bowtie)]))
    projected = tmp_path / "metres.geojson"
    projected.write_text(json.dumps(mapping(box(595_000, 3_472_000, 596_000, 3_473_000))))
    assert "--crs" in one_line_error(runner.invoke(cli, ["stats", "--file", str(projected)]))


def test_real_process_exit_code_and_stderr():
    exe = Path(sys.executable).with_name("kfqmap")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "kfqmap.cli.main"]
    p = subprocess.run(cmd + ["query", "--near", "s1_stations", "--distance", "-1"], capture_output=True, text=True)
    assert p.returncode == 2
    assert p.stderr.strip().startswith("错误：") and "Traceback" not in p.stderr and p.stdout == ""


def test_stats_table_shows_property_values_as_written(runner):
    """Attribute columns are not reformatted as measurements: year 2025 (a float column because of missing years)
    was printed "2,025.0" and area_mu 106.54 as "106.5"."""
    out = run(runner, "stats", "low_efficiency_land").output
    row = next(line for line in out.splitlines() if line.startswith("DX-001"))
    assert "2025" in row.split() and "2,025.0" not in row
    assert "106.54" in row.split()


def test_own_gcj02_geojson_is_read_in_gcj02(runner, tmp_path: Path):
    """A GeoJSON that KFQMap exported in GCJ-02 declares it (``kfqmap_crs``); reading it back without --crs
    used to take the coordinates as WGS 84 (≈ 500 m off, areas ≈ 0.4 % wrong)."""
    from kfqmap.export import export_layers

    cat = load_catalog()
    target = tmp_path / "cores_gcj.geojson"
    export_layers(cat, ["cores"], "geojson", target, "GCJ-02")
    data = json.loads(run(runner, "stats", "--file", str(target), "--format", "json").output)
    want = json.loads(run(runner, "stats", "cores", "--format", "json").output)
    assert data["area_m2"] == pytest.approx(want["area_m2"], rel=1e-6)
    hits = json.loads(run(runner, "query", "--within", str(target), "--layer", "cores", "--format", "json").output)
    assert hits["params"]["crs"] == "GCJ-02"
    assert {h["id"]: h["share_of_feature"] for h in hits["hits"]} == {"core_qingyanggang": 1.0, "core_dongbu": 1.0}


def test_point_far_from_kunshan_gets_a_hint(runner):
    """Northing and easting swapped (as the EPSG:4549 items output writes them) put the point in the Pacific;
    the CLI said only "没有找到要素。" — it now says where the point landed and what to check."""
    out = run(runner, "query", "--point", "3473902.476,581388.519", "--crs", "EPSG:4549").output
    assert "远离所查图层" in out and "坐标顺序" in out
    near = run(runner, "query", "--point", "581388.519,3473902.476", "--crs", "EPSG:4549", "--tolerance", "5").output
    assert "远离所查图层" not in near
