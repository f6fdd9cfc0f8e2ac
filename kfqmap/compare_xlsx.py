"""The 对比分析 report as XLSX (openpyxl): 说明, 汇总, 明细 (one row per difference), 分区 (parks and cores)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from .compare import RULES_ZH, Comparison
from .units import area_unit, round_area

_CHANGE_ZH = {"added": "新增", "removed": "删除", "changed": "变化", "unchanged": "未变"}
_FILL = {"added": "D9F2D9", "removed": "F8D7D7", "changed": "FCEBC6"}
_BEIJING = timezone(timedelta(hours=8))


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _widths(ws, widths) -> None:
    for i, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = w


def write_report(comparison: Comparison, target: str | Path) -> Path:
    """Write the report; returns the path. Areas in the comparison's unit; text cells stay text."""
    u = area_unit(comparison.unit)
    sym = u.symbol_zh

    def a(m2: float) -> float:
        return round_area(m2 / u.m2, u.code)

    wb = Workbook()
    info = wb.active
    info.title = "说明"
    s = comparison.summary()
    now = datetime.now(_BEIJING).strftime("%Y-%m-%d %H:%M（北京时间）")
    lines = [("对比分析报告", ""), ("对比前（A）", comparison.a), ("对比后（B）", comparison.b),
             ("配对方式", "按字段 " + comparison.key if comparison.match == "key" else "按重叠面积"),
             ("面积单位", sym), ("生成时间", now), ("规则", RULES_ZH)]
    if s["placeholder_changes"]:
        lines.append(("注意", f"{s['placeholder_changes']} 处差异涉及占位/示例要素（位置或范围为示意），不代表实测变化。"))
    for row in lines:
        info.append(list(row))
    info["A1"].font = Font(bold=True, size=14)
    _widths(info, [14, 100])

    summary = wb.create_sheet("汇总")
    summary.append(["项目", "数量", f"面积（{sym}）"])
    summary.append(["新增要素", s["added"], a(comparison.total("area_b_m2", ("added",)))])
    summary.append(["删除要素", s["removed"], a(comparison.total("area_a_m2", ("removed",)))])
    summary.append(["变化要素", s["changed"], None])
    summary.append(["未变要素", s["unchanged"], None])
    summary.append(["增加面积合计", None, s["gained"]])
    summary.append(["减少面积合计", None, s["lost"]])
    summary.append(["净变化", None, s["net"]])
    for cell in summary[1]:
        cell.font = Font(bold=True)
    _widths(summary, [16, 10, 16])

    detail = wb.create_sheet("明细")
    detail.append(["变化类型", "A 中 id", "B 中 id", "名称", "变化的属性", "变化前", "变化后", "几何变化",
                   f"A 面积（{sym}）", f"B 面积（{sym}）", f"增加（{sym}）", f"减少（{sym}）", "占位/示例"])
    for c in comparison.changes:
        if c.change == "unchanged":
            continue
        detail.append([_CHANGE_ZH[c.change], _text(c.id_a), _text(c.id_b), _text(c.name), "、".join(c.fields),
                       _text({k: _text(v) for k, v in c.before.items()}) if c.before else "",
                       _text({k: _text(v) for k, v in c.after.items()}) if c.after else "",
                       "是" if c.geometry_changed else ("" if c.change == "changed" else "—"),
                       a(c.area_a_m2), a(c.area_b_m2), a(c.gained_m2), a(c.lost_m2), "是" if c.placeholder else ""])
        fill = _FILL.get(c.change)
        if fill:
            detail.cell(detail.max_row, 1).fill = PatternFill("solid", fgColor=fill)
    for cell in detail[1]:
        cell.font = Font(bold=True)
    for col in (2, 3):                               # ids are text, even when they look like numbers
        for row in detail.iter_rows(min_row=2, min_col=col, max_col=col):
            row[0].number_format = "@"
    _widths(detail, [10, 16, 16, 28, 24, 40, 40, 10, 14, 14, 14, 14, 10])
    detail.freeze_panes = "A2"

    zones = wb.create_sheet("分区")
    zones.append(["分区图层", "分区 id", "分区名称", f"增加（{sym}）", f"减少（{sym}）", f"净变化（{sym}）", "分区为占位范围"])
    for z in comparison.zones:
        zones.append([z.layer, z.zone_id, z.zone_name, a(z.gained_m2), a(z.lost_m2), a(z.gained_m2 - z.lost_m2),
                      "是" if z.placeholder else ""])
    for cell in zones[1]:
        cell.font = Font(bold=True)
    _widths(zones, [10, 14, 28, 14, 14, 14, 14])

    path = Path(target)
    part = path.with_name(f".{path.name}.part")
    wb.save(part)
    part.replace(path)
    return path
