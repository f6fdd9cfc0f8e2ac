"""The rules a feature must meet before it is written (``kfqmap.editing`` applies them on every write).

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
from typing import Any

import shapely
from shapely.geometry import shape

from .errors import InvalidFeature, InvalidParameter, ReadOnlyLayer
from .features import OutputCRS, parse_output_crs, to_wgs84

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


def parse_geometry(value, crs: OutputCRS | None, *, parameter: str = "geometry"):
    """A GeoJSON geometry given in ``crs`` (None: CRS84) → a shapely geometry in WGS 84: not empty, finite, inside
    lon/lat bounds (validity and type are the caller's rule). Raises ``InvalidFeature`` naming ``parameter``."""
    try:
        geom = shape(value)
    except Exception:  # noqa: BLE001 - shapely raises many kinds for malformed GeoJSON
        raise InvalidFeature(f"{parameter} 不是合法的 GeoJSON 几何（invalid GeoJSON geometry）",
                             parameter=parameter) from None
    coords = shapely.get_coordinates(geom)
    if geom.is_empty or not len(coords):
        raise InvalidFeature(f"{parameter} 为空（empty geometry）", parameter=parameter)
    if not (coords == coords).all() or not all(math.isfinite(v) for v in coords.ravel()):
        raise InvalidFeature("坐标须为有限数（coordinates must be finite）", parameter=parameter)
    if crs is not None and not crs.is_storage:
        geom = to_wgs84(geom, crs)
        coords = shapely.get_coordinates(geom)
    if not ((abs(coords[:, 0]) <= 180).all() and (abs(coords[:, 1]) <= 90).all()):
        raise InvalidFeature("坐标超出经纬度范围：请用 WGS 84 经纬度，或以 Content-Crs 说明坐标系"
                             "（coordinates outside lon/lat; declare Content-Crs）", parameter=parameter)
    return geom


def _geometry(layer, value, crs: OutputCRS | None, repair: bool) -> dict | None:
    if value is None:
        if layer.is_spatial:
            raise InvalidFeature("要素缺少几何（geometry is required）", parameter="geometry")
        return None
    if not layer.is_spatial:
        raise InvalidFeature(f"图层 {layer.id} 没有几何，geometry 须为 null", parameter="geometry")
    geom = parse_geometry(value, crs)
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
