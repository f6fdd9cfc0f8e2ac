"""``GET /audit?user=&layer=&from=&to=&f=json|xlsx`` (admins): every recorded change in a period, oldest first, with
the full before/after (JSON) or as the Excel report ``kfqmap audit --out`` writes. ``from``/``to`` are ISO 8601
(``2026-06-30``, ``2026-06-30T08:00:00Z``); a value without a zone is 北京时间; ``from`` ≤ time < ``to``."""
from __future__ import annotations

import io
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from kfqmap import audit as audit_report
from kfqmap import history
from kfqmap.accounts import Principal

from .. import auth
from ..responses import JSONResponse

router = APIRouter(tags=["审计 Audit"])
MAX_ROWS = 100_000
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get("/audit", name="audit", summary="审计：修改记录（管理员）")
async def audit(request: Request, principal: Annotated[Principal, Depends(auth.admin)],
                user: Annotated[str | None, Query(max_length=64, description="用户名")] = None,
                layer: Annotated[str | None, Query(max_length=64, description="图层 id")] = None,
                start: Annotated[str | None, Query(alias="from", max_length=40, description="起始时间（含）")] = None,
                end: Annotated[str | None, Query(alias="to", max_length=40, description="截止时间（不含）")] = None,
                f: Annotated[Literal["json", "xlsx"], Query(description="json（默认）或 xlsx")] = "json"):
    start_utc = history.parse_time(start, parameter="from")
    end_utc = history.parse_time(end, parameter="to")
    changes = await run_in_threadpool(lambda: audit_report.collect(
        request.app.state.catalog, user=user, layer=layer, start=start_utc, end=end_utc, limit=MAX_ROWS))
    if f == "xlsx":
        buffer = io.BytesIO()
        await run_in_threadpool(audit_report.write_xlsx, changes, buffer)
        return Response(buffer.getvalue(), media_type=XLSX,
                        headers={"Content-Disposition": 'attachment; filename="audit.xlsx"'})
    return JSONResponse({"changes": [c.as_json() for c in changes], "count": len(changes),
                         "time_zone": "at: UTC; at_beijing: 北京时间 (UTC+8)"})
