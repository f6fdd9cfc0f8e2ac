"""Edits of a layer's features (OGC API – Features Part 4 through the server, or from Python): checked against the
layer's schema and geometry rules, then applied by ``Collection.apply`` in one transaction that also writes the
history (``kfqmap.history``). One write path: routers → this module → ``Collection.apply`` → the provider.

**Schema of a writable layer** (``feature_schema``): the store's columns and their types (``integer``, ``number``,
``boolean``, ``string``, ``json``). Rules a feature must meet (else ``InvalidFeature``, HTTP 422):

* no property the layer lacks; each value of its column's type or ``null`` (an integer column takes whole numbers
  only; a number column any finite number; strings up to ``MAX_TEXT`` characters);
* ``name`` is required (not null, not blank) wherever the layer has it (docs/CONTRACTS.md: every feature has one);
* **allowed values** come from the data contract, not from guessing at the data: ``ENUMERATIONS`` lists the
  properties whose values docs/CONTRACTS.md fixes (``low_efficiency_land.status`` 已完成/实施中/未启动,
  ``parks.park_type``, ``indicators.attribute``); any other text property is free text;
* the geometry: a GeoJSON geometry of the layer's family (polygon layers take Polygon/MultiPolygon…), in WGS 84 after
  ``Content-Crs`` is applied, finite, inside lon/lat bounds and valid (OGC simple features). An invalid one is
  refused with shapely's reason (``Self-intersection[121.01 31.38]``) unless ``repair=True``: then
  ``shapely.make_valid`` repairs it and the parts of the layer's family are kept (still refused when nothing is left).
* a new feature's ``id`` is the client's (unique in the layer; no ``/``, ``?``, ``#`` or spaces) or made by the
  store (``<layer>-<n>``).
"""
from __future__ import annotations

import json
import math
import re
import time
from typing import Any

import shapely
from shapely.geometry import shape

from .errors import (FeatureNotFound, HistoryNotFound, InvalidFeature, InvalidParameter, PreconditionRequired,
                     ReadOnlyLayer)
from .features import OutputCRS, parse_output_crs, to_wgs84
from .providers.base import ChangeContext, WriteOp, WriteResult

#: the text properties whose allowed values the data contract fixes (docs/CONTRACTS.md), (layer, property) → values
ENUMERATIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("low_efficiency_land", "status"): ("已完成", "实施中", "未启动"),
    ("parks", "park_type"): ("城市生活园区", "特色产业园区", "老旧工业区"),
    ("indicators", "attribute"): ("预期性", "约束性"),
}
#: properties every feature of a layer that has them must fill
REQUIRED = ("name",)
MAX_TEXT = 10_000
_ID = re.compile(r"^[^/?#\s]{1,200}$")
_FAMILIES = {"Point": ("Point", "MultiPoint"), "MultiPoint": ("Point", "MultiPoint"),
             "LineString": ("LineString", "MultiLineString"), "MultiLineString": ("LineString", "MultiLineString"),
             "Polygon": ("Polygon", "MultiPolygon"), "MultiPolygon": ("Polygon", "MultiPolygon")}
_JSON_TYPES = {"integer": "integer", "number": "number", "boolean": "boolean", "string": "string",
               "json": ["array", "object"]}


def writable(collection) -> None:
    """Raise ``ReadOnlyLayer`` unless the collection can be edited with history (the embedded store)."""
    if not collection.writable:
        raise ReadOnlyLayer(f"图层 {collection.id} 来自只读文件（{collection.layer.source}），不能在线编辑；"
                            "要编辑请使用内置数据库（KFQMAP_STORE=gpkg）（read-only layer）")
    if not collection.keeps_history:
        raise ReadOnlyLayer(f"图层 {collection.id} 的数据源不支持修改留痕，暂不能在线编辑"
                            "（editing needs a store that records history）")


def columns(collection) -> dict[str, str]:
    writable(collection)
    return collection.provider.columns()


def feature_schema(collection) -> dict[str, Any]:
    """The layer's write schema as JSON Schema (for an attribute form): types, ``required``, ``enum``. A layer
    that cannot be edited has none (``InvalidParameter``; its read schema is ``/queryables``)."""
    try:
        cols = columns(collection)
    except ReadOnlyLayer as exc:
        raise InvalidParameter(f"{exc.message}；只读图层没有编辑模式，属性见 /collections/{collection.id}/queryables",
                               parameter="collectionId") from None
    props: dict[str, Any] = {}
    for name, kind in cols.items():
        spec: dict[str, Any] = {"type": [_JSON_TYPES[kind], "null"] if kind != "json" else ["array", "object", "null"]}
        if name in REQUIRED:
            spec["type"] = _JSON_TYPES[kind]
        enum = ENUMERATIONS.get((collection.id, name))
        if enum:
            spec["enum"] = [*enum, None]
        if name == "id":
            spec["readOnly"] = True
        props[name] = spec
    layer = collection.layer
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
            "title": layer.title_zh, "properties": props, "additionalProperties": False,
            "required": [r for r in REQUIRED if r in cols],
            "x-geometry": {"type": list(_FAMILIES.get(layer.geometry_type, (layer.geometry_type,)))
                           if layer.is_spatial else None}}


# ------------------------------------------------------------------------------------------ checking
def parse_content_crs(value: str | None) -> OutputCRS | None:
    """``Content-Crs: <http://www.opengis.net/def/crs/EPSG/0/4549>`` → the CRS (its axis order), None = CRS84."""
    if value is None or not value.strip():
        return None
    return parse_output_crs(value.strip().strip("<>").strip(), parameter="Content-Crs")


def _geometry(layer, value, crs: OutputCRS | None, repair: bool) -> dict | None:
    if value is None:
        if layer.is_spatial:
            raise InvalidFeature("要素缺少几何（geometry is required）", parameter="geometry")
        return None
    if not layer.is_spatial:
        raise InvalidFeature(f"图层 {layer.id} 没有几何，geometry 须为 null", parameter="geometry")
    try:
        geom = shape(value)
    except Exception:  # noqa: BLE001 - shapely raises many kinds for malformed GeoJSON
        raise InvalidFeature("geometry 不是合法的 GeoJSON 几何（invalid GeoJSON geometry）", parameter="geometry") from None
    coords = shapely.get_coordinates(geom)
    if geom.is_empty or not len(coords):
        raise InvalidFeature("geometry 为空（empty geometry）", parameter="geometry")
    if not (coords == coords).all() or not all(math.isfinite(v) for v in coords.ravel()):
        raise InvalidFeature("坐标须为有限数（coordinates must be finite）", parameter="geometry")
    if crs is not None and not crs.is_storage:
        geom = to_wgs84(geom, crs)
        coords = shapely.get_coordinates(geom)
    if not ((abs(coords[:, 0]) <= 180).all() and (abs(coords[:, 1]) <= 90).all()):
        raise InvalidFeature("坐标超出经纬度范围：请用 WGS 84 经纬度，或以 Content-Crs 说明坐标系"
                             "（coordinates outside lon/lat; declare Content-Crs）", parameter="geometry")
    family = _FAMILIES.get(layer.geometry_type, (layer.geometry_type,))
    if not geom.is_valid:
        reason = shapely.is_valid_reason(geom)
        if not repair:
            raise InvalidFeature(f"几何无效：{reason}；可修正后重交，或加 ?repair=true 由服务器修复"
                                 f"（invalid geometry: {reason}）", parameter="geometry")
        geom = _keep_family(shapely.make_valid(geom), family)
        if geom is None or geom.is_empty or not geom.is_valid:
            raise InvalidFeature(f"几何无效且无法修复为 {'/'.join(family)}：{reason}（invalid geometry）",
                                 parameter="geometry")
    if geom.geom_type not in family:
        raise InvalidFeature(f"图层 {layer.id} 只接受 {' / '.join(family)}，收到 {geom.geom_type}", parameter="geometry")
    return json.loads(shapely.to_geojson(geom))


def _keep_family(geom, family: tuple[str, ...]):
    """The parts of a repaired geometry that belong to the layer's family, as one geometry."""
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in family] if geom.geom_type not in family else [geom]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    merged = shapely.union_all(parts)
    return merged if merged.geom_type in family else None


def _value(layer_id: str, name: str, kind: str, value):
    if value is None:
        if name in REQUIRED:
            raise InvalidFeature(f"属性 {name} 不能为空（{name} is required）", parameter=name)
        return None
    ok = {"integer": isinstance(value, int) and not isinstance(value, bool),
          "number": isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value),
          "boolean": isinstance(value, bool),
          "string": isinstance(value, str),
          "json": isinstance(value, (list, dict))}[kind]
    if not ok:
        want = {"integer": "整数", "number": "数值", "boolean": "true/false", "string": "文本", "json": "数组或对象"}[kind]
        raise InvalidFeature(f"属性 {name} 须为{want}，收到 {value!r}（{name} must be {kind}）", parameter=name)
    if kind == "string":
        if len(value) > MAX_TEXT:
            raise InvalidFeature(f"属性 {name} 过长（最多 {MAX_TEXT} 字）", parameter=name)
        if name in REQUIRED and not value.strip():
            raise InvalidFeature(f"属性 {name} 不能为空（{name} is required）", parameter=name)
        allowed = ENUMERATIONS.get((layer_id, name))
        if allowed and value not in allowed:
            raise InvalidFeature(f"属性 {name} 只能取 {' / '.join(allowed)}，收到 '{value}'", parameter=name)
    return value


def check_feature(collection, feature: Any, *, crs: OutputCRS | None = None, repair: bool = False,
                  partial: bool = False) -> dict:
    """A GeoJSON feature (create/replace) or merge patch (``partial``) checked against the layer's rules and
    returned normalised: geometry in WGS 84, properties typed. Raises ``InvalidFeature``."""
    cols = columns(collection)
    layer = collection.layer
    if not isinstance(feature, dict):
        raise InvalidFeature("请求体须为 GeoJSON Feature 对象（body must be a GeoJSON Feature）", parameter="body")
    if not partial and feature.get("type") not in ("Feature", None):
        raise InvalidFeature("请求体须为 GeoJSON Feature（type: Feature）", parameter="type")
    props = feature.get("properties")
    if props is None:
        props = {}
    if not isinstance(props, dict):
        raise InvalidFeature("properties 须为对象（properties must be an object）", parameter="properties")
    unknown = [k for k in props if k not in cols]
    if unknown:
        raise InvalidFeature(f"图层 {layer.id} 没有属性 {', '.join(unknown)}；可用属性：{', '.join(cols)}",
                             parameter=str(unknown[0]))
    out_props = {name: _value(layer.id, name, cols[name], value) for name, value in props.items() if name != "id"}
    if "id" in props or (not partial and feature.get("id") is not None):
        fid = props.get("id", feature.get("id"))
        if not isinstance(fid, (str, int)) or isinstance(fid, bool) or not _ID.match(str(fid)):
            raise InvalidFeature("id 须为 1–200 个字符、不含 / ? # 和空白的文本", parameter="id")
        out_props["id"] = str(fid)
    if not partial:
        missing = [r for r in REQUIRED if r in cols and r not in out_props]
        if missing:
            raise InvalidFeature(f"缺少必填属性 {', '.join(missing)}（required）", parameter=missing[0])
    out: dict[str, Any] = {"type": "Feature", "properties": out_props}
    if not partial or "geometry" in feature:
        out["geometry"] = _geometry(layer, feature.get("geometry"), crs, repair)
    return out


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
    """The layer's features at ``when`` (UTC, ``history.parse_time``), rebuilt from the history."""
    writable(collection)
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
