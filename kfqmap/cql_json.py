"""CQL2-JSON (OGC 21-065 clause 8, ``cql2-json``) → a pygeofilter AST, strictly and with bounded nesting.

pygeofilter 0.4's own JSON parser reads ``between`` in a pre-standard form (``[p, [lo, hi]]``), puts a ``bbox``'s
numbers in the wrong slots, recurses without a bound and lets Python errors (``KeyError``, ``TypeError``) escape
on malformed input. This reader follows the standard's JSON schema (``{"op": ..., "args": [...]}``, ``{"property":
...}``, ``{"date": ...}``, ``{"timestamp": ...}``, ``{"interval": [...]}``, ``{"bbox": [...]}``, GeoJSON geometry
objects) and raises ``InvalidFilter`` naming what is wrong. It produces the same AST nodes as the cql2-text parser,
so both encodings go through one evaluator.

Also accepted: ``between`` as ``[p, [lo, hi]]`` (pygeofilter's older form), ``not`` / ``isNull`` with one object
instead of a one-element array, and our ``s_dwithin`` extension ``{"op": "s_dwithin", "args": [{"property":
"geometry"}, geometry, distance, "meters"]}``.
"""
from __future__ import annotations

import json
import math
from typing import Any

from pygeofilter import ast, values
from pygeofilter.cql2 import SPATIAL_PREDICATES_MAP, TEMPORAL_PREDICATES_MAP
from pygeofilter.util import parse_date, parse_datetime

from .errors import InvalidFilter

_COMPARISON = {"=": ast.Equal, "<>": ast.NotEqual, "!=": ast.NotEqual, "<": ast.LessThan, "<=": ast.LessEqual,
               ">": ast.GreaterThan, ">=": ast.GreaterEqual}
_ARITHMETIC = {"+": ast.Add, "-": ast.Sub, "*": ast.Mul, "/": ast.Div}
_FUNCTIONS = {"casei": "lower", "lower": "lower", "upper": "upper", "accenti": "accenti"}


def _fail(message: str):
    raise InvalidFilter(f"CQL2-JSON 过滤条件无效：{message}", parameter="filter")


def read(doc: Any, *, max_depth: int) -> Any:
    """A CQL2-JSON document (text or already-decoded) → pygeofilter AST. Nesting deeper than ``max_depth``
    JSON objects is refused before it is walked."""
    if isinstance(doc, (bytes, bytearray)):
        doc = doc.decode("utf-8", errors="replace")
    if isinstance(doc, str):
        try:
            doc = json.loads(doc, parse_constant=_reject_constant)
        except RecursionError:
            raise InvalidFilter(f"过滤条件嵌套过深（上限 {max_depth} 层）（limit: filter nesting depth = {max_depth}）",
                                parameter="filter") from None
        except ValueError as exc:
            _fail(f"不是合法的 JSON（{exc}）")
    return _Reader(max_depth).node(doc, 0)


def _reject_constant(name: str):
    _fail(f"JSON 中不允许 {name}（只接受有限数值）")


class _Reader:
    def __init__(self, max_depth: int):
        self.max_depth = max_depth

    def node(self, n: Any, depth: int) -> Any:
        if depth > self.max_depth:
            raise InvalidFilter(f"过滤条件嵌套过深（上限 {self.max_depth} 层）"
                                f"（limit: filter nesting depth = {self.max_depth}）", parameter="filter")
        if isinstance(n, bool) or isinstance(n, str):
            return n
        if isinstance(n, (int, float)):
            if isinstance(n, float) and not math.isfinite(n):
                _fail("数值必须是有限数")
            return n
        if n is None:
            _fail("不接受 null 作为值（判断缺失值请用 {\"op\": \"isNull\", \"args\": [...]}）")
        if isinstance(n, list):
            _fail("数组只能出现在 in 的取值列表、bbox 或 interval 中")
        if not isinstance(n, dict):
            _fail(f"无法识别的值 {type(n).__name__}")
        if "filter" in n and "op" not in n:          # {"filter-lang": "cql2-json", "filter": {...}}
            lang = n.get("filter-lang", "cql2-json")
            if lang != "cql2-json":
                _fail(f"filter-lang 是 {lang!r}，此处只接受 cql2-json")
            return self.node(n["filter"], depth + 1)
        if "property" in n:
            name = n["property"]
            if not isinstance(name, str) or not name.strip():
                _fail(f"property 必须是非空的属性名字符串，而不是 {json.dumps(name, ensure_ascii=False)[:40]}")
            return ast.Attribute(name)
        if "op" in n:
            return self.op(n, depth)
        if "type" in n and ("coordinates" in n or "geometries" in n):
            return self.geometry(n)
        if "bbox" in n:
            return self.bbox(n["bbox"])
        if "date" in n:
            return self.instant(n["date"], date_only=True)
        if "timestamp" in n:
            return self.instant(n["timestamp"], date_only=False)
        if "interval" in n:
            return self.interval(n["interval"])
        keys = ", ".join(sorted(map(str, n)))[:80]
        _fail(f"无法识别的对象（键：{keys}）；应为 op/args、property、date、timestamp、interval、bbox 或 GeoJSON 几何")

    # ------------------------------------------------------------------ literals
    def geometry(self, n: dict):
        if not isinstance(n.get("type"), str):
            _fail("GeoJSON 几何的 type 必须是字符串")
        return values.Geometry(n)

    def bbox(self, b):
        if not isinstance(b, list) or len(b) not in (4, 6) or not all(_is_number(v) for v in b):
            _fail("bbox 必须是 4 个（或 6 个）有限数值 [minx, miny, maxx, maxy]")
        if len(b) == 6:
            b = [b[0], b[1], b[3], b[4]]
        return values.Envelope(b[0], b[2], b[1], b[3])      # Envelope(x1, x2, y1, y2)

    def instant(self, text, *, date_only: bool):
        if not isinstance(text, str):
            _fail("date / timestamp 的值必须是字符串，如 {\"date\": \"2023-01-01\"}")
        try:
            return parse_date(text) if date_only else parse_datetime(text)
        except Exception:
            _fail(f"{'日期' if date_only else '时间戳'} {text[:40]!r} 无法解析（如 2023-01-01 / 2023-01-01T08:00:00Z）")

    def interval(self, items):
        if not isinstance(items, list) or len(items) != 2:
            _fail("interval 必须是两个元素的数组 [开始, 结束]")
        parsed = []
        for v in items:
            if v == "..":
                parsed.append(None)
            elif isinstance(v, str):
                parsed.append(self.instant(v, date_only=len(v) <= 10))
            elif isinstance(v, dict) and "property" in v:
                _fail("interval 的端点必须是日期或时间戳常量")
            else:
                _fail("interval 的端点必须是日期 / 时间戳字符串或 \"..\"")
        return values.Interval(*parsed)

    # ------------------------------------------------------------------ operators
    def op(self, n: dict, depth: int):
        op = n["op"]
        if not isinstance(op, str):
            _fail("op 必须是字符串")
        if "args" not in n:
            _fail(f"运算 {op!r} 缺少 args")
        args = n["args"]
        lop = op.lower()
        if lop in ("not", "isnull") and isinstance(args, dict):
            args = [args]
        if not isinstance(args, list):
            _fail(f"运算 {op!r} 的 args 必须是数组")
        sub = depth + 1

        def need(count: int | tuple[int, ...]):
            counts = count if isinstance(count, tuple) else (count,)
            if len(args) not in counts:
                _fail(f"运算 {op!r} 需要 {' 或 '.join(map(str, counts))} 个参数，给了 {len(args)} 个")

        if lop in ("and", "or"):
            if len(args) < 2:
                _fail(f"运算 {op!r} 至少需要 2 个参数")
            items = [self.node(a, sub) for a in args]
            return (ast.And if lop == "and" else ast.Or).from_items(*items)
        if lop == "not":
            need(1)
            return ast.Not(self.node(args[0], sub))
        if lop == "isnull":
            need(1)
            return ast.IsNull(self.node(args[0], sub), False)
        if op in _COMPARISON:
            need(2)
            return _COMPARISON[op](self.node(args[0], sub), self.node(args[1], sub))
        if lop == "between":
            need((2, 3))
            if len(args) == 2:                          # pygeofilter's older [p, [lo, hi]]
                if not isinstance(args[1], list) or len(args[1]) != 2:
                    _fail("between 的参数应为 [值, 下限, 上限]")
                lo, hi = args[1]
            else:
                lo, hi = args[1], args[2]
            return ast.Between(self.node(args[0], sub), self.node(lo, sub), self.node(hi, sub), False)
        if lop == "like":
            need(2)
            return ast.Like(self.node(args[0], sub), self.node(args[1], sub), False, "%", "_", "\\", False)
        if lop == "in":
            need(2)
            if not isinstance(args[1], list):
                _fail("in 的第二个参数必须是取值数组，如 [\"a\", \"b\"]")
            return ast.In(self.node(args[0], sub), [self.node(a, sub) for a in args[1]], False)
        if lop in _FUNCTIONS:
            need(1)
            return ast.Function(_FUNCTIONS[lop], [self.node(args[0], sub)])
        if op in _ARITHMETIC:
            need(2)
            return _ARITHMETIC[op](self.node(args[0], sub), self.node(args[1], sub))
        if lop == "s_dwithin":
            need((3, 4))
            units = args[3] if len(args) == 4 else "meters"
            if not isinstance(units, str):
                _fail("s_dwithin 的单位必须是字符串（meters / kilometers）")
            if not _is_number(args[2]):
                _fail("s_dwithin 的距离必须是数字（米）")
            return ast.DistanceWithin(self.node(args[0], sub), self.node(args[1], sub), args[2], units.lower())
        if lop in SPATIAL_PREDICATES_MAP:
            need(2)
            return SPATIAL_PREDICATES_MAP[lop](self.node(args[0], sub), self.node(args[1], sub))
        if lop in TEMPORAL_PREDICATES_MAP:
            need(2)
            return TEMPORAL_PREDICATES_MAP[lop](self.node(args[0], sub), self.node(args[1], sub))
        # anything else is a function call ({"op": "Foo", "args": [...]}); the type check names unknown ones
        return ast.Function(op, [self.node(a, sub) for a in args])


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
