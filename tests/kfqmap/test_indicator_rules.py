"""Status rules (kfqmap.indicator_rules) against hand-computed expectations, one indicator type at a time.

Each case states the arithmetic it rests on, so the expected status can be checked with pencil and paper
against docs/indicators.md.
"""
from __future__ import annotations

from decimal import Decimal as D

import pytest

from kfqmap.indicator_rules import Rule, assess, plan_path


def _a(**kv):
    return {int(k[1:]): D(v) for k, v in kv.items()}


# 表2 7 全社会研发支出占GDP比重: 3.7 (2020) → 4.5 (2025), 预期性, 越大越好, threshold 5 %
RD = Rule("t2_07", "越大越好", value_2020=D("3.7"), target=D("4.5"), target_year=2025, attribute="预期性")
# 表2 1 地区生产总值: 1595 → 力争2250
GDP = Rule("t2_01", "越大越好", qualifier="力争", value_2020=D("1595"), target=D("2250"), target_year=2025)


def test_increasing_path_is_a_straight_line_from_2020():
    # 3.7 + 0.8 × 3/5 = 4.18
    assert plan_path(RD, 2023) == D("4.18")
    assert plan_path(RD, 2025) == D("4.5") and plan_path(RD, 2030) == D("4.5")


@pytest.mark.parametrize("rule,actual,status", [
    (RD, "4.2", "正常"),       # above the path 4.18
    (RD, "4.0", "正常"),       # (4.0 − 4.18) / 4.18 = −4.3 %: behind, within 5 %
    (RD, "3.9", "滞后"),       # −6.7 %; pace so far 0.2/3 = 0.067/yr, needed 0.6/2 = 0.3/yr > 2 × 0.067
    (GDP, "1880", "预警"),     # path 1595 + 655×3/5 = 1988; −5.4 %; pace 95/yr, needed 370/2 = 185 ≤ 190
    (GDP, "1850", "滞后"),     # −6.9 %; pace 85/yr, needed 200/yr > 170
    (RD, "4.6", "达标"),       # the 2025 target already reached in 2023
])
def test_increasing(rule, actual, status):
    assert assess(rule, {2023: D(actual)}, 2023).status == status


def test_increasing_target_year():
    assert assess(RD, {2025: D("4.5")}, 2025).status == "达标"      # 不少于-like: equal meets
    assert assess(RD, {2025: D("4.49")}, 2025).status == "滞后"     # 预期性, missed in the target year


# 表2 15 城镇登记失业率 1.75 → 1.7, 越小越好
UNEMP = Rule("t2_15", "越小越好", value_2020=D("1.75"), target=D("1.7"), target_year=2025, attribute="预期性")


@pytest.mark.parametrize("actual,status", [
    ("1.72", "正常"),     # path 1.75 − 0.05×2/5 = 1.73; 1.72 is below it: ahead (smaller is better)
    ("1.80", "正常"),     # −(1.80 − 1.73)/1.73 = −4.0 %: within 5 %
    ("1.85", "滞后"),     # −6.9 %, and it moved the wrong way (1.75 → 1.85)
    ("1.65", "达标"),     # ≤ 1.7 already
])
def test_decreasing(actual, status):
    a = assess(UNEMP, {2022: D(actual)}, 2022)
    assert a.status == status
    assert a.path == D("1.73")


def test_decreasing_target_year():
    assert assess(UNEMP, {2025: D("1.70")}, 2025).status == "达标"
    assert assess(UNEMP, {2025: D("1.71")}, 2025).status == "滞后"
    # 正文: 城镇失业率“低于1.7%” is strict and worded as a limit
    strict = Rule("tx_15", "越小越好", qualifier="低于", target=D("1.7"), target_year=2025)
    assert assess(strict, {2025: D("1.7")}, 2025).status == "超限"
    assert assess(strict, {2025: D("1.69")}, 2025).status == "达标"


# 表2 11 五年累计实际使用外资 30 亿美元 (2020's 14.44 is the 13th plan's five-year total, not a start)
FDI = Rule("t2_11", "越大越好", measure="五年累计", qualifier="累计", value_2020=D("14.44"), target=D("30"),
           target_year=2025)


def test_cumulative_compared_as_a_running_total():
    # path 30 × 3/5 = 18; total 5 + 6 + 6 = 17 → −5.6 %; pace 17/3 = 5.67/yr, needed 13/2 = 6.5 ≤ 11.3 → 预警
    a = assess(FDI, _a(y2021="5", y2022="6", y2023="6"), 2023)
    assert (a.status, a.value, a.path) == ("预警", D("17"), D("18"))
    # each year alone (6 against 30) would look hopeless; the total is what the plan counts
    assert assess(FDI, _a(y2021="7", y2022="6", y2023="6"), 2023).status == "正常"   # 19 ≥ 18
    assert assess(FDI, _a(y2021="6", y2022="6", y2023="6", y2024="6", y2025="6"), 2025).status == "达标"  # 30
    assert assess(FDI, _a(y2021="6", y2022="6", y2023="6", y2024="6", y2025="5.9"), 2025).status == "滞后"


def test_cumulative_with_a_missing_year_is_no_data():
    a = assess(FDI, _a(y2021="5", y2023="6"), 2023)
    assert a.status == "无数据" and a.missing_years == [2022] and a.value is None


def test_cumulative_strict_qualifier():
    # 正文: 累计完成进出口总额“超3300”: exactly 3300 is not 超
    trade = Rule("tx_11", "越大越好", measure="五年累计", qualifier="累计、超", target=D("3300"), target_year=2025)
    five = _a(y2021="660", y2022="660", y2023="660", y2024="660", y2025="660")
    assert assess(trade, five, 2025).status == "滞后"
    five[2025] = D("660.1")
    assert assess(trade, five, 2025).status == "达标"


# 表2 24 蓝绿空间占比 40 → 45, 约束性
BLUE = Rule("t2_24", "越大越好", value_2020=D("40"), target=D("45"), target_year=2025, attribute="约束性")


@pytest.mark.parametrize("year,actual,status", [
    (2022, "42.5", "正常"),    # path 42
    (2022, "41.5", "预警"),    # −1.2 %: a 约束性 indicator behind its path at all is a warning
    (2022, "39", "超限"),      # −7.1 % > 5 %
    (2025, "44.9", "超限"),    # the constraint missed in the target year
    (2025, "45", "达标"),
])
def test_constraint(year, actual, status):
    assert assess(BLUE, {year: D(actual)}, year).status == status


# 表2 27 亿元地区生产总值生产安全事故死亡率 0.0031 → 不超过0.0030
DEATH = Rule("t2_27", "越小越好", qualifier="不超过", value_2020=D("0.0031"), target=D("0.0030"), target_year=2025,
             attribute="预期性")


def test_ceiling_is_not_met_by_rounding():
    a = assess(DEATH, {2025: D("0.0031")}, 2025)
    assert a.status == "超限"           # 0.0031 > 0.0030, although both round to 0.003
    assert assess(DEATH, {2025: D("0.0030")}, 2025).status == "达标"
    assert assess(DEATH, {2025: D("0.00301")}, 2025).status == "超限"
    # floats as entered from a sheet go through their text, not their binary value
    from kfqmap.indicator_rules import dec
    assert dec(0.0031) == D("0.0031")


def test_no_actual_is_no_data_never_a_trajectory():
    for rule in (RD, GDP, UNEMP, FDI, BLUE, DEATH):
        a = assess(rule, {}, 2023)
        assert a.status == "无数据" and a.value is None
    assert assess(RD, {2022: D("4")}, 2023).status == "无数据"    # another year's value is not this year's


def test_task_from_above_and_relative_targets_need_a_person():
    task = Rule("t2_20", "完成上级下达任务", attribute="约束性", target_year=2025)
    assert assess(task, {2023: D("3.2")}, 2023).status == "待核定"
    assert assess(task, {}, 2023).status == "无数据"


def test_range_targets():
    # 表2 4 制造业增加值占GDP比重 58 → 50左右; band ± 5 % of 50 = ± 2.5 in the target year
    manu = Rule("t2_04", "区间", qualifier="左右", value_2020=D("58"), target=D("50"), target_year=2025)
    assert assess(manu, {2025: D("51")}, 2025).status == "达标"
    assert assess(manu, {2025: D("53")}, 2025).status == "滞后"
    assert assess(manu, {2023: D("53.2")}, 2023).status == "正常"   # path 58 − 8×3/5 = 53.2
    assert assess(manu, {2023: D("57")}, 2023).status == "预警"     # |57 − 53.2| / 53.2 = 7.1 %
    # 引进总部企业 7-9家, a five-year total
    hq = Rule("tx_20", "区间", measure="五年累计", target_min=D(7), target_max=D(9), target_year=2025)
    assert assess(hq, _a(y2021="2", y2022="2", y2023="2", y2024="1", y2025="1"), 2025).status == "达标"   # 8
    assert assess(hq, _a(y2021="2", y2022="2", y2023="2", y2024="2", y2025="2"), 2025).status == "滞后"   # 10


def test_milestone_and_unmonitored():
    football = Rule("tx_41", "越小越好", measure="完成年份", target=D("2022"), target_year=2022)
    assert assess(football, {2022: D("2022")}, 2024).status == "达标"
    assert assess(football, {2023: D("2023")}, 2024).status == "滞后"
    assert assess(football, {}, 2024).status == "无数据"
    assert assess(Rule("t1_01", "越大越好", monitored=False), {2023: D(1)}, 2023).status == "不适用"


def test_threshold_is_per_indicator():
    loose = Rule("t2_07", "越大越好", value_2020=D("3.7"), target=D("4.5"), target_year=2025,
                 warn_threshold=D("0.10"))
    # −6.7 % is beyond 5 % but within 10 %
    assert assess(RD, {2023: D("3.9")}, 2023).status == "滞后"
    assert assess(loose, {2023: D("3.9")}, 2023).status == "正常"
