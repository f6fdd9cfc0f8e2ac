"""``kfqmap export`` on the synthetic catalog: writes files, prints a summary, exits 2 with a clear message."""
from __future__ import annotations

import json
from pathlib import Path

import pyogrio
import pytest
from click.testing import CliRunner

from kfqmap.cli.main import cli

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "export"


@pytest.fixture
def run(monkeypatch):
    monkeypatch.setenv("KFQMAP_GEODATA_DIR", str(FIXTURE))
    monkeypatch.setenv("KFQMAP_EXTRA_LAYERS", "")
    runner = CliRunner()
    return lambda *args: runner.invoke(cli, ["export", *args])


def test_export_gpkg_in_gauss_kruger(run, tmp_path):
    out = tmp_path / "plan.gpkg"
    result = run("--layers", "cores,parks", "--format", "gpkg", "--crs", "EPSG:4549", "--out", str(out), "-q")
    assert result.exit_code == 0, result.output
    assert "4 个要素" in result.output and "EPSG:4549" in result.output
    assert pyogrio.read_info(out, layer="cores")["crs"] == "EPSG:4549"


def test_format_from_extension_bbox_and_filter(run, tmp_path):
    out = tmp_path / "le.geojson"
    result = run("-l", "low_efficiency_land", "-o", str(out), "--bbox", "120.9,31.3,121.1,31.4",
                 "--filter", "status = '已完成'", "-q")
    assert result.exit_code == 0, result.output
    ids = sorted(f["properties"]["id"] for f in json.loads(out.read_text(encoding="utf-8"))["features"])
    assert ids == ["le1", "le4"]


def test_within_a_file(run, tmp_path):
    area = tmp_path / "area.geojson"
    area.write_text(json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {},
                    "geometry": {"type": "Polygon", "coordinates": [[[121.04, 31.37], [121.05, 31.37], [121.05, 31.39],
                                                                     [121.04, 31.39], [121.04, 31.37]]]}}]}))
    out = tmp_path / "kp.csv"
    result = run("-l", "key_projects,axes", "-o", str(out), "--within", str(area), "-q")
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8-sig")
    assert "亚洲杯专业足球场" in text and "沿前进路城市空间展示轴" in text and "建滔昆山中心" not in text


def test_progress_bar_is_shown(run, tmp_path):
    result = run("-l", "cores", "-o", str(tmp_path / "c.kml"))
    assert result.exit_code == 0
    assert "导出 kml" in result.output        # tqdm's bar (stderr is mixed into output by CliRunner)


def test_image_options(run, tmp_path):
    from PIL import Image
    out = tmp_path / "map.png"
    result = run("-l", "cores,axes", "-o", str(out), "--size", "800x600px", "--dpi", "100", "--title", "测试", "-q")
    assert result.exit_code == 0, result.output
    assert Image.open(out).size == (800, 600)


@pytest.mark.parametrize("args,message", [
    (["-l", "cores", "-f", "dwg"], "不支持的导出格式"),
    (["-l", "cores", "--crs", "EPSG:1"], "不支持的坐标系"),
    (["-l", "nope"], "没有 id 为 'nope' 的图层"),
    (["-l", "cores", "--bbox", "100,20,100.1,20.1"], "没有要素"),
])
def test_errors_exit_2_and_leave_no_file(run, tmp_path, args, message):
    out = tmp_path / "x.gpkg"
    result = run(*args, "-o", str(out), "-q")
    assert result.exit_code == 2
    assert message in result.output
    assert list(tmp_path.iterdir()) == []


def test_help_text():
    result = CliRunner().invoke(cli, ["export", "--help"])
    assert result.exit_code == 0 and "--within" in result.output and "gpkg" in result.output


@pytest.mark.parametrize("coords, message", [
    ([[[120.95, 31.35], [121.05, 31.40], [121.05, 31.35], [120.95, 31.40], [120.95, 31.35]]], "几何无效"),   # bowtie
    ([[[500000, 3470000], [501000, 3470000], [501000, 3471000], [500000, 3470000]]], "投影坐标"),         # metres
])
def test_within_file_is_checked_like_stats_file(run, tmp_path, coords, message):
    """``export --within`` reads the file with the same reader and checks as ``stats --file`` (it used to
    repair bowties silently and take metre coordinates as degrees, exporting nothing without saying why)."""
    area = tmp_path / "area.geojson"
    area.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": coords}}]}))
    out = tmp_path / "x.geojson"
    result = run("-l", "cores", "-o", str(out), "--within", str(area))
    assert result.exit_code == 2, result.output
    assert message in result.output and "错误：" in result.output
    assert not out.exists()
