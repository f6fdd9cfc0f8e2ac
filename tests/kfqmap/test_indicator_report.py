"""The XLSX report's indicator sheets: actual/status columns (coloured), the warning list, 表1's 实际年均增长 column
restored, and the units/labels the issue names (光伏 area is not 建筑面积; 标准引领项目 in 家)."""
from __future__ import annotations

import pytest
from openpyxl import load_workbook

from kfqmap import monitor
from kfqmap.catalog import load_catalog
from kfqmap.export import export_layers
from kfqmap.indicator_rules import STATUS_COLOURS
from kfqmap.settings import CatalogSettings


@pytest.fixture()
def report(tmp_path):
    catalog = load_catalog(CatalogSettings(data_dir=tmp_path / "data"))
    try:
        monitor.set_actual(catalog, "t2_27", 2023, "0.0030", source="应急管理局", by="t", via="cli")  # ≤ 0.0030: met early
        monitor.set_actual(catalog, "t2_24", 2023, "39", source="自然资源和规划局", by="t", via="cli")   # 约束性
        target = tmp_path / "report.xlsx"
        export_layers(catalog, ["indicators", "low_efficiency_land"], "xlsx", target, options={"year": 2023})
        yield load_workbook(target)
    finally:
        catalog.store.close()


def _table(ws) -> list[dict]:
    rows = list(ws.iter_rows(values_only=True))
    return [dict(zip(rows[0], r)) for r in rows[1:] if r and r[0]]


def test_monitoring_sheet_has_actual_path_and_coloured_status(report):
    ws = report["指标监测"]
    header = [c.value for c in ws[1]]
    assert {"2023 年实际值", "2023 年规划路径", "状态", "判定说明"} <= set(header)
    rows = {r["编号"]: r for r in _table(ws) if r.get("编号") and str(r["编号"]).startswith(("t2_", "tx_"))}
    death = rows["t2_27"]
    assert death["2023 年实际值"] == "0.0030"                  # as entered, not 0.003
    assert death["状态"] == "达标" and death["2023 年规划路径"] == pytest.approx(0.00304)   # 0.0031 − 0.0001×3/5; the ceiling reached early
    blue = rows["t2_24"]
    assert blue["状态"] == "超限" and blue["2023 年规划路径"] == pytest.approx(43)
    assert rows["t2_01"]["状态"] == "无数据" and rows["t2_01"]["2023 年实际值"] is None
    col = header.index("状态") + 1
    for r in range(2, ws.max_row + 1):
        if ws.cell(row=r, column=1).value == "t2_24":
            assert ws.cell(row=r, column=col).fill.fgColor.rgb.endswith(STATUS_COLOURS["超限"].lstrip("#").upper())
    pv = next(r for r in rows.values() if "光伏" in r["指标"])
    assert "光伏面积" in pv["类型"] and "建筑面积（" not in pv["类型"].split("，")[0]


def test_warning_sheet(report):
    rows = _table(report["预警清单"])
    assert [(r["状态"], r["编号"]) for r in rows] == [("超限", "t2_24")]


def test_indicator_sheet_restores_table1_actual_growth_and_units(report):
    rows = _table(report["指标"])
    assert "实际年均增长" in rows[0] and "规划年均增长" in rows[0]
    gdp1 = next(r for r in rows if r["表"] == "表1" and r["序号"] == 1)
    assert gdp1["规划年均增长"] == "6%" and gdp1["实际年均增长"] == "6.5%"
    std = next(r for r in rows if r["指标"] == "标准引领项目")
    assert std["单位"] == "家" and std["目标"] == "超1000家"
    death = next(r for r in rows if r["表"] == "表2" and r["序号"] == 27)
    assert (death["方向"], death["限定词"], death["计量方式"]) == ("越小越好", "不超过", "当年值")
    assert death["预警阈值"] == pytest.approx(0.05)
