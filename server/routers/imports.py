"""``POST /imports``: upload a GIS/CAD file, get the validation report (dry run, the default), or commit it.
``GET /imports`` lists the import log; ``POST /imports/{id}/undo`` restores the layer as it was before.

Thin over ``kfqmap.importing`` (the same code as ``kfqmap import``): the upload is written to a private scratch
folder under its own name, imported from there, and the folder removed. Multipart fields mirror the CLI options:
``layer`` or ``new_layer`` + ``title``/``group``, ``mode``, ``key``, ``crs``, ``swap_xy``, ``encoding``, ``table``,
``sheet``, ``xy``, ``wkt_column``, ``map`` (``源=目标;…``), ``drop_unmapped``, ``geometry``, ``accuracy``,
``illustrative``, a ``control_points`` CSV file with ``control_crs``/``control_method``/``max_rms``; plus ``commit``
(``true`` writes; anything else is a dry run), ``preview`` (the imported features as GeoJSON in the report) and
``drawing`` (only the file's geometries in its own coordinates, for picking control points).

Size limit: ``import_max_bytes`` (``KFQMAP_API_IMPORT_MAX_BYTES``, default 100 MB) for this path, 413 problem+json
beyond (``BodySizeLimit``).
A report with errors is not committed: 422 ``ImportRejected`` naming them; unreadable files, impossible CRS,
features outside Kunshan: 400 problem+json. The import's own work is not cut by the request time limit (a commit
is one transaction: it completes or leaves the store as it was).
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from kfqmap.catalog import Catalog
from kfqmap.errors import InvalidParameter
from kfqmap.export import scratch_dir
from kfqmap.importing import ImportOptions, drawing_preview, parse_mapping, run_import, undo_import
from kfqmap.providers.store_imports import import_log

from ..dependencies import get_catalog
from ..middleware import exempt_from_timeout

router = APIRouter(tags=["imports"])

#: AUTH (merge): the editing issue's guard goes here — EDITOR = [Depends(auth.editor)]
EDITOR: list = []

CHUNK = 1024 * 1024
_Text = Annotated[str | None, Form(max_length=200)]


def _safe_name(name: str | None) -> str:
    """The upload's file name without any directory part or odd characters (its suffix chooses the reader)."""
    base = Path(name or "upload").name
    base = re.sub(r"[^\w.\-\u4e00-\u9fff]", "_", base)[:120]
    return base if base.strip("._") else "upload"


async def _save(upload: UploadFile, folder: Path) -> Path:
    target = folder / _safe_name(upload.filename)
    with open(target, "wb") as fh:
        while chunk := await upload.read(CHUNK):
            fh.write(chunk)
    return target


@router.post("/imports", dependencies=EDITOR, summary="导入文件（默认只检查，commit=true 时写入）")
async def post_import(
    request: Request,
    file: Annotated[UploadFile, File(description="Shapefile(zip)/GPKG/GeoJSON/KML/KMZ/FlatGeobuf/CSV/XLSX/DXF")],
    catalog: Annotated[Catalog, Depends(get_catalog)],
    layer: _Text = None, new_layer: _Text = None, title: _Text = None,
    group: Annotated[str, Form(max_length=20)] = "额外",
    mode: Annotated[str, Form(max_length=10)] = "append", key: _Text = None, crs: _Text = None,
    swap_xy: Annotated[bool, Form()] = False, encoding: _Text = None, table: _Text = None, geometry: _Text = None,
    accuracy: Annotated[float | None, Form(ge=0, le=100_000)] = None, illustrative: Annotated[bool, Form()] = False,
    control_points: Annotated[UploadFile | None, File(description="控制点 CSV")] = None,
    control_crs: Annotated[str, Form(max_length=40)] = "EPSG:4549",
    control_method: Annotated[str, Form(max_length=12)] = "similarity",
    max_rms: Annotated[float, Form(gt=0, le=1000)] = 1.0,
    xy: _Text = None, wkt_column: _Text = None, sheet: _Text = None,
    map: Annotated[str | None, Form(max_length=2000, description="字段对应：源列=目标字段，多项用 ; 分隔")] = None,
    drop_unmapped: Annotated[bool, Form()] = False,
    user: _Text = None,
    preview: Annotated[bool, Form(description="true：报告中附上导入要素的 GeoJSON（预览叠加）")] = False,
    commit: Annotated[bool, Form(description="true：写入；默认只检查（dry run）")] = False,
    drawing: Annotated[bool, Form(description="true：只返回文件自身坐标下的图形（在图纸上选控制点用），不换算、不检查")] = False,
):
    exempt_from_timeout(request)
    folder = scratch_dir("import")
    try:
        path = await _save(file, folder)
        control = None
        if control_points is not None:
            (folder / "cp").mkdir()
            control = await _save(control_points, folder / "cp")
        cols = tuple(c.strip() for c in xy.split(",")) if xy else None
        if cols is not None and len(cols) != 2:
            raise InvalidParameter("xy 应写成 X列,Y列", parameter="xy")
        opts = ImportOptions(layer=layer, new_layer=new_layer, title=title, group=group, mode=mode, key=key, crs=crs,
                             swap_xy=swap_xy, encoding=encoding, table=table, geometry=geometry, accuracy_m=accuracy,
                             illustrative=illustrative, control_points=control, control_crs=control_crs,
                             control_method=control_method, max_rms_m=max_rms, user=user or "web",
                             xy=cols, wkt_column=wkt_column, sheet=sheet, user_map=parse_mapping(map),
                             keep_unmapped=not drop_unmapped,
                             source_name=_safe_name(file.filename), preview=preview,
                             dry_run=not commit)
        if drawing:
            return await run_in_threadpool(drawing_preview, path, opts)
        report = await run_in_threadpool(run_import, catalog, path, opts)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return JSONResponse(report.to_dict(), status_code=201 if report.committed else 200)


@router.get("/imports", summary="导入记录")
async def get_imports(catalog: Annotated[Catalog, Depends(get_catalog)]):
    if catalog.store is None:
        return {"imports": []}
    return {"imports": await run_in_threadpool(import_log, catalog.store)}


@router.post("/imports/{import_id}/undo", dependencies=EDITOR, summary="撤销一次导入")
async def post_undo(import_id: int, catalog: Annotated[Catalog, Depends(get_catalog)], user: _Text = None):
    if import_id < 1:
        raise InvalidParameter("导入编号必须是正整数", parameter="import_id")
    return await run_in_threadpool(undo_import, catalog, import_id, user=user or "web")
