"""Indicator tables 表1 (23 rows) and 表2 (29 rows): every cell equals the plan's text (parsed here independently)."""
from __future__ import annotations

import re

import pytest
from .geodata_common import raw_features


def _cells(text: str, start: str, end: str) -> list[str]:
    """Independent parse: split the table block on tab-led lines; odd line breaks inside a cell are dropped."""
    block = text[text.index(start):text.index(end)]
    chunks = re.split(r"\n\t", "\n" + block.split("\n", 1)[1])
    return [re.sub(r"\s+", "", c) for c in chunks[1:]]


@pytest.fixture(scope="module")
def rows():
    feats = [f["properties"] for f in raw_features("indicators")]
    return {t: sorted((p for p in feats if p["table"] == t), key=lambda p: p["seq"]) for t in ("表1", "表2", "正文")}


def test_row_counts(rows):
    assert len(rows["表1"]) == 23
    assert len(rows["表2"]) == 29
    assert [p["seq"] for p in rows["表1"]] == list(range(1, 24))
    assert [p["seq"] for p in rows["表2"]] == list(range(1, 30))
    assert len(rows["正文"]) >= 20


def test_table1_equals_plan_text(rows, plan_text):
    cells = _cells(plan_text, "表1  ", "与此同时，面对新时代")[7:]
    assert len(cells) == 23 * 7
    for k, p in enumerate(rows["表1"]):
        seq, cat, name, tgt, g_plan, v2020, g_act = cells[k * 7:(k + 1) * 7]
        assert str(p["seq"]) == seq
        assert p["name_text"] == name
        assert p["target_text"] == tgt and p["growth_text"] == g_plan
        assert p["value_2020_text"] == v2020 and p["actual_growth_text"] == g_act
        if cat:
            assert p["category"] == cat
        assert p["attribute"] is None and p["target_year"] == 2020


def test_table2_equals_plan_text(rows, plan_text):
    cells = _cells(plan_text, "表2  ", "三、打造数字赋能")[5:]
    assert len(cells) == 29 * 6
    for k, p in enumerate(rows["表2"]):
        seq, cat, name, v2020, tgt, attr = cells[k * 6:(k + 1) * 6]
        assert str(p["seq"]) == seq and p["name_text"] == name
        assert p["value_2020_text"] == v2020 and p["target_text"] == tgt and p["attribute"] == attr
        if cat:
            assert p["category"] == cat
        assert p["target_year"] == 2025


@pytest.mark.parametrize("table,seq,field,expected", [
    ("表1", 1, "name", "地区生产总值"), ("表1", 1, "unit", "亿元"), ("表1", 1, "value_2020", 1595.14),
    ("表1", 1, "target", 1550.0), ("表1", 5, "growth_text", "增加1个百分点"),
    ("表1", 5, "actual_growth_text", "增加4个百分点"), ("表1", 6, "target_text", ">40"),
    ("表1", 6, "actual_growth_text", "增加1.6个百分点"), ("表1", 15, "target_text", "完成上级下达任务"),
    ("表1", 15, "target", None), ("表1", 16, "actual_growth_text", "高于经济增长速度"), ("表1", 18, "category", "生态环境"),
    ("表1", 23, "value_2020", 37.0), ("表1", 23, "unit", "%"), ("表1", 7, "category", "科技创新能力"),
    ("表2", 1, "target_text", "力争2250"), ("表2", 1, "target", 2250.0), ("表2", 1, "target_qualifier", "力争"),
    ("表2", 1, "value_2020", 1595.0), ("表2", 1, "category", "经济强"), ("表2", 4, "target_text", "50左右"),
    ("表2", 9, "target_text", "超800"), ("表2", 19, "target_text", "高于全市平均水平"), ("表2", 19, "target", None),
    ("表2", 20, "attribute", "约束性"), ("表2", 22, "value_2020_text", "完成上级下达任务"),
    ("表2", 24, "name", "蓝绿空间占比"), ("表2", 24, "target", 45.0), ("表2", 25, "category", "社会文明程度高"),
    ("表2", 27, "target_text", "不超过0.0030"), ("表2", 27, "value_2020", 0.0031), ("表2", 28, "unit", None),
    ("表2", 29, "target", 99.1), ("表2", 29, "attribute", "预期性"), ("表2", 13, "category", "百姓富"),
])
def test_spot_values(rows, table, seq, field, expected):
    assert rows[table][seq - 1][field] == expected


def test_constraint_rows(rows):
    assert [p["seq"] for p in rows["表2"] if p["attribute"] == "约束性"] == [20, 21, 22, 23, 24]


def test_text_targets(rows, plan_text):
    flat = plan_text.replace("\n", "")
    by_name = {p["name"]: p for p in rows["正文"]}
    assert by_name["新建学校"]["target"] == 7 and by_name["新建学校"]["source"] == "七（一）2"
    assert by_name["绿化覆盖率提升"]["target"] == 3 and by_name["绿化覆盖率提升"]["target_text"] == "提升3%"
    assert by_name["地区生产总值"]["target"] == 2250
    assert by_name["低效用地再利用"]["target"] == 5000 and by_name["低效用地再利用"]["layer_id"] == "low_efficiency_land"
    assert by_name["创新创业载体"]["target"] == 350
    g5 = [p for p in rows["正文"] if "5G" in p["name"]]
    assert sorted(p["target_year"] for p in g5) == [2021, 2022]
    for p in rows["正文"]:
        assert p["text"] in flat, p["text"]
        assert p["source"] and p["target_text"]


def test_links_point_at_existing_features(catalog):
    for p in (f["properties"] for f in raw_features("indicators")):
        if p["layer_id"]:
            frame = catalog.read(p["layer_id"])
            if p["feature_id"]:
                assert p["feature_id"] in frame.index, p
