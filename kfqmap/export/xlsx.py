"""XLSX report (openpyxl): area statistics by layer, group and park, the 5000亩 programme, the indicator tables.

Every number comes from :mod:`kfqmap.stats` — the functions behind ``kfqmap stats`` and ``/stats/...`` — so the
workbook and the statistics endpoint agree to the last displayed decimal:

* ``说明`` — what was exported (layers, the scope: all / bbox / drawn outline with its area, filter), how areas are
  computed, units, caveats;
* ``范围内要素`` (only when a drawn outline selected the features) — each feature's area inside the outline, as the
  viewer's query results show it (``kfqmap.query.in_geometry``'s ``intersection_mu``), per-layer subtotals, no
  total across overlapping layers;
* ``图层面积`` — per selected layer ``stats.frame_stats`` (``layer_stats`` of the selected features; identical to
  ``layer_stats`` when nothing was filtered): count, ellipsoidal area in m², 亩, 公顷, km² (each rounded by the
  unit's rule), the area without overlaps, the Gauss-Krüger EPSG:4549 area, line length; a total row;
* ``分组面积`` — per plan group: the sum of its selected layers and the area they cover together (overlaps once,
  as ``stats.group_stats`` computes it);
* ``园区面积`` — every feature of the park/core layers (groups 两核多园 / 一带四园) with its area;
* ``5000亩进度`` — ``stats.progress(catalog, year).land``: achieved / in progress / remaining against the target,
  by status, by year (with the plan's even pace, 规划路径) and by park (always the whole layer: a plan-level figure);
* ``指标`` — the indicator tables (表1 with its 规划/实际年均增长 columns, 表2, 正文) as the catalog holds them, with
  the monitoring model (方向, 限定词, 计量方式, 预警阈值, 说明);
* ``指标监测`` — ``stats.progress(...).indicators``: per indicator the actual at ``year`` (as entered), the plan's
  path (规划路径 — the plan's pace, not an achievement) and the status from the actuals, coloured
  (``kfqmap.monitor``; 无数据 without an actual); 光伏 areas are labelled as such, not as 建筑面积;
* ``预警清单`` — the indicators 超限, 滞后 or 预警 at ``year``.
"""
from __future__ import annotations

import datetime as _dt
from pathlib import Path

import geopandas as gpd
import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from .. import area as area_mod
from .. import stats as stats_mod
from ..crs import CRSInfo
from ..indicator_rules import STATUS_COLOURS
from ..units import AREA_UNITS, mu_from_m2, round_area
from ._common import plain_value
from .selection import LayerSelection, Selection

TARGET_MU = 5000.0
HEADER_FILL = PatternFill("solid", fgColor="DDE6F0")
BOLD = Font(bold=True)
FMT = {"m2": "#,##0.0", "mu": "#,##0.00", "ha": "#,##0.0000", "km2": "#,##0.000000", "count": "#,##0",
       "km": "#,##0.000", "pct": "0.00%"}
PARK_GROUPS = ("两核多园", "一带四园")


def _stats(frame, layer, unit: str, *, features: bool = False):
    return stats_mod.frame_stats(frame, unit, layer=layer, features=features)


UNITS = ("mu", "ha", "km2")
AREA_HEADERS = ["椭球面积（平方米）", "面积（亩）", "面积（公顷）", "面积（平方公里）"]
AREA_FORMATS = [FMT["m2"], FMT["mu"], FMT["ha"], FMT["km2"]]


def _measures(frame, layer, *, features: bool = False) -> dict:
    """``frame_stats`` in 亩, 公顷 and km² — each value exactly what ``/stats`` returns for that unit."""
    return {u: _stats(frame, layer, u, features=features) for u in UNITS}


def _areas(sts: dict, attr: str = "area") -> list[float | None]:
    """[m², 亩, 公顷, km²] of a LayerStats triple (``attr`` = "area" or "union_area")."""
    m2 = getattr(sts["mu"], f"{attr}_m2")
    return [m2, *(getattr(sts[u], attr) for u in UNITS)]


def _total(values: list[float]) -> list[float]:
    """Sum of per-layer m² and the unit values (rounded like the statistics)."""
    m2 = float(sum(values))
    return [round(m2, 1), *(round_area(m2 / AREA_UNITS[u].m2, u) for u in UNITS)]


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
            if fmt and isinstance(cell.value, (int, float)) and not isinstance(cell.value, bool):
                cell.number_format = fmt
            if bold:
                cell.font = BOLD


def write_selection(selection, target: Path, crs: CRSInfo, *, progress=None, title: str | None = None,
                    year: int | None = None, **_):
    wb = Workbook()
    wb.remove(wb.active)
    catalog = selection.catalog
    _about(wb, selection, title)
    _inside(wb, selection)

    # ---- by layer
    sheet = _Sheet(wb, "图层面积", ["图层 id", "图层", "分组", "几何类型", "要素数", *AREA_HEADERS,
                                     "去重面积（亩）", "高斯投影面积 EPSG:4549（平方米）", "线长度（米）", "示意", "示例"],
                   [None, None, None, None, FMT["count"], *AREA_FORMATS, FMT["mu"], FMT["m2"], FMT["m2"], None, None])
    layer_m2: list[float] = []
    total_gk = 0.0
    count = 0
    by_group: dict[str, list] = {}
    for item in selection.items:
        layer, frame = item.layer, item.frame
        if layer.is_spatial:
            sts = _measures(frame, layer)
            st = sts["mu"]
            sheet.row([layer.id, layer.title_zh, layer.group, layer.geometry_type, st.count, *_areas(sts),
                       st.union_area, st.gk_area_m2, st.length_m, "是" if layer.schematic else "否",
                       "是" if layer.illustrative else "否"])
            layer_m2.append(st.area_m2 or 0.0)
            total_gk += st.gk_area_m2 or 0.0
            if layer.is_polygonal:
                by_group.setdefault(layer.group, []).append(item)
        else:
            sheet.row([layer.id, layer.title_zh, layer.group, "（表格）", len(frame), *([None] * 7),
                       "否", "是" if layer.illustrative else "否"])
        count += len(frame)
        if progress:
            progress(len(frame))
    sheet.row(["合计", "（各图层面积之和，不扣除图层间重叠）", None, None, count, *_total(layer_m2), None, round(total_gk, 1),
               None, None, None], bold=True)

    # ---- by group
    sheet = _Sheet(wb, "分组面积", ["分组", "面状图层", "要素数", "各图层面积之和（亩）", "覆盖面积（去重，亩）",
                                     "覆盖面积（去重，公顷）", "覆盖面积（去重，平方公里）"],
                   [None, None, FMT["count"], FMT["mu"], FMT["mu"], FMT["ha"], FMT["km2"]])
    for group, items in by_group.items():
        frames = [i.frame for i in items]
        joined = gpd.GeoDataFrame(pd.concat(frames), geometry=frames[0].geometry.name, crs=4326)
        sts = _measures(joined, None)
        union = _areas(sts, "union_area")
        sheet.row([group, "、".join(i.layer.id for i in items), sts["mu"].count, sts["mu"].area, *union[1:]])

    _parks(wb, selection)
    prog = stats_mod.progress(catalog, year) if catalog is not None else None
    _progress(wb, prog)
    _indicators(wb, catalog)
    _indicator_progress(wb, prog)
    wb.save(target)


def _about(wb: Workbook, selection, title: str | None):
    ws = wb.create_sheet("说明")
    ws.column_dimensions["A"].width = 18
    ws.column_dimensions["B"].width = 100
    rows = [
        ("报表", title or "昆山开发区“十四五”规划空间格局 — 面积统计"),
        ("生成时间", _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        ("图层", "、".join(f"{i.layer.title_zh}（{i.layer.id}）" for i in selection.items)),
        ("范围", _scope_text(selection)),
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


def _scope_text(selection) -> str:
    """One sentence for the 说明 sheet's 范围 row (never "全部" next to a drawn outline)."""
    parts = []
    if selection.geometry is not None:
        m2 = float(area_mod.ellipsoidal_area(selection.geometry))
        parts.append(f"绘制范围（椭球面积 {round_area(m2 / AREA_UNITS['mu'].m2, 'mu'):,.2f} 亩，{m2:,.1f} 平方米）："
                     "列出与范围相交的要素；“范围内要素”表的面积是各要素在范围内部分的面积（与查看器查询结果一致），"
                     "其余各表的面积是这些要素的整体面积")
    if selection.bbox is not None:
        parts.append("视图范围 bbox（经度,纬度）" + ", ".join(f"{v:.6f}" for v in selection.bbox)
                     + "：与其相交的要素整体计入")
    return "；".join(parts) if parts else "全部（所选图层的全部要素）"


def _inside(wb: Workbook, selection):
    """``范围内要素`` (only with a drawn geometry): each polygon feature's area inside the outline, as
    ``POST /query/geometry`` reports it (``intersection_mu``, rounded the same way), with a subtotal per layer and
    no total across layers (layers overlap)."""
    geom = selection.geometry
    if geom is None:
        return
    sheet = _Sheet(wb, "范围内要素", ["图层 id", "图层", "要素 id", "名称", "要素面积（亩）", "范围内面积（亩）",
                                       "范围内面积（平方米）", "占要素比例", "示意", "示例"],
                   [None, None, None, None, FMT["mu"], FMT["mu"], FMT["m2"], FMT["pct"], None, None])
    for item in selection.items:
        layer, frame = item.layer, item.frame
        if not layer.is_spatial or len(frame) == 0:
            continue
        names = frame["name"] if "name" in frame.columns else [None] * len(frame)
        flags = {k: (frame[k] if k in frame.columns else [None] * len(frame)) for k in ("schematic", "illustrative")}
        if not layer.is_polygonal:
            for i, fid in enumerate(frame.index):
                sheet.row([layer.id, layer.title_zh, str(fid), names.iloc[i] if hasattr(names, "iloc") else None,
                           None, None, None, None, _flag(flags["schematic"], i, layer.schematic),
                           _flag(flags["illustrative"], i, layer.illustrative)])
            continue
        geoms = frame.geometry.values
        whole = area_mod.ellipsoidal_area(geoms)
        inside = area_mod.intersection_area(geoms, geom)
        sub_m2 = 0.0
        for i, fid in enumerate(frame.index):
            share = float(inside[i] / whole[i]) if whole[i] > 0 else None
            sheet.row([layer.id, layer.title_zh, str(fid), names.iloc[i] if hasattr(names, "iloc") else None,
                       round_area(float(whole[i]) / AREA_UNITS["mu"].m2, "mu"),
                       round(float(mu_from_m2(inside[i])), 2), round(float(inside[i]), 1),
                       round(share, 4) if share is not None else None,
                       _flag(flags["schematic"], i, layer.schematic), _flag(flags["illustrative"], i, layer.illustrative)])
            sub_m2 += float(inside[i])
        sheet.row([layer.id, f"{layer.title_zh} 小计（本图层在范围内的面积）", None, f"{len(frame)} 个要素", None,
                   round(float(mu_from_m2(sub_m2)), 2), round(sub_m2, 1), None, None, None], bold=True)
    ws = sheet.ws
    ws.append([])
    ws.append(["说明", "不同图层的要素相互重叠（如园区与地块），各图层小计不能相加；没有跨图层合计。"])


def _flag(values, i: int, default: bool) -> str:
    """是/否 from a feature's own flag (``schematic``/``illustrative``), the layer's flag when the feature has none."""
    v = values.iloc[i] if hasattr(values, "iloc") else values[i]
    if v is None or (isinstance(v, float) and v != v):
        v = default
    return "是" if v is True or str(v).strip().lower() in ("true", "1") else "否"


def _parks(wb: Workbook, selection):
    sheet = _Sheet(wb, "园区面积", ["图层", "要素 id", "名称", "类型/功能", *AREA_HEADERS, "占位（placeholder）"],
                   [None, None, None, None, *AREA_FORMATS, None])
    for item in selection.items:
        layer, frame = item.layer, item.frame
        if layer.group not in PARK_GROUPS or not layer.is_polygonal:
            continue
        sts = _measures(frame, layer, features=True)
        kind_col = next((c for c in ("park_type", "functions") if c in frame.columns), None)
        for i, row in enumerate(sts["mu"].features):
            kind = frame[kind_col].iloc[i] if kind_col else None
            # a placeholder outline's area is not a measured one: the column says so per feature
            placeholder = _flag(frame["placeholder"], i, False) if "placeholder" in frame.columns else "否"
            sheet.row([layer.title_zh, row.id, row.name, kind, row.area_m2,
                       *(sts[u].features[i].area for u in UNITS), placeholder])


def _progress(wb: Workbook, prog):
    ws_title = "5000亩进度"
    land = prog.land if prog is not None else None
    if land is None:
        _Sheet(wb, ws_title, ["说明"], [None]).row(["（目录中没有 low_efficiency_land 图层）"])
        return
    sheet = _Sheet(wb, ws_title, ["项目", "数值", "单位"], [None, FMT["mu"], None])
    if land.illustrative:    # above the figures, so a copied or printed excerpt keeps the caveat
        sheet.row(["数据性质", "示例数据：地块、状态和年份均为示例，不是规划内容（规划只给出 5000 亩总目标）", ""])
    for label, value, unit in [
        ("统计年份", land.year, "年"), ("目标", land.target_mu, "亩"),
        ("已完成（截至统计年份）", land.achieved_mu, "亩"), ("实施中", land.in_progress_mu, "亩"),
        ("未启动", land.not_started_mu, "亩"), ("已识别地块合计", land.identified_mu, "亩"),
        ("距目标尚差", land.remaining_mu, "亩"), ("完成比例", land.percent, "%"),
        ("按规划路径（匀速）应完成", land.planned_mu, "亩"), ("是否达到规划路径", "是" if land.on_track else "否", ""),
        ("所绘地块椭球面积", land.polygon_area_mu, "亩"),
    ]:
        sheet.row([label, value, unit])
    ws = sheet.ws

    def table(title, headers, rows, formats):
        ws.append([])
        ws.append([title])
        ws.cell(row=ws.max_row, column=1).font = BOLD
        ws.append(headers)
        for c in ws[ws.max_row]:
            c.font = BOLD
            c.fill = HEADER_FILL
        for r in rows:
            ws.append([plain_value(v) for v in r])
            for i, fmt in enumerate(formats, 1):
                if fmt and isinstance(ws.cell(row=ws.max_row, column=i).value, float):
                    ws.cell(row=ws.max_row, column=i).number_format = fmt

    table("按状态", ["状态", "地块数", "面积（亩，属性 area_mu）", "所绘面积（亩）", "占目标（%）"],
          [(r.status, r.count, r.area_mu, r.polygon_area_mu, r.share_of_target) for r in land.by_status],
          [None, None, FMT["mu"], FMT["mu"], "0.00"])
    table("按年份", ["年份", "地块数", "当年完成（亩）", "累计完成（亩）", "规划路径累计（亩）", "当年实施中（亩）"],
          [(r.year, r.count, r.completed_mu, r.cumulative_completed_mu, r.planned_cumulative_mu, r.in_progress_mu)
           for r in land.by_year], [None, None, FMT["mu"], FMT["mu"], FMT["mu"], FMT["mu"]])
    table("按园区", ["园区", "地块数", "面积（亩）", "已完成（亩）"],
          [(r.get("park"), r.get("count"), r.get("area_mu"), r.get("achieved_mu")) for r in land.by_park],
          [None, None, FMT["mu"], FMT["mu"]])
    ws.append([])
    for note in [*land.notes, *(prog.notes or [])]:
        ws.append(["说明", note])


INDICATOR_COLUMNS = [("table", "表"), ("seq", "序号"), ("category", "类别"), ("name", "指标"), ("unit", "单位"),
                     ("value_2020_text", "2020 年"), ("value_2020", "2020 年（数值）"), ("target_text", "目标"),
                     ("target", "目标（数值）"), ("target_year", "目标年份"), ("growth_text", "规划年均增长"),
                     ("actual_growth_text", "实际年均增长"), ("attribute", "属性"), ("direction", "方向"),
                     ("qualifier", "限定词"), ("measure", "计量方式"), ("warn_threshold", "预警阈值"),
                     ("source", "出处"), ("layer_id", "相关图层"), ("feature_id", "相关要素"), ("model_note", "说明")]
_INDICATOR_FORMATS = {"value_2020": "#,##0.####", "target": "#,##0.####", "target_year": "0", "warn_threshold": "0%"}
#: what the kinds of /stats/progress indicators are, in the report
KIND_ZH = {"trajectory": "有规划路径", "target_only": "仅目标", "floor_area": "建筑面积（不与图斑比较）",
           "pv_area": "光伏面积（不与图斑比较，不是建筑面积）", "no_target": "无数值目标"}


def _indicators(wb: Workbook, catalog):
    sheet = _Sheet(wb, "指标", [h for _, h in INDICATOR_COLUMNS],
                   [_INDICATOR_FORMATS.get(c) for c, _ in INDICATOR_COLUMNS])
    if catalog is None or "indicators" not in catalog.ids:
        sheet.row(["（目录中没有 indicators 指标表）"])
        return
    frame = catalog.read("indicators")
    for _, row in frame.iterrows():
        sheet.row([row.get(c) if c in frame.columns else None for c, _ in INDICATOR_COLUMNS])


def _indicator_progress(wb: Workbook, prog):
    """指标监测: per indicator the actual, the plan's path (规划路径) and the status with its colour; 预警清单 beside."""
    year = prog.year if prog is not None else None
    headers = ["编号", "表", "类别", "指标", "单位", "2020 年", "目标", "目标年份", "属性", "统计年份",
               f"{year} 年实际值", f"{year} 年规划路径", "状态", "判定说明", "类型"]
    sheet = _Sheet(wb, "指标监测", headers,
                   [None, None, None, None, None, "#,##0.####", "#,##0.####", "0", None, "0", "#,##0.######",
                    "#,##0.######", None, None, None])
    rows = prog.indicators if prog is not None else []
    for r in rows:
        sheet.row([r.id, r.table, r.category, r.name, r.unit,
                   r.value_2020 if r.value_2020 is not None else r.value_2020_text,
                   r.target if r.target is not None else r.target_text, r.target_year, r.attribute, r.year,
                   # the actual exactly as entered (text keeps 0.0030 from showing as 0.003)
                   r.actual_text, r.plan_path, r.status, r.status_reason, KIND_ZH.get(r.kind, r.kind)])
        cell = sheet.ws.cell(row=sheet.ws.max_row, column=13)
        colour = STATUS_COLOURS.get(r.status, "#FFFFFF").lstrip("#").upper()
        cell.fill = PatternFill("solid", fgColor=colour)
        cell.font = Font(color="FFFFFF" if r.status not in ("无数据", "不适用") else "000000", bold=True)
    sheet.ws.append([])
    sheet.ws.append(["说明", "状态按录入的实际值判定（规则见 docs/indicators.md）；规划路径是 2020 年值到目标值的直线，"
                           "是规划的节奏，不是完成情况；没有实际值的指标为“无数据”"])
    warn = [r for r in rows if r.status in ("超限", "滞后", "预警")]
    order = {"超限": 0, "滞后": 1, "预警": 2}
    w = _Sheet(wb, "预警清单", ["状态", "编号", "指标", "单位", f"{year} 年实际值", f"{year} 年规划路径", "目标", "判定说明"],
               [None, None, None, None, None, "#,##0.######", None, None])
    for r in sorted(warn, key=lambda r: order[r.status]):
        w.row([r.status, r.id, r.name, r.unit, r.actual_text, r.plan_path, r.target_text, r.status_reason])
    if not warn:
        w.row(["（无：没有预警、滞后或超限的指标；无数据的指标不在此列）"])


def write(frame, target, crs, layer=None):
    write_selection(Selection(None, [LayerSelection(layer, frame)]), Path(target), crs)
