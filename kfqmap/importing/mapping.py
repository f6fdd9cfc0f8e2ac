"""Columns of an import mapped onto the target layer's schema.

A source column goes to the target column of the same name (case-insensitive), else to the one its alias names
(``ALIASES``: 名称 → name, 状态 → status, 年份 → year, 面积（亩）→ area_mu …), else to what ``--map 源=目标``
says; the rest are kept as new columns (``keep_unmapped``) or dropped. Columns that would collide with what
KFQMap sets itself — the store's ``fid``/``geom``, the feature ``id`` and the provenance fields — are kept
renamed with a ``file_`` prefix. Required fields (``REQUIRED``; ``name`` everywhere) must have a value in every
feature, numbers must be numbers where the target column is numeric, and coded fields must use their codes
(``CODES``); anything else is an error in the report.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("名称", "名字", "地块名称", "项目名称", "园区名称", "名", "title", "label"),
    "status": ("状态", "实施状态", "进展", "现状"),
    "year": ("年份", "年度", "完成年份", "实施年份"),
    "area_mu": ("面积亩", "面积(亩)", "面积（亩）", "亩数", "用地面积亩"),
    "parcel_id": ("地块编号", "编号", "宗地号", "地块号"),
    "current_use": ("现状用途", "现状用地"),
    "planned_use": ("规划用途", "规划用地"),
    "park": ("所属园区", "园区"),
    "category": ("类别", "类型", "分类"),
}
REQUIRED: dict[str, tuple[str, ...]] = {"low_efficiency_land": ("name", "status", "year")}
CODES: dict[str, dict[str, tuple[str, ...]]] = {"low_efficiency_land": {"status": ("已完成", "实施中", "未启动")}}
#: columns KFQMap writes itself on every imported feature
RESERVED = ("fid", "geom", "geometry", "id", "source", "placement", "accuracy_m", "illustrative", "schematic",
            "placeholder", "imported_by", "imported_at", "import_id")


@dataclass
class ColumnMapping:
    source: str
    target: str | None          # None: dropped
    how: str                    # 同名 / 别名 / 用户指定 / 新列 / 已舍弃 / 改名（保留字段）


def parse_mapping(text: str | list[str] | tuple[str, ...] | None) -> dict[str, str]:
    """``"名称=name;状态=status"`` (or a list of ``源=目标``) → ``{"名称": "name", …}``; malformed → InvalidParameter."""
    from ..errors import InvalidParameter

    items = text if isinstance(text, (list, tuple)) else [p for p in (text or "").split(";") if p.strip()]
    out: dict[str, str] = {}
    for item in items:
        src, eq, dst = item.partition("=")
        if not eq or not src.strip() or not dst.strip():
            raise InvalidParameter(f"字段对应应写成 源列=目标字段（收到 {item[:60]}）", parameter="map")
        out[src.strip()] = dst.strip()
    return out


def required_fields(layer_id: str | None) -> tuple[str, ...]:
    return REQUIRED.get(layer_id or "", ("name",))


def map_columns(table: pd.DataFrame, target_columns: list[str] | None, *, user_map: dict[str, str] | None = None,
                keep_unmapped: bool = True) -> tuple[pd.DataFrame, list[ColumnMapping]]:
    """``table`` (attributes only) with its columns renamed/dropped for the target; the mapping, column by column."""
    user_map = dict(user_map or {})
    targets = list(target_columns or [])
    by_lower = {t.lower(): t for t in targets}
    out: dict[str, pd.Series] = {}
    mapping: list[ColumnMapping] = []
    taken: set[str] = set()
    alias_of = {a.lower(): t for t, names in ALIASES.items() for a in (t, *names)}
    for col in table.columns:
        name = str(col)
        if not targets and name not in user_map and table[col].isna().all():
            mapping.append(ColumnMapping(name, None, "空列，舍弃"))
            continue
        if name in user_map:
            target, how = user_map[name], "用户指定"
        elif name.lower() in by_lower and name.lower() not in RESERVED:
            target, how = by_lower[name.lower()], "同名"
        elif name.lower() in alias_of and (not targets or alias_of[name.lower()] in targets) \
                and alias_of[name.lower()] not in taken and (alias_of[name.lower()] == name.lower()
                                                             or alias_of[name.lower()] not in table.columns):
            target, how = alias_of[name.lower()], "别名"
        elif name.lower() in RESERVED:
            target, how = f"file_{name}", "改名（保留字段）"
        elif not targets:
            target, how = name, "同名（新图层）"
        elif keep_unmapped:
            target, how = name, "新列"
        else:
            target, how = None, "已舍弃"
        if target is not None:
            if target in taken:
                target, how = f"{target}_{len(taken)}", how + "（重名）"
            taken.add(target)
            out[target] = table[col]
        mapping.append(ColumnMapping(name, target, how))
    frame = pd.DataFrame(out, index=table.index)
    return frame, mapping


def _missing(series: pd.Series) -> np.ndarray:
    return series.isna().to_numpy() | series.astype(str).str.strip().isin(["", "nan", "None", "<NA>"]).to_numpy()


def check_values(frame: pd.DataFrame, layer_id: str | None, target_dtypes: dict[str, str],
                 *, labels: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """Coerce numbers, then list what is missing or wrong (one line per problem, naming the features)."""
    problems: list[str] = []
    frame = frame.copy()

    def rows(mask) -> str:
        where = [labels[i] for i in np.flatnonzero(mask)[:5]]
        more = int(mask.sum()) - len(where)
        return "、".join(where) + (f" 等 {int(mask.sum())} 个" if more > 0 else "")

    for col, kind in target_dtypes.items():
        if col in frame.columns and kind in "iuf" and frame[col].dtype.kind not in "iuf":
            missing = _missing(frame[col])
            numbers = pd.to_numeric(frame[col].where(~missing), errors="coerce")
            bad = numbers.isna().to_numpy() & ~missing
            if bad.any():
                problems.append(f"列 {col} 应为数字，以下要素的值不是：{rows(bad)}")
            frame[col] = numbers
    for col in required_fields(layer_id):
        if col not in frame.columns:
            problems.append(f"缺少必填字段 {col}（可用 --map 源列={col} 指定对应的列）")
            continue
        missing = _missing(frame[col])
        if missing.any():
            problems.append(f"必填字段 {col} 为空：{rows(missing)}")
    for col, allowed in CODES.get(layer_id or "", {}).items():
        if col in frame.columns:
            bad = ~frame[col].isin(allowed).to_numpy() & ~_missing(frame[col])
            if bad.any():
                problems.append(f"字段 {col} 只能是 {' / '.join(allowed)}：{rows(bad)}")
    return frame, problems
