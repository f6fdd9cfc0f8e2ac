"""The indicator entry workbook (指标填报.xlsx): ``write_template`` writes it, ``read_entries`` reads it back.

Sheet ``指标填报``, one row per monitored indicator::

    编号 | 指标 | 单位 | 目标 | 目标年份 | 计量方式 | 2021 | 2022 | 2023 | 2024 | 2025 | 来源 | 说明

The year columns hold the actuals (already entered values are pre-filled, so the file round-trips); an empty
cell is "no value". ``编号`` and ``单位`` are checked against the indicator table: an unknown indicator, a changed
unit or text in a number cell is an error naming the sheet, the row and the column (``kfqmap.monitor.validate``
raises it, and nothing is loaded). A sheet ``说明`` explains the columns.
"""
from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from .errors import InvalidParameter
from .monitor import Entry, Row

SHEET = "指标填报"
FIXED = ["编号", "指标", "单位", "目标", "目标年份", "计量方式"]
YEARS = list(range(2021, 2026))
TAIL = ["来源", "说明"]
_HEAD_FILL = PatternFill("solid", fgColor="DDEBF7")
_YEAR_FILL = PatternFill("solid", fgColor="FFF2CC")

HELP = [
    ("用途", "录入“十四五”规划指标的年度实际值；填好后用 kfqmap indicators load 指标填报.xlsx 导入（全部校验通过才导入，任何错误都不导入）"),
    ("编号、单位", "请勿修改：导入时按编号找到指标，单位不一致视为错误"),
    ("年份列", "填该年实际值（纯数字，不带单位、不带文字）；空格表示没有数据。五年累计指标填当年新增量；里程碑指标填完成年份"),
    ("来源", "数据来源（如“2023年统计公报”），对本行所有年份有效"),
    ("状态", "状态规则见 docs/indicators.md：达标、正常、预警、滞后、超限、无数据、待核定"),
]


def write_template(rows: dict[str, Row], actuals: dict, target: Path) -> int:
    """Write the entry workbook for the monitored indicators of ``rows`` (pre-filled with ``actuals``)."""
    wb = Workbook()
    ws = wb.active
    ws.title = SHEET
    headers = FIXED + [str(y) for y in YEARS] + TAIL
    ws.append(headers)
    for i, _ in enumerate(headers, 1):
        c = ws.cell(row=1, column=i)
        c.font = Font(bold=True)
        c.fill = _HEAD_FILL
    n = 0
    for iid, row in rows.items():
        if not row.rule.monitored:
            continue
        p = row.props
        have = actuals.get(iid, {})
        sources = sorted({a.source for a in have.values() if a.source})
        values = [float(have[y].value) if y in have else None for y in YEARS]
        ws.append([iid, p.get("name"), p.get("unit"), p.get("target_text"), row.rule.target_year, row.rule.measure,
                   *values, "；".join(sources) or None, p.get("model_note")])
        for k in range(len(YEARS)):
            cell = ws.cell(row=ws.max_row, column=len(FIXED) + 1 + k)
            cell.fill = _YEAR_FILL
            cell.number_format = "General"
        n += 1
    for i, width in enumerate([8, 36, 10, 16, 9, 11] + [10] * len(YEARS) + [24, 60], 1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = "C2"
    help_ws = wb.create_sheet("说明")
    for k, v in HELP:
        help_ws.append([k, v])
    help_ws.column_dimensions["A"].width = 14
    help_ws.column_dimensions["B"].width = 110
    for r in help_ws.iter_rows():
        r[1].alignment = Alignment(wrap_text=True)
    wb.save(target)
    return n


def read_entries(path: Path) -> list[Entry]:
    """The values of an entry workbook as ``Entry``s (each naming its sheet, row and column); structural problems
    (not a workbook, no ``指标填报`` sheet, a renamed column) raise ``InvalidParameter``."""
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:       # openpyxl raises many kinds for a file that is not a workbook
        raise InvalidParameter(f"无法读取 {Path(path).name}：不是有效的 XLSX 文件（{exc.__class__.__name__}）",
                               parameter="file") from None
    try:
        if SHEET not in wb.sheetnames:
            raise InvalidParameter(f"{Path(path).name} 中没有工作表“{SHEET}”（请用 kfqmap indicators template 生成的模板）",
                                   parameter="file")
        ws = wb[SHEET]
        rows = ws.iter_rows(values_only=True)
        header = [str(h).strip() if h is not None else "" for h in next(rows, ())]
        for k, name in enumerate(FIXED[:3]):
            if k >= len(header) or header[k] != name:
                raise InvalidParameter(f"工作表“{SHEET}”第 1 行 {get_column_letter(k + 1)} 列应为“{name}”，"
                                       f"收到“{header[k] if k < len(header) else ''}”", parameter="file")
        year_cols = {k: int(h) for k, h in enumerate(header) if h.isdigit() and len(h) == 4}
        source_col = header.index("来源") if "来源" in header else None
        entries: list[Entry] = []
        for r, values in enumerate(rows, start=2):
            values = list(values) + [None] * (len(header) - len(values))
            iid = values[0]
            if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                continue
            cells = [(k, values[k]) for k in year_cols if values[k] is not None and str(values[k]).strip() != ""]
            source = values[source_col] if source_col is not None else None
            if iid is None or str(iid).strip() == "":
                if cells:
                    raise InvalidParameter(f"工作表“{SHEET}”第 {r} 行 A 列：缺少指标编号；未写入任何数据（nothing was written）",
                                           parameter="file")
                continue
            for k, v in cells:
                entries.append(Entry(str(iid).strip(), year_cols[k], v, source, values[2] if values[2] is not None else "",
                                     where=f"工作表“{SHEET}”第 {r} 行 {get_column_letter(k + 1)} 列（{year_cols[k]} 年）"))
            if not cells:    # a row without values still has to name a known indicator and unit
                entries.append(Entry(str(iid).strip(), None, None, source, values[2] if values[2] is not None else "",
                                     where=f"工作表“{SHEET}”第 {r} 行 A 列"))
        return entries
    finally:
        wb.close()
