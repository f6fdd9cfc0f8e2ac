"""The type check of CQL2 filters (``kfqmap.cql``): each expression's type from the layer's queryables, and a
400 (``InvalidFilter``) naming the expression for every ill-typed comparison, arithmetic, IN list, LIKE, BETWEEN,
spatial or temporal test. Shared by the in-memory evaluator and the SQL translator."""
from __future__ import annotations

import datetime as _dt
import math
from typing import Iterable, Mapping

import numpy as np
import pandas as pd
from pygeofilter import ast, values

from .errors import InvalidFilter

#: properties that name the feature geometry in a filter
GEOMETRY_NAMES = ("geometry", "geom", "the_geom", "shape")
#: the largest distance S_DWITHIN accepts (metres): the plan area is ~30 km across
MAX_DISTANCE_M = 50_000.0

_UNITS_M = {None: 1.0, "m": 1.0, "meter": 1.0, "meters": 1.0, "metre": 1.0, "metres": 1.0,
            "km": 1000.0, "kilometer": 1000.0, "kilometers": 1000.0, "kilometre": 1000.0, "kilometres": 1000.0,
            "米": 1.0, "公里": 1000.0, "千米": 1000.0}

# value types of the type check
STRING, NUMBER, BOOLEAN, DATE, GEOMETRY, INTERVAL, ANY = ("string", "number", "boolean", "date", "geometry",
                                                          "interval", "any")
_TYPE_ZH = {STRING: "文字", NUMBER: "数字", BOOLEAN: "真/假", DATE: "日期", GEOMETRY: "几何", INTERVAL: "时间区间",
            ANY: "任意"}
#: functions a filter may call (name after pygeofilter's normalisation: CASEI → lower)
FUNCTIONS = ("lower", "upper", "accenti")


def _invalid(message: str) -> InvalidFilter:
    return InvalidFilter(message, parameter="filter")


def _is_literal(v) -> bool:
    return not isinstance(v, ast.Node) and not isinstance(v, (list, tuple))


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_geometry_literal(v) -> bool:
    return isinstance(v, (values.Geometry, values.Envelope))


def _distance_m(n) -> float:
    units = str(n.units or "meters").lower()
    if units not in _UNITS_M:
        raise _invalid(f"S_DWITHIN 的距离单位 '{units}' 不支持；请用 meters 或 kilometers")
    if not _is_number(n.distance):
        raise _invalid("S_DWITHIN 的距离必须是数字（米）")
    d = float(n.distance) * _UNITS_M[units]
    if not math.isfinite(d) or d < 0 or d > MAX_DISTANCE_M:
        raise _invalid(f"S_DWITHIN 的距离 {n.distance} {units} 不合理：应在 0 到 {MAX_DISTANCE_M:,.0f} 米之间")
    return d


def _schema_type(spec) -> str:
    """A queryable's JSON Schema (or a bare type name) → one of the type-check types."""
    if isinstance(spec, Mapping):
        if spec.get("x-ogc-role") == "primary-geometry" or "$ref" in spec or spec.get("format") in (
                "geometry-any", "geometry-point", "geometry-polygon"):
            return GEOMETRY
        if spec.get("format") in ("date", "date-time"):
            return DATE
        spec = spec.get("type")
    if isinstance(spec, (list, tuple)):
        kinds = {_schema_type(s) for s in spec if s != "null"}
        return kinds.pop() if len(kinds) == 1 else ANY
    return {"string": STRING, "number": NUMBER, "integer": NUMBER, "boolean": BOOLEAN, "date": DATE,
            "date-time": DATE, "datetime": DATE, "geometry": GEOMETRY}.get(str(spec).lower() if spec else "", ANY)


def frame_types(frame, names: Iterable[str] | None = None) -> dict[str, str]:
    """Type-check types of ``frame``'s property columns (all, or ``names``)."""
    geom_col = getattr(frame, "_geometry_column_name", None)
    out: dict[str, str] = {}
    for name in (frame.columns if names is None else names):
        if name not in frame.columns:
            continue
        if name == geom_col:
            out[name] = GEOMETRY
            continue
        col = frame[name]
        if isinstance(col, pd.DataFrame):        # duplicated column name
            out[name] = ANY
            continue
        dtype = col.dtype
        if pd.api.types.is_bool_dtype(dtype):
            out[name] = BOOLEAN
        elif pd.api.types.is_numeric_dtype(dtype):
            out[name] = NUMBER
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            out[name] = DATE
        elif pd.api.types.is_string_dtype(dtype) and dtype != object:
            out[name] = STRING
        else:
            out[name] = _object_type(col)
    return out


def _object_type(col: pd.Series) -> str:
    """An object column's type: numbers, booleans, dates or geometries when every value is one; anything else
    (text, JSON lists/objects as GDAL reads them, mixtures, no values at all) is compared as text — the type the
    layer's queryables advertise for it."""
    sample = col.dropna()
    kinds = set()
    for v in sample.iloc[:1000]:
        if isinstance(v, (bool, np.bool_)):
            kinds.add(BOOLEAN)
        elif isinstance(v, (int, float, np.integer, np.floating)):
            kinds.add(NUMBER)
        elif isinstance(v, (_dt.date, pd.Timestamp)):
            kinds.add(DATE)
        elif hasattr(v, "geom_type"):
            kinds.add(GEOMETRY)
        else:
            kinds.add(STRING)
        if len(kinds) > 1:
            return STRING
    return kinds.pop() if kinds else STRING


def _as_text(v):
    if isinstance(v, str) or v is None or v is pd.NA:
        return v
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, (list, dict, tuple)):
        import json
        return json.dumps(v, ensure_ascii=False, default=str)
    return str(v)


def _literal_type(v) -> str:
    if isinstance(v, bool):
        return BOOLEAN
    if isinstance(v, (int, float)):
        return NUMBER
    if isinstance(v, str):
        return STRING
    if isinstance(v, (_dt.date, _dt.datetime)):
        return DATE
    if _is_geometry_literal(v):
        return GEOMETRY
    if isinstance(v, values.Interval):
        return INTERVAL
    return ANY


def _describe(n) -> str:
    if isinstance(n, ast.Attribute):
        return f"属性 {n.name}"
    if isinstance(n, ast.Function):
        return f"{n.name.upper()}(…)"
    if isinstance(n, ast.Arithmetic):
        return "算术表达式"
    if isinstance(n, str):
        return f"'{n[:30]}'"
    if isinstance(n, (_dt.date, _dt.datetime)):
        return f"DATE('{n.isoformat()[:25]}')"
    if _is_geometry_literal(n):
        return "几何常量"
    return repr(n)[:30]


def _numeric_text(v) -> bool:
    if not isinstance(v, str):
        return False
    try:
        return math.isfinite(float(v))
    except ValueError:
        return False


class _TypeChecker:
    """Infers each expression's type and refuses ill-typed filters. ``types`` maps property → type; with
    ``strict=False`` unknown properties are ``ANY`` (the parse-time check: only literal-vs-literal mistakes)."""

    def __init__(self, types: Mapping[str, str], *, strict: bool = True, geometry_names=GEOMETRY_NAMES):
        self.types = types
        self.strict = strict
        self.geometry_names = {g.lower() for g in geometry_names}

    # -- expressions
    def expr(self, n) -> str:
        if isinstance(n, ast.Attribute):
            if n.name.lower() in self.geometry_names:
                return GEOMETRY
            return self.types.get(n.name, ANY)
        if isinstance(n, ast.Function):
            if n.name not in FUNCTIONS:
                raise _invalid(f"不支持的函数 {n.name.upper()}()；可用：CASEI、ACCENTI、LOWER、UPPER")
            if len(n.arguments) != 1:
                raise _invalid(f"函数 {n.name.upper()}() 只接受 1 个参数")
            t = self.expr(n.arguments[0])
            if t not in (STRING, ANY):
                raise _invalid(f"{n.name.upper()}() 只能用于文字，{_describe(n.arguments[0])} 是{_TYPE_ZH[t]}")
            return STRING
        if isinstance(n, ast.Arithmetic):
            for side in (n.lhs, n.rhs):
                t = self.expr(side)
                if t not in (NUMBER, ANY):
                    raise _invalid(f"算术运算（{n.op.value}）只能用于数字，{_describe(side)} 是{_TYPE_ZH[t]}")
            return NUMBER
        if isinstance(n, ast.Node):
            raise _invalid(f"这里需要一个值，而不是条件 {type(n).__name__}")
        if isinstance(n, (list, tuple)):
            raise _invalid("这里需要一个值，而不是列表")
        return _literal_type(n)

    def _comparable(self, a, b, what: str, *, ordering: bool = False) -> None:
        ta, tb = self.expr(a), self.expr(b)
        for side, t in ((a, ta), (b, tb)):
            if t in (GEOMETRY, INTERVAL):
                raise _invalid(f"{what} 不能用于{_TYPE_ZH[t]}（{_describe(side)}）；空间条件请用 S_INTERSECTS 等")
        if ordering and BOOLEAN in (ta, tb):
            raise _invalid(f"{what} 不能比较真/假值的大小（{_describe(a)}、{_describe(b)}）")
        if ANY in (ta, tb) or ta == tb:
            return
        if {ta, tb} == {NUMBER, STRING}:
            text = b if tb == STRING else a
            if _numeric_text(text):     # year = '2021': a quoted number against a number property
                return
            attr = next((x for x in (a, b) if isinstance(x, ast.Attribute)), None)
            num = next((x for x in (a, b) if _is_number(x)), None)
            hint = f"；文字请加引号，如 {attr.name} = '{num}'" if attr is not None and num is not None and \
                self.expr(attr) == STRING else ""
            raise _invalid(f"类型不匹配：{what} 两边是{_TYPE_ZH[ta]}（{_describe(a)}）和{_TYPE_ZH[tb]}"
                           f"（{_describe(b)}）{hint}")
        raise _invalid(f"类型不匹配：{what} 两边是{_TYPE_ZH[ta]}（{_describe(a)}）和{_TYPE_ZH[tb]}（{_describe(b)}）")

    # -- conditions
    def condition(self, n) -> None:
        if isinstance(n, (ast.And, ast.Or)):
            self.condition(n.lhs)
            self.condition(n.rhs)
        elif isinstance(n, ast.Not):
            self.condition(n.sub_node)
        elif isinstance(n, ast.Comparison):
            ordering = not isinstance(n, (ast.Equal, ast.NotEqual))
            self._comparable(n.lhs, n.rhs, f"比较 {n.op.value}", ordering=ordering)
        elif isinstance(n, ast.Between):
            for side in (n.lhs, n.low, n.high):
                t = self.expr(side)
                if t not in (NUMBER, DATE, ANY) and not (t == STRING and _numeric_text(side)):
                    raise _invalid(f"BETWEEN 只能用于数字或日期，{_describe(side)} 是{_TYPE_ZH[t]}")
            self._comparable(n.lhs, n.low, "BETWEEN", ordering=True)
            self._comparable(n.lhs, n.high, "BETWEEN", ordering=True)
        elif isinstance(n, ast.Like):
            t = self.expr(n.lhs)
            if t not in (STRING, ANY):
                raise _invalid(f"LIKE 只能用于文字，{_describe(n.lhs)} 是{_TYPE_ZH[t]}")
            if not isinstance(n.pattern, str):
                raise _invalid("LIKE 的模式必须是文字常量，如 name LIKE '%园%'")
        elif isinstance(n, ast.In):
            if not n.sub_nodes:
                raise _invalid("IN 列表不能为空")
            kinds = set()
            for o in n.sub_nodes:
                if not _is_literal(o):
                    raise _invalid(f"IN 列表只能包含常量（如 IN ('a', 'b') 或 IN (1, 2)），不能包含{_describe(o)}")
                kinds.add(_literal_type(o))
            if len(kinds) > 1 and not (kinds == {NUMBER, STRING} and all(
                    _numeric_text(o) for o in n.sub_nodes if isinstance(o, str))):
                zh = "、".join(sorted(_TYPE_ZH[k] for k in kinds))
                raise _invalid(f"IN 列表混有不同类型的值（{zh}），请只用一种")
            for o in n.sub_nodes:
                self._comparable(n.lhs, o, "IN")
        elif isinstance(n, ast.IsNull):
            if isinstance(n.lhs, ast.Node) and not isinstance(n.lhs, ast.Expression):
                raise _invalid("IS NULL 前面需要一个属性或表达式")
            self.expr(n.lhs)
        elif isinstance(n, ast.Include):
            pass
        elif isinstance(n, (ast.SpatialComparisonPredicate, ast.SpatialDistancePredicate)):
            self._spatial(n)
        elif isinstance(n, ast.BBox):
            if self.expr(n.lhs) not in (GEOMETRY, ANY) or not isinstance(n.lhs, ast.Attribute):
                raise _invalid("BBOX(…) 的第一个参数必须是 geometry")
        elif isinstance(n, ast.TemporalPredicate):
            self._temporal(n)
        elif isinstance(n, ast.Attribute) or isinstance(n, bool):
            t = self.expr(n)
            if t not in (BOOLEAN, ANY):
                raise _invalid(f"过滤条件不是一个真/假判断：{_describe(n)} 是{_TYPE_ZH[t]}（例如缺少比较运算符）")
        elif isinstance(n, ast.Node) and not isinstance(n, ast.Expression):
            raise _invalid(f"不支持的过滤运算：{type(n).__name__}")
        else:
            raise _invalid("过滤条件不是一个真/假判断（例如缺少比较运算符）")

    def _spatial(self, n) -> None:
        name = "S_" + str(getattr(n.op, "value", type(n).__name__)).upper()
        attrs = [s for s in (n.lhs, n.rhs) if isinstance(s, ast.Attribute)]
        lits = [s for s in (n.lhs, n.rhs) if _is_geometry_literal(s)]
        for a in attrs:
            t = self.expr(a)
            if t not in (GEOMETRY, ANY) or (self.strict and t != GEOMETRY):
                raise _invalid(f"空间条件 {name} 里的 {a.name} 不是几何属性（是{_TYPE_ZH[t]}）；请用 geometry")
        if len(attrs) != 1 or len(lits) != 1:
            raise _invalid(f"空间条件 {name} 的两边必须是 geometry 和一个几何常量（WKT / BBOX / ENVELOPE / GeoJSON）")
        if isinstance(n, ast.SpatialDistancePredicate):
            _distance_m(n)

    def _temporal(self, n) -> None:
        if type(n) not in _TEMPORAL:
            raise _invalid(f"不支持的时间条件 {getattr(n.op, 'value', '')}；可用：{', '.join(sorted(_TEMPORAL_NAMES))}")
        attr, lit, name = n.lhs, n.rhs, _TEMPORAL[type(n)]
        if not isinstance(attr, ast.Attribute):
            raise _invalid(f"时间条件 {name} 的第一个参数必须是日期属性")
        t = self.expr(attr)
        if t not in (DATE, ANY):
            raise _invalid(f"时间条件 {name} 只能用于日期属性，{_describe(attr)} 是{_TYPE_ZH[t]}")
        lt = _literal_type(lit) if _is_literal(lit) else None
        if lt not in (DATE, INTERVAL):
            raise _invalid(f"时间条件 {name} 的第二个参数必须是 DATE(…)、TIMESTAMP(…) 或 INTERVAL(…)")


_TEMPORAL = {ast.TimeBefore: "T_BEFORE", ast.TimeAfter: "T_AFTER", ast.TimeEquals: "T_EQUALS",
             ast.TimeOverlaps: "T_INTERSECTS", ast.TimeDuring: "T_DURING", ast.TimeDisjoint: "T_DISJOINT"}
_TEMPORAL_NAMES = set(_TEMPORAL.values())
