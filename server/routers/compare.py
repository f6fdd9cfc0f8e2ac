"""Comparison (对比分析), thin over ``kfqmap.compare``:

* ``GET /compare?a=&b=&key=id&by=`` — layer ``a`` (before) against layer ``b`` (after): features added, removed
  and changed (geometry, attributes), 亩 gained and lost, and with ``by`` (a polygon layer such as ``parks``) the
  same per zone; ``geometry=true`` adds each changed feature's GeoJSON geometry (B's; A's for a removed one, and
  ``geometry_a`` for a changed shape) for the viewer's highlight. Unknown layers: 404; a key that is missing or not unique, a ``by`` that is not a polygon layer: 400.
"""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from kfqmap import compare as compare_mod
from kfqmap.catalog import Catalog

from ..dependencies import get_catalog
from ..responses import JSONResponse

router = APIRouter(tags=["对比分析 Comparison"])

LayerId = Annotated[str, Query(description="图层 id", max_length=64)]


@router.get("/compare", name="compare", summary="对比分析：两个图层（或同一图层的两个版本）的新增、删除、修改与增减面积")
def compare(catalog: Annotated[Catalog, Depends(get_catalog)], a: LayerId, b: LayerId,
            key: Annotated[str, Query(description="匹配要素的属性（两边都有且唯一）", max_length=64)] = "id",
            by: Annotated[str | None, Query(description="按此面图层汇总，如 parks、cores", max_length=64)] = None,
            geometry: Annotated[bool, Query(description="附带变化要素的几何（GeoJSON，WGS 84），供地图高亮")] = False):
    return JSONResponse(compare_mod.compare(catalog, a, b, key=key, by=by, with_geometry=geometry))
