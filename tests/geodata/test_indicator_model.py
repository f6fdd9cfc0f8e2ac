"""The monitoring model of the indicator rows (issue 14): every field filled from the allowed values, and grounded in
the plan text — the qualifier words occur in the target as the plan writes it, 约束性/预期性 only where 表2 says so,
and every inference is declared in ``model_note``."""
from __future__ import annotations

import pytest

from kfqmap.indicator_rules import DIRECTIONS, MEASURES

from .geodata_common import raw_features

QUALIFIERS = {"累计", "力争", "突破", "不超过", "不少于", "超", "以上", "低于", "约", "左右", "最多"}


@pytest.fixture(scope="module")
def rows():
    return {f["properties"]["id"]: f["properties"] for f in raw_features("indicators")}


def test_every_row_has_the_model(rows):
    for p in rows.values():
        assert p["direction"] in DIRECTIONS, p["id"]
        assert p["measure"] in MEASURES, p["id"]
        assert isinstance(p["monitored"], bool) and p["warn_threshold"] == 0.05
        assert p["model_basis"], p["id"]
        assert p["monitored"] == (p["table"] != "表1" and p["target_year"] is not None), p["id"]


def test_qualifiers_are_the_plans_words(rows):
    for p in rows.values():
        if not p["qualifier"]:
            continue
        words = p["qualifier"].split("、")
        assert set(words) <= QUALIFIERS, p["id"]
        for w in words:
            where = p["name"] if w == "累计" and "累计" in p["name"] else (p["target_text"] or "")
            assert w in where or (w == "超" and "超过" in where) or (w == "累计" and p["measure"] == "五年累计"), \
                (p["id"], w)


def test_attribute_only_where_table2_says_so(rows):
    for p in rows.values():
        if p["table"] == "表2":
            assert p["attribute"] in ("约束性", "预期性") and p["attribute"] in p["model_basis"]
        else:
            assert p["attribute"] is None
            if p["table"] == "正文":
                assert "规划正文未注明约束性/预期性" in p["model_note"]


def test_directions_read_from_the_plan_or_declared(rows):
    assert rows["t2_27"]["direction"] == "越小越好" and rows["t2_27"]["qualifier"] == "不超过"
    assert rows["tx_15"]["direction"] == "越小越好" and rows["tx_15"]["qualifier"] == "低于"
    assert rows["t2_04"]["direction"] == "区间" and rows["t2_12"]["direction"] == "区间"
    assert [i for i, p in rows.items() if p["direction"] == "完成上级下达任务" and p["table"] == "表2"] == \
        ["t2_20", "t2_21", "t2_22"]
    for p in rows.values():
        words = (p["target_text"] or "")
        said = any(w in words for w in ("不超过", "低于", "突破", "超", "不少于", "以上", "约", "左右", "下达任务"))
        if not said and p["measure"] != "完成年份" and p["direction"] != "完成上级下达任务":
            assert "规划未明示方向" in (p["model_note"] or ""), p["id"]


def test_cumulative_rows(rows):
    assert rows["t2_11"]["measure"] == "五年累计" and "累计" in rows["t2_11"]["qualifier"]
    assert rows["tx_11"]["measure"] == "五年累计"
    assert rows["t2_09"]["measure"] == "当年值"          # 累计高新技术企业数 is a stock (340 in 2020)
    assert {i for i, p in rows.items() if p["measure"] == "五年累计"} >= {"tx_25", "tx_26", "tx_27", "tx_50"}


def test_text_rows_quote_their_sentence(rows, plan_text):
    flat = plan_text.replace("\n", "")
    for p in rows.values():
        if p["table"] == "正文":
            assert p["model_basis"].startswith(p["source"]) and p["text"] in flat


def test_units_the_issue_names(rows):
    std = next(p for p in rows.values() if p["name"] == "标准引领项目")
    assert std["unit"] == "家" and std["target_text"] == "超1000家"
