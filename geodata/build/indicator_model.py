"""The monitoring model of each indicator row (issue 14): direction, the plan's qualifier words, how actuals are
measured, whether it is monitored, and a default warning threshold. Read by ``build_layers.layer_indicators``.

Every entry says where it comes from: ``basis`` quotes the plan's cell or sentence; where the plan does not state
something (the direction of most rows, 约束性/预期性 outside 表2, whether a total is cumulative), ``note`` says so
and says what was assumed, so a reader can tell the plan's words from ours.

Fields added to each indicator row:

* ``direction``: 越大越好 | 越小越好 | 区间 | 完成上级下达任务 (the plan's target is a task set by a higher level)
* ``qualifier``: the plan's words around the target, "、"-joined, from 突破 超 不少于 以上 低于 不超过 约 左右 累计 力争 最多
  (null when the plan states the number plainly)
* ``measure``: 当年值 (the value in a year) | 五年累计 (sum of the yearly values 2021…) | 年均 (mean of the yearly
  values) | 较2020年增量 (change since 2020, entered as such) | 完成年份 (a milestone: the year it was done)
* ``monitored``: false for 表1 (the 13th plan's review) and for figures without a target year
* ``warn_threshold``: default 0.05 — 预警 when the actual is behind the plan's path by more than 5 % of the path
  value (the bureau can set its own per indicator in the store: ``kfqmap indicators threshold``)
* ``target_min``/``target_max``: an explicit range the plan states (7-9家); null otherwise
* ``model_basis``: the plan's words the model rests on; ``model_note``: what the plan does not say
"""
from __future__ import annotations

#: qualifier words the plan uses, in the order they are looked for
QUALIFIER_WORDS = ("累计", "力争", "突破", "不超过", "不少于", "超过", "超", "以上", "低于", "约", "左右", "最多")
#: "超过" is written as "超" (the issue's list)
_ALIAS = {"超过": "超"}

DEFAULT_THRESHOLD = 0.05

NOTE_DIRECTION = "规划未明示方向，按指标含义判定"
NOTE_ATTRIBUTE = "规划正文未注明约束性/预期性"

# id → overrides. Keys: direction, measure, monitored, note (appended), target_min, target_max, qualifier
OVERRIDES: dict[str, dict] = {
    # ---- 表2
    "t2_03": {"direction": "区间", "note": "目标“与经济增长基本同步”是相对目标，无数值：有实际值时为待核定"},
    "t2_04": {"direction": "区间", "note": "“50左右”：目标为区间，2020 年 58% 向 50% 左右下降"},
    "t2_09": {"note": "“累计高新技术企业数”为企业总数（2020 年 340 家为存量），按当年总数比较"},
    "t2_11": {"measure": "五年累计", "note": "2020 年 14.44 亿美元为“十三五”五年累计，不作为路径起点；按 2021 年起逐年累计比较"},
    "t2_12": {"direction": "区间"},
    "t2_14": {"direction": "区间", "note": "目标“与经济增长基本同步”是相对目标，无数值：有实际值时为待核定"},
    "t2_15": {"direction": "越小越好"},
    "t2_19": {"note": "目标“高于全市平均水平”需全市平均值，系统中无此数：有实际值时为待核定"},
    "t2_20": {"direction": "完成上级下达任务"},
    "t2_21": {"direction": "完成上级下达任务", "note": "2020 年值 23 为降幅；目标为完成上级下达任务"},
    "t2_22": {"direction": "完成上级下达任务"},
    "t2_26": {"note": "目标“高于全市平均水平”需全市平均值，系统中无此数：有实际值时为待核定"},
    "t2_27": {"direction": "越小越好", "note": "表2 单位写作（%），数值按原表录入"},
    # ---- 正文
    "tx_01": {"qualifier": None},
    "tx_02": {"direction": "区间", "measure": "年均", "qualifier": "左右",
              "note": "年均增长率：逐年录入当年增速，按已录入年份的平均值与 7% 左右比较"},
    "tx_03": {"note": "三个产业“分别”突破 1000 亿元：请录入三者中最低的产值，全部达到才算达标"},
    "tx_09": {"note": "规划未写“累计”或“新增”，按期末总数比较"},
    "tx_11": {"measure": "五年累计"},
    "tx_13": {"measure": "较2020年增量", "note": "“提升3%”：录入较 2020 年的提升幅度（百分点）；规划未说明是百分点还是相对比例"},
    "tx_15": {"direction": "越小越好"},
    "tx_20": {"direction": "区间", "measure": "五年累计", "target_min": 7, "target_max": 9,
              "note": "“引进总部企业7-9家”：按期内累计引进数与 7–9 家比较"},
    "tx_24": {"measure": "五年累计", "note": "规划写“到2025年…实施…不少于200项”，按期内累计理解"},
    "tx_25": {"measure": "五年累计", "qualifier": "累计", "note": "“十四五”期间新增：逐年录入当年新增数"},
    "tx_26": {"measure": "五年累计", "qualifier": "累计", "note": "“十四五”期间新增：逐年录入当年新增数"},
    "tx_27": {"measure": "五年累计", "qualifier": "累计", "note": "“十四五”期间新增：逐年录入当年新增数"},
    "tx_28": {"measure": "五年累计", "note": "“到2025年，推动100项…转移转化”，按期内累计理解"},
    "tx_36": {"measure": "五年累计", "note": "“十四五”期间完成：逐年录入当年完成亩数；地块状态见低效用地图层"},
    "tx_41": {"direction": "越小越好", "measure": "完成年份", "note": "里程碑：录入建成的年份"},
    "tx_43": {"direction": "越小越好", "measure": "完成年份", "note": "里程碑：录入实现全覆盖的年份"},
    "tx_44": {"direction": "越小越好", "measure": "完成年份", "note": "里程碑：录入实现全覆盖的年份"},
    "tx_50": {"measure": "五年累计", "note": "新建学校：逐年录入当年新建数"},
    "tx_51": {"measure": "五年累计", "note": "改建学校：逐年录入当年改建数"},
    "tx_52": {"measure": "五年累计", "note": "新增学位：逐年录入当年新增数"},
    "tx_53": {"measure": "五年累计", "note": "新增学位：逐年录入当年新增数"},
    "tx_54": {"measure": "五年累计", "note": "新增学位：逐年录入当年新增数"},
    "tx_58": {"direction": "越小越好"},
}

_DECREASING_WORDS = ("失业率", "死亡率", "能耗")


def _qualifiers(*texts: str | None) -> str | None:
    found: list[str] = []
    for text in texts:
        if not text:
            continue
        rest = text
        for w in QUALIFIER_WORDS:
            if w in rest:
                found.append(_ALIAS.get(w, w))
                rest = rest.replace(w, "")
    return "、".join(dict.fromkeys(found)) or None


def _direction(p: dict) -> tuple[str, bool]:
    """The direction and whether the plan's words say it (True) or it is read from the indicator's meaning."""
    t = (p.get("target_text") or "") + (p.get("value_2020_text") or "")
    if "下达任务" in t:
        return "完成上级下达任务", True
    if "约" in (p.get("target_text") or "") or "左右" in (p.get("target_text") or ""):
        return "区间", True
    if any(w in (p.get("target_text") or "") for w in ("不超过", "低于")):
        return "越小越好", True
    if any(w in (p.get("target_text") or "") for w in ("突破", "超", "不少于", "以上")):
        return "越大越好", True
    if any(w in p["name"] for w in _DECREASING_WORDS):
        return "越小越好", False
    return "越大越好", False


def model(p: dict) -> dict:
    """The monitoring fields for one indicator row ``p`` (the row's other properties already set)."""
    o = OVERRIDES.get(p["id"], {})
    direction, said = _direction(p)
    if "direction" in o:
        said = said and o["direction"] == direction
        direction = o["direction"]
    sentence = p.get("text")
    # the words around this indicator's own figure (not the whole sentence), and 累计 when its name says so
    qualifier = _qualifiers("累计" if "累计" in p["name"] else None, p.get("target_text"))
    if "qualifier" in o:
        qualifier = o["qualifier"]
    notes = []
    if not said:
        notes.append(f"{NOTE_DIRECTION}（{direction}）")
    if p["table"] == "正文":
        notes.append(NOTE_ATTRIBUTE)
    if o.get("note"):
        notes.append(o["note"])
    monitored = p["table"] != "表1" and p.get("target_year") is not None
    if p["table"] == "表1":
        basis = (f"表1（{p['source']}）：{p['name_text']}｜“十三五”目标 {p['target_text']}｜2020年完成值 "
                 f"{p['value_2020_text']}｜实际年均增长 {p['actual_growth_text']}")
        notes.append("“十三五”完成情况，不作“十四五”监测")
    elif p["table"] == "表2":
        basis = f"表2（{p['source']}）：{p['name_text']}｜2020年 {p['value_2020_text']}｜2025年 {p['target_text']}｜{p['attribute']}"
    else:
        basis = f"{p['source']}：{sentence}"
        if not monitored:
            notes.append("规划数字，无目标年份，不作监测")
    return {"direction": direction, "qualifier": qualifier, "measure": o.get("measure", "当年值"),
            "monitored": monitored, "warn_threshold": DEFAULT_THRESHOLD,
            "target_min": o.get("target_min"), "target_max": o.get("target_max"),
            "model_basis": basis, "model_note": "；".join(notes) or None}
