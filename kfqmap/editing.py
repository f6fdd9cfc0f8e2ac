"""Edits of a layer's features (OGC API – Features Part 4 through the server, or from Python): checked against the
layer's rules (``kfqmap.feature_checks``), then applied by ``Collection.apply`` in one transaction that also writes
the history (``kfqmap.history``). One write path: routers → this module → ``Collection.apply`` → the provider.
Also the readers built on the history: a feature's changes, restoring one, the layer (and its statistics) at a
past time.
"""
from __future__ import annotations

import time
from typing import Any

from .errors import FeatureNotFound, HistoryNotFound, InvalidParameter, PreconditionRequired
from .feature_checks import (ENUMERATIONS, REQUIRED, check_feature, columns, feature_schema,  # noqa: F401
                             parse_content_crs, writable)
from .features import OutputCRS
from .providers.base import ChangeContext, WriteOp, WriteResult


# ------------------------------------------------------------------------------------------ writing
def body_note(body) -> str | None:
    """The 修改说明 a request body carries: the member ``note`` of a Feature, patch or transaction (a GeoJSON
    foreign member), or None (then the ``X-Change-Note`` header counts)."""
    note = body.get("note") if isinstance(body, dict) else None
    return note if isinstance(note, str) and note.strip() else None


def etag_of(header: str | None) -> str | None:
    """An ``If-Match`` value → the bare ETag (``"abc"`` / ``W/"abc"`` → ``abc``); ``*`` → None (any version)."""
    if header is None:
        return None
    value = header.strip()
    if value.startswith("W/"):
        value = value[2:]
    value = value.strip().strip('"')
    return None if value == "*" else value


def require_if_match(header: str | None, feature_id: str) -> str | None:
    """PUT/PATCH/DELETE need ``If-Match`` (428 without): the ETag the change is based on."""
    if header is None or not header.strip():
        raise PreconditionRequired(f"修改要素 {feature_id} 须带 If-Match 请求头（先 GET 该要素取得 ETag）"
                                   "（If-Match required）")
    return etag_of(header)


def apply(collection, ops: list[WriteOp], context: ChangeContext) -> WriteResult:
    """Apply checked ops in one transaction with their history rows (all or nothing)."""
    writable(collection)
    return collection.apply(ops, context)


def parse_operation(collection, item: Any, *, crs: OutputCRS | None, repair: bool) -> WriteOp:
    """One operation of a bulk transaction: ``{"op": "create", "feature": {...}}``, ``{"op": "replace"|"update",
    "id": "…", "ifMatch": "…", "feature"|"patch": {...}}`` or ``{"op": "delete", "id": "…", "ifMatch": "…"}``."""
    if not isinstance(item, dict) or item.get("op") not in ("create", "replace", "update", "delete"):
        raise InvalidParameter("每个操作须为 {op: create|replace|update|delete, …}", parameter="operations")
    op = item["op"]
    if op == "create":
        return WriteOp("create", feature=check_feature(collection, item.get("feature"), crs=crs, repair=repair))
    fid = item.get("id")
    if not isinstance(fid, str) or not fid:
        raise InvalidParameter(f"{op} 操作须给出要素 id", parameter="id")
    if_match = require_if_match(item.get("ifMatch"), fid)
    if op == "delete":
        return WriteOp("delete", feature_id=fid, if_match=if_match)
    body = item.get("feature") if op == "replace" else item.get("patch", item.get("feature"))
    return WriteOp(op, feature_id=fid, if_match=if_match,
                   feature=check_feature(collection, body, crs=crs, repair=repair, partial=op == "update"))


def feature_history(collection, feature_id: str, limit: int = 100) -> list:
    """The feature's changes (``history.Change``), newest first."""
    writable(collection)
    return collection.provider.history_of(feature_id, limit)


def restore_op(collection, feature_id: str, seq: int) -> WriteOp:
    """The op that brings a feature back to its state after history row ``seq`` (its ``after``): a replace
    when the feature exists, a create when it was deleted since, a delete when that change deleted it. The
    op carries the feature's current ETag, so a change made meanwhile still makes the restore fail (412)."""
    writable(collection)
    change = collection.provider.change(seq)
    if change is None or change.feature_id != feature_id:
        raise HistoryNotFound(f"要素 {feature_id} 没有第 {seq} 号修改记录（no such change）")
    try:
        current_etag = collection.provider.feature(feature_id)[2]
    except FeatureNotFound:
        current_etag = None
    target = change.after
    if target is None:
        if current_etag is None:
            raise InvalidParameter("该要素当前已不存在，无需恢复为“已删除”", parameter="change")
        return WriteOp("delete", feature_id=change.feature_id, if_match=current_etag)
    feature = {"type": "Feature", "geometry": target.get("geometry"),
               "properties": {k: v for k, v in (target.get("properties") or {}).items()}}
    if current_etag is None:
        return WriteOp("create", feature=feature)
    feature["properties"].pop("id", None)
    return WriteOp("replace", feature_id=change.feature_id, feature=feature, if_match=current_etag)


def read_with_etag(collection, feature_id: str, *, attempts: int = 10):
    """``(LayerState, ETag)`` of one feature that agree: the ETag is read with the layer's version in one store
    transaction and used only when the state has that very version (else the state is refreshed and read again),
    so a client never gets a new ETag on an old body. ``FeatureNotFound`` when the store lacks the feature."""
    state = collection.state()
    for _ in range(attempts):
        version, _, etag = collection.provider.feature(feature_id)
        state = collection.state()
        if state.version == version:
            return state, etag
        collection.refresh()
        time.sleep(0.05)       # a PostGIS version poller catches up within POLL_S
    return state, None


def asof(collection, when: str) -> list[dict]:
    """The layer's features at ``when`` (UTC, ``history.parse_time``), rebuilt from the history. A layer without
    a history (a read-only file, a database table KFQMap may not add its triggers to) → ``InvalidParameter``."""
    if not collection.keeps_history:
        raise InvalidParameter(f"图层 {collection.id} 没有修改历史（只读文件或不记录历史的数据表），不能查看过去某一时刻的"
                               "状态；请去掉 asof 查看当前状态（layer has no history）", parameter="asof")
    return collection.provider.asof(when)


def asof_frame(collection, when: str):
    """The layer at ``when`` as a GeoDataFrame (EPSG:4326, index = feature id), for statistics of a past date."""
    import geopandas as gpd

    from .collection import normalise_frame

    features = asof(collection, when)
    frame = gpd.GeoDataFrame.from_features(features, crs=4326) if features else gpd.GeoDataFrame(
        {"id": []}, geometry=gpd.GeoSeries([], crs=4326), crs=4326)
    return normalise_frame(frame, collection.layer)


def stats_asof(catalog, layer_id: str, unit: str, when: str):
    """``kfqmap.stats`` per-feature statistics of a layer as it was at ``when`` (``history.parse_time``)."""
    from .stats import frame_stats

    collection = catalog.collection(layer_id)
    if not collection.layer.is_spatial:
        raise InvalidParameter(f"图层 '{layer_id}' 没有几何，没有面积统计", parameter="layer")
    return frame_stats(asof_frame(collection, when), unit, layer=collection.layer)
