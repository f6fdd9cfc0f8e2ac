"""Indicator monitoring (监测预警), thin over ``kfqmap.monitor``:

* ``GET /indicators/status?year=&table=`` — every indicator's status in ``year`` from the entered actuals (达标,
  正常, 预警, 滞后, 超限, 无数据, 待核定, 不适用), the warning list (预警清单), colours, and per indicator its actuals
  and the plan's path (规划路径) for a chart;
* ``PUT /indicators/{id}/actuals/{year}`` — enter one actual: body ``{"value": 4.1, "source": "2023年统计公报",
  "unit": "%"}`` (``unit`` optional; when given it must be the indicator's). Answers the indicator's status in that
  year. Editors only once accounts exist (see the ``AUTH`` line below);
* ``PUT /indicators/{id}/threshold`` — body ``{"warn_threshold": 0.08}``: the bureau's warning threshold for one
  indicator (editors; the second ``AUTH`` line);
* ``GET /indicators/{id}/actuals`` — the indicator's actuals and the log of every change (who, when, old → new).

Bad input (unknown indicator: 404; a year outside 2021–2035, text instead of a number, a wrong unit: 400) is a
problem+json naming the parameter; nothing is written.
"""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query
from pydantic import BaseModel, Field, StrictFloat, StrictInt, StrictStr

from kfqmap import monitor
from kfqmap.actuals import ActualsStore
from kfqmap.catalog import Catalog

from ..dependencies import get_catalog
from ..responses import JSONResponse

router = APIRouter(tags=["指标监测 Indicator monitoring"])

IndicatorId = Annotated[str, Path(description="指标编号，如 t2_07", max_length=32)]
Year = Annotated[int, Path(description="年份（2021–2035）")]


class ThresholdBody(BaseModel):
    warn_threshold: StrictInt | StrictFloat | StrictStr = Field(
        description="预警阈值：偏离规划路径的比例（0–1，如 0.08 = 8%）")


class ActualBody(BaseModel):
    value: StrictInt | StrictFloat | StrictStr = Field(description="实际值（数字；字符串形式的数字按原样保存，如 \"0.0030\"）")
    source: str | None = Field(None, max_length=500, description="数据来源，如“2023年统计公报”")
    unit: str | None = Field(None, max_length=20, description="单位（可省略；给出时须与指标单位一致）")


def entered_by() -> str:
    """Who enters a value. Until accounts exist there is nobody to name."""
    return "未认证用户（unauthenticated）"


@router.get("/indicators/status", name="indicators_status", summary="指标监测：各指标某年状态与预警清单")
def indicators_status(catalog: Annotated[Catalog, Depends(get_catalog)],
                      year: Annotated[int | None, Query(description="年份（2020–2035，默认今年，限规划期）")] = None,
                      table: Annotated[str | None, Query(description="只看某表：表2 或 正文", max_length=8)] = None):
    return JSONResponse(monitor.indicator_status(catalog, year, table=table))


@router.put("/indicators/{id}/actuals/{year}", name="indicator_actual_put", summary="录入某指标某年的实际值（编辑）")
def put_actual(catalog: Annotated[Catalog, Depends(get_catalog)], id: IndicatorId, year: Year,
               body: Annotated[ActualBody, Body()],
               who: Annotated[str, Depends(entered_by)]):  # AUTH (merge): who: Annotated[Principal, Depends(auth.editor)], then by=who.name
    status = monitor.set_actual(catalog, id, year, body.value, source=body.source, by=who, via="api", unit=body.unit)
    return JSONResponse(status)


@router.put("/indicators/{id}/threshold", name="indicator_threshold_put", summary="设置某指标的预警阈值（编辑）")
def put_threshold(catalog: Annotated[Catalog, Depends(get_catalog)], id: IndicatorId,
                  body: Annotated[ThresholdBody, Body()],
                  who: Annotated[str, Depends(entered_by)]):  # AUTH (merge): who: Annotated[Principal, Depends(auth.editor)], then by=who.name
    monitor.set_threshold(catalog, id, body.warn_threshold, by=who)
    return JSONResponse(monitor.one_status(catalog, id, monitor.default_year()))


@router.get("/indicators/{id}/actuals", name="indicator_actuals", summary="某指标的实际值与修改记录")
def get_actuals(catalog: Annotated[Catalog, Depends(get_catalog)], id: IndicatorId):
    status = monitor.one_status(catalog, id, monitor.PLAN_END)      # an unknown id: FeatureNotFound → 404
    store = ActualsStore.of(catalog)
    return JSONResponse({"id": id, "name": status.name, "unit": status.unit, "actuals": status.actuals,
                         "log": store.log(id) if store is not None else []})
