"""Indicator actuals end to end without HTTP: the embedded store, the status report, the XLSX entry template
(round trip, malformed sheets refused naming sheet/row/column with the store unchanged) and ``kfqmap indicators``.

Each test gets its own data directory, so its store starts empty.
"""
from __future__ import annotations

import sqlite3
from decimal import Decimal

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from kfqmap import monitor
from kfqmap.actuals import ActualsStore
from kfqmap.catalog import load_catalog
from kfqmap.cli.main import cli
from kfqmap.errors import FeatureNotFound, InvalidParameter, ReadOnlyLayer
from kfqmap.indicator_sheet import SHEET, read_entries, write_template
from kfqmap.settings import CatalogSettings


@pytest.fixture()
def data_dir(tmp_path, monkeypatch):
    d = tmp_path / "data"
    monkeypatch.setenv("KFQMAP_DATA_DIR", str(d))
    return d


@pytest.fixture()
def catalog(data_dir):
    c = load_catalog(CatalogSettings(data_dir=data_dir))
    yield c
    c.store.close()


def _rows_in_store(path) -> list[tuple]:
    """The actuals table read by a separate SQLite connection (what another program would see)."""
    conn = sqlite3.connect(path)
    try:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'kfqmap_indicator_actuals'").fetchall():
            return []
        return conn.execute("SELECT indicator_id, year, value_text, source, entered_by, via "
                            "FROM kfqmap_indicator_actuals ORDER BY indicator_id, year").fetchall()
    finally:
        conn.close()


def test_indicator_rows_carry_the_model(catalog):
    rows = monitor.indicator_rows(catalog)
    death = rows["t2_27"]
    assert death.rule.direction == "越小越好" and death.rule.qualifier == "不超过"
    assert death.rule.target == Decimal("0.003") and death.rule.value_2020 == Decimal("0.0031")
    assert rows["t2_11"].rule.measure == "五年累计" and rows["t2_24"].rule.attribute == "约束性"
    assert rows["t2_20"].rule.direction == "完成上级下达任务"
    assert not rows["t1_01"].rule.monitored and not rows["tx_30"].rule.monitored
    assert "规划正文未注明约束性/预期性" in rows["tx_05"].props["model_note"]


def test_no_actuals_means_no_data(catalog):
    report = monitor.indicator_status(catalog, 2023)
    monitored = [i for i in report.indicators if i.monitored]
    assert monitored and all(i.status == "无数据" and i.value is None for i in monitored)
    assert report.warnings == [] and report.counts["无数据"] == len(monitored)
    gdp = next(i for i in report.indicators if i.id == "t2_01")
    assert gdp.plan_path == pytest.approx(1595 + 655 * 3 / 5)          # the path is there, labelled as the plan's
    assert [p.year for p in gdp.path_series] == list(range(2020, 2026))


def test_set_actual_is_stored_with_source_and_who(catalog):
    s = monitor.set_actual(catalog, "t2_27", 2025, "0.0031", source="安监年报", by="张三", via="cli")
    assert s.status == "超限" and s.value_text == "0.0031"
    assert _rows_in_store(catalog.store.path) == [("t2_27", 2025, "0.0031", "安监年报", "张三", "cli")]
    monitor.set_actual(catalog, "t2_27", 2025, "0.0030", source="安监年报（更正）", by="李四", via="api")
    assert monitor.one_status(catalog, "t2_27", 2025).status == "达标"
    log = ActualsStore.of(catalog).log("t2_27")
    assert [(r["old_value"], r["new_value"], r["entered_by"]) for r in log] == [(None, "0.0031", "张三"),
                                                                                 ("0.0031", "0.0030", "李四")]
    report = monitor.indicator_status(catalog, 2025)
    assert report.counts["达标"] == 1


def test_warning_list(catalog):
    monitor.set_actual(catalog, "t2_24", 2022, "39", source="自然资源局", by="t", via="cli")    # 约束性, −7.1 %
    monitor.set_actual(catalog, "t2_07", 2022, "4.1", source="统计公报", by="t", via="cli")    # ahead of 4.02
    for y, v in ((2021, "5"), (2022, "5")):
        monitor.set_actual(catalog, "t2_11", y, v, source="商务局", by="t", via="cli")       # 10 vs 12: −16.7 %
    report = monitor.indicator_status(catalog, 2022)
    assert [(w.id, w.status) for w in report.warnings] == [("t2_24", "超限"), ("t2_11", "预警")]
    # t2_11: pace 5/yr, needed (30 − 10)/3 = 6.67/yr ≤ 10 → 预警, not 滞后
    assert next(i for i in report.indicators if i.id == "t2_07").status == "正常"


@pytest.mark.parametrize("iid,year,value,fragment", [
    ("t2_99", 2023, "1", "没有编号为 't2_99' 的指标"),
    ("t2_07", 2023, "约4.1", "不是数字"),
    ("t2_07", 2019, "4.1", "年份 2019"),
    ("t2_07", "二〇二三", "4.1", "不是整数"),
    ("t1_01", 2023, "1600", "不作“十四五”监测"),
    ("t2_07", 2023, "nan", "不是数字"),
])
def test_bad_single_values_are_refused(catalog, iid, year, value, fragment):
    with pytest.raises((InvalidParameter, FeatureNotFound)) as exc:
        monitor.set_actual(catalog, iid, year, value, source=None, by="t", via="cli")
    assert fragment in exc.value.message
    assert _rows_in_store(catalog.store.path) == []


def test_read_only_catalog_cannot_take_actuals(data_dir):
    c = load_catalog(CatalogSettings(data_dir=data_dir, store="files"))
    assert monitor.indicator_status(c, 2023).store is False
    with pytest.raises(ReadOnlyLayer):
        monitor.set_actual(c, "t2_07", 2023, "4", source=None, by="t", via="cli")


# ------------------------------------------------------------------------------------------ the XLSX template
def _fill(path, cells: dict[str, object]) -> None:
    wb = load_workbook(path)
    ws = wb[SHEET]
    for ref, v in cells.items():
        ws[ref] = v
    wb.save(path)


def _row_of(path, iid: str) -> int:
    ws = load_workbook(path)[SHEET]
    return next(r for r in range(2, ws.max_row + 1) if ws.cell(row=r, column=1).value == iid)


def test_template_round_trip(catalog, tmp_path):
    monitor.set_actual(catalog, "t2_01", 2021, "1700.5", source="统计公报", by="t", via="cli")
    store = ActualsStore.of(catalog)
    path = tmp_path / "指标填报.xlsx"
    n = write_template(monitor.indicator_rows(catalog), store.read(), path)
    ws = load_workbook(path)[SHEET]
    header = [c.value for c in ws[1]]
    assert header[:6] == ["编号", "指标", "单位", "目标", "目标年份", "计量方式"]
    assert header[6:11] == ["2021", "2022", "2023", "2024", "2025"] and header[11] == "来源"
    assert ws.max_row == n + 1
    r = _row_of(path, "t2_01")
    assert ws.cell(row=r, column=7).value == 1700.5 and ws.cell(row=r, column=12).value == "统计公报"
    # fill two more years and another indicator, read back, load, and see them in the store
    r7 = _row_of(path, "t2_27")
    _fill(path, {f"H{r}": 1810, f"I{r}": "1925.25", f"K{r7}": 0.0031, f"L{r7}": "应急管理局"})
    entries = read_entries(path)
    assert {(e.indicator_id, e.year) for e in entries if e.value is not None} == {
        ("t2_01", 2021), ("t2_01", 2022), ("t2_01", 2023), ("t2_27", 2025)}
    changed = monitor.load_actuals(catalog, entries, by="王五", via="xlsx")
    assert changed == 3                              # 2021 was already there, unchanged
    stored = {(i, y): (v, s, by) for i, y, v, s, by, _ in _rows_in_store(catalog.store.path)}
    assert stored[("t2_01", 2022)] == ("1810", "统计公报", "王五")
    assert stored[("t2_01", 2023)][0] == "1925.25"
    assert stored[("t2_27", 2025)] == ("0.0031", "应急管理局", "王五")   # not 0.00309999…
    assert stored[("t2_01", 2021)][2] == "t"          # unchanged values keep who entered them
    # a second template holds what the first one loaded
    again = tmp_path / "again.xlsx"
    write_template(monitor.indicator_rows(catalog), store.read(), again)
    ws2 = load_workbook(again)[SHEET]
    assert [ws2.cell(row=_row_of(again, "t2_01"), column=c).value for c in (7, 8, 9)] == [1700.5, 1810, 1925.25]


@pytest.mark.parametrize("edit,fragment", [
    (lambda r: {f"H{r}": "一千八"}, "第 {r} 行 H 列（2022 年）：'一千八' 不是数字"),
    (lambda r: {f"A{r}": "t2_77", f"H{r}": 5}, "第 {r} 行 H 列（2022 年）：未知指标编号 't2_77'"),
    (lambda r: {f"C{r}": "万元", f"H{r}": 5}, "第 {r} 行 H 列（2022 年）：单位 '万元' 与指标 t2_01 的单位 '亿元' 不符"),
    (lambda r: {f"C{r}": "万元"}, "第 {r} 行 A 列：单位 '万元'"),
])
def test_malformed_template_is_refused_and_nothing_is_loaded(catalog, tmp_path, edit, fragment):
    monitor.set_actual(catalog, "t2_07", 2021, "3.8", source="统计公报", by="t", via="cli")
    before = _rows_in_store(catalog.store.path)
    path = tmp_path / "bad.xlsx"
    write_template(monitor.indicator_rows(catalog), ActualsStore.of(catalog).read(), path)
    r = _row_of(path, "t2_01")
    r7 = _row_of(path, "t2_07")
    # good values first (they must not be written either), then the bad cell
    _fill(path, {f"H{r7}": 3.9, f"I{r7}": 4.0, **edit(r)})
    with pytest.raises(InvalidParameter) as exc:
        monitor.load_actuals(catalog, read_entries(path), by="t", via="xlsx")
    msg = exc.value.message
    assert f"工作表“{SHEET}”" in msg and fragment.format(r=r) in msg and "未写入任何数据" in msg
    assert _rows_in_store(catalog.store.path) == before


def test_not_a_workbook_and_wrong_sheet(catalog, tmp_path):
    junk = tmp_path / "x.xlsx"
    junk.write_text("not a workbook")
    with pytest.raises(InvalidParameter, match="不是有效的 XLSX"):
        read_entries(junk)
    from openpyxl import Workbook
    wb = Workbook()
    wb.active.title = "Sheet1"
    wb.save(tmp_path / "other.xlsx")
    with pytest.raises(InvalidParameter, match="没有工作表“指标填报”"):
        read_entries(tmp_path / "other.xlsx")


# ------------------------------------------------------------------------------------------ the CLI
def test_cli_set_template_load_status(data_dir, tmp_path):
    runner = CliRunner()
    r = runner.invoke(cli, ["indicators", "set", "t2_07", "2023", "3.9", "--source", "统计公报", "--by", "赵六"])
    assert r.exit_code == 0, r.output
    assert "滞后" in r.output
    r = runner.invoke(cli, ["indicators", "set", "t2_07", "2023", "abc"])
    assert r.exit_code == 2 and "错误：" in r.output and "不是数字" in r.output and "Traceback" not in r.output
    out = tmp_path / "指标填报.xlsx"
    r = runner.invoke(cli, ["indicators", "template", "--out", str(out)])
    assert r.exit_code == 0 and out.exists()
    _fill(out, {f"J{_row_of(out, 't2_07')}": "多"})
    r = runner.invoke(cli, ["indicators", "load", str(out)])
    assert r.exit_code == 2 and "J 列（2024 年）" in r.output
    r = runner.invoke(cli, ["indicators", "threshold", "t2_07", "0.5"])
    assert r.exit_code == 0
    r = runner.invoke(cli, ["indicators", "status", "--year", "2023"])
    assert r.exit_code == 0 and "预警清单" not in r.output      # −6.7 % is within a 50 % threshold: 正常
    assert "t2_07" in r.output and "正常" in r.output
    r = runner.invoke(cli, ["progress", "--year", "2023"])
    assert r.exit_code == 0 and "规划路径" in r.output and "3.9" in r.output
    c = load_catalog(CatalogSettings(data_dir=data_dir))
    try:
        a = ActualsStore.of(c).read()["t2_07"][2023]
        assert (a.entered_by, a.source, a.via) == ("赵六", "统计公报", "cli")
    finally:
        c.store.close()
