"""对比分析 (``GET /compare``), thin over ``kfqmap.compare``: two layers (or, with the editing history, two states
of one layer) → added / removed / changed features with the areas gained and lost, by park and core.

* ``f=json`` (default): summary, one row per difference, zone rows, the rules
* ``f=geojson``: the differences as features (``change`` = added/removed/changed/gained/lost) for the map
* ``f=xlsx``: the report (说明, 汇总, 明细, 分区)
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from kfqmap import compare as C
from kfqmap.catalog import Catalog
from kfqmap.compare_xlsx import write_report
from kfqmap.export import scratch_dir

from ..dependencies import get_catalog
from ..responses import JSONResponse
from .export import _content_disposition

router = APIRouter(tags=["对比分析 Comparison"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Side = Annotated[str, Query(description="图层 id（对比前 a / 对比后 b）；图层 id@时间 = 该图层在那时的状态（由编辑历史重建），"
                                        "如 renewal_sites@2026-06-30T00:00:00Z", max_length=100)]


@router.get("/compare", name="compare", summary="对比分析：新增、删除、变化要素及增减面积（按园区/核心区汇总）",
            responses={200: {"content": {"application/json": {}, "application/geo+json": {}, XLSX: {}}}})
async def compare(catalog: Annotated[Catalog, Depends(get_catalog)], a: Side, b: Side,
                  match: Annotated[Literal["key", "overlap"], Query(
                      description="配对方式：key 按字段值（同一图层的两个状态），overlap 按重叠面积（两个不同图层）")] = "key",
                  key: Annotated[str, Query(description="match=key 的配对字段", max_length=64)] = "id",
                  unit: Annotated[str, Query(description="面积单位：mu（亩）、ha、km2、m2", max_length=20)] = "mu",
                  all: Annotated[bool, Query(description="也列出未变化的要素")] = False,
                  f: Annotated[Literal["json", "geojson", "xlsx"], Query(description="输出格式")] = "json"):
    result = await run_in_threadpool(C.compare, catalog, a, b, match=match, key=key, unit=unit)
    if f == "geojson":
        return JSONResponse(result.to_geojson(), media_type="application/geo+json")
    if f == "json":
        return JSONResponse(result.to_dict(unchanged=all))
    workdir = await run_in_threadpool(scratch_dir, "compare")
    try:
        path = await run_in_threadpool(write_report, result, Path(workdir) / "compare.xlsx")
        body = path.read_bytes()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return Response(body, media_type=XLSX,
                    headers={"Content-Disposition": _content_disposition(f"对比分析_{a}_{b}.xlsx")})
