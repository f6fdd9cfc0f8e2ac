"""OGC API – Features Part 4 (Create, Replace, Update, Delete), bulk transactions, feature history and restore.

Parse (body, ``Content-Crs``, ``If-Match``, ``X-Change-Note``), call ``kfqmap.editing`` (checks, then
``Collection.apply``: the change and its history row in one transaction), format. Permissions come from
``server/auth.py``: editors of the layer write, admins restore, any signed-in user reads history (client
addresses only for admins).

* ``POST /collections/{id}/items`` → 201, ``Location``, ``ETag``, the stored feature (CRS84).
* ``PUT`` / ``PATCH`` (JSON merge patch of ``properties`` and/or ``geometry``) / ``DELETE
  /collections/{id}/items/{fid}`` need ``If-Match: "<ETag>"`` (428 without; 412 with the current ETag when stale).
* ``?repair=true`` repairs an invalid geometry (``shapely.make_valid``) instead of 422.
* ``POST /collections/{id}/transactions`` ``{"operations": [...], "note": "…"}``: all or nothing.
* ``POST /collections/{id}/items/{fid}/split`` ``{"line": <LineString>, "note": "…"}`` + ``If-Match``: 分割 in one
  transaction (``kfqmap.split``): the feature keeps the largest part, the others are new features.
* ``GET /collections/{id}/items/{fid}/history`` newest first; ``POST …/history/{seq}/restore`` (admin).
* ``GET /collections/{id}/schema``: the write schema (JSON Schema: types, required, allowed values).
"""
from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from kfqmap import editing, split
from kfqmap.accounts import Principal
from kfqmap.errors import InvalidParameter
from kfqmap.models import Layer
from kfqmap.providers.base import WriteOp

from .. import auth
from ..dependencies import collection
from ..responses import MEDIA_GEOJSON, GeoJSONResponse, JSONResponse, SchemaResponse
from .common import url

router = APIRouter(tags=["OGC API – Features Part 4 编辑"])

CONFORMS_TO = [
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/update",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/optimistic-locking-etags",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/features",
]

FeatureId = Annotated[str, Path(alias="featureId", description="要素 id", max_length=200)]
Repair = Annotated[bool, Query(description="几何无效时由服务器修复（shapely.make_valid），而不是 422")]
MAX_OPERATIONS = 1000
_CRS84 = "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"


async def _json_body(request: Request):
    raw = await request.body()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidParameter("请求体不是合法的 JSON（invalid JSON body）", parameter="body") from None


def _collection(request: Request, layer: Layer):
    coll = request.app.state.catalog.collection(layer.id)
    editing.writable(coll)
    return coll


def _feature_response(feature: dict, etag: str | None, status: int = 200, headers: dict | None = None):
    headers = {"Content-Crs": _CRS84, **(headers or {})}
    if etag:
        headers["ETag"] = f'"{etag}"'
    return GeoJSONResponse(orjson.dumps(feature), status_code=status, headers=headers)


@router.post("/collections/{collectionId}/items", name="create_item", status_code=201,
             summary="新增要素（OGC API Features Part 4）", responses={201: {"content": {MEDIA_GEOJSON: {}}}})
async def create_item(request: Request, layer: Annotated[Layer, Depends(collection)],
                      principal: Annotated[Principal, Depends(auth.layer_editor)], repair: Repair = False):
    coll = _collection(request, layer)
    body = await _json_body(request)
    crs = editing.parse_content_crs(request.headers.get("content-crs"))
    checked = await run_in_threadpool(editing.check_feature, coll, body, crs=crs, repair=repair)   # reads the schema
    op = WriteOp("create", feature=checked)
    result = await run_in_threadpool(editing.apply, coll, [op],
                                     auth.change_context(request, principal, editing.body_note(body)))
    fid = result.ids[0]
    return _feature_response(result.features[0], result.etags[0], 201,
                             {"Location": url(request, "item", collectionId=layer.id, featureId=fid)})


async def _change(request: Request, layer: Layer, principal: Principal, feature_id: str, op: str, repair: bool):
    coll = _collection(request, layer)
    if_match = editing.require_if_match(request.headers.get("if-match"), feature_id)
    feature = body = None
    if op != "delete":
        body = await _json_body(request)
        crs = editing.parse_content_crs(request.headers.get("content-crs"))
        feature = await run_in_threadpool(editing.check_feature, coll, body, crs=crs, repair=repair,
                                          partial=op == "update")
    write = WriteOp(op, feature_id=feature_id, feature=feature, if_match=if_match)
    context = auth.change_context(request, principal, editing.body_note(body))
    result = await run_in_threadpool(editing.apply, coll, [write], context)
    if op == "delete":
        return Response(status_code=204)
    return _feature_response(result.features[0], result.etags[0])


@router.put("/collections/{collectionId}/items/{featureId}", name="replace_item", summary="替换要素（需 If-Match）")
async def replace_item(request: Request, layer: Annotated[Layer, Depends(collection)], feature_id: FeatureId,
                       principal: Annotated[Principal, Depends(auth.layer_editor)], repair: Repair = False):
    return await _change(request, layer, principal, feature_id, "replace", repair)


@router.patch("/collections/{collectionId}/items/{featureId}", name="update_item",
              summary="修改要素（JSON merge patch，需 If-Match）")
async def update_item(request: Request, layer: Annotated[Layer, Depends(collection)], feature_id: FeatureId,
                      principal: Annotated[Principal, Depends(auth.layer_editor)], repair: Repair = False):
    return await _change(request, layer, principal, feature_id, "update", repair)


@router.delete("/collections/{collectionId}/items/{featureId}", name="delete_item", status_code=204,
               summary="删除要素（需 If-Match）")
async def delete_item(request: Request, layer: Annotated[Layer, Depends(collection)], feature_id: FeatureId,
                      principal: Annotated[Principal, Depends(auth.layer_editor)]):
    return await _change(request, layer, principal, feature_id, "delete", False)


@router.post("/collections/{collectionId}/transactions", name="transaction",
             summary="批量修改（一个事务，全部成功或全部不做）")
async def transaction(request: Request, layer: Annotated[Layer, Depends(collection)],
                      principal: Annotated[Principal, Depends(auth.layer_editor)], repair: Repair = False):
    coll = _collection(request, layer)
    body = await _json_body(request)
    operations = body.get("operations") if isinstance(body, dict) else None
    if not isinstance(operations, list) or not operations:
        raise InvalidParameter("请求体须为 {\"operations\": [...]}（至少一个操作）", parameter="operations")
    if len(operations) > MAX_OPERATIONS:
        raise InvalidParameter(f"一个事务最多 {MAX_OPERATIONS} 个操作", parameter="operations")
    crs = editing.parse_content_crs(request.headers.get("content-crs"))
    ops = await run_in_threadpool(lambda: [editing.parse_operation(coll, item, crs=crs, repair=repair)
                                           for item in operations])
    result = await run_in_threadpool(editing.apply, coll, ops,
                                     auth.change_context(request, principal, editing.body_note(body)))
    return JSONResponse(_transaction_results(request, layer, ops, result))


def _transaction_results(request: Request, layer: Layer, ops: list[WriteOp], result) -> dict:
    """``{version, results: [{op, id, etag, href}]}``: what a committed transaction did, one entry per op."""
    return {"version": result.version, "results": [
        {"op": op.op, "id": fid, "etag": f'"{etag}"' if etag else None,
         "href": url(request, "item", collectionId=layer.id, featureId=fid) if op.op != "delete" else None}
        for op, fid, etag in zip(ops, result.ids, result.etags)]}


@router.post("/collections/{collectionId}/items/{featureId}/split", name="split_item",
             summary="分割面要素（一条分割线；一个事务：原要素保留最大的部分，其余部分为新要素；需 If-Match）")
async def split_item(request: Request, layer: Annotated[Layer, Depends(collection)], feature_id: FeatureId,
                     principal: Annotated[Principal, Depends(auth.layer_editor)]):
    coll = _collection(request, layer)
    if_match = editing.require_if_match(request.headers.get("if-match"), feature_id)
    body = await _json_body(request)
    crs = editing.parse_content_crs(request.headers.get("content-crs"))
    line = body.get("line") if isinstance(body, dict) else None
    plan = await run_in_threadpool(split.split_ops, coll, feature_id, line, if_match=if_match, crs=crs)
    context = auth.change_context(request, principal, editing.body_note(body))
    if not context.note:
        context = auth.change_context(request, principal, plan.note)
    result = await run_in_threadpool(editing.apply, coll, plan.ops, context)
    return JSONResponse({**_transaction_results(request, layer, plan.ops, result), "parts": plan.parts})


# ------------------------------------------------------------------------------------------ history
@router.get("/collections/{collectionId}/items/{featureId}/history", name="item_history",
            summary="要素的修改历史（最新在前；需登录）")
async def item_history(request: Request, layer: Annotated[Layer, Depends(collection)], feature_id: FeatureId,
                       principal: Annotated[Principal, Depends(auth.signed_in)],
                       limit: Annotated[int, Query(ge=1, le=1000)] = 100):
    coll = request.app.state.catalog.collection(layer.id)
    changes = []             # a read-only layer has no recorded changes
    if coll.writable and coll.keeps_history:
        changes = await run_in_threadpool(editing.feature_history, coll, feature_id, limit)
    out = [c.as_json() for c in changes]
    if not principal.is_admin:
        for c in out:
            c["address"] = None
    return JSONResponse({"collection": layer.id, "feature_id": feature_id, "changes": out,
                         "time_zone": "at: UTC; at_beijing: 北京时间 (UTC+8)"})


@router.post("/collections/{collectionId}/items/{featureId}/history/{seq}/restore", name="restore_item",
             summary="恢复到某次修改后的版本（管理员；恢复本身也记入历史）")
async def restore_item(request: Request, layer: Annotated[Layer, Depends(collection)], feature_id: FeatureId,
                       seq: Annotated[int, Path(ge=1)], principal: Annotated[Principal, Depends(auth.admin)]):
    coll = _collection(request, layer)
    op = await run_in_threadpool(editing.restore_op, coll, feature_id, seq)
    context = auth.change_context(request, principal, restored_from=seq)
    if not context.note:
        context = auth.change_context(request, principal, note=f"恢复到第 {seq} 号修改后的版本", restored_from=seq)
    result = await run_in_threadpool(editing.apply, coll, [op], context)
    if op.op == "delete":
        return Response(status_code=204)
    return _feature_response(result.features[0], result.etags[0])


@router.get("/collections/{collectionId}/schema", name="write_schema", summary="图层的编辑模式（JSON Schema）",
            responses={200: {"content": {"application/schema+json": {}}}})
async def write_schema(request: Request, layer: Annotated[Layer, Depends(collection)],
                       principal: Annotated[Principal, Depends(auth.require_read)]):
    coll = _collection(request, layer)
    schema = await run_in_threadpool(editing.feature_schema, coll)
    schema["$id"] = url(request, "write_schema", collectionId=layer.id)
    return SchemaResponse(schema)
