"""Status rules of the plan's indicators (监测预警): one indicator, its actual values, one year → a status.

Pure functions on ``decimal.Decimal`` (no catalog, no store, no floats in a comparison): 0.0031 against a ceiling of
0.0030 is 0.0031 > 0.0030, never two numbers that both print as 0.003. The rules are documented, with worked
examples, in ``docs/indicators.md``; ``tests/kfqmap/test_indicator_rules.py`` checks each against hand-computed values.

Statuses (``STATUSES``), best to worst where they rank:

* 达标 — the target is met (in the target year or later; earlier when the final target is already reached);
* 正常 — on or ahead of the plan's path (规划路径), or behind it by no more than the indicator's threshold;
* 预警 — behind the path by more than the threshold, the target still reachable at the pace needed;
  for a 约束性 indicator: behind the path at all (within the threshold);
* 滞后 — behind the path by more than the threshold and the pace needed for the rest of the period is more than
  ``PACE_FACTOR`` times the pace achieved so far (or the value moved the wrong way); or the target year has come
  and the target is not met;
* 超限 — a 约束性 indicator behind its path by more than the threshold, or a limit the plan states (约束性, 不超过,
  低于, 不少于) not met in the target year;
* 无数据 — no actual for the year (for 五年累计/年均: a year of the period missing) — never an invented value;
* 待核定 — an actual exists but the target has no number (完成上级下达任务, 与经济增长基本同步, 高于全市平均水平);
* 不适用 — not monitored (表1, figures without a target year).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation

PLAN_START = 2021
BASE_YEAR = 2020
#: 滞后 when the pace still needed is more than this many times the pace achieved so far
PACE_FACTOR = Decimal(2)
STATUSES = ("达标", "正常", "预警", "滞后", "超限", "无数据", "待核定", "不适用")
#: colours of the statuses (viewer, XLSX): green, blue, amber, red, dark red, grey, purple, light grey
STATUS_COLOURS = {"达标": "#1a9850", "正常": "#2b83ba", "预警": "#f39c12", "滞后": "#d7301f", "超限": "#8b0000",
                  "无数据": "#9e9e9e", "待核定": "#7b4fa0", "不适用": "#cfcfcf"}
DIRECTIONS = ("越大越好", "越小越好", "区间", "完成上级下达任务")
MEASURES = ("当年值", "五年累计", "年均", "较2020年增量", "完成年份")
#: qualifiers that make a target a limit (not met in the target year → 超限, not 滞后)
LIMIT_QUALIFIERS = ("不超过", "低于", "不少于")
#: strict comparisons: 超800 means more than 800; 低于1.7 means less than 1.7
STRICT_QUALIFIERS = ("超", "突破", "低于")


def dec(value) -> Decimal | None:
    """A number as a Decimal from its text (``Decimal(str(x))``: 0.0031 stays 0.0031); None stays None."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value
    try:
        d = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValueError(f"'{value}' 不是数字") from None
    if not d.is_finite():
        raise ValueError(f"'{value}' 不是有限数字")
    return d


@dataclass(frozen=True)
class Rule:
    """What the rules need to know about one indicator (built from an indicator row)."""

    id: str
    direction: str | None
    measure: str = "当年值"
    qualifier: str | None = None
    attribute: str | None = None
    value_2020: Decimal | None = None
    target: Decimal | None = None
    target_year: int | None = None
    target_min: Decimal | None = None
    target_max: Decimal | None = None
    warn_threshold: Decimal = Decimal("0.05")
    monitored: bool = True

    @property
    def words(self) -> tuple[str, ...]:
        return tuple((self.qualifier or "").split("、")) if self.qualifier else ()

    @property
    def binding(self) -> bool:
        """约束性, or a target the plan words as a limit."""
        return self.attribute == "约束性" or any(w in self.words for w in LIMIT_QUALIFIERS)

    @property
    def sign(self) -> int:
        return -1 if self.direction == "越小越好" else 1


@dataclass
class Assessment:
    """The status of one indicator in one year, with the numbers it was judged on."""

    status: str
    year: int
    value: Decimal | None = None          # the value compared: the actual, the running total or the mean
    path: Decimal | None = None           # the plan's path (规划路径) at ``year``
    deviation: Decimal | None = None      # sign × (value − path) / |path|: + ahead, − behind
    reason: str = ""
    missing_years: list[int] = field(default_factory=list)


def _fmt(d: Decimal | None) -> str:
    if d is None:
        return "—"
    return format(d.normalize(), "f") if d == d.to_integral_value() else format(d, "f")


def compared_value(rule: Rule, actuals: dict[int, Decimal], year: int) -> tuple[Decimal | None, list[int]]:
    """The value the rules compare at ``year`` and the years of the period still missing for it."""
    if rule.measure in ("五年累计", "年均"):
        last = min(year, rule.target_year or year)
        years = list(range(PLAN_START, last + 1))
        missing = [y for y in years if y not in actuals]
        if missing or not years:
            return None, missing
        total = sum((actuals[y] for y in years), Decimal(0))
        return (total if rule.measure == "五年累计" else total / len(years)), []
    if rule.measure == "完成年份":
        done = [actuals[y] for y in sorted(actuals) if y <= year]
        return (done[-1] if done else None), []
    return actuals.get(year), ([] if year in actuals else [year])


def path_start(rule: Rule, actuals: dict[int, Decimal]) -> tuple[int, Decimal] | None:
    """Where the plan's path starts: the 2020 value; 0 in 2020 for totals and changes; else the first actual."""
    if rule.measure in ("五年累计", "较2020年增量"):
        return BASE_YEAR, Decimal(0)
    if rule.value_2020 is not None:
        return BASE_YEAR, rule.value_2020
    years = [y for y in sorted(actuals) if y >= PLAN_START]
    return (years[0], actuals[years[0]]) if years else None


def plan_path(rule: Rule, year: int, actuals: dict[int, Decimal] | None = None) -> Decimal | None:
    """The plan's path (规划路径) at ``year``: a straight line from its start to the target, the target from the
    target year on; the target itself for 年均. None without a numeric target or a start."""
    if rule.target is None or rule.target_year is None or rule.measure == "完成年份":
        return None
    if rule.measure == "年均" or year >= rule.target_year:
        return rule.target
    start = path_start(rule, actuals or {})
    if start is None or start[0] >= rule.target_year or year < start[0]:
        return None
    y0, v0 = start
    return v0 + (rule.target - v0) * Decimal(year - y0) / Decimal(rule.target_year - y0)


def _met(rule: Rule, v: Decimal) -> bool:
    """Whether ``v`` meets the final target (exact Decimal comparison, the plan's strictness)."""
    if rule.direction == "区间":
        if rule.target_min is not None and rule.target_max is not None:
            return rule.target_min <= v <= rule.target_max
        return abs(v - rule.target) <= rule.warn_threshold * abs(rule.target)
    strict = any(w in rule.words for w in STRICT_QUALIFIERS)
    if rule.sign > 0:
        return v > rule.target if strict else v >= rule.target
    return v < rule.target if strict else v <= rule.target


def assess(rule: Rule, actuals: dict[int, Decimal], year: int) -> Assessment:
    """The status of ``rule``'s indicator in ``year`` from its ``actuals`` ({year: value})."""
    if not rule.monitored:
        return Assessment("不适用", year, reason="不作“十四五”监测（表1 回顾或无目标年份的规划数字）")
    value, missing = compared_value(rule, actuals, year)
    path = plan_path(rule, year, actuals)
    if value is None:
        why = f"缺 {'、'.join(map(str, missing))} 年实际值" if missing else "尚无实际值"
        return Assessment("无数据", year, path=path, reason=why, missing_years=missing)
    numeric = rule.target is not None or (rule.target_min is not None and rule.target_max is not None)
    if rule.direction == "完成上级下达任务" or rule.direction is None or not numeric:
        return Assessment("待核定", year, value=value, path=path,
                          reason="规划目标无数值（完成上级下达任务或相对目标），需人工核定")
    target = rule.target if rule.target is not None else (rule.target_min + rule.target_max) / 2
    rule_t = rule if rule.target is not None else _with_target(rule, target)
    if rule.measure == "完成年份":
        ok = value <= rule.target
        status = "达标" if ok else ("超限" if rule.binding else "滞后")
        return Assessment(status, year, value=value, reason=f"完成于 {_fmt(value)} 年，规划 {_fmt(rule.target)} 年")
    final = year >= (rule.target_year or year)
    met = _met(rule_t, value)
    if final:
        if met:
            return Assessment("达标", year, value=value, path=path, reason=f"{_fmt(value)} 达到目标 {_fmt(target)}")
        status = "超限" if rule.binding else "滞后"
        return Assessment(status, year, value=value, path=path, deviation=_dev(rule, value, path),
                          reason=f"目标年 {_fmt(value)} 未达到目标 {_fmt(target)}")
    if path is None:
        return Assessment("待核定", year, value=value, reason="无规划路径起点，需人工核定")
    dev = _dev(rule, value, path)
    thr = rule.warn_threshold
    if rule.direction == "区间" or rule.measure == "年均":
        off = abs(value - path) / abs(path) if path else abs(value - path)
        status = "正常" if off <= thr else "预警"
        return Assessment(status, year, value=value, path=path, deviation=dev,
                          reason=f"与规划路径 {_fmt(_q(path))} 相差 {_pct(off)}（阈值 {_pct(thr)}）")
    if met:
        return Assessment("达标", year, value=value, path=path, deviation=dev, reason=f"已提前达到目标 {_fmt(target)}")
    if dev >= 0:
        return Assessment("正常", year, value=value, path=path, deviation=dev,
                          reason=f"不低于规划路径 {_fmt(_q(path))}")
    behind = f"落后规划路径（{_fmt(_q(path))}）{_pct(-dev)}，阈值 {_pct(thr)}"
    if rule.attribute == "约束性":
        return Assessment("超限" if -dev > thr else "预警", year, value=value, path=path, deviation=dev,
                          reason=f"约束性指标{behind}")
    if -dev <= thr:
        return Assessment("正常", year, value=value, path=path, deviation=dev, reason=behind)
    if _out_of_reach(rule, actuals, value, year):
        return Assessment("滞后", year, value=value, path=path, deviation=dev,
                          reason=f"{behind}；按已实现的速度难以在 {rule.target_year} 年达到目标")
    return Assessment("预警", year, value=value, path=path, deviation=dev, reason=behind)


def _with_target(rule: Rule, target: Decimal) -> Rule:
    return replace(rule, target=target)


def _q(d: Decimal) -> Decimal:
    """A path value for display only (6 significant digits); comparisons use the exact value."""
    return d.quantize(Decimal(1)) if abs(d) >= 100000 else Decimal(format(d, ".6g"))


def _pct(d: Decimal) -> str:
    return f"{(d * 100):.1f}%"


def _dev(rule: Rule, value: Decimal, path: Decimal | None) -> Decimal | None:
    if path is None:
        return None
    diff = rule.sign * (value - path)
    if path == 0:
        return Decimal(0) if diff == 0 else (Decimal(1) if diff > 0 else Decimal(-1))
    return diff / abs(path)


def _out_of_reach(rule: Rule, actuals: dict[int, Decimal], value: Decimal, year: int) -> bool:
    """The pace still needed per year is more than PACE_FACTOR × the pace achieved per year so far."""
    start = path_start(rule, actuals)
    if start is None or year <= start[0]:
        return False
    y0, v0 = start
    done = rule.sign * (value - v0) / Decimal(year - y0)
    need = rule.sign * (rule.target - value) / Decimal(rule.target_year - year)
    return done <= 0 or need > PACE_FACTOR * done
