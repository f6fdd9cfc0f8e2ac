"""``kfqmap tiles seed`` / ``kfqmap.tileseed.seed``: bad output paths and failures leave nothing on disk."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from kfqmap import tileseed
from kfqmap.catalog import load_catalog
from kfqmap.cli.main import cli
from kfqmap.errors import InvalidParameter
from kfqmap.tiles import TileEngine


@pytest.fixture(scope="module")
def engine():
    return TileEngine(load_catalog())


def test_missing_output_directory_is_a_clear_error(engine, tmp_path):
    with pytest.raises(InvalidParameter, match="输出目录不存在"):
        tileseed.seed(engine, "cores", [8], tmp_path / "nodir" / "t.pmtiles", processes=1)


def test_cli_missing_output_directory_is_one_line_exit_2(tmp_path):
    res = CliRunner().invoke(cli, ["tiles", "seed", "--zooms", "8", "--tileset", "cores", "--quiet",
                                   "--out", str(tmp_path / "nodir" / "t.mbtiles")])
    assert res.exit_code == 2, res.output
    assert "错误：" in res.output and "Traceback" not in res.output


@pytest.mark.parametrize("suffix", [".pmtiles", ".mbtiles"])
def test_failed_seed_leaves_no_file_and_keeps_existing_target(engine, tmp_path, monkeypatch, suffix):
    target = tmp_path / f"plan{suffix}"
    target.write_bytes(b"previous good file")

    def boom(chunk):
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(tileseed, "_work", boom)
    with pytest.raises(RuntimeError):
        tileseed.seed(engine, "cores", [8], target, processes=1)
    assert target.read_bytes() == b"previous good file"
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


def test_seed_writes_the_target(engine, tmp_path):
    stats = tileseed.seed(engine, "cores", [8], tmp_path / "cores.mbtiles", processes=1)
    assert stats.tiles >= 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cores.mbtiles"]
