"""The changes KFQMap makes to pygeofilter's CQL2-text grammar, in one place, each checked when this module loads.

pygeofilter (pinned in ``pyproject.toml`` to the tested 0.4 series) ships a Lark LALR grammar for cql2-text. We
read that grammar file and apply small textual patches; if an upgrade changes the grammar so that a patch no
longer finds its anchor, importing this module raises ``RuntimeError`` naming the patch — a silent no-op patch
would quietly change which filters are accepted. The parser itself is built on first use (Lark needs ~1 s) and
then parses a probe for each patch before it is used.

The patches (what OGC 21-065 allows, or what planners need):

* ``not-condition``: ``NOT ( a AND b )`` — negation of a parenthesised condition, not only of one predicate;
* ``s-dwithin``: ``S_DWITHIN(geometry, POINT(121 31.3), 500[, meters|kilometers])`` — distance in metres;
* ``short-names``: one-letter property names (``a = 1``);
* ``quoted-quote``: ``'it''s'`` — a doubled quote inside a string is one quote (OGC 21-065 characterLiteral);
* ``temporal-functions``: ``T_BEFORE(built, DATE('2015-01-01'))`` — the standard's function form of the temporal
  operators (pygeofilter 0.4 only has an infix form);
* ``wkt-import``: the grammar's relative ``%import .wkt`` works from a grammar loaded as a string.

CQL2-JSON is not parsed by pygeofilter at all: ``kfqmap.cql_json`` reads it (the standard's ``between`` form,
bounded nesting, ``bbox`` in the right axis order).
"""
from __future__ import annotations

import os
from functools import lru_cache

from lark import Lark, v_args
from pygeofilter import ast
from pygeofilter.parsers.cql2_text import parser as _p

#: (name, anchor text in pygeofilter's grammar, replacement)
GRAMMAR_PATCHES: tuple[tuple[str, str, str], ...] = (
    ("not-condition",
     '| "NOT"i "(" predicate ")"                                       -> not_',
     '| "NOT"i "(" condition ")"                                       -> not_'),
    ("s-dwithin",
     "          | spatial_predicate\n",
     '          | spatial_predicate\n'
     '          | "S_DWITHIN"i "(" expression "," expression "," full_number ["," DIST_UNITS] ")" -> s_dwithin\n'),
    ("short-names",
     "attribute: /[a-zA-Z][a-zA-Z_:0-9.]+/",
     "attribute: /[a-zA-Z_][a-zA-Z_:0-9.]*/"),
    ("quoted-quote",
     "SINGLE_QUOTED: \"'\" /.*?/ \"'\"",
     "SINGLE_QUOTED: /'(?:[^']|'')*'/"),
    ("temporal-functions",
     "?temporal_predicate: expression _binary_temporal_predicate_func expression -> binary_temporal_predicate",
     "?temporal_predicate: expression _binary_temporal_predicate_func expression -> binary_temporal_predicate\n"
     '                   | _binary_temporal_predicate_func "(" expression "," expression ")" -> temporal_call'),
    ("wkt-import",
     "%import .wkt.ewkt_geometry",
     "%import wkt.ewkt_geometry"),
)
#: terminals added at the end of the grammar
GRAMMAR_ADDITIONS = '\nDIST_UNITS: /(meters|metres|meter|metre|m|kilometers|kilometres|kilometer|kilometre|km)\\b/i\n'

_PARSERS_DIR = os.path.dirname(os.path.dirname(_p.__file__))
_GRAMMAR_FILE = os.path.join(os.path.dirname(_p.__file__), "grammar.lark")


def patched_grammar(original: str) -> str:
    """``original`` with every patch applied; ``RuntimeError`` if any patch does not find its anchor exactly once."""
    grammar = original
    for name, anchor, replacement in GRAMMAR_PATCHES:
        count = grammar.count(anchor)
        if count != 1:
            raise RuntimeError(f"kfqmap: the pygeofilter cql2-text grammar patch '{name}' did not apply "
                               f"(its anchor occurs {count} times, expected once). pygeofilter changed: check "
                               f"kfqmap/_pygeofilter_patches.py against the installed version and the pin in "
                               f"pyproject.toml.")
        grammar = grammar.replace(anchor, replacement)
    return grammar + GRAMMAR_ADDITIONS


@v_args(meta=False, inline=True)
class _Transformer(_p.CQLTransformer):
    def s_dwithin(self, lhs, rhs, distance, units=None):
        return ast.DistanceWithin(lhs, rhs, distance, str(units).lower() if units is not None else "meters")

    def temporal_call(self, op, lhs, rhs):
        return self.binary_temporal_predicate(lhs, op, rhs)

    def SINGLE_QUOTED(self, token):
        return str(token)[1:-1].replace("''", "'")


with open(_GRAMMAR_FILE, encoding="utf-8") as _fh:
    #: pygeofilter's grammar with every patch applied (checked here, at import)
    PATCHED_GRAMMAR = patched_grammar(_fh.read())
#: inputs that parse only when the patches took effect
PROBES = ("NOT (a = 1 AND b = 2)", "S_DWITHIN(geometry, POINT(1 2), 5, km)", "x = 1", "n = 'it''s'",
          "T_BEFORE(built, DATE('2015-01-01'))")


@lru_cache(maxsize=1)
def text_parser() -> Lark:
    """The patched cql2-text parser (Lark LALR with pygeofilter's transformer), built on first use and probed."""
    parser = Lark(PATCHED_GRAMMAR, parser="lalr", maybe_placeholders=False, transformer=_Transformer(),
                  import_paths=[_PARSERS_DIR])
    # each patch must also change what parses (a grammar edit that Lark ignores would pass the text check)
    for probe in PROBES:
        parser.parse(probe)
    if parser.parse("n = 'it''s'").rhs != "it's":
        raise RuntimeError("kfqmap: the pygeofilter grammar patch 'quoted-quote' did not take effect")
    return parser


def parse_text(text: str):
    """cql2-text → pygeofilter AST (lark exceptions propagate; ``kfqmap.cql`` turns them into InvalidFilter)."""
    return text_parser().parse(text)
