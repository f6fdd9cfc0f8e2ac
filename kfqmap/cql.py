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
4. **type-check** against the layer's queryables (``check``; the rules are in ``kfqmap.cql_types``) — an
   unknown property is a 400 that names it and lists the queryables (one rule for items, export and query; see
   docs/analysis.md); comparing text with a number, arithmetic on text or booleans, IN lists of mixed types, a
   DATE against a text column are 400s.

Evaluation (``mask``; ``kfqmap.cql_eval``) is a pygeofilter ``Evaluator`` subclass: one ``@handle`` method per
node type, building pandas masks with SQL three-valued logic (a comparison with a missing value is unknown, and
unknown rows are not selected, also under ``NOT``). It checks a time budget before every node and inside long
LIKE scans and raises ``FilterTimeout`` when it is spent. LIKE never backtracks: runs of ``%`` collapse and each
``%``-separated segment is matched inside an atomic group (leftmost occurrence, never revisited), so the work is
linear in the value's length times the pattern's. ``kfqmap.cql_sql`` translates the same tree to PostGIS SQL.

Literal geometries are in CRS84 lon/lat unless the caller passes ``crs=`` (OGC ``filter-crs``). ``S_DWITHIN``
distances are metres measured in EPSG:4549 (CGCS2000 Gauss-Krüger CM 120E).
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import pandas as pd
import shapely
from pygeofilter import ast, values
from shapely.geometry import box, shape

from .crs import parse_crs, transform_geometry
from .cql_eval import _STRING_FUNCS, _MaskEvaluator, like_regex, like_tokens, metric_literal  # noqa: F401
from .cql_types import (ANY, BOOLEAN, DATE, FUNCTIONS, GEOMETRY, GEOMETRY_NAMES, INTERVAL,  # noqa: F401
                        MAX_DISTANCE_M, NUMBER, STRING, _distance_m, _invalid, _is_geometry_literal, _is_number,
                        _schema_type, _TypeChecker, frame_types)
from .errors import InvalidFilter

log = logging.getLogger("kfqmap.cql")


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


LANGS = ("cql2-text", "cql2-json")


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
