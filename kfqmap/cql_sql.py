"""A compiled CQL2 filter → a PostgreSQL/PostGIS ``WHERE`` condition, for the PostGIS provider's pushdown.

>>> cond, params = to_sql(parse_filter("status = '已完成' AND year <= 2023"),   # doctest: +SKIP
...                       columns={"status": "text", "year": "float8"}, geometry_column="geom", srid=4326)
>>> conn.execute(sql.SQL("SELECT id FROM {t} WHERE {c}").format(t=table, c=cond), params)   # doctest: +SKIP

Built on pygeofilter's ``Evaluator`` (one ``@handle`` per node type, like ``kfqmap.cql``'s in-memory evaluator)
over the same normalised, bounded and type-checked tree, so a filter the in-memory path refuses is refused here
with the same ``InvalidFilter``. Every literal is a bound parameter (``%s`` placeholders, values in the returned
list in placeholder order) and every identifier is quoted with ``psycopg.sql.Identifier``: nothing from the
filter text is ever spliced into SQL.

Semantics follow the in-memory evaluator:

* comparisons, BETWEEN, IN, IS NULL and the logic operators use SQL's own three-valued logic, which is what the
  in-memory masks imitate; a quoted number against a number column (``year = '2021'``) is bound as a number;
  text ordering uses ``COLLATE "C"`` (code-point order, as pandas compares);
* LIKE uses the same tokens (``%``, ``_``, ``\\`` escapes the next character) rewritten for PostgreSQL's LIKE
  with its default ``\\`` escape; CASEI/LOWER/UPPER are ``lower``/``upper``; ACCENTI needs the ``unaccent``
  extension and is refused here;
* arithmetic is in double precision and division by zero is NULL (``x / NULLIF(y, 0)``), as in memory;
* spatial predicates take the literal in EPSG:4326 (after ``filter-crs``) and, for a table in another SRID,
  transform the literal to the table's SRID so that the GiST index applies; ``S_DWITHIN`` measures metres in
  EPSG:4549 (``ST_Transform(geom, 4549)``, the literal projected by pyproj as in memory), with an
  index-assisted ``&&`` prefilter on a box expanded by the distance;
* dates and timestamps compare as timezone-free UTC; a DATE literal in a T_* predicate spans its whole day.
"""
from __future__ import annotations

import datetime as _dt
from typing import Any, Mapping

import shapely
from psycopg import sql
from pygeofilter import ast, values
from pygeofilter.backends.evaluator import Evaluator, handle

from .cql import CompiledFilter
from .cql_eval import _CMP, _as_time, like_tokens, metric_literal
from .cql_types import (_TEMPORAL, ANY, BOOLEAN, DATE, GEOMETRY, NUMBER, STRING, _distance_m, _invalid,
                        _TypeChecker)
from .crs import MEASURE_CRS, transform_geometry

#: PostgreSQL type names (``pg_type.typname`` or ``format_type``) → type-check types; anything else is text
_PG_TYPES = {
    **dict.fromkeys(("text", "varchar", "bpchar", "char", "name", "citext", "character varying", "character"), STRING),
    **dict.fromkeys(("int2", "int4", "int8", "float4", "float8", "numeric", "smallint", "integer", "bigint", "real",
                     "double precision", "decimal", "serial", "bigserial", "oid"), NUMBER),
    **dict.fromkeys(("bool", "boolean"), BOOLEAN),
    **dict.fromkeys(("date", "timestamp", "timestamptz", "timestamp without time zone",
                     "timestamp with time zone"), DATE),
    **dict.fromkeys(("geometry", "geography"), GEOMETRY),
}
_AS_TEXT = ("json", "jsonb", "uuid", "xml", "inet", "cidr", "macaddr", "money", "interval", "time", "timetz")
_SQL_OPS = {ast.Equal: "=", ast.NotEqual: "<>", ast.LessThan: "<", ast.LessEqual: "<=", ast.GreaterThan: ">",
            ast.GreaterEqual: ">="}
_SPATIAL_SQL = {
    ast.GeometryIntersects: "ST_Intersects", ast.GeometryDisjoint: "ST_Disjoint", ast.GeometryContains: "ST_Contains",
    ast.GeometryWithin: "ST_Within", ast.GeometryTouches: "ST_Touches", ast.GeometryCrosses: "ST_Crosses",
    ast.GeometryOverlaps: "ST_Overlaps", ast.GeometryEquals: "ST_Equals",
}
_ARITH_SQL = {ast.Add: "+", ast.Sub: "-", ast.Mul: "*", ast.Div: "/"}
_MEASURE_SRID = int(MEASURE_CRS.split(":")[1])


def pg_type(name: str) -> str:
    """A PostgreSQL column type name → the type-check type (``string``/``number``/``boolean``/``date``/…)."""
    base = str(name).lower().split("(")[0].strip().lstrip("_")
    return _PG_TYPES.get(base, STRING)


def to_sql(compiled: CompiledFilter, *, columns: Mapping[str, str], geometry_column: str,
           srid: int) -> tuple[sql.Composed, list]:
    """``compiled`` as a SQL boolean expression over a table with ``columns`` (property → PostgreSQL type) and
    geometry ``geometry_column`` in ``srid``; returns ``(condition, params)`` for ``cursor.execute``.

    Raises ``InvalidFilter`` exactly where ``compiled.mask(frame)`` would (unknown property → 400 naming it and
    listing the queryables; ill-typed expressions), plus for ACCENTI, which needs an extension."""
    types = {name: pg_type(t) for name, t in columns.items()}
    queryables = {**types, geometry_column: GEOMETRY}
    compiled.check(queryables, geometry_names=(geometry_column,))
    ev = _SQLEvaluator(compiled, columns, types, geometry_column, int(srid or 0))
    cond = ev.condition(ev.evaluate(compiled.ast))
    composed = cond if isinstance(cond, sql.Composed) else sql.Composed([cond])
    return composed, ev.params_in_order(composed)


class _Lit:
    """A literal not yet bound: its SQL form depends on what it is compared with."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


class _GeomRef:
    """The table's geometry column (spatial handlers decide how to reference it)."""


_GEOM = _GeomRef()


class _SQLEvaluator(Evaluator):
    def __init__(self, cf: CompiledFilter, columns: Mapping[str, str], types: Mapping[str, str],
                 geometry_column: str, srid: int):
        self.cf = cf
        self.columns = columns
        self.types = types
        self.geometry_column = geometry_column
        self.srid = srid
        self.checker = _TypeChecker(types, geometry_names=("geometry", "geom", "the_geom", "shape",
                                                           geometry_column))
        self._values: dict[int, Any] = {}
        self._placeholders: list[sql.Placeholder] = []   # keeps ids stable while the tree is alive

    # -- parameters
    def param(self, value) -> sql.Placeholder:
        ph = sql.Placeholder()
        self._placeholders.append(ph)
        self._values[id(ph)] = value
        return ph

    def params_in_order(self, composed) -> list:
        out: list = []
        stack = [composed]
        while stack:
            c = stack.pop()
            if isinstance(c, sql.Composed):
                stack.extend(reversed(list(c)))
            elif isinstance(c, sql.Placeholder) and id(c) in self._values:
                out.append(self._values[id(c)])
        return out

    def adopt(self, node, *sub_args):
        raise _invalid(f"不支持的过滤表达式：{type(node).__name__}")

    # -- values
    def value(self, x, *, kind: str = ANY) -> sql.Composable:
        if isinstance(x, _Lit):
            v = x.value
            if kind == NUMBER and isinstance(v, str):
                v = float(v)
            if isinstance(v, (_dt.date, _dt.datetime)):
                v = _as_time(v).to_pydatetime()
            if v is None:
                return sql.SQL("NULL")
            if isinstance(v, str):            # psycopg sends text untyped: '…' IS NULL would be indeterminate
                return sql.SQL("({p})::text").format(p=self.param(v))
            return self.param(v)
        if x is _GEOM:
            raise _invalid("geometry 只能用在空间条件里（S_INTERSECTS、S_WITHIN、S_DWITHIN …）")
        return x

    def condition(self, x) -> sql.Composable:
        if isinstance(x, _Lit):
            return sql.SQL("TRUE") if x.value is True else sql.SQL("FALSE") if x.value is False else sql.SQL("NULL")
        return x

    def kind(self, node) -> str:
        return self.checker.expr(node)

    @handle(str, int, float, bool, _dt.date, _dt.datetime, values.Geometry, values.Envelope, values.Interval)
    def literal(self, node):
        return _Lit(node)

    @handle(ast.Attribute)
    def attribute(self, node):
        if self.kind(node) == GEOMETRY:
            return _GEOM
        col = sql.Identifier(node.name)
        pg = str(self.columns.get(node.name, "text")).lower()
        if pg in _AS_TEXT:
            return sql.SQL("({c})::text").format(c=col)
        if pg in ("timestamptz", "timestamp with time zone"):
            return sql.SQL("({c} AT TIME ZONE 'UTC')").format(c=col)
        if pg in ("date",):
            return sql.SQL("({c})::timestamp").format(c=col)
        return col

    @handle(ast.Function)
    def function(self, node, arg):
        if node.name == "accenti":
            raise _invalid("ACCENTI() 在 PostGIS 图层上不可用（需要 unaccent 扩展）")
        fn = {"lower": "lower", "upper": "upper"}[node.name]
        return sql.SQL(fn + "(({a})::text)").format(a=self.value(arg))

    @handle(*_ARITH_SQL)
    def arithmetic(self, node, a, b):
        a, b = self.value(a, kind=NUMBER), self.value(b, kind=NUMBER)
        if isinstance(node, ast.Div):
            return sql.SQL("(({a})::float8 / NULLIF(({b})::float8, 0))").format(a=a, b=b)
        return sql.SQL("(({a})::float8 " + _ARITH_SQL[type(node)] + " ({b})::float8)").format(a=a, b=b)

    # -- conditions
    @handle(ast.And)
    def and_(self, node, lhs, rhs):
        return sql.SQL("(({a}) AND ({b}))").format(a=self.condition(lhs), b=self.condition(rhs))

    @handle(ast.Or)
    def or_(self, node, lhs, rhs):
        return sql.SQL("(({a}) OR ({b}))").format(a=self.condition(lhs), b=self.condition(rhs))

    @handle(ast.Not)
    def not_(self, node, sub):
        return sql.SQL("(NOT ({a}))").format(a=self.condition(sub))

    @handle(ast.Include)
    def include(self, node):
        return sql.SQL("FALSE" if node.not_ else "TRUE")

    def _pair(self, lhs_node, rhs_node, a, b):
        ka, kb = self.kind(lhs_node), self.kind(rhs_node)
        target = NUMBER if NUMBER in (ka, kb) else ka if ka != ANY else kb
        return self.value(a, kind=target), self.value(b, kind=target), target

    @handle(*_CMP)
    def compare(self, node, a, b):
        a, b, kind = self._pair(node.lhs, node.rhs, a, b)
        collate = sql.SQL(' COLLATE "C"') if kind == STRING and not isinstance(node, (ast.Equal, ast.NotEqual)) \
            else sql.SQL("")
        return sql.SQL("(({a}){c} " + _SQL_OPS[type(node)] + " ({b}))").format(a=a, b=b, c=collate)

    @handle(ast.Between)
    def between(self, node, v, lo, hi):
        kind = NUMBER if NUMBER in (self.kind(node.lhs), self.kind(node.low), self.kind(node.high)) else ANY
        out = sql.SQL("(({v}) BETWEEN ({lo}) AND ({hi}))").format(
            v=self.value(v, kind=kind), lo=self.value(lo, kind=kind), hi=self.value(hi, kind=kind))
        return sql.SQL("(NOT {x})").format(x=out) if node.not_ else out

    @handle(ast.In)
    def in_(self, node, v, *options):
        kind = self.kind(node.lhs)
        out = sql.SQL("(({v}) IN ({opts}))").format(
            v=self.value(v, kind=kind), opts=sql.SQL(", ").join(self.value(o, kind=kind) for o in options))
        return sql.SQL("(NOT {x})").format(x=out) if node.not_ else out

    @handle(ast.IsNull)
    def is_null(self, node, v):
        if v is _GEOM:
            g = sql.Identifier(self.geometry_column)
            out = sql.SQL("({g} IS NULL OR ST_IsEmpty({g}))").format(g=g)
        else:
            out = sql.SQL("(({v}) IS NULL)").format(v=self.value(v))
        return sql.SQL("(NOT {x})").format(x=out) if node.not_ else out

    @handle(ast.Like)
    def like(self, node, v):
        pattern = "".join("%" if k == "%" else "_" if k == "_" else ("\\" + c if c in "%_\\" else c)
                          for k, c in like_tokens(node.pattern))
        op = "ILIKE" if node.nocase else "LIKE"
        out = sql.SQL("((({v})::text) " + op + " {p})").format(v=self.value(v), p=self.param(pattern))
        return sql.SQL("(NOT {x})").format(x=out) if node.not_ else out

    # -- spatial
    def _geom(self) -> sql.Composable:
        g = sql.Identifier(self.geometry_column)
        if self.srid == 0:       # a generic column: each row by its own SRID, rows without one as WGS 84
            return sql.SQL("(CASE WHEN ST_SRID({g}) IN (0, 4326) THEN ST_SetSRID({g}, 4326) "
                           "ELSE ST_Transform({g}, 4326) END)").format(g=g)
        return g

    def _literal(self, geom, srid: int | None = None) -> sql.Composable:
        """A shapely geometry in EPSG:4326 as a bound WKB parameter, in ``srid`` (default: the table's)."""
        target = self.srid if srid is None else srid
        lit = sql.SQL("ST_GeomFromWKB({w}, 4326)").format(w=self.param(shapely.to_wkb(geom)))
        if target not in (0, 4326):
            lit = sql.SQL("ST_Transform({l}, {s})").format(l=lit, s=sql.SQL(str(int(target))))
        return lit

    def _geometry_operand(self, x):
        if x is _GEOM:
            return self._geom()
        return self._literal(self.cf.literal_geometry(x.value))

    @handle(*_SPATIAL_SQL)
    def spatial(self, node, a, b):
        return sql.SQL(_SPATIAL_SQL[type(node)] + "({a}, {b})").format(
            a=self._geometry_operand(a), b=self._geometry_operand(b))

    @handle(ast.BBox)
    def bbox(self, node, a):
        from shapely.geometry import box
        g = box(node.minx, node.miny, node.maxx, node.maxy)
        if self.cf.crs != "EPSG:4326":
            g = transform_geometry(g, self.cf.crs, "EPSG:4326")
        return sql.SQL("ST_Intersects({g}, {b})").format(g=self._geom(), b=self._literal(g))

    @handle(ast.DistanceWithin, ast.DistanceBeyond)
    def dwithin(self, node, a, b):
        lit = b if a is _GEOM else a
        d = _distance_m(node)
        target = metric_literal(self.cf, lit.value)
        metric_lit = sql.SQL("ST_GeomFromWKB({w}, {s})").format(w=self.param(shapely.to_wkb(target)),
                                                               s=sql.SQL(str(_MEASURE_SRID)))
        g = self._geom()
        if self.srid == _MEASURE_SRID:
            out = sql.SQL("ST_DWithin({g}, {l}, {d})").format(g=g, l=metric_lit, d=self.param(d))
        else:
            metric_g = sql.SQL("ST_Transform({g}, {s})").format(g=g, s=sql.SQL(str(_MEASURE_SRID)))
            out = sql.SQL("ST_DWithin({mg}, {l}, {d})").format(mg=metric_g, l=metric_lit, d=self.param(d))
            if self.srid != 0:
                # index-assisted prefilter: the literal's box grown by the distance (+1 m and 0.1 % for the
                # curvature of transformed edges), taken to the table's SRID
                box = sql.SQL("ST_Transform(ST_Expand({l}, {m}), {s})").format(
                    l=metric_lit, m=self.param(d * 1.001 + 1.0), s=sql.SQL(str(int(self.srid))))
                out = sql.SQL("({g} && {b} AND {x})").format(g=sql.Identifier(self.geometry_column), b=box, x=out)
        return sql.SQL("(NOT {x})").format(x=out) if isinstance(node, ast.DistanceBeyond) else out

    # -- temporal
    @handle(*_TEMPORAL)
    def temporal(self, node, v, lit):
        value = lit.value
        if isinstance(value, values.Interval):
            lo = _as_time(value.start) if value.start is not None else None
            hi = _as_time(value.end, end=True) if value.end is not None else None
        else:
            lo, hi = _as_time(value), _as_time(value, end=True)
        lo = lo.to_pydatetime() if lo is not None else None
        hi = hi.to_pydatetime() if hi is not None else None
        col = self.value(v)
        kind = type(node)
        within = sql.SQL("(({c}) >= {lo} AND ({c}) <= {hi})").format(
            c=col, lo=self.param(lo) if lo is not None else sql.SQL("({c})").format(c=col),
            hi=self.param(hi) if hi is not None else sql.SQL("({c})").format(c=col))
        if kind is ast.TimeBefore:
            return sql.SQL("(({c}) < {lo})").format(c=col, lo=self.param(lo)) if lo is not None else sql.SQL(
                "(CASE WHEN ({c}) IS NULL THEN NULL ELSE FALSE END)").format(c=col)
        if kind is ast.TimeAfter:
            return sql.SQL("(({c}) > {hi})").format(c=col, hi=self.param(hi)) if hi is not None else sql.SQL(
                "(CASE WHEN ({c}) IS NULL THEN NULL ELSE FALSE END)").format(c=col)
        if kind is ast.TimeEquals and isinstance(value, values.Interval):
            return sql.SQL("(({c}) = {lo} AND ({c}) = {hi})").format(c=col, lo=self.param(lo), hi=self.param(hi))
        if kind is ast.TimeDisjoint:
            return sql.SQL("(NOT {w})").format(w=within)
        return within
