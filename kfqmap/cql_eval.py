"""Evaluation of a compiled CQL2 filter on a GeoDataFrame (``kfqmap.cql``): a pygeofilter ``Evaluator`` with one
``@handle`` method per node type, building pandas masks with SQL three-valued logic; LIKE without backtracking;
a time budget checked before every node."""
from __future__ import annotations

import datetime as _dt
import math
import operator
import re
import time
import unicodedata
from typing import Callable, Mapping

import numpy as np
import pandas as pd
import shapely
from pygeofilter import ast, values
from pygeofilter.backends.evaluator import Evaluator, handle
from shapely.geometry import box

from .crs import MEASURE_CRS, transform_geometry
from .cql_types import _TEMPORAL, ANY, DATE, GEOMETRY_NAMES, NUMBER, STRING, _as_text, _distance_m, _invalid
from .errors import FilterTimeout

# annotations name ``kfqmap.cql.CompiledFilter`` as text only: cql imports this module, never the other way

#: rows per LIKE chunk between two time-budget checks (~50 ms of matching each)
_LIKE_CHUNK = 20_000


def _strip_accents(s: str) -> str:
    return unicodedata.normalize("NFC", "".join(c for c in unicodedata.normalize("NFD", s)
                                                if not unicodedata.combining(c)))


_STRING_FUNCS: dict[str, Callable[[str], str]] = {"lower": str.lower, "upper": str.upper, "accenti": _strip_accents}


def metric_literal(cf: "CompiledFilter", lit):
    """A literal geometry of ``cf`` projected to EPSG:4549 (for S_DWITHIN), finite or a 400."""
    g = transform_geometry(cf.literal_geometry(lit), "EPSG:4326", MEASURE_CRS)
    if not np.all(np.isfinite(shapely.get_coordinates(g))):
        raise _invalid("S_DWITHIN 的几何无法换算到 EPSG:4549（离本区过远）")
    return g


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

