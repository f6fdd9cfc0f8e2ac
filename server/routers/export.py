"""Download endpoint: ``GET /export`` and ``POST /export`` (same options plus a drawn geometry).

Parse, call :func:`kfqmap.export.export_layers`, stream the file. The export is written to a private temporary
directory first (so a bad request is a 4xx problem+json before any byte is sent, and nothing half-written is
ever served), then streamed in 64 KB chunks with the format's media type and a ``Content-Disposition``
attachment name; the temporary directory is removed when the response has been sent.

Bounds: every text field has a maximum length (as on GET); at most ``export_concurrency`` exports run at once
and ``export_queue`` wait (beyond: 503 ``ServerBusy`` with ``Retry-After``); each may take
``export_timeout_s`` (then 504 ``WorkTimeout``). Map images (PNG/PDF) are drawn in a child process that exits
afterwards, so their memory goes back to the system. Temporary folders live in the scratch folder
(``kfqmap.export.scratch_dir``); what a killed server left there is removed when the next one starts.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated, Any, Iterator
from urllib.parse import quote

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import StreamingResponse
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError, field_validator
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from kfqmap.catalog import Catalog
from kfqmap.export import FORMATS, default_filename, export_layers, get_format, scratch_dir

from ..dependencies import get_catalog
from ..middleware import exempt_from_timeout
from ..models import check_geojson

router = APIRouter(tags=["export"])

CHUNK = 64 * 1024
_FORMATS_DOC = "、".join(f"{name}（{f.title_zh}）" for name, f in FORMATS.items())


class ExportRequest(BaseModel):
    """Body of ``POST /export``: the GET options plus a drawn geometry."""

    layers: list[Annotated[str, Field(max_length=64)]] | Annotated[str, Field(max_length=2000)] = Field(
        description="图层 id 列表，或逗号分隔的字符串")
    format: str = Field("geojson", max_length=32, description=f"导出格式：{_FORMATS_DOC}")
    crs: str | None = Field(None, max_length=200,
                            description="输出坐标系（EPSG:4326/4490/4549/4528/3857 或 GCJ-02）；默认按格式")
    bbox: list[float] | Annotated[str, Field(max_length=400)] | None = Field(None, description="范围 minx,miny,maxx,maxy")
    bbox_crs: str | None = Field(None, alias="bbox-crs", max_length=200, description="bbox 的坐标系（默认 CRS84）")
    geometry: dict[str, Any] | None = Field(None, description="绘制的范围（GeoJSON 几何、Feature 或 FeatureCollection）")
    geometry_crs: str | None = Field(None, alias="geometry-crs", max_length=200,
                                     description="范围几何的坐标系（默认 WGS 84 经纬度）")
    filter: str | None = Field(None, max_length=20000, description="CQL2 文本过滤条件")
    title: str | None = Field(None, max_length=200, description="地图/报表标题")
    size: str | None = Field(None, max_length=40, description="图片尺寸：A4、A3、297x210mm、1600x1200px …")
    dpi: float | None = Field(None, ge=72, le=600, allow_inf_nan=False, description="图片分辨率（72–600）")
    asof: str | None = Field(None, max_length=40, description=(
        "导出单个图层在某一时刻的状态（由修改历史重建，仅可编辑的内置数据库图层；不与 filter 同用），"
        "如 2026-06-30T00:00:00Z 或 2026-06-30；无时区按北京时间"))

    @field_validator("layers")
    @classmethod
    def _few_layers(cls, value):
        if isinstance(value, list) and len(value) > 100:
            raise ValueError("at most 100 layers")
        return value

    model_config = {"populate_by_name": True}


def build_request(**fields) -> ExportRequest:
    """An ``ExportRequest`` from query parameters; a field out of bounds is a 400 like any parameter."""
    try:
        return ExportRequest(**fields)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


def _stream(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            yield chunk


def _content_disposition(filename: str) -> str:
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


async def export_response(request: Request, catalog: Catalog, req: ExportRequest, *, items=None) -> StreamingResponse:
    """Run one export into a private temp dir and stream it (also used by ``items?f=gpkg`` …)."""
    fmt = get_format(req.format)
    layers = req.layers if isinstance(req.layers, list) else [p.strip() for p in req.layers.split(",") if p.strip()]
    bbox = ",".join(str(v) for v in req.bbox) if isinstance(req.bbox, list) else req.bbox
    if req.geometry is not None:
        check_geojson(req.geometry)
    options = {k: v for k, v in {"title": req.title, "size": req.size, "dpi": req.dpi}.items() if v is not None}
    filename = default_filename(layers, fmt.name)
    when = None
    if req.asof is not None:
        from kfqmap.history import parse_asof
        when = parse_asof(req.asof)
    settings = request.app.state.settings
    exempt_from_timeout(request)          # bounded below: a place in line, then export_timeout_s of work
    async with request.app.state.export_slots:
        workdir = await run_in_threadpool(scratch_dir, "export")
        try:
            result = await run_in_threadpool(
                export_layers, catalog, layers, fmt.name, workdir / filename, req.crs, bbox=bbox or None,
                geometry=req.geometry, filter=req.filter or None, bbox_crs=req.bbox_crs,
                geometry_crs=req.geometry_crs, options=options, isolate=settings.export_isolate,
                time_limit=settings.export_timeout_s, items=items, asof=when)
        except BaseException:
            shutil.rmtree(workdir, ignore_errors=True)
            raise
    headers = {
        "Content-Disposition": _content_disposition(filename),
        "Content-Length": str(result.path.stat().st_size),
        "X-KFQMap-CRS": result.crs.code,
        "X-KFQMap-Features": str(result.features),
    }
    return StreamingResponse(_stream(result.path), media_type=fmt.media_type, headers=headers,
                             background=BackgroundTask(shutil.rmtree, workdir, True))


@router.get("/export/formats", summary="可用的导出格式", name="export_formats",
            description="每种导出格式的名称、扩展名、媒体类型、默认坐标系和可用坐标系（网页查看器据此填写导出对话框）。")
async def export_formats() -> dict:
    return {"formats": [{"name": f.name, "title_zh": f.title_zh, "extension": f.extension, "media_type": f.media_type,
                         "default_crs": f.default_crs, "crs": list(f.crs), "tables": not f.spatial_only}
                        for f in FORMATS.values()]}


@router.get("/export", summary="导出图层（下载文件）",
            description=f"把所选图层导出为文件并下载。格式：{_FORMATS_DOC}。与 bbox 或过滤条件相交/匹配的要素整体导出。")
async def export_get(
    request: Request,
    catalog: Annotated[Catalog, Depends(get_catalog)],
    layers: Annotated[str, Query(description="图层 id，逗号分隔，例如 cores,parks", max_length=2000)],
    format: Annotated[str, Query(description=f"导出格式：{_FORMATS_DOC}", max_length=32)] = "geojson",
    crs: Annotated[str | None, Query(description="输出坐标系：EPSG:4326、4490、4549、4528、3857 或 GCJ-02；默认按格式",
                                     max_length=200)] = None,
    bbox: Annotated[str | None, Query(description="范围 minx,miny,maxx,maxy（默认 CRS84 经度,纬度）",
                                      max_length=400)] = None,
    bbox_crs: Annotated[str | None, Query(alias="bbox-crs", description="bbox 的坐标系", max_length=200)] = None,
    filter: Annotated[str | None, Query(description="CQL2 文本过滤条件", max_length=4000)] = None,
    title: Annotated[str | None, Query(description="地图/报表标题", max_length=200)] = None,
    size: Annotated[str | None, Query(description="图片尺寸：A4、A3、297x210mm、1600x1200px", max_length=40)] = None,
    dpi: Annotated[float | None, Query(description="图片分辨率（72–600）", ge=72, le=600, allow_inf_nan=False)] = None,
    asof: Annotated[str | None, Query(description=(
        "导出单个图层在某一时刻的状态（由修改历史重建，仅可编辑的图层；不与 filter 同用），如 2026-06-30；"
        "无时区按北京时间"), max_length=40)] = None,
):
    req = build_request(layers=layers, format=format, crs=crs, bbox=bbox, bbox_crs=bbox_crs, filter=filter,
                        title=title, size=size, dpi=dpi, asof=asof)
    return await export_response(request, catalog, req)


@router.post("/export", summary="按绘制范围导出图层（下载文件）",
             description="与 GET /export 相同，另可在请求体中给出绘制的范围几何（GeoJSON，默认 WGS 84）。")
async def export_post(request: Request, catalog: Annotated[Catalog, Depends(get_catalog)],
                      req: Annotated[ExportRequest, Body()]):
    return await export_response(request, catalog, req)
