"""docs/api.md names every route of the Features/stats/query routers and the documented bounds."""
from __future__ import annotations

import re
from pathlib import Path

from kfqmap import features as F
from server.routers import common, features, query, stats
from server.settings import APISettings

DOC = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text(encoding="utf-8")


def test_every_route_is_documented():
    for module in (common, features, stats, query):
        for route in module.router.routes:
            path = re.sub(r"\{(\w+)\}", lambda m: "{" + m.group(1) + "}", route.path)
            assert f"`{path}" in DOC or f" {path}" in DOC, f"{path} missing from docs/api.md"


def test_documented_bounds_match_code():
    assert f"default **{F.DEFAULT_LIMIT}**" in DOC
    assert f"maximum **{F.MAX_LIMIT:,}**" in DOC
    assert f"**{APISettings().max_body_bytes // (1024 * 1024)} MB**" in DOC
    assert f"max {query.MAX_HITS:,}" in DOC and f"default {query.DEFAULT_HITS:,}" in DOC
    for code in ("GCJ-02", "BD-09"):
        assert f"https://kfqmap.example/def/crs/{code}" in DOC


def test_search_bounds_are_documented():
    """/search refuses q over 100 characters and limit over 500: docs/api.md says so."""
    import inspect
    import typing

    sig = inspect.signature(query.search, eval_str=True)
    q_max = next(m.max_length for m in typing.get_args(sig.parameters["q"].annotation)[1].metadata)
    limit = sig.parameters["limit"]
    limit_max = next(m.le for m in typing.get_args(limit.annotation)[1].metadata if hasattr(m, "le"))
    assert f"`/search`: `q` at most {q_max} characters, `limit` default {limit.default}, max {limit_max}" in DOC
