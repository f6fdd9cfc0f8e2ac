"""Plan monitoring (监测预警): the indicators' status in a year from their actuals, and entering actuals.

``indicator_status(catalog, year)`` joins the indicator table (``geodata`` → the store's ``indicators`` layer, with
its monitoring model: direction, qualifier, measure, threshold), the actuals in the embedded store
(``kfqmap.actuals``) and the rules (``kfqmap.indicator_rules``) into a ``StatusReport``: one ``IndicatorStatus`` per
indicator with its actuals and the plan's path (规划路径, for the chart — the plan's trajectory, never an
achievement), the counts per status and the warning list (预警清单: 预警, 滞后, 超限).

``set_actual`` / ``load_actuals`` validate (known indicator, unit, year 2021–2035, a finite number, text for the
source) and write through ``ActualsStore.put`` in one transaction; a bad entry raises ``InvalidParameter`` and
nothing is written.
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from .actuals import Actual, ActualsStore
from .errors import FeatureNotFound, InvalidParameter
from .indicator_rules import PLAN_START, STATUS_COLOURS, STATUSES, Rule, assess, compared_value, dec, plan_path
from .models import jsonable

LAYER = "indicators"
PLAN_END = 2025
YEAR_MIN, YEAR_MAX = PLAN_START, 2035
#: statuses that put an indicator on the warning list (预警清单), worst first
WARNING_STATUSES = ("超限", "滞后", "预警")


# ------------------------------------------------------------------------------------------------ models
class ActualValue(BaseModel):
    year: int
    value: float
    value_text: str = Field(description="the number exactly as entered")
    source: str | None = None
    entered_by: str
    entered_at: str
    via: str = Field(description="cli | api | xlsx")


class PathPoint(BaseModel):
    year: int
    path: float | None = Field(description="规划路径：the plan's path at this year (not an achievement)")


class YearValue(BaseModel):
    year: int
    value: float


class IndicatorStatus(BaseModel):
    id: str
    table: str | None = None
    seq: int | None = None
    category: str | None = None
    name: str
    unit: str | None = None
    attribute: str | None = Field(None, description="约束性 | 预期性 | null (the plan does not say)")
    direction: str | None = None
    qualifier: str | None = None
    measure: str = "当年值"
    monitored: bool = True
    value_2020: float | None = None
    value_2020_text: str | None = None
    target: float | None = None
    target_text: str | None = None
    target_year: int | None = None
    warn_threshold: float
    year: int
    status: str = Field(description="达标 | 正常 | 预警 | 滞后 | 超限 | 无数据 | 待核定 | 不适用")
    colour: str
    value: float | None = Field(None, description="the value judged: the year's actual, the running total or mean")
    value_text: str | None = None
    plan_path: float | None = Field(None, description="规划路径 at ``year``")
    deviation: float | None = Field(None, description="(value − path) / |path|, signed so that + is ahead")
    reason: str = ""
    missing_years: list[int] = Field(default_factory=list)
    actuals: list[ActualValue] = Field(default_factory=list)
    path_series: list[PathPoint] = Field(default_factory=list, description="规划路径 2020…target year, for the chart")
    value_series: list[YearValue] = Field(default_factory=list,
                                          description="the value judged in each year with data (the actual, the running "
                                                      "total or the mean), for the chart")
    layer_id: str | None = None
    feature_id: str | None = None
    model_basis: str | None = None
    model_note: str | None = None


class StatusReport(BaseModel):
    year: int
    counts: dict[str, int]
    colours: dict[str, str] = Field(default_factory=lambda: dict(STATUS_COLOURS))
    warnings: list[IndicatorStatus] = Field(description="预警清单：预警、滞后、超限, worst first")
    indicators: list[IndicatorStatus]
    store: bool = Field(description="whether actuals can be entered (embedded store) or the catalog is read-only")
    notes: list[str] = Field(default_factory=list)


# ------------------------------------------------------------------------------------------------ rules
@dataclass(frozen=True)
class Row:
    rule: Rule
    props: dict[str, Any]


def _num(v) -> Decimal | None:
    v = jsonable(v)
    if v is None or isinstance(v, bool) or not isinstance(v, (int, float, str)):
        return None
    try:
        return dec(v)
    except ValueError:
        return None


def indicator_rows(catalog, thresholds: dict[str, Decimal] | None = None) -> dict[str, Row]:
    """The indicator rows of ``catalog`` with their rules, in table order."""
    if LAYER not in catalog.ids:
        return {}
    frame = catalog.read(LAYER)
    thresholds = thresholds or {}
    out: dict[str, Row] = {}
    for fid, r in frame.drop(columns=frame.geometry.name).iterrows():   # ~110 table rows: a loop is fine
        p = {k: jsonable(v) for k, v in r.items()}
        iid = str(p.get("id") or fid)
        ty = _num(p.get("target_year"))
        monitored = p.get("monitored")
        rule = Rule(
            id=iid, direction=p.get("direction"), measure=p.get("measure") or "当年值", qualifier=p.get("qualifier"),
            attribute=p.get("attribute"), value_2020=_num(p.get("value_2020")), target=_num(p.get("target")),
            target_year=int(ty) if ty is not None else None, target_min=_num(p.get("target_min")),
            target_max=_num(p.get("target_max")),
            warn_threshold=thresholds.get(iid) or _num(p.get("warn_threshold")) or Decimal("0.05"),
            monitored=bool(monitored) if monitored is not None else (p.get("table") != "表1" and ty is not None))
        out[iid] = Row(rule, p)
    return out


def default_year() -> int:
    return min(max(datetime.date.today().year, PLAN_START), PLAN_END)


def check_year(year, *, parameter: str = "year", first: int = YEAR_MIN) -> int:
    try:
        y = int(str(year).strip())
    except (TypeError, ValueError):
        raise InvalidParameter(f"年份 '{year}' 不是整数", parameter=parameter) from None
    if not first <= y <= YEAR_MAX:
        raise InvalidParameter(f"年份 {y} 不在 {first}–{YEAR_MAX} 之间（实际值从 {PLAN_START} 年起录入）",
                               parameter=parameter)
    return y


def _f(d: Decimal | None) -> float | None:
    return float(d) if d is not None else None


def _status(row: Row, actuals: dict[int, Actual], year: int) -> IndicatorStatus:
    rule, p = row.rule, row.props
    values = {y: a.value for y, a in actuals.items()}
    a = assess(rule, values, year)
    series = []
    if rule.monitored and rule.target_year:
        for y in range(2020, max(rule.target_year, 2020) + 1):
            series.append(PathPoint(year=y, path=_f(plan_path(rule, y, values)) if y > 2020 or rule.value_2020 is not None
                                    else _f(rule.value_2020)))
    judged = []
    for y in sorted(values):
        v, _ = compared_value(rule, values, y)
        if v is not None and rule.measure != "完成年份":
            judged.append(YearValue(year=y, value=float(v)))
    return IndicatorStatus(
        value_series=judged, id=rule.id, table=p.get("table"), seq=p.get("seq"), category=p.get("category"), name=p.get("name") or rule.id,
        unit=p.get("unit"), attribute=rule.attribute, direction=rule.direction, qualifier=rule.qualifier,
        measure=rule.measure, monitored=rule.monitored, value_2020=p.get("value_2020"),
        value_2020_text=p.get("value_2020_text"), target=p.get("target"), target_text=p.get("target_text"),
        target_year=rule.target_year, warn_threshold=float(rule.warn_threshold), year=year, status=a.status,
        colour=STATUS_COLOURS[a.status], value=_f(a.value), value_text=_text(a.value), plan_path=_f(a.path),
        deviation=round(float(a.deviation), 4) if a.deviation is not None else None, reason=a.reason,
        missing_years=a.missing_years,
        actuals=[ActualValue(year=y, value=float(x.value), value_text=_text(x.value), source=x.source,
                             entered_by=x.entered_by, entered_at=x.entered_at, via=x.via)
                 for y, x in sorted(actuals.items())],
        path_series=series, layer_id=p.get("layer_id"), feature_id=p.get("feature_id"),
        model_basis=p.get("model_basis"), model_note=p.get("model_note"))


def _text(d: Decimal | None) -> str | None:
    if d is None:
        return None
    return format(d, "f")       # as entered: 0.0030 stays 0.0030, 1e3 becomes 1000


def indicator_status(catalog, year: int | None = None, *, table: str | None = None) -> StatusReport:
    """Every indicator's status in ``year`` (default: this year within 2021–2025)."""
    year = default_year() if year is None else check_year(year, first=2020)
    store = ActualsStore.of(catalog)
    actuals = store.read() if store is not None else {}
    rows = indicator_rows(catalog, store.thresholds() if store is not None else None)
    items = [_status(row, actuals.get(iid, {}), year) for iid, row in rows.items()
             if table is None or row.props.get("table") == table]
    counts = {s: 0 for s in STATUSES}
    for i in items:
        counts[i.status] += 1
    warnings = sorted((i for i in items if i.status in WARNING_STATUSES),
                      key=lambda i: (WARNING_STATUSES.index(i.status), i.deviation if i.deviation is not None else 0))
    notes = ["规划路径为 2020 年值（或首个实际值；累计指标为 0）到目标值的直线，是规划的节奏，不是完成情况；"
             "无实际值时状态为“无数据”"]
    if store is None:
        notes.append("当前的存储方式（KFQMAP_STORE=files 或 postgis）不保存实际值：没有实际值")
    return StatusReport(year=year, counts=counts, warnings=warnings, indicators=items, store=store is not None,
                        notes=notes)


def one_status(catalog, indicator_id: str, year: int) -> IndicatorStatus:
    report = indicator_status(catalog, year)
    for i in report.indicators:
        if i.id == indicator_id:
            return i
    raise FeatureNotFound(f"没有编号为 '{indicator_id}' 的指标（no indicator '{indicator_id}'）", parameter="id")


# ------------------------------------------------------------------------------------------------ entering
@dataclass(frozen=True)
class Entry:
    """One value to enter, with where it came from (for error messages: 'sheet 指标填报 row 5 column D')."""

    indicator_id: str
    year: Any
    value: Any
    source: Any = None
    unit: Any = None
    where: str = ""


def _where(e: Entry, default: str) -> str:
    return e.where or default


def validate(rows: dict[str, Row], entries: list[Entry]) -> list[Actual]:
    """Entries → Actuals, or ``InvalidParameter`` naming the first bad entry (and how many more there are)."""
    errors: list[tuple[str, str]] = []
    out: list[Actual] = []
    seen: dict[tuple[str, int], str] = {}
    for e in entries:
        where = _where(e, f"指标 {e.indicator_id} {e.year} 年")
        iid = str(e.indicator_id).strip() if e.indicator_id is not None else ""
        row = rows.get(iid)
        if row is None:
            errors.append((where, f"未知指标编号 '{iid}'（unknown indicator）"))
            continue
        if not row.rule.monitored:
            errors.append((where, f"指标 {iid}（{row.props.get('name')}）不作“十四五”监测，不录入实际值"))
            continue
        unit = row.props.get("unit")
        if e.unit is not None and str(e.unit).strip() != (unit or ""):
            errors.append((where, f"单位 '{e.unit}' 与指标 {iid} 的单位 '{unit or '（无）'}' 不符（wrong unit）"))
            continue
        if e.year is None and e.value is None:      # a sheet row without values: only its id and unit are checked
            continue
        try:
            year = check_year(e.year)
        except InvalidParameter as exc:
            errors.append((where, exc.message))
            continue
        if isinstance(e.value, bool) or e.value is None or (isinstance(e.value, str) and not e.value.strip()):
            errors.append((where, f"'{e.value}' 不是数字（not a number）"))
            continue
        text = str(e.value).strip()
        try:
            value = dec(text) if len(text) <= 40 else None
        except ValueError:
            value = None
        if value is None:
            errors.append((where, f"'{text[:40]}' 不是数字（not a number）"))
            continue
        if abs(value) >= Decimal("1e15"):
            errors.append((where, f"数值 {text[:40]} 超出范围（|值| < 10¹⁵）"))
            continue
        if row.rule.measure == "完成年份" and not (Decimal(2000) <= value <= Decimal(2100) and value == value.to_integral_value()):
            errors.append((where, f"里程碑指标 {iid} 录入完成年份（如 2022），收到 '{e.value}'"))
            continue
        source = None if e.source is None else str(e.source).strip() or None
        if source is not None and len(source) > 500:
            errors.append((where, "来源说明过长（最多 500 字）"))
            continue
        key = (iid, year)
        if key in seen:
            errors.append((where, f"指标 {iid} {year} 年重复（已在 {seen[key]}）"))
            continue
        seen[key] = where
        out.append(Actual(iid, year, value, source))
    if errors:
        where, why = errors[0]
        more = f"（另有 {len(errors) - 1} 处错误）" if len(errors) > 1 else ""
        raise InvalidParameter(f"{where}：{why}{more}；未写入任何数据（nothing was written）", parameter="actuals")
    return out


def set_actual(catalog, indicator_id: str, year, value, *, source: str | None, by: str, via: str,
               unit: str | None = None) -> IndicatorStatus:
    """Enter one actual; returns the indicator's status in that year."""
    store = ActualsStore.require(catalog)
    rows = indicator_rows(catalog)
    if str(indicator_id) not in rows:
        raise FeatureNotFound(f"没有编号为 '{indicator_id}' 的指标（no indicator '{indicator_id}'）", parameter="id")
    actual = validate(rows, [Entry(indicator_id, year, value, source, unit, where=f"指标 {indicator_id} {year} 年")])
    store.put(actual, by=_who(by), via=via)
    return one_status(catalog, str(indicator_id), actual[0].year)


def load_actuals(catalog, entries: list[Entry], *, by: str, via: str) -> int:
    """Enter many actuals at once (all or nothing); returns how many values changed."""
    store = ActualsStore.require(catalog)
    actuals = validate(indicator_rows(catalog), entries)
    return store.put(actuals, by=_who(by), via=via)


def set_threshold(catalog, indicator_id: str, threshold, *, by: str) -> Decimal:
    store = ActualsStore.require(catalog)
    if str(indicator_id) not in indicator_rows(catalog):
        raise FeatureNotFound(f"没有编号为 '{indicator_id}' 的指标（no indicator '{indicator_id}'）", parameter="id")
    try:
        t = dec(threshold)
    except ValueError:
        raise InvalidParameter(f"阈值 '{threshold}' 不是数字", parameter="threshold") from None
    if not Decimal(0) < t < Decimal(1):
        raise InvalidParameter(f"阈值 {threshold} 应在 0 到 1 之间（如 0.05 表示偏离规划路径 5%）", parameter="threshold")
    store.set_threshold(str(indicator_id), t, by=_who(by))
    return t


def _who(by: str) -> str:
    by = (by or "").strip()
    if not by:
        raise InvalidParameter("需要录入人（who entered the value）", parameter="by")
    return by[:100]
