"""``kfqmap import`` and ``stats --file`` from the command line: report, commit, log, undo, exit codes."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from kfqmap.cli.main import cli
from tests.kfqmap import importfiles as F

MINI = Path(__file__).resolve().parent.parent / "fixtures" / "mini_geodata"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli-files")
    return {"shp_zip": F.shapefile_gbk_zip(tmp), "dxf": F.dxf_4549(tmp)}


@pytest.fixture()
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("KFQMAP_GEODATA_DIR", str(MINI))
    monkeypatch.setenv("KFQMAP_DATA_DIR", str(tmp_path / "data"))
    return {"KFQMAP_GEODATA_DIR": str(MINI), "KFQMAP_DATA_DIR": str(tmp_path / "data")}


def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_dry_run_then_commit_log_and_undo(env, files):
    r = _run("import", files["shp_zip"], "--new-layer", "survey", "--title", "测量地块", "--dry-run")
    assert r.exit_code == 0, r.output
    assert "试导入（未写入）" in r.output and "GB18030" in r.output and "可以导入" in r.output
    assert "survey" not in _run("layers").output
    r = _run("import", files["shp_zip"], "--new-layer", "survey", "--title", "测量地块", "--user", "张工", "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["committed"] and report["import_id"] == 1 and report["features_imported"] == 3
    assert "测量地块" in _run("layers").output
    shown = _run("show", "survey").output
    assert "新园区甲" in shown
    log = _run("import", "--log").output
    assert "survey" in log and "张工" in log and "有效" in log
    r = _run("import", "--undo", "1")
    assert r.exit_code == 0 and "已撤销导入 1" in r.output
    assert "survey" not in _run("layers").output
    assert "已撤销" in _run("import", "--log").output


def test_a_guessed_crs_must_be_confirmed(env, files):
    r = _run("import", files["dxf"], "--new-layer", "cad")
    assert r.exit_code == 2
    assert "导入被拒绝" in r.output and "--crs EPSG:4549" in r.output
    r = _run("import", files["dxf"], "--new-layer", "cad", "--crs", "EPSG:4549")
    assert r.exit_code == 0, r.output


def test_stats_on_a_file_without_importing_it(env, files):
    r = _run("stats", "--file", files["dxf"], "--crs", "EPSG:4549", "--format", "json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    want = sum(F.pyproj_area_m2(ring) for ring in F.PARCELS.values())
    assert data["area_m2"] == pytest.approx(want, abs=0.1)
    r = _run("stats", "--file", files["dxf"])           # the CRS is only a guess: refused for statistics too
    assert r.exit_code == 2 and "--crs EPSG:4549" in r.output


def test_bad_file_is_one_line_and_exit_2_in_a_real_process(env, tmp_path):
    bad = tmp_path / "cut.zip"
    bad.write_bytes(b"PK\x03\x04 not really")
    exe = Path(sys.executable).with_name("kfqmap")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "kfqmap.cli.main"]
    p = subprocess.run(cmd + ["import", str(bad), "--layer", "low_efficiency_land"], capture_output=True, text=True,
                       env={**__import__("os").environ, **env}, timeout=120)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.strip().startswith("错误：") and "zip" in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
