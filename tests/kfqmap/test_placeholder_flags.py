"""Issue 14: a feature whose position or outline is a placeholder says so everywhere — the CLI's statistics table,
``/stats`` per-feature rows, ``/query`` hits, the XLSX export (a column), the vector tiles the map draws, and the
viewer's style (hatched and labelled （示例）). 铁南商务综合区 is the case that exposed it: a placeholder outline
that is not an example (``illustrative`` false)."""
from __future__ import annotations

import json

import mapbox_vector_tile
import morecantile
import openpyxl
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from kfqmap.catalog import load_catalog
from kfqmap.cli.main import cli
from kfqmap.tiles import TileEngine
from server.app import create_app

FID = "park_tienan"


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_the_case_is_a_placeholder_but_not_an_example(catalog):
    row = catalog.read("parks").loc[FID]
    assert bool(row["placeholder"]) is True and bool(row["illustrative"]) is False


def test_cli_stats_and_http_stats_and_query_carry_the_flag(catalog):
    res = CliRunner().invoke(cli, ["stats", "parks", "--format", "json"])
    assert res.exit_code == 0, res.output
    rows = {f["id"]: f for f in json.loads(res.output)["features"]}
    assert rows[FID]["properties"]["placeholder"] is True
    table = CliRunner().invoke(cli, ["stats", "parks"])
    assert "placeholder" in table.output.splitlines()[1]             # a column of the table
    point = catalog.read("parks").geometry.loc[FID].representative_point()
    with TestClient(create_app()) as client:
        stats = {f["id"]: f for f in client.get("/stats/layers/parks").json()["features"]}
        assert stats[FID]["properties"]["placeholder"] is True
        hits = client.get("/query/point", params={"lon": point.x, "lat": point.y, "layers": "parks"}).json()["hits"]
        assert [h["properties"]["placeholder"] for h in hits if h["id"] == FID] == [True]


def test_xlsx_export_and_tiles_carry_the_flag(catalog, tmp_path):
    out = tmp_path / "parks.xlsx"
    res = CliRunner().invoke(cli, ["export", "--layers", "parks", "--format", "xlsx", "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = list(openpyxl.load_workbook(out)["园区面积"].iter_rows(values_only=True))
    header = rows[0]
    col, idc = header.index("占位（placeholder）"), header.index("要素 id")
    values = {r[idc]: r[col] for r in rows[1:] if r and r[idc]}
    assert values[FID] == "是" and set(values.values()) <= {"是", "否"}
    point = catalog.read("parks").geometry.loc[FID].representative_point()
    t = morecantile.tms.get("WebMercatorQuad").tile(point.x, point.y, 13)
    tile = mapbox_vector_tile.decode(TileEngine(catalog).tile("parks", 13, t.x, t.y))
    flags = {f["properties"]["name"]: f["properties"].get("placeholder") for f in tile["parks"]["features"]}
    assert flags["铁南商务综合区"] is True


def test_viewer_hatches_and_labels_placeholders():
    """The viewer's per-feature rule (web/js/layers.js) reads ``placeholder`` as well as ``illustrative``."""
    from pathlib import Path

    js = (Path(__file__).resolve().parents[2] / "web/js/layers.js").read_text(encoding="utf-8")
    rule = next(line for line in js.splitlines() if "const perFeature" in line)
    assert "'placeholder'" in rule and "'illustrative'" in rule
