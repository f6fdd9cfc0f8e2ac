"""The comparison report (对比分析报告) as XLSX: ``write_xlsx(comparison, target)``.

Sheets: ``汇总`` (what was compared, counts, 亩 gained/lost/net, notes), ``变化要素`` (every added, removed or
changed feature with its attribute changes and areas; added green, removed red, changed amber — the viewer's
colours) and ``按区域`` (when the comparison was summarised by a zone layer).
"""
from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from .compare import Comparison

#: the colours of the three kinds of change (viewer and report)
CHANGE_COLOURS = {"added": "#2e9d4f", "removed": "#d7301f", "changed": "#f0a202"}
CHANGE_ZH = {"added": "新增", "removed": "删除", "changed": "修改"}
_BOLD = Font(bold=True)


def _sheet(wb, title, headers, widths):
    ws = wb.create_sheet(title)
    ws.append(headers)
    for c in ws[1]:
        c.font = _BOLD
        c.fill = PatternFill("solid", fgColor="DDE6F0")
    for i, w in enumerate(widths, 1):
        ws.column_dimensions[get_column_letter(i)].width = w
    ws.freeze_panes = "A2"
    return ws


def write_xlsx(c: Comparison, target: Path) -> None:
    wb = Workbook()
    wb.remove(wb.active)
    ws = _sheet(wb, "汇总", ["项目", "值"], [22, 80])
    for k, v in (("A（之前）", c.a), ("B（之后）", c.b), ("匹配属性", c.key), ("新增要素", c.counts["added"]),
                 ("删除要素", c.counts["removed"]), ("修改要素", c.counts["changed"]), ("未变要素", c.counts["unchanged"]),
                 ("增加面积（亩）", c.gained_mu), ("减少面积（亩）", c.lost_mu), ("净变化（亩）", c.net_mu),
                 ("汇总图层", c.by or "—")):
        ws.append([k, v])
    for n in c.notes:
        ws.append(["说明", n])
    ws = _sheet(wb, "变化要素", ["变化", "id", "名称", "几何变化", "属性变化", "A 面积（亩）", "B 面积（亩）", "增加（亩）", "减少（亩）"],
                [8, 14, 24, 9, 60, 12, 12, 12, 12])
    for f in c.features:
        ws.append([CHANGE_ZH[f.change], f.id, f.name, "是" if f.geometry_changed else "",
                   "；".join(f"{x.name}：{x.a} → {x.b}" for x in f.attributes) or None,
                   f.area_a_mu, f.area_b_mu, f.gained_mu, f.lost_mu])
        cell = ws.cell(row=ws.max_row, column=1)
        cell.fill = PatternFill("solid", fgColor=CHANGE_COLOURS[f.change].lstrip("#").upper())
        cell.font = Font(bold=True, color="FFFFFF")
        for col in range(6, 10):
            ws.cell(row=ws.max_row, column=col).number_format = "#,##0.00"
    if c.by_zone:
        ws = _sheet(wb, "按区域", ["区域", "id", "新增", "删除", "修改", "增加（亩）", "减少（亩）"], [24, 16, 8, 8, 8, 12, 12])
        for z in c.by_zone:
            ws.append([z.zone_name, z.zone_id, z.added, z.removed, z.changed, z.gained_mu, z.lost_mu])
    wb.save(target)
