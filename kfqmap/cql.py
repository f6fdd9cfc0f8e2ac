"""CQL2 filters (OGC 21-065) evaluated on a GeoDataFrame, vectorised, with bounded work.

>>> f = parse_filter("status = '已完成' AND year <= 2023")
>>> sorted(f.properties)
['status', 'year']
>>> mask = f.mask(frame)            # a boolean Series aligned on frame.index   # doctest: +SKIP

A filter goes through four steps, each of which can only end in a result or ``InvalidFilter`` (400):

1. **parse** — cql2-text with pygeofilter's grammar as patched in ``kfqmap._pygeofilter_patches`` (``NOT (a AND
   b)``, ``S_DWITHIN``, the standard's ``T_BEFORE(a, b)`` form, ``''`` in strings); cql2-json with
   ``kfqmap.cql_json`` (the standard's JSON form, including ``{"op": "between", "args": [p, lo, hi]}``);
2. **bound** — the limits below (text length, nesting depth, number of terms, IN-list length, string length,
   geometry vertices, number magnitude); each violation says which limit was hit and its value;
3. **normalise** — constant folding (``CASEI('Straße')``, ``date('…')``, ``BBOX(…)`` as a geometry) and chains of
   AND/OR rebalanced into a tree of logarithmic depth (evaluation recursion stays shallow);
4. **type-check** against the layer's queryables (``check``) — an unknown property is a 400 that names it and
   lists the queryables (one rule for items, export and query; see docs/analysis.md); comparing text with a
   number, arithmetic on text or booleans, IN lists of mixed types, a DATE against a text column are 400s.

Evaluation (``mask``) is a pygeofilter ``Evaluator`` subclass: one ``@handle`` method per node type, building
pandas masks with SQL three-valued logic (a comparison with a missing value is unknown, and unknown rows are
not selected, also under ``NOT``). It checks a time budget before every node and inside long LIKE scans and
raises ``FilterTimeout`` when it is spent. LIKE never backtracks: runs of ``%`` collapse and each ``%``-separated
segment is matched inside an atomic group (leftmost occurrence, never revisited), so the work is linear in the
value's length times the pattern's. ``kfqmap.cql_sql`` translates the same tree to PostGIS SQL.

Literal geometries are in CRS84 lon/lat unless the caller passes ``crs=`` (OGC ``filter-crs``). ``S_DWITHIN``
distances are metres measured in EPSG:4549 (CGCS2000 Gauss-Krüger CM 120E).
"""
from __future__ import annotations

import datetime as _dt
import logging
import math
import operator
import re
import time
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import pandas as pd
import shapely
from pygeofilter import ast, values
from pygeofilter.backends.evaluator import Evaluator, handle
from shapely.geometry import box, shape

from .crs import MEASURE_CRS, parse_crs, transform_geometry
from .errors import FilterTimeout, InvalidFilter

log = logging.getLogger("kfqmap.cql")

#: properties that name the feature geometry in a filter
GEOMETRY_NAMES = ("geometry", "geom", "the_geom", "shape")
#: the largest distance S_DWITHIN accepts (metres): the plan area is ~30 km across
MAX_DISTANCE_M = 50_000.0

# ------------------------------------------------------------------------------------- limits (each a 400)
#: characters of filter text (the server's GET parameter allows the same)
MAX_FILTER_CHARS = 20_000
#: nesting depth of conditions and expressions (a chain of ANDs or of ORs counts as one level)
MAX_DEPTH = 32
#: predicates (comparisons, LIKE, IN, BETWEEN, IS NULL, spatial and temporal tests) in one filter
MAX_TERMS = 500
#: values in one IN list
MAX_IN_VALUES = 1_000
#: characters in one string literal (also a LIKE pattern)
MAX_STRING_CHARS = 1_000
#: vertices in all literal geometries of one filter together
MAX_GEOMETRY_POINTS = 2_000
#: largest magnitude of a number literal (beyond it float64 and bigint stop being exact)
MAX_ABS_NUMBER = 1e15
#: default evaluation time budget in seconds (``mask(time_limit=...)``); spent → FilterTimeout (HTTP 503)
DEFAULT_TIME_LIMIT_S = 10.0
#: rows per LIKE chunk between two time-budget checks (~50 ms of matching each)
_LIKE_CHUNK = 20_000

_UNITS_M = {None: 1.0, "m": 1.0, "meter": 1.0, "meters": 1.0, "metre": 1.0, "metres": 1.0,
            "km": 1000.0, "kilometer": 1000.0, "kilometers": 1000.0, "kilometre": 1000.0, "kilometres": 1000.0,
            "米": 1.0, "公里": 1000.0, "千米": 1000.0}

LANGS = ("cql2-text", "cql2-json")

# value types of the type check
STRING, NUMBER, BOOLEAN, DATE, GEOMETRY, INTERVAL, ANY = ("string", "number", "boolean", "date", "geometry",
                                                          "interval", "any")
_TYPE_ZH = {STRING: "文字", NUMBER: "数字", BOOLEAN: "真/假", DATE: "日期", GEOMETRY: "几何", INTERVAL: "时间区间",
            ANY: "任意"}
#: functions a filter may call (name after pygeofilter's normalisation: CASEI → lower)
FUNCTIONS = ("lower", "upper", "accenti")


def _invalid(message: str) -> InvalidFilter:
    return InvalidFilter(message, parameter="filter")


def _limit(what: str, value, limit, key: str) -> InvalidFilter:
    return _invalid(f"过滤条件超出限制：{what} {value}，上限 {limit}（limit: {key} = {limit}）")


# ---------------------------------------------------------------------------------------------- parsing
def _parse_ast(text, lang: str):
    if lang == "cql2-json":
        from .cql_json import read
        return read(text, max_depth=MAX_DEPTH * 2)
    from ._pygeofilter_patches import parse_text
    return parse_text(text)


def _syntax_message(exc: Exception, text: str) -> str:
    col = getattr(exc, "column", None)
    where = f"（第 {col} 个字符附近：…{text[max(0, col - 11):col + 9]}…）" if isinstance(col, int) and col > 0 else ""
    return (f"过滤条件 (CQL2) 无法解析{where}。示例：status = '已完成' AND year <= 2023；"
            "name LIKE '%园%'；S_INTERSECTS(geometry, POINT(121.0 31.37))；"
            "S_DWITHIN(geometry, POINT(121.0 31.37), 500)")


def parse_filter(text, lang: str = "cql2-text", *, crs=None) -> "CompiledFilter":
    """Parse a CQL2 filter (text or JSON) into a ``CompiledFilter``; raises ``InvalidFilter``.

    ``crs`` is the CRS of literal geometries (OGC ``filter-crs``; default CRS84 lon/lat).
    """
    if lang is None:
        lang = "cql2-text"
    lang = str(lang).lower()
    if lang not in LANGS:
        raise InvalidFilter(f"不支持的过滤语言 '{lang}'；可用：{', '.join(LANGS)}", parameter="filter-lang")
    if isinstance(text, (dict, list)):
        if lang != "cql2-json":
            raise _invalid("过滤条件是 JSON 对象，filter-lang 应为 cql2-json")
        import json
        text = json.dumps(text, ensure_ascii=False)
    if text is None or not isinstance(text, str) or not text.strip():
        raise _invalid("过滤条件为空")
    if len(text) > MAX_FILTER_CHARS:
        raise _limit("过滤条件长度（字符）", len(text), MAX_FILTER_CHARS, "filter length")
    info = parse_crs(crs, parameter="filter-crs")
    try:
        node = _parse_ast(text, lang)
    except InvalidFilter:
        raise
    except RecursionError:
        raise _limit("嵌套层数", f"> {MAX_DEPTH}", MAX_DEPTH, "nesting depth") from None
    except Exception as exc:  # lark / pygeofilter raise many types
        raise _invalid(_syntax_message(exc, text)) from None
    _measure(node)
    node = _Normaliser().norm(node)
    props, spatial = _collect(node)
    cf = CompiledFilter(text=text, lang=lang, ast=node, properties=frozenset(props), spatial=spatial,
                        crs=info.code)
    _validate_literals(node, cf)
    _TypeChecker({}, strict=False).condition(node)      # what can be checked without the layer's types
    return cf


# ---------------------------------------------------------------------------------------------- bounds
def _measure(root) -> None:
    """Enforce the limits on the raw tree, iteratively (a 3,000-deep tree must not reach the recursion limit)."""
    terms = 0
    points = 0
    stack: list[tuple[Any, int]] = [(root, 1)]
    while stack:
        n, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _limit("嵌套层数", f"> {MAX_DEPTH}", MAX_DEPTH, "nesting depth")
        if isinstance(n, (ast.And, ast.Or)):
            kind, chain = type(n), [n]
            while chain:                                   # a chain of one operator is one level
                c = chain.pop()
                for s in (c.lhs, c.rhs):
                    (chain.append(s) if type(s) is kind else stack.append((s, depth + 1)))
            continue
        if isinstance(n, ast.Predicate):
            terms += 1
            if terms > MAX_TERMS:
                raise _limit("比较项数量", f"> {MAX_TERMS}", MAX_TERMS, "terms")
        if isinstance(n, ast.In) and len(n.sub_nodes) > MAX_IN_VALUES:
            raise _limit("IN 列表的取值个数", len(n.sub_nodes), MAX_IN_VALUES, "IN values")
        if isinstance(n, str):
            if len(n) > MAX_STRING_CHARS:
                raise _limit("文字常量长度（字符）", len(n), MAX_STRING_CHARS, "string length")
            continue
        if isinstance(n, (int, float)) and not isinstance(n, bool):
            if not math.isfinite(n) or abs(n) > MAX_ABS_NUMBER:
                raise _limit("数值常量的绝对值", n if math.isfinite(n) else str(n), f"{MAX_ABS_NUMBER:.0e}",
                             "number magnitude")
            continue
        if isinstance(n, values.Geometry):
            points += _count_points(n.geometry, MAX_GEOMETRY_POINTS - points + 1)
            if points > MAX_GEOMETRY_POINTS:
                raise _limit("几何常量的顶点数", f"> {MAX_GEOMETRY_POINTS}", MAX_GEOMETRY_POINTS, "geometry vertices")
            continue
        if isinstance(n, ast.Like):
            stack.append((n.pattern, depth + 1))
        if isinstance(n, ast.SpatialDistancePredicate):
            stack.append((n.distance, depth + 1))
        if isinstance(n, ast.Node):
            stack.extend((s, depth + 1) for s in _children(n))
        elif isinstance(n, (list, tuple)):
            stack.extend((s, depth + 1) for s in n)


def _count_points(geometry, cap: int) -> int:
    """Coordinate tuples in a GeoJSON-like mapping (stops counting past ``cap``)."""
    count = 0
    stack = [geometry]
    while stack and count <= cap:
        g = stack.pop()
        if isinstance(g, Mapping):
            stack.extend(g.get(k) for k in ("coordinates", "geometries") if g.get(k) is not None)
        elif isinstance(g, (list, tuple)):
            if g and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in g):
                count += 1
            else:
                stack.extend(g)
    return count


def _children(node) -> list:
    getter = getattr(node, "get_sub_nodes", None)
    if getter is None:
        return []
    subs = getter()
    if not isinstance(subs, (list, tuple)):
        subs = [subs]
    out = []
    for s in subs:
        if isinstance(s, (list, tuple)):
            out.extend(s)
        else:
            out.append(s)
    return out


# ---------------------------------------------------------------------------------------------- normalising
def _is_literal(v) -> bool:
    return not isinstance(v, ast.Node) and not isinstance(v, (list, tuple))


class _Normaliser:
    """Constant folding and balanced AND/OR trees (runs after ``_measure``, so recursion depth is bounded)."""

    def norm(self, n):
        if isinstance(n, (ast.And, ast.Or)):
            kind, items, chain = type(n), [], [n]
            while chain:
                c = chain.pop()
                for s in (c.rhs, c.lhs):
                    (chain.append(s) if type(s) is kind else items.append(s))
            items.reverse()        # chain was walked right-first from a stack: restore reading order
            return self._balanced(kind, [self.norm(i) for i in items])
        if isinstance(n, ast.Not):
            return ast.Not(self.norm(n.sub_node))
        if isinstance(n, ast.Function):
            return self._function(n)
        if isinstance(n, ast.Like):
            pattern = self.norm(n.pattern) if isinstance(n.pattern, ast.Node) else n.pattern
            return ast.Like(self.norm(n.lhs), pattern, n.nocase, "%", "_", "\\", n.not_)
        if isinstance(n, ast.In):
            return ast.In(self.norm(n.lhs), [self.norm(o) for o in n.sub_nodes], n.not_)
        if isinstance(n, ast.Between):
            return ast.Between(self.norm(n.lhs), self.norm(n.low), self.norm(n.high), n.not_)
        if isinstance(n, ast.IsNull):
            return ast.IsNull(self.norm(n.lhs), n.not_)
        if isinstance(n, ast.Arithmetic):
            return type(n)(self.norm(n.lhs), self.norm(n.rhs))
        if isinstance(n, (ast.Comparison, ast.SpatialComparisonPredicate, ast.TemporalPredicate)):
            return type(n)(self.norm(n.lhs), self.norm(n.rhs))
        if isinstance(n, ast.SpatialDistancePredicate):
            return type(n)(self.norm(n.lhs), self.norm(n.rhs), n.distance, n.units)
        return n

    @staticmethod
    def _balanced(kind, items: list):
        while len(items) > 1:
            items = [kind(items[i], items[i + 1]) if i + 1 < len(items) else items[i]
                     for i in range(0, len(items), 2)]
        return items[0]

    def _function(self, n: ast.Function):
        name = str(n.name).lower()
        args = [self.norm(a) for a in n.arguments]
        if name == "casei":
            name = "lower"
        if name in ("lower", "upper", "accenti") and len(args) == 1 and isinstance(args[0], str):
            return _STRING_FUNCS[name](args[0])
        if name in ("date", "timestamp") and len(args) == 1 and isinstance(args[0], str):
            from pygeofilter.util import parse_date, parse_datetime
            try:
                return parse_date(args[0]) if name == "date" else parse_datetime(args[0])
            except Exception:
                raise _invalid(f"{name.upper()}('{args[0][:40]}') 不是合法的日期/时间（如 2023-01-01）") from None
        if name in ("bbox", "envelope") and len(args) in (4, 6) and all(_is_number(a) for a in args):
            if len(args) == 6:
                args = [args[0], args[1], args[3], args[4]]
            return values.Envelope(args[0], args[2], args[1], args[3])
        return ast.Function(name, args)


def _strip_accents(s: str) -> str:
    return unicodedata.normalize("NFC", "".join(c for c in unicodedata.normalize("NFD", s)
                                                if not unicodedata.combining(c)))


_STRING_FUNCS: dict[str, Callable[[str], str]] = {"lower": str.lower, "upper": str.upper, "accenti": _strip_accents}


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _collect(node):
    props: set[str] = set()
    spatial = False
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, ast.Attribute):
            if n.name.lower() not in GEOMETRY_NAMES:
                props.add(n.name)
        if isinstance(n, (ast.SpatialComparisonPredicate, ast.SpatialDistancePredicate, ast.BBox)):
            spatial = True
        if isinstance(n, ast.Like) and isinstance(n.pattern, ast.Node):
            stack.append(n.pattern)
        stack.extend(_children(n))
    return props, spatial


def _validate_literals(node, cf: "CompiledFilter") -> None:
    """Check distances and literal geometries once, at parse time, so errors come before any data is read."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, ast.SpatialDistancePredicate):
            _distance_m(n)
        if _is_geometry_literal(n):
            cf.literal_geometry(n)
        elif isinstance(n, ast.Node):
            stack.extend(_children(n))


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


def metric_literal(cf: "CompiledFilter", lit):
    """A literal geometry of ``cf`` projected to EPSG:4549 (for S_DWITHIN), finite or a 400."""
    g = transform_geometry(cf.literal_geometry(lit), "EPSG:4326", MEASURE_CRS)
    if not np.all(np.isfinite(shapely.get_coordinates(g))):
        raise _invalid("S_DWITHIN 的几何无法换算到 EPSG:4549（离本区过远）")
    return g


def _is_geometry_literal(v) -> bool:
    return isinstance(v, (values.Geometry, values.Envelope))


# ---------------------------------------------------------------------------------------------- type check
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


# ---------------------------------------------------------------------------------------------- result
@dataclass
class CompiledFilter:
    """A parsed, bounded CQL2 filter. ``mask(frame)`` evaluates it; ``properties`` lists the properties it
    names; ``check(queryables)`` type-checks it against a layer's queryables."""

    text: str
    lang: str
    ast: Any
    properties: frozenset[str]
    spatial: bool
    crs: str = "EPSG:4326"
    _geom_cache: dict = field(default_factory=dict, repr=False, compare=False)

    def check(self, queryables, *, geometry_names: Iterable[str] = ()) -> dict[str, str]:
        """Type-check against ``queryables`` (a mapping name → JSON Schema / type name, or just names).

        Raises ``InvalidFilter`` naming the first unknown property (and listing the queryables) or the first
        ill-typed expression. Returns the property types used."""
        if isinstance(queryables, Mapping):
            types = {str(k): _schema_type(v) for k, v in queryables.items()}
        else:
            types = {str(k): ANY for k in queryables}
        extra = {g.lower() for g in geometry_names} | {k.lower() for k, t in types.items() if t == GEOMETRY}
        unknown = sorted(p for p in self.properties if p not in types and p.lower() not in GEOMETRY_NAMES
                         and p.lower() not in extra)
        if unknown:
            listed = "、".join(sorted(q for q in types if q.lower() not in GEOMETRY_NAMES
                                      and types[q] != GEOMETRY)) or "（无）"
            raise _invalid(f"过滤条件中的属性 '{unknown[0]}' 不存在。可查询的属性：{listed}、geometry")
        _TypeChecker(types, geometry_names=tuple(GEOMETRY_NAMES) + tuple(extra)).condition(self.ast)
        return {p: types[p] for p in self.properties if p in types}

    def literal_geometry(self, v):
        """A literal geometry (WKT, GeoJSON, ENVELOPE, BBOX(...)) → shapely geometry in EPSG:4326."""
        key = id(v)
        hit = self._geom_cache.get(key)
        if hit is not None:
            return hit
        try:
            if isinstance(v, values.Envelope):
                g = box(min(v.x1, v.x2), min(v.y1, v.y2), max(v.x1, v.x2), max(v.y1, v.y2))
            else:
                g = shape(v.geometry)
            bad = g.is_empty or not np.all(np.isfinite(shapely.get_coordinates(g)))
        except Exception:
            bad = True
        if bad:
            raise _invalid("过滤条件中的几何无法解析或为空（请用 WKT，如 POINT(121.0 31.37) 或 "
                           "POLYGON((lon lat, …))，经度在前）")
        crs = self.crs
        named = v.geometry.get("crs") if isinstance(v, values.Geometry) and isinstance(v.geometry, Mapping) else None
        if named is not None:           # EWKT ``SRID=4549;POINT(…)`` or a GeoJSON "crs" member
            name = named.get("properties", {}).get("name") if isinstance(named, Mapping) else None
            if not isinstance(name, str):
                raise _invalid("过滤条件中几何的 crs 无法识别")
            crs = parse_crs(name.replace("urn:ogc:def:crs:EPSG::", "EPSG:"), parameter="filter-crs").code
        if crs != "EPSG:4326":
            g = transform_geometry(g, crs, "EPSG:4326")
            if not np.all(np.isfinite(shapely.get_coordinates(g))):
                raise _invalid(f"过滤条件中的几何不在坐标系 {crs} 的有效范围内")
        if not g.is_valid:
            g = shapely.make_valid(g)
        self._geom_cache[key] = g
        return g

    def mask(self, frame, *, metric_geoms: Callable[[], np.ndarray] | None = None,
             time_limit: float | None = None) -> pd.Series:
        """Boolean Series (index = ``frame.index``): True where the feature matches the filter.

        ``metric_geoms`` returns the frame's geometries in EPSG:4549, aligned with its rows (a layer's cached
        copy); without it they are computed when S_DWITHIN needs them. ``time_limit`` (seconds, default
        ``DEFAULT_TIME_LIMIT_S``) bounds the evaluation: ``FilterTimeout`` when it is spent."""
        geom_col = getattr(frame, "_geometry_column_name", None)
        columns = [c for c in frame.columns if c != geom_col]
        types = frame_types(frame, [c for c in columns if c in self.properties])
        queryables = {c: types.get(c, ANY) for c in columns}
        if geom_col:
            queryables[geom_col] = GEOMETRY
        self.check(queryables)
        limit = DEFAULT_TIME_LIMIT_S if time_limit is None else float(time_limit)
        ev = _MaskEvaluator(frame, self, types, metric_geoms, time.perf_counter() + limit, limit)
        try:
            return ev.as_mask(ev.evaluate(self.ast))
        except (TypeError, ValueError, ArithmeticError, shapely.errors.GEOSException) as exc:
            # the type check should make this unreachable; if data still surprises the evaluator, the client
            # gets a 400 naming the filter, and the log keeps the cause for a fix
            log.warning("CQL2 filter %r failed on a frame of %d rows: %r", self.text[:200], len(frame), exc)
            raise _invalid(f"过滤条件无法在此图层的数据上计算（{type(exc).__name__}）；请检查属性类型") from None

    def __call__(self, frame):
        return frame[self.mask(frame)]


# ---------------------------------------------------------------------------------------------- LIKE
def like_tokens(pattern: str) -> list[tuple[str, str]]:
    """A CQL2 LIKE pattern as tokens: ("%", ""), ("_", ""), ("c", char). ``\\`` escapes the next character (a
    trailing ``\\`` is itself); runs of ``%`` collapse to one."""
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(("c", pattern[i + 1]))
            i += 2
            continue
        if c == "%":
            if not out or out[-1][0] != "%":
                out.append(("%", ""))
        elif c == "_":
            out.append(("_", ""))
        else:
            out.append(("c", c))
        i += 1
    return out


def like_regex(pattern: str) -> str:
    """A regular expression for ``fullmatch`` that cannot backtrack catastrophically.

    Split at ``%`` into fixed-length segments (literals and ``_``). The first segment is anchored at the start,
    the last at the end; each middle segment is found at its leftmost place inside an atomic group ``(?>.*?seg)``
    that is never re-entered — the greedy-leftmost algorithm, correct because every segment has a fixed length.
    Work: O(len(value) × len(pattern)) per value."""
    segments: list[str] = [""]
    for kind, ch in like_tokens(pattern):
        if kind == "%":
            segments.append("")
        else:
            segments[-1] += "." if kind == "_" else re.escape(ch)
    if len(segments) == 1:
        return "(?s)" + segments[0]
    first, *middle, last = segments
    return "(?s)" + first + "".join(f"(?>.*?{seg})" for seg in middle if seg) + ".*" + last


# ---------------------------------------------------------------------------------------------- evaluation
class _GeometryColumn:
    """Stands for the frame's geometry in the evaluator (the spatial handlers pick lon/lat or metric copies)."""


_GEOMETRY = _GeometryColumn()
_CMP = {ast.Equal: operator.eq, ast.NotEqual: operator.ne, ast.LessThan: operator.lt,
        ast.LessEqual: operator.le, ast.GreaterThan: operator.gt, ast.GreaterEqual: operator.ge}
_SPATIAL = {
    ast.GeometryIntersects: shapely.intersects, ast.GeometryDisjoint: shapely.disjoint,
    ast.GeometryContains: shapely.contains, ast.GeometryWithin: shapely.within, ast.GeometryTouches: shapely.touches,
    ast.GeometryCrosses: shapely.crosses, ast.GeometryOverlaps: shapely.overlaps, ast.GeometryEquals: shapely.equals,
}
_ARITH = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mul: operator.mul, ast.Div: operator.truediv}


class _MaskEvaluator(Evaluator):
    """pygeofilter ``Evaluator``: each handler gets the node and its evaluated sub-nodes; values are pandas
    Series (one entry per row) or Python scalars; conditions are nullable ``boolean`` Series."""

    def __init__(self, frame, cf: CompiledFilter, types: Mapping[str, str], metric_geoms, deadline: float,
                 limit: float):
        self.frame = frame
        self.cf = cf
        self.types = types
        self.index = frame.index
        self.metric_geoms = metric_geoms
        self.deadline = deadline
        self.limit = limit
        self._g4549 = None

    # -- budget
    def tick(self) -> None:
        if time.perf_counter() > self.deadline:
            raise FilterTimeout(f"过滤条件计算超时（超过 {self.limit:g} 秒），请简化条件或缩小范围后重试"
                                f"（limit: filter evaluation time = {self.limit:g} s）", parameter="filter")

    def evaluate(self, node, adopt_result: bool = True):
        self.tick()
        return super().evaluate(node, adopt_result)

    def adopt(self, node, *sub_args):
        raise _invalid(f"不支持的过滤表达式：{type(node).__name__}")

    # -- helpers
    def _series(self, values) -> pd.Series:
        if isinstance(values, pd.Series):
            return values.astype("boolean")
        if isinstance(values, (bool, np.bool_)) or values is None or values is pd.NA:
            arr = pd.array([None if values is None or values is pd.NA else bool(values)] * len(self.index),
                           dtype="boolean")
            return pd.Series(arr, index=self.index)
        return pd.Series(pd.array(np.asarray(values, dtype=bool), dtype="boolean"), index=self.index)

    def as_mask(self, result) -> pd.Series:
        return self._series(result).fillna(False).astype(bool)

    def _unknown_where(self, res: pd.Series, *operands) -> pd.Series:
        res = self._series(res).copy()
        for v in operands:
            if isinstance(v, pd.Series):
                res[v.isna().to_numpy()] = pd.NA
            elif v is None or v is pd.NA:
                res[:] = pd.NA
        return res

    @staticmethod
    def _coerce_pair(a, b):
        """Numbers against quoted numbers ('2021'), dates against dates (timezone-free UTC)."""
        def num(v):
            return float(v) if isinstance(v, str) else v
        a_num = isinstance(a, (int, float)) and not isinstance(a, bool) or (
            isinstance(a, pd.Series) and pd.api.types.is_numeric_dtype(a) and not pd.api.types.is_bool_dtype(a))
        b_num = isinstance(b, (int, float)) and not isinstance(b, bool) or (
            isinstance(b, pd.Series) and pd.api.types.is_numeric_dtype(b) and not pd.api.types.is_bool_dtype(b))
        if a_num and isinstance(b, str):
            b = num(b)
        elif b_num and isinstance(a, str):
            a = num(a)
        a, b = _as_time(a), _as_time(b)
        return a, b

    def _geoms(self):
        return np.asarray(self.frame.geometry.values)

    def _geoms_4549(self):
        if self._g4549 is None:
            if self.metric_geoms is not None:
                self._g4549 = np.asarray(self.metric_geoms())
                if len(self._g4549) != len(self.index):
                    raise ValueError("metric_geoms() must return one geometry per frame row")
            else:
                self._g4549 = transform_geometry(self._geoms(), "EPSG:4326", MEASURE_CRS)
        return self._g4549

    # -- literals and values
    @handle(str, int, float, bool, _dt.date, _dt.datetime, values.Geometry, values.Envelope, values.Interval)
    def literal(self, node):
        return node

    @handle(ast.Attribute)
    def attribute(self, node):
        if node.name.lower() in GEOMETRY_NAMES or node.name == getattr(self.frame, "_geometry_column_name", None):
            return _GEOMETRY
        col = self.frame[node.name]
        kind = self.types.get(node.name, ANY)
        if kind == NUMBER and not pd.api.types.is_numeric_dtype(col):
            col = pd.to_numeric(col, errors="coerce")
        elif kind == STRING or (kind == ANY and col.dtype == object):
            if col.dtype == object:
                col = col.map(_as_text, na_action="ignore").astype("string")
            elif not pd.api.types.is_string_dtype(col.dtype):
                col = col.astype("string")
        elif kind == DATE:
            col = _as_time(col)
        return col

    @handle(ast.Function)
    def function(self, node, *args):
        fn = _STRING_FUNCS[node.name]
        a = args[0]
        if isinstance(a, pd.Series):
            s = a.astype("string")
            if node.name == "lower":
                return s.str.lower()
            if node.name == "upper":
                return s.str.upper()
            return s.map(lambda v: v if v is pd.NA else _strip_accents(v), na_action="ignore").astype("string")
        return fn(a)

    @handle(ast.Add, ast.Sub, ast.Mul, ast.Div)
    def arithmetic(self, node, a, b):
        a, b = self._coerce_pair(a, b)
        if not any(isinstance(v, pd.Series) for v in (a, b)):
            try:
                out = _ARITH[type(node)](a, b)
            except ZeroDivisionError:
                return None                    # unknown, like SQL's x / NULLIF(0, 0)
            return out if math.isfinite(out) else None
        with np.errstate(all="ignore"):
            out = _ARITH[type(node)](pd.to_numeric(a) if isinstance(a, pd.Series) else a,
                                     pd.to_numeric(b) if isinstance(b, pd.Series) else b)
        out = out.astype("float64")
        return out.where(np.isfinite(out.to_numpy(dtype="float64", na_value=np.nan)))

    # -- conditions
    @handle(ast.And)
    def and_(self, node, lhs, rhs):
        return self._series(lhs) & self._series(rhs)

    @handle(ast.Or)
    def or_(self, node, lhs, rhs):
        return self._series(lhs) | self._series(rhs)

    @handle(ast.Not)
    def not_(self, node, sub):
        return ~self._series(sub)

    @handle(ast.Include)
    def include(self, node):
        return self._series(not node.not_)

    @handle(*_CMP)
    def compare(self, node, a, b):
        a, b = self._coerce_pair(a, b)
        if a is None or b is None:
            return self._series(None)
        res = _CMP[type(node)](a, b)
        if not isinstance(res, pd.Series):
            return self._series(bool(res))
        return self._unknown_where(res.fillna(False) if res.dtype == object else res, a, b)

    @handle(ast.Between)
    def between(self, node, v, lo, hi):
        v, lo = self._coerce_pair(v, lo)
        v, hi = self._coerce_pair(v, hi)
        if v is None or lo is None or hi is None:
            return self._series(None)
        res = (v >= lo) & (v <= hi)
        res = self._unknown_where(res if isinstance(res, pd.Series) else self._series(bool(res)), v, lo, hi)
        return ~res if node.not_ else res

    @handle(ast.In)
    def in_(self, node, v, *options):
        if isinstance(v, pd.Series) and pd.api.types.is_numeric_dtype(v) and not pd.api.types.is_bool_dtype(v):
            opts = [float(o) if isinstance(o, str) else o for o in options]
        else:
            opts = list(options)
        opts = [_as_time(o) for o in opts]
        v = _as_time(v)
        if isinstance(v, pd.Series):
            res = self._unknown_where(v.isin(opts), v)
        else:
            res = self._series(None if v is None else any(v == o for o in opts))
        return ~res if node.not_ else res

    @handle(ast.IsNull)
    def is_null(self, node, v):
        if v is _GEOMETRY:
            res = self._series(shapely.is_missing(self._geoms()) | shapely.is_empty(self._geoms()))
        elif isinstance(v, pd.Series):
            res = self._series(v.isna().to_numpy())
        else:
            res = self._series(v is None)
        return ~res if node.not_ else res

    @handle(ast.Like)
    def like(self, node, v):
        pattern = like_regex(node.pattern)
        flags = re.IGNORECASE if node.nocase else 0
        if not isinstance(v, pd.Series):
            res = self._series(None if v is None else bool(re.fullmatch(pattern, str(v), flags)))
        else:
            s = v if pd.api.types.is_string_dtype(v.dtype) and v.dtype != object else v.astype("string")
            parts = []
            for start in range(0, len(s), _LIKE_CHUNK):      # the budget is checked between chunks
                self.tick()
                chunk = s.iloc[start:start + _LIKE_CHUNK]
                parts.append(chunk.str.fullmatch(pattern, flags=flags).to_numpy(dtype=bool, na_value=False))
            hits = np.concatenate(parts) if parts else np.zeros(0, dtype=bool)
            res = self._unknown_where(pd.Series(hits, index=self.index), s)
        return ~res if node.not_ else res

    # -- spatial
    def _missing_geometry(self) -> np.ndarray:
        return np.asarray(shapely.is_missing(self._geoms()), dtype=bool)

    @handle(*_SPATIAL)
    def spatial(self, node, a, b):
        a = self._geoms() if a is _GEOMETRY else self.cf.literal_geometry(a)
        b = self._geoms() if b is _GEOMETRY else self.cf.literal_geometry(b)
        hit = pd.Series(np.asarray(_SPATIAL[type(node)](a, b), dtype=bool), index=self.index)
        res = self._series(hit)
        res[self._missing_geometry()] = pd.NA
        return res

    @handle(ast.BBox)
    def bbox(self, node, a):
        g = box(node.minx, node.miny, node.maxx, node.maxy)
        if self.cf.crs != "EPSG:4326":
            g = transform_geometry(g, self.cf.crs, "EPSG:4326")
        res = self._series(np.asarray(shapely.intersects(self._geoms(), g), dtype=bool))
        res[self._missing_geometry()] = pd.NA
        return res

    @handle(ast.DistanceWithin, ast.DistanceBeyond)
    def dwithin(self, node, a, b):
        lit = b if a is _GEOMETRY else a
        d = _distance_m(node)
        target = metric_literal(self.cf, lit)
        hit = np.asarray(shapely.dwithin(self._geoms_4549(), target, d), dtype=bool)
        res = self._series(~hit if isinstance(node, ast.DistanceBeyond) else hit)
        res[self._missing_geometry()] = pd.NA
        return res

    # -- temporal (a date property against an instant or an interval)
    @handle(*_TEMPORAL)
    def temporal(self, node, v, lit):
        v = _as_time(v)
        if isinstance(lit, values.Interval):
            lo = _as_time(lit.start) if lit.start is not None else None
            hi = _as_time(lit.end, end=True) if lit.end is not None else None
        else:
            lo, hi = _as_time(lit), _as_time(lit, end=True)
        if not isinstance(v, pd.Series):
            raise _invalid("时间条件的第一个参数必须是日期属性")
        after_lo = v >= lo if lo is not None else pd.Series(True, index=self.index)
        before_hi = v <= hi if hi is not None else pd.Series(True, index=self.index)
        kind = type(node)
        if kind is ast.TimeBefore:
            res = v < lo if lo is not None else pd.Series(False, index=self.index)
        elif kind is ast.TimeAfter:
            res = v > hi if hi is not None else pd.Series(False, index=self.index)
        elif kind is ast.TimeEquals:
            res = after_lo & before_hi if not isinstance(lit, values.Interval) else (v == lo) & (v == hi)
        elif kind is ast.TimeDisjoint:
            res = ~(after_lo & before_hi)
        else:                                          # T_INTERSECTS, T_DURING for an instant
            res = after_lo & before_hi
        return self._unknown_where(res, v)


def _as_time(v, *, end: bool = False):
    """Dates and timestamps as timezone-free UTC pandas values; a DATE literal spans its whole day."""
    if isinstance(v, pd.Series):
        if pd.api.types.is_datetime64_any_dtype(v):
            return v.dt.tz_convert("UTC").dt.tz_localize(None) if getattr(v.dt, "tz", None) else v
        if v.dtype == object and len(v.dropna()) and all(isinstance(x, (_dt.date, pd.Timestamp))
                                                          for x in v.dropna().iloc[:100]):
            return pd.to_datetime(v, utc=True, errors="coerce").dt.tz_localize(None)
        return v
    if isinstance(v, _dt.datetime):
        ts = pd.Timestamp(v)
        return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo is not None else ts
    if isinstance(v, _dt.date):
        ts = pd.Timestamp(v)
        return ts + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1) if end else ts
    return v
