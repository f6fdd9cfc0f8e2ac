"""Statistics and progress (non-OGC JSON), thin over ``kfqmap.stats``; the indicator table via ``kfqmap.features``.

* ``GET /stats/layers?unit=mu`` — every spatial layer's totals (no per-feature rows)
* ``GET /stats/layers/{id}?unit=&by={other_layer}&filter=`` — one layer, per feature; with ``by``: the layer's area
  inside each feature of ``by`` (``overlay_stats``); with ``filter`` (CQL2 text): only the features passing it
* ``GET /stats/groups?unit=`` — per group of the plan's structure
* ``GET /stats/overlay?a=&b=&unit=`` — area of layer ``a`` inside each feature of ``b``
* ``GET /stats/progress?year=`` — the 5000亩 programme and the indicators' trajectory at ``year``
* ``GET /indicators`` — the indicator rows (表1, 表2, 正文), optionally filtered by equality on any column

Units: ``mu``/亩 (default), ``ha``/公顷, ``km2``, ``m2``, ``wan_m2``. Areas are ellipsoidal (CGCS2000).
"""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from kfqmap import features as F
from kfqmap import stats
from kfqmap.catalog import Catalog
from kfqmap.errors import InvalidParameter

from ..dependencies import get_catalog
from ..errors import public_detail
from ..responses import JSONResponse

router = APIRouter(tags=["统计 Statistics"])

Unit = Annotated[str, Query(description="面积单位：mu（亩，默认）、ha（公顷）、km2、m2、wan_m2（万平方米）", max_length=20)]
LayerId = Annotated[str, Query(description="图层 id", max_length=64)]


@router.get("/stats/layers", name="stats_layers", summary="各空间图层的面积/长度/数量合计")
def stats_layers(catalog: Annotated[Catalog, Depends(get_catalog)], unit: Unit = "mu"):
    """Every spatial layer; a layer whose store fails now is listed under ``unavailable`` (the rest still add up)."""
    ids, failed = catalog.readable([layer.id for layer in catalog.spatial_layers()])
    body = {"unit": unit, "layers": [stats.layer_stats(catalog, lid, unit, features=False).model_dump(mode="json")
                                     for lid in ids]}
    if failed:
        body["unavailable"] = {lid: public_detail(exc) for lid, exc in failed.items()}
    return JSONResponse(body)


@router.get("/stats/layers/{id}", name="stats_layer", summary="一个图层逐要素统计；by= 时为叠加统计")
def stats_layer(catalog: Annotated[Catalog, Depends(get_catalog)],
                layer_id: Annotated[str, Path(alias="id", description="图层 id", max_length=64)],
                unit: Unit = "mu",
                by: Annotated[str | None, Query(description="另一图层 id：统计本图层落在其每个要素内的面积",
                                                max_length=64)] = None,
                filter: Annotated[str | None, Query(description="CQL2 文本过滤：只统计符合条件的要素（如 year <= 2023）",
                                                    max_length=20000)] = None,
                asof: Annotated[str | None, Query(max_length=40, description=(
                    "某一时刻的统计（由修改历史重建，可编辑图层），如 2026-06-30；无时区按北京时间；不与 by、filter 同用"))] = None):
    if asof is not None:
        from kfqmap import editing, history
        if by or filter:
            raise InvalidParameter("asof 不能与 by 或 filter 同用", parameter="asof")
        when = history.parse_asof(asof)
        return JSONResponse(editing.stats_asof(catalog, layer_id, unit, when))
    if by:
        return JSONResponse(stats.overlay_stats(catalog, layer_id, by, unit))
    return JSONResponse(stats.layer_stats(catalog, layer_id, unit, filter=filter))


@router.get("/stats/groups", name="stats_groups", summary="按规划结构分组统计（两轴三带、两核多园…）")
def stats_groups(catalog: Annotated[Catalog, Depends(get_catalog)], unit: Unit = "mu"):
    return JSONResponse({"unit": unit, "groups": stats.group_stats(catalog, unit)})


@router.get("/stats/overlay", name="stats_overlay", summary="叠加统计：图层 a 在图层 b 每个要素内的面积")
def stats_overlay(catalog: Annotated[Catalog, Depends(get_catalog)], a: LayerId, b: LayerId, unit: Unit = "mu"):
    return JSONResponse(stats.overlay_stats(catalog, a, b, unit))


@router.get("/stats/progress", name="stats_progress", summary="规划进度：5000亩低效用地与指标轨迹")
def stats_progress(catalog: Annotated[Catalog, Depends(get_catalog)],
                   year: Annotated[int | None, Query(description="年份（2020–2035，默认今年，限于规划期）")] = None):
    return JSONResponse(stats.progress(catalog, year))


@router.get("/indicators", name="indicators", summary="发展指标表（表1、表2、正文中的数字目标）")
def indicators(request: Request, catalog: Annotated[Catalog, Depends(get_catalog)]):
    """Every indicator row; ``?table=表1`` (any column) narrows by equality. Unknown parameters are a 400."""
    index = catalog.collection("indicators").state().items
    query = F.ItemsQuery(properties=F.check_properties(index, dict(request.query_params)), limit=F.MAX_LIMIT)
    rows = index.records(query)
    return JSONResponse({"count": len(rows), "indicators": rows})

