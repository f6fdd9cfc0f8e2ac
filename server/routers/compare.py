"""Comparison (对比分析), thin over ``kfqmap.compare``:

* ``POST /compare`` body ``{"a": layer, "b": FeatureCollection, "crs", "key", "by", "geometry"}`` — the layer
  against an uploaded version (an import not yet applied);
* ``GET /compare?a=&b=&key=id&by=`` — layer ``a`` (before) against layer ``b`` (after): features added, removed
  and changed (geometry, attributes), 亩 gained and lost, and with ``by`` (a polygon layer such as ``parks``) the
  same per zone; ``geometry=true`` adds each changed feature's GeoJSON geometry (B's; A's for a removed one, and
  ``geometry_a`` for a changed shape) for the viewer's highlight. Unknown layers: 404; a key that is missing or not unique, a ``by`` that is not a polygon layer: 400.
"""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query
from pydantic import BaseModel, Field

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


class UploadCompare(BaseModel):
    a: str = Field(max_length=64, description="当前图层 id（之前）")
    b: dict = Field(description="上传的版本：GeoJSON FeatureCollection（之后）")
    crs: str | None = Field(None, max_length=100, description="上传要素的坐标系（默认 WGS 84），如 EPSG:4549")
    key: str = Field("id", max_length=64)
    by: str | None = Field(None, max_length=64)
    geometry: bool = False


@router.post("/compare", name="compare_upload", summary="对比分析：当前图层与上传的版本（GeoJSON）")
def compare_upload(catalog: Annotated[Catalog, Depends(get_catalog)], body: Annotated[UploadCompare, Body()]):
    return JSONResponse(compare_mod.compare_upload(catalog, body.a, body.b, crs=body.crs, key=body.key, by=body.by,
                                                   with_geometry=body.geometry))
