"""CQL2 filters (OGC 21-065) evaluated on a GeoDataFrame, vectorised.

>>> f = parse_filter("status = '已完成' AND year <= 2023")
>>> sorted(f.properties)
['status', 'year']
>>> mask = f.mask(frame)            # a boolean Series aligned on frame.index   # doctest: +SKIP

Parsing is done by pygeofilter's CQL2 grammar (never by string concatenation into SQL). We extend that
grammar in three small ways that the OGC text allows or that planners need:

* ``NOT ( a AND b )`` — negation of a parenthesised condition;
* ``S_DWITHIN(geometry, POINT(121 31.3), 500)`` (optionally ``, meters`` / ``kilometers``) — distance in metres,
  measured in EPSG:4549 (CGCS2000 Gauss-Krüger CM 120E);
* one-letter property names.

Evaluation builds pandas masks with SQL three-valued logic (a comparison with a missing value is unknown,
and unknown rows are not selected, also under ``NOT``). Literal geometries are in CRS84 lon/lat unless the
caller passes ``crs=`` (OGC ``filter-crs``).
"""
from __future__ import annotations

import math
import operator
import os
import re
import weakref
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import box, shape

from .crs import MEASURE_CRS, parse_crs, transform_geometry
from .errors import InvalidFilter

#: properties that name the feature geometry in a filter
GEOMETRY_NAMES = ("geometry", "geom", "the_geom", "shape")
#: the largest distance S_DWITHIN accepts (metres): the plan area is ~30 km across
MAX_DISTANCE_M = 50_000.0

_UNITS_M = {None: 1.0, "m": 1.0, "meter": 1.0, "meters": 1.0, "metre": 1.0, "metres": 1.0,
            "km": 1000.0, "kilometer": 1000.0, "kilometers": 1000.0, "kilometre": 1000.0, "kilometres": 1000.0,
            "米": 1.0, "公里": 1000.0, "千米": 1000.0}

LANGS = ("cql2-text", "cql2-json")


# ---------------------------------------------------------------------------------------------- parsing
@lru_cache(maxsize=1)
def _text_parser():
    """pygeofilter's cql2-text grammar, patched for NOT(condition), S_DWITHIN and 1-letter names."""
    from lark import Lark, v_args
    from pygeofilter import ast
    from pygeofilter.parsers.cql2_text import parser as p

    parsers_dir = os.path.dirname(os.path.dirname(p.__file__))
    with open(os.path.join(os.path.dirname(p.__file__), "grammar.lark"), encoding="utf-8") as fh:
        grammar = fh.read()
    grammar = grammar.replace(
        '| "NOT"i "(" predicate ")"                                       -> not_',
        '| "NOT"i "(" condition ")"                                       -> not_')
    grammar = grammar.replace(
        "          | spatial_predicate\n",
        '          | spatial_predicate\n'
        '          | "S_DWITHIN"i "(" expression "," expression "," full_number ["," DIST_UNITS] ")" -> s_dwithin\n',
        1)
    grammar = grammar.replace("attribute: /[a-zA-Z][a-zA-Z_:0-9.]+/", "attribute: /[a-zA-Z_][a-zA-Z_:0-9.]*/")
    grammar = grammar.replace("%import .wkt.ewkt_geometry", "%import wkt.ewkt_geometry")
    grammar += '\nDIST_UNITS: /(meters|metres|meter|metre|m|kilometers|kilometres|kilometer|kilometre|km)\\b/i\n'

    @v_args(meta=False, inline=True)
    class Transformer(p.CQLTransformer):
        def s_dwithin(self, lhs, rhs, distance, units=None):
            return ast.DistanceWithin(lhs, rhs, distance, str(units).lower() if units is not None else "meters")

    return Lark(grammar, parser="lalr", maybe_placeholders=False, transformer=Transformer(),
                import_paths=[parsers_dir])


def _parse_ast(text, lang: str):
    if lang == "cql2-json":
        from pygeofilter.parsers.cql2_json import parse as parse_json
        return parse_json(text)
    return _text_parser().parse(text)


def _syntax_message(exc: Exception, text: str) -> str:
    col = getattr(exc, "column", None)
    where = f"（第 {col} 个字符附近：…{text[max(0, col - 11):col + 9]}…）" if isinstance(col, int) and col > 0 else ""
    return (f"过滤条件 (CQL2) 无法解析{where}。示例：status = '已完成' AND year <= 2023；"
            "name LIKE '%园%'；S_INTERSECTS(geometry, POINT(121.0 31.37))；"
            "S_DWITHIN(geometry, POINT(121.0 31.37), 500)")


# ---------------------------------------------------------------------------------------------- result
@dataclass
class CompiledFilter:
    """A parsed CQL2 filter. ``mask(frame)`` evaluates it; ``properties`` lists the properties it names."""

    text: str
    lang: str
    ast: Any
    properties: frozenset[str]
    spatial: bool
    crs: str = "EPSG:4326"
    _geom_cache: dict = field(default_factory=dict, repr=False, compare=False)

    def check(self, queryables) -> None:
        """Raise ``InvalidFilter`` if the filter names a property outside ``queryables``."""
        allowed = set(queryables)
        unknown = sorted(p for p in self.properties if p not in allowed and p.lower() not in GEOMETRY_NAMES)
        if unknown:
            listed = "、".join(sorted(q for q in allowed if q not in GEOMETRY_NAMES)) or "（无）"
            raise InvalidFilter(f"过滤条件中的属性 '{unknown[0]}' 不存在。可查询的属性：{listed}、geometry",
                                parameter="filter")

    def mask(self, frame) -> pd.Series:
        """Boolean Series (index = ``frame.index``): True where the feature matches the filter."""
        cols = [c for c in frame.columns if c != getattr(frame, "_geometry_column_name", None)]
        self.check(cols)
        result = _Evaluator(frame, self).eval(self.ast)
        if isinstance(result, pd.Series):
            if result.dtype == object or str(result.dtype) != "boolean":
                try:
                    result = result.astype("boolean")
                except (TypeError, ValueError):
                    raise InvalidFilter("过滤条件不是一个真/假判断（例如缺少比较运算符）", parameter="filter") from None
            return result.fillna(False).astype(bool)
        if isinstance(result, (bool, np.bool_)):
            return pd.Series(bool(result), index=frame.index)
        raise InvalidFilter("过滤条件不是一个真/假判断（例如缺少比较运算符）", parameter="filter")

    def __call__(self, frame):
        return frame[self.mask(frame)]


def parse_filter(text, lang: str = "cql2-text", *, crs=None) -> CompiledFilter:
    """Parse a CQL2 filter (text or JSON) into a ``CompiledFilter``; raises ``InvalidFilter``.

    ``crs`` is the CRS of literal geometries (OGC ``filter-crs``; default CRS84 lon/lat).
    """
    if lang is None:
        lang = "cql2-text"
    lang = str(lang).lower()
    if lang not in LANGS:
        raise InvalidFilter(f"不支持的过滤语言 '{lang}'；可用：{', '.join(LANGS)}", parameter="filter-lang")
    if text is None or (isinstance(text, str) and not text.strip()):
        raise InvalidFilter("过滤条件为空", parameter="filter")
    info = parse_crs(crs, parameter="filter-crs")
    try:
        node = _parse_ast(text, lang)
    except InvalidFilter:
        raise
    except Exception as exc:  # lark / pygeofilter raise many types
        raise InvalidFilter(_syntax_message(exc, str(text)), parameter="filter") from None
    props, spatial = _collect(node)
    cf = CompiledFilter(text=str(text), lang=lang, ast=node, properties=frozenset(props), spatial=spatial,
                        crs=info.code)
    _validate_literals(node, cf)
    return cf


def _children(node):
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


def _collect(node):
    from pygeofilter import ast
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
        if isinstance(n, ast.Like):
            stack.append(n.lhs)
            continue
        stack.extend(_children(n))
    return props, spatial


def _validate_literals(node, cf: CompiledFilter) -> None:
    """Check distances and literal geometries once, at parse time, so errors come before any data is read."""
    from pygeofilter import ast
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, ast.SpatialDistancePredicate):
            _distance_m(n)
        if isinstance(n, ast.Node):
            stack.extend(_children(n))
    # literal geometries: parse them now (raises InvalidFilter on broken ones)
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, ast.Node):
            for s in _children(n):
                if _is_geometry_literal(s):
                    _literal_geometry(s, cf)
                else:
                    stack.append(s)


def _distance_m(n) -> float:
    units = (n.units or "meters")
    units = str(units).lower()
    if units not in _UNITS_M:
        raise InvalidFilter(f"S_DWITHIN 的距离单位 '{units}' 不支持；请用 meters 或 kilometers", parameter="filter")
    try:
        d = float(n.distance) * _UNITS_M[units]
    except (TypeError, ValueError):
        raise InvalidFilter("S_DWITHIN 的距离必须是数字（米）", parameter="filter") from None
    if not math.isfinite(d) or d < 0 or d > MAX_DISTANCE_M:
        raise InvalidFilter(f"S_DWITHIN 的距离 {n.distance} {units} 不合理：应在 0 到 {MAX_DISTANCE_M:,.0f} 米之间",
                            parameter="filter")
    return d


def _is_geometry_literal(v) -> bool:
    from pygeofilter import values
    return isinstance(v, (values.Geometry, values.Envelope)) or (
        hasattr(v, "name") and hasattr(v, "arguments") and str(getattr(v, "name", "")).lower() in ("bbox", "envelope"))


def _literal_geometry(v, cf: CompiledFilter):
    """A literal geometry (WKT, ENVELOPE, BBOX(...)) → shapely geometry in EPSG:4326."""
    key = id(v)
    if key in cf._geom_cache:
        return cf._geom_cache[key]
    from pygeofilter import values
    try:
        if isinstance(v, values.Envelope):
            g = box(min(v.x1, v.x2), min(v.y1, v.y2), max(v.x1, v.x2), max(v.y1, v.y2))
        elif isinstance(v, values.Geometry):
            g = shape(v.geometry)
        else:  # Function bbox(minx, miny, maxx, maxy)
            args = [float(a) for a in v.arguments]
            if len(args) != 4:
                raise ValueError("bbox needs 4 numbers")
            g = box(*args)
    except Exception:
        raise InvalidFilter("过滤条件中的几何无法解析（请用 WKT，如 POINT(121.0 31.37) 或 "
                            "POLYGON((lon lat, …))，经度在前）", parameter="filter") from None
    if g.is_empty:
        raise InvalidFilter("过滤条件中的几何为空", parameter="filter")
    if cf.crs != "EPSG:4326":
        g = transform_geometry(g, cf.crs, "EPSG:4326")
    if not g.is_valid:
        g = shapely.make_valid(g)
    cf._geom_cache[key] = g
    return g


# ---------------------------------------------------------------------------------------------- evaluation
_CMP = {
    "Equal": operator.eq, "NotEqual": operator.ne, "LessThan": operator.lt, "LessEqual": operator.le,
    "GreaterThan": operator.gt, "GreaterEqual": operator.ge,
}
_SPATIAL = {
    "GeometryIntersects": shapely.intersects, "GeometryDisjoint": shapely.disjoint,
    "GeometryContains": shapely.contains, "GeometryWithin": shapely.within, "GeometryTouches": shapely.touches,
    "GeometryCrosses": shapely.crosses, "GeometryOverlaps": shapely.overlaps, "GeometryEquals": shapely.equals,
}


def _like_regex(pattern: str, wildcard="%", singlechar="_", escapechar="\\") -> str:
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == escapechar and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if c == wildcard:
            out.append(".*")
        elif c == singlechar:
            out.append(".")
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


class _Evaluator:
    def __init__(self, frame, cf: CompiledFilter):
        self.frame = frame
        self.cf = cf
        self.index = frame.index
        self._g4549 = None

    # -- helpers
    def _bool(self, values) -> pd.Series:
        if isinstance(values, pd.Series):
            return values.astype("boolean")
        return pd.Series(pd.array(np.asarray(values, dtype=bool), dtype="boolean"), index=self.index)

    def _geoms(self):
        return np.asarray(self.frame.geometry.values)

    def _geoms_4549(self):
        if self._g4549 is None:
            self._g4549 = _metric_geometries(self.frame)
        return self._g4549

    def _is_geometry_attr(self, node) -> bool:
        from pygeofilter import ast
        return isinstance(node, ast.Attribute) and node.name.lower() in GEOMETRY_NAMES

    def _spatial_operand(self, node):
        if self._is_geometry_attr(node):
            return self._geoms()
        if _is_geometry_literal(node):
            return _literal_geometry(node, self.cf)
        raise InvalidFilter("空间条件的两边必须是 geometry 和一个几何（WKT / BBOX / ENVELOPE）", parameter="filter")

    # -- dispatch
    def eval(self, node):
        from pygeofilter import ast
        name = type(node).__name__
        if isinstance(node, ast.And):
            return self._bool(self.eval(node.lhs)) & self._bool(self.eval(node.rhs))
        if isinstance(node, ast.Or):
            return self._bool(self.eval(node.lhs)) | self._bool(self.eval(node.rhs))
        if isinstance(node, ast.Not):
            return ~self._bool(self.eval(node.sub_node))
        if name in _CMP:
            return self._compare(_CMP[name], node.lhs, node.rhs)
        if isinstance(node, ast.Between):
            v = self.value(node.lhs)
            lo, hi = self.value(node.low), self.value(node.high)
            v, lo = _align(v, lo)
            v, hi = _align(v, hi)
            res = self._nullable(v, (v >= lo) & (v <= hi))
            return ~res if node.not_ else res
        if isinstance(node, ast.Like):
            return self._like(node)
        if isinstance(node, ast.In):
            v = self.value(node.lhs)
            opts = [self.value(o) for o in node.sub_nodes]
            if isinstance(v, pd.Series):
                v2 = v
                if pd.api.types.is_numeric_dtype(v) and any(isinstance(o, str) for o in opts):
                    v2 = v.astype("string")
                    opts = [str(o) for o in opts]
                elif not pd.api.types.is_numeric_dtype(v) and any(isinstance(o, (int, float)) for o in opts):
                    v2 = pd.to_numeric(v, errors="coerce")
                res = self._nullable(v, v2.isin(opts))
            else:
                res = self._bool(pd.Series(v in opts, index=self.index))
            return ~res if node.not_ else res
        if isinstance(node, ast.IsNull):
            v = self.value(node.lhs)
            res = self._bool(v.isna() if isinstance(v, pd.Series) else pd.Series(v is None, index=self.index))
            return ~res if node.not_ else res
        if isinstance(node, ast.Include):
            return self._bool(np.full(len(self.index), not getattr(node, "not_", False)))
        if name in _SPATIAL:
            a, b = self._spatial_operand(node.lhs), self._spatial_operand(node.rhs)
            return self._bool(_SPATIAL[name](a, b))
        if isinstance(node, ast.BBox):
            a = self._spatial_operand(node.lhs)
            g = box(node.minx, node.miny, node.maxx, node.maxy)
            if self.cf.crs != "EPSG:4326":
                g = transform_geometry(g, self.cf.crs, "EPSG:4326")
            return self._bool(shapely.intersects(a, g))
        if isinstance(node, ast.SpatialDistancePredicate):
            d = _distance_m(node)
            lhs, rhs = node.lhs, node.rhs
            if not self._is_geometry_attr(lhs):
                lhs, rhs = rhs, lhs
            if not self._is_geometry_attr(lhs):
                raise InvalidFilter("S_DWITHIN 的一边必须是 geometry", parameter="filter")
            lit = transform_geometry(self._spatial_operand(rhs), "EPSG:4326", MEASURE_CRS)
            hit = shapely.dwithin(self._geoms_4549(), lit, d)
            return self._bool(~hit if node.op.value == "BEYOND" else hit)
        if isinstance(node, (ast.Comparison, ast.Predicate)):
            raise InvalidFilter(f"不支持的过滤运算：{name}", parameter="filter")
        # a bare expression used as a condition (e.g. a boolean property)
        v = self.value(node)
        if isinstance(v, pd.Series) and pd.api.types.is_bool_dtype(v):
            return self._bool(v)
        raise InvalidFilter("过滤条件不是一个真/假判断（例如缺少比较运算符）", parameter="filter")

    def _nullable(self, v, res):
        res = self._bool(res) if isinstance(res, pd.Series) else self._bool(pd.Series(res, index=self.index))
        if isinstance(v, pd.Series):
            res = res.copy()
            res[v.isna().to_numpy()] = pd.NA
        return res

    def _compare(self, op, lhs, rhs):
        a, b = self.value(lhs), self.value(rhs)
        a, b = _align(a, b)
        try:
            res = op(a, b)
        except TypeError:
            raise InvalidFilter("过滤条件比较了不同类型的值（例如文字与数字）", parameter="filter") from None
        if not isinstance(res, pd.Series):
            res = pd.Series(bool(res), index=self.index)
        res = self._bool(res.fillna(False) if res.dtype == object else res)
        for v in (a, b):
            if isinstance(v, pd.Series):
                res[v.isna().to_numpy()] = pd.NA
        return res

    def _like(self, node):
        v = self.value(node.lhs)
        pattern = node.pattern if isinstance(node.pattern, str) else self.value(node.pattern)
        if not isinstance(pattern, str):
            raise InvalidFilter("LIKE 的模式必须是文字，如 name LIKE '%园%'", parameter="filter")
        # CQL2 uses % and _ ; pygeofilter reports '.' as single char for the text grammar
        rx = _like_regex(pattern, "%", "_", "\\")
        flags = re.IGNORECASE if node.nocase else 0
        if not isinstance(v, pd.Series):
            res = pd.Series(bool(re.fullmatch(rx, str(v), flags)), index=self.index)
        else:
            s = v.astype("string")
            res = s.str.fullmatch(rx, case=not node.nocase)
        res = self._nullable(v, res)
        return ~res if node.not_ else res

    def value(self, node):
        from pygeofilter import ast
        if isinstance(node, ast.Attribute):
            if node.name.lower() in GEOMETRY_NAMES:
                raise InvalidFilter("geometry 只能用在空间条件里（S_INTERSECTS、S_WITHIN、S_DWITHIN …）",
                                    parameter="filter")
            col = self.frame[node.name]
            if col.dtype == object:
                non_null = col.dropna()
                if len(non_null) and non_null.map(lambda x: isinstance(x, (int, float)) and not isinstance(x, bool)).all():
                    col = pd.to_numeric(col, errors="coerce")
            return col
        if isinstance(node, ast.Function):
            fname = node.name.lower()
            args = [self.value(a) for a in node.arguments]
            if fname in ("lower", "casei") and len(args) == 1:
                a = args[0]
                return a.astype("string").str.lower() if isinstance(a, pd.Series) else str(a).lower()
            if fname == "upper" and len(args) == 1:
                a = args[0]
                return a.astype("string").str.upper() if isinstance(a, pd.Series) else str(a).upper()
            if fname == "accenti" and len(args) == 1:
                return args[0]
            raise InvalidFilter(f"不支持的函数 {node.name}()；可用：CASEI、LOWER、UPPER", parameter="filter")
        if isinstance(node, ast.Arithmetic):
            a, b = self.value(node.lhs), self.value(node.rhs)
            a = pd.to_numeric(a, errors="coerce") if isinstance(a, pd.Series) else a
            b = pd.to_numeric(b, errors="coerce") if isinstance(b, pd.Series) else b
            ops = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}
            try:
                return ops[node.op.value](a, b)
            except (TypeError, ZeroDivisionError):
                raise InvalidFilter("过滤条件中的算术运算无效", parameter="filter") from None
        if isinstance(node, ast.Node):
            raise InvalidFilter(f"不支持的过滤表达式：{type(node).__name__}", parameter="filter")
        if _is_geometry_literal(node):
            raise InvalidFilter("几何只能用在空间条件里（S_INTERSECTS、S_WITHIN、S_DWITHIN …）", parameter="filter")
        return node   # a literal: str, int, float, bool, date


# EPSG:4549 copies of frames' geometries, kept while the frame lives (the catalog's frames are long-lived and
# read-only, so repeated S_DWITHIN filters over a 200,000-feature layer reproject it once)
_METRIC_CACHE: dict[int, tuple[weakref.ref, object, np.ndarray]] = {}


def _metric_geometries(frame) -> np.ndarray:
    key = id(frame)
    values = frame.geometry.values
    hit = _METRIC_CACHE.get(key)
    if hit is not None and hit[0]() is frame and hit[1] is values:   # same frame, same geometry column
        return hit[2]
    geoms = transform_geometry(np.asarray(values), "EPSG:4326", MEASURE_CRS)
    try:
        ref = weakref.ref(frame)
        if hit is None:
            weakref.finalize(frame, _METRIC_CACHE.pop, key, None)
    except TypeError:        # not weak-referenceable: no caching
        return geoms
    _METRIC_CACHE[key] = (ref, values, geoms)
    return geoms


def _align(a, b):
    """Make a column and a literal comparable: numbers vs numeric-looking text, text vs numbers."""
    if isinstance(a, pd.Series) and not isinstance(b, pd.Series):
        return _align_series_scalar(a, b), b
    if isinstance(b, pd.Series) and not isinstance(a, pd.Series):
        return a, _align_series_scalar(b, a)
    if isinstance(a, pd.Series) and isinstance(b, pd.Series):
        if pd.api.types.is_numeric_dtype(a) != pd.api.types.is_numeric_dtype(b):
            return pd.to_numeric(a, errors="coerce"), pd.to_numeric(b, errors="coerce")
    return a, b


def _align_series_scalar(s: pd.Series, v):
    if isinstance(v, bool):
        return s
    if isinstance(v, (int, float)) and not pd.api.types.is_numeric_dtype(s):
        return pd.to_numeric(s, errors="coerce")
    if isinstance(v, str) and pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        return s.astype("string").str.replace(r"\.0$", "", regex=True)
    if isinstance(v, str):
        return s.astype("string")
    return s
