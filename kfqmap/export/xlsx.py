"""XLSX report (openpyxl): area statistics by layer, group and park, the 5000亩 programme, the indicator tables.

Sheets (all headers Chinese, numbers as numbers with display formats):

* ``说明`` — what was exported (layers, bbox, filter), how areas are computed, unit definitions, caveats;
* ``图层面积`` — per selected layer: features, ellipsoidal area (CGCS2000, the land-survey rule) in m², 亩, 公顷,
  km², the Gauss-Krüger (EPSG:4549) area beside it, and line lengths; a total row;
* ``分组面积`` — per plan group: the sum of its selected polygon layers (overlaps between layers not removed);
* ``园区面积`` — every feature of the park and core layers (两核多园 / 一带四园 groups) with its area, and the
  low-efficiency parcels summed by the ``park`` they belong to;
* ``5000亩进度`` — the low-efficiency land programme by status and by year against the 5000 亩 target
  (always the whole layer: it is a plan-level figure, not a property of the export's bbox);
* ``指标`` — the indicator tables (表1, 表2, 正文) as the catalog holds them.

Every area comes from :mod:`kfqmap.area` (``ellipsoidal_area``, ``gk_area``, ``lengths_m``) and
:mod:`kfqmap.units`; when the analysis module provides ``layer_stats``/``progress``, those are what the
statistics endpoint serves and the test checks this workbook against them.
"""
from __future__ import annotations

import datetime as _dt
from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from .. import area as area_mod
from ..crs import CRSInfo
from ..units import AREA_UNITS
from ._common import plain_value

TARGET_MU = 5000.0
HEADER_FILL = PatternFill("solid", fgColor="DDE6F0")
BOLD = Font(bold=True)
FMT = {"m2": "#,##0.0", "mu": "#,##0.00", "ha": "#,##0.0000", "km2": "#,##0.000000", "count": "#,##0",
       "km": "#,##0.000", "pct": "0.00%"}
PARK_GROUPS = ("两核多园", "一带四园")


def _areas_m2(frame) -> np.ndarray:
    if len(frame) == 0:
        return np.zeros(0)
    return np.asarray(area_mod.ellipsoidal_area(frame.geometry.values), dtype="float64")


def _gk_m2(frame) -> np.ndarray:
    if len(frame) == 0 or not hasattr(area_mod, "gk_area"):
        return np.zeros(len(frame))
    return np.asarray(area_mod.gk_area(frame.geometry.values), dtype="float64")


def _lengths_km(frame) -> float:
    if len(frame) == 0 or not hasattr(area_mod, "lengths_m"):
        return 0.0
    return float(np.nansum(area_mod.lengths_m(frame.geometry.values))) / 1000.0


def _units(m2: float) -> list[float]:
    return [m2, m2 / AREA_UNITS["mu"].m2, m2 / AREA_UNITS["ha"].m2, m2 / AREA_UNITS["km2"].m2]


AREA_HEADERS = ["椭球面积（平方米）", "面积（亩）", "面积（公顷）", "面积（平方公里）"]
AREA_FORMATS = [FMT["m2"], FMT["mu"], FMT["ha"], FMT["km2"]]


class _Sheet:
    def __init__(self, wb: Workbook, title: str, headers: list[str], formats: list[str | None]):
        self.ws = wb.create_sheet(title)
        self.formats = formats
        self.ws.append(headers)
        for cell in self.ws[1]:
            cell.font = BOLD
            cell.fill = HEADER_FILL
            cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        self.ws.freeze_panes = "A2"
        for i, h in enumerate(headers, 1):
            self.ws.column_dimensions[get_column_letter(i)].width = max(10, min(40, len(h) * 2 + 2))

    def row(self, values, *, bold: bool = False):
        self.ws.append([plain_value(v) for v in values])
        r = self.ws.max_row
        for i, fmt in enumerate(self.formats, 1):
            cell = self.ws.cell(row=r, column=i)
            if fmt and isinstance(cell.value, (int, float)):
                cell.number_format = fmt
            if bold:
                cell.font = BOLD


def write_selection(selection, target: Path, crs: CRSInfo, *, progress=None, title: str | None = None, **_):
    wb = Workbook()
    wb.remove(wb.active)
    catalog = selection.catalog
    _about(wb, selection, title)

    # ---- by layer
    sheet = _Sheet(wb, "图层面积", ["图层 id", "图层", "分组", "几何类型", "要素数", *AREA_HEADERS,
                                     "高斯投影面积 EPSG:4549（平方米）", "线长度（公里）", "示意", "示例"],
                   [None, None, None, None, FMT["count"], *AREA_FORMATS, FMT["m2"], FMT["km"], None, None])
    totals = np.zeros(2)
    group_m2: dict[str, float] = {}
    count = 0
    for item in selection.items:
        layer, frame = item.layer, item.frame
        polygonal = layer.is_polygonal
        m2 = float(_areas_m2(frame).sum()) if polygonal else None
        gk = float(_gk_m2(frame).sum()) if polygonal else None
        length = _lengths_km(frame) if layer.geometry_type in ("LineString", "MultiLineString") else None
        sheet.row([layer.id, layer.title_zh, layer.group, layer.geometry_type, len(frame),
                   *(_units(m2) if m2 is not None else [None] * 4), gk, length,
                   "是" if layer.schematic else "否", "是" if layer.illustrative else "否"])
        if polygonal:
            totals += [m2, gk]
            group_m2[layer.group] = group_m2.get(layer.group, 0.0) + m2
        count += len(frame)
        if progress:
            progress(len(frame))
    sheet.row(["合计", "（各面状图层之和，不扣除图层间重叠）", None, None, count, *_units(float(totals[0])),
               float(totals[1]), None, None, None], bold=True)

    # ---- by group
    sheet = _Sheet(wb, "分组面积", ["分组", "面状图层", *AREA_HEADERS], [None, None, *AREA_FORMATS])
    for group, m2 in group_m2.items():
        ids = [i.layer.id for i in selection.items if i.layer.group == group and i.layer.is_polygonal]
        sheet.row([group, "、".join(ids), *_units(m2)])
    sheet.row(["合计", None, *_units(sum(group_m2.values()))], bold=True)

    _parks(wb, selection)
    _progress(wb, catalog)
    _indicators(wb, catalog)
    wb.save(target)


def _about(wb: Workbook, selection, title: str | None):
    ws = wb.create_sheet("说明")
    ws.column_dimensions["A"].width = 18
    ws.column_dimensions["B"].width = 100
    rows = [
        ("报表", title or "昆山开发区“十四五”规划空间格局 — 面积统计"),
        ("生成时间", _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        ("图层", "、".join(f"{i.layer.title_zh}（{i.layer.id}）" for i in selection.items)),
        ("范围", "全部" if selection.bbox is None else "bbox " + ", ".join(f"{v:.6f}" for v in selection.bbox)),
        ("绘制范围", "无" if selection.geometry is None else "按绘制的范围几何选择（相交的要素整体计入）"),
        ("过滤条件", selection.filter or "无"),
        ("面积算法", "椭球面积：CGCS2000 椭球（a = 6378137 m，f = 1/298.257222101），与 TD/T 1055 地块面积计算一致；"
                    "另列 EPSG:4549 高斯-克吕格投影面积供对照。"),
        ("单位", "1 亩 = 2000/3 平方米；1 公顷 = 10000 平方米 = 15 亩；1 平方公里 = 100 公顷 = 1500 亩"),
        ("注意", "标为“示意”的图层位置为规划图示意，面积仅供参考；标为“示例”的数据（如低效用地地块）不是规划给定的。"
                 "建筑面积等规划数字是属性，不与图斑面积比较。"),
    ]
    for k, v in rows:
        ws.append([k, v])
        ws.cell(row=ws.max_row, column=1).font = BOLD
        ws.cell(row=ws.max_row, column=2).alignment = Alignment(wrap_text=True, vertical="top")


def _parks(wb: Workbook, selection):
    sheet = _Sheet(wb, "园区面积", ["图层", "名称", "类型/功能", *AREA_HEADERS], [None, None, None, *AREA_FORMATS])
    for item in selection.items:
        layer, frame = item.layer, item.frame
        if layer.group not in PARK_GROUPS or not layer.is_polygonal:
            continue
        areas = _areas_m2(frame)
        kind_col = next((c for c in ("park_type", "functions") if c in frame.columns), None)
        for (_, row), m2 in zip(frame.iterrows(), areas):
            sheet.row([layer.title_zh, row.get("name"), row.get(kind_col) if kind_col else None, *_units(float(m2))])
    low = next((i for i in selection.items if i.layer.id == "low_efficiency_land"), None)
    if low is not None and "park" in low.frame.columns and len(low.frame):
        sheet.ws.append([])
        sheet.row(["低效用地按园区", "园区", "地块数", *AREA_HEADERS])
        for c in sheet.ws[sheet.ws.max_row]:
            c.font = BOLD
        frame = low.frame.assign(_m2=_areas_m2(low.frame))
        for park, part in frame.groupby(frame["park"].fillna("（未注明）"), sort=True):
            sheet.row(["低效用地再利用", park, len(part), *_units(float(part["_m2"].sum()))])


def _progress(wb: Workbook, catalog):
    sheet = _Sheet(wb, "5000亩进度", ["口径", "分类", "地块数", "地块面积（亩，属性 area_mu）", "图斑椭球面积（亩）",
                                       "占 5000 亩目标"],
                   [None, None, FMT["count"], FMT["mu"], FMT["mu"], FMT["pct"]])
    if catalog is None or "low_efficiency_land" not in catalog.ids:
        sheet.row(["（目录中没有 low_efficiency_land 图层）"])
        return
    frame = catalog.read("low_efficiency_land")
    mu_poly = _areas_m2(frame) / AREA_UNITS["mu"].m2
    frame = frame.assign(_mu_poly=mu_poly)
    attr = frame["area_mu"].astype(float) if "area_mu" in frame.columns else pd.Series(np.nan, index=frame.index)
    frame = frame.assign(_mu_attr=attr)

    def add(kind, label, part):
        mu_a = float(part["_mu_attr"].sum()) if part["_mu_attr"].notna().any() else None
        sheet.row([kind, label, len(part), mu_a, float(part["_mu_poly"].sum()),
                   (mu_a if mu_a is not None else float(part["_mu_poly"].sum())) / TARGET_MU])

    sheet.row(["目标", "“十四五”低效用地再利用 5000 亩", None, TARGET_MU, None, 1.0])
    if "status" in frame.columns:
        for status in ("已完成", "实施中", "未启动"):
            add("按状态", status, frame[frame["status"] == status])
    if "year" in frame.columns:
        for year, part in frame.groupby("year", sort=True):
            add("按年份", str(int(year)) if pd.notna(year) else "（未注明）", part)
    add("合计", "全部地块", frame)
    sheet.ws.append([])
    sheet.ws.append(["说明", "低效用地地块为示例数据（illustrative），用于演示进度统计；完成比例按属性 area_mu（地块面积）计算。"])


INDICATOR_COLUMNS = [("table", "表"), ("seq", "序号"), ("category", "类别"), ("name", "指标"), ("unit", "单位"),
                     ("value_2020_text", "2020 年"), ("value_2020", "2020 年（数值）"), ("target_text", "目标"),
                     ("target", "目标（数值）"), ("target_year", "目标年份"), ("growth_text", "年均增长"),
                     ("attribute", "属性"), ("source", "出处"), ("layer_id", "相关图层"), ("feature_id", "相关要素")]


def _indicators(wb: Workbook, catalog):
    sheet = _Sheet(wb, "指标", [h for _, h in INDICATOR_COLUMNS],
                   [None, None, None, None, None, None, "#,##0.####", None, "#,##0.####", "0", None, None, None,
                    None, None])
    if catalog is None or "indicators" not in catalog.ids:
        sheet.row(["（目录中没有 indicators 指标表）"])
        return
    frame = catalog.read("indicators")
    for _, row in frame.iterrows():
        sheet.row([row.get(c) if c in frame.columns else None for c, _ in INDICATOR_COLUMNS])


def write(frame, target, crs, layer=None):
    from . import LayerSelection, Selection
    write_selection(Selection(None, [LayerSelection(layer, frame)]), Path(target), crs)
