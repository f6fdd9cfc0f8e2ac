"""Feature selection and GeoJSON encoding behind OGC API – Features, with no HTTP involved.

>>> from kfqmap.catalog import load_catalog
>>> from kfqmap.features import ItemsQuery, parse_bbox
>>> index = load_catalog().collection("low_efficiency_land").state().items
>>> page = index.items(ItemsQuery(bbox=parse_bbox("120.9,31.3,121.1,31.45"), limit=10))
>>> page.number_matched, len(page.features)           # doctest: +SKIP

What lives here (the server only parses parameters, calls these and formats the result):

* ``parse_bbox``, ``parse_output_crs``, ``parse_datetime``, ``parse_limit``/``parse_offset``: one parser per
  request parameter, raising ``KFQMapError`` subclasses that name the parameter. The CLI can use the same ones.
* ``LayerIndex``: one layer's frame with a lazily built STRtree, typed column arrays for equality filters,
  the layer's queryables (JSON Schema) and its temporal property, plus a cache of each feature's GeoJSON
  text in the storage CRS (built lazily in chunks, so the first request on a 200,000-feature layer pays
  only for the features it returns).
  One ``LayerIndex`` exists per version of a layer's data, owned by that layer's ``kfqmap.collection.Collection``.

Bounds (documented on the landing page and in the API): ``limit`` defaults to ``DEFAULT_LIMIT`` (100) and
is served as at most ``MAX_LIMIT`` (10,000; larger values are capped, not refused); ``offset`` may not exceed ``MAX_OFFSET``.

Axis order follows OGC API – Features Part 2: CRS84 (the default), GCJ-02 and BD-09 are lon,lat; an EPSG
CRS whose authority axis order is north-first (EPSG:4326 by URI, 4490, 4549, 4528) is written and read
(``bbox`` with ``bbox-crs``) in that order; EPSG:3857 is east,north.

``datetime`` (RFC 3339 instant ``2023-05-01T00:00:00Z``, date ``2023-05-01``, year ``2023`` — the last is a
KFQMap convenience — or an interval ``start/end`` with ``..`` or empty for an open end): a layer's temporal
property is the first of ``TEMPORAL_PROPERTIES`` it has (``low_efficiency_land.year``,
``indicators.target_year``). A year value covers that whole calendar year (UTC); a feature matches when its
interval intersects the requested one; features without a value do not match. Layers without a temporal
property have no temporal extent and ignore ``datetime`` (after validating it).
"""
from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import cached_property, lru_cache
from typing import Any, Mapping, Sequence

import numpy as np
import orjson
import pandas as pd
import shapely
from pyproj import CRS

from .crs import SUPPORTED, CRSInfo, parse_crs, transform_geometry
from .errors import FeatureNotFound, InvalidBBox, InvalidParameter

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
MAX_OFFSET = 100_000_000
#: temporal properties recognised, in order of preference (see the module docstring)
TEMPORAL_PROPERTIES = ("datetime", "date", "year", "target_year")
CRS84_URI = SUPPORTED["EPSG:4326"].uri
#: decimals kept in output coordinates: 1e-7° ≈ 1 cm; 1 mm in projected systems
GEOGRAPHIC_DECIMALS = 7
PROJECTED_DECIMALS = 3
_CHUNK = 4096


# ---------------------------------------------------------------------------------------------- CRS
@dataclass(frozen=True)
class OutputCRS:
    """A CRS as requested over OGC API Part 2: the system, the URI to echo, and its axis order."""

    info: CRSInfo
    uri: str
    north_first: bool   # True ⇒ coordinates are written/read (lat, lon) or (northing, easting)

    @property
    def is_storage(self) -> bool:
        return self.info.code == "EPSG:4326" and not self.north_first


@lru_cache(maxsize=32)
def _north_first(epsg: int) -> bool:
    axis = CRS.from_epsg(epsg).axis_info
    return bool(axis) and axis[0].direction.lower() in ("north", "south")


def parse_output_crs(value: str | None, *, parameter: str = "crs") -> OutputCRS:
    """Parse a ``crs``/``bbox-crs`` value (OGC URI, ``EPSG:nnnn``, ``CRS84``, ``gcj02``...) into an OutputCRS.

    EPSG systems take their authority axis order, except that WGS 84 spelled ``CRS84``/``4326``/``wgs84``
    stays lon,lat (only ``EPSG:4326`` and its EPSG URI are lat,lon); GCJ-02/BD-09 are lon,lat.
    """
    if value is None or not str(value).strip():
        return OutputCRS(SUPPORTED["EPSG:4326"], CRS84_URI, False)
    text = str(value).strip()
    info = parse_crs(text, parameter=parameter)
    epsg_spelling = bool(re.match(r"^(EPSG:\d+|https?://www\.opengis\.net/def/crs/EPSG/.+)$", text, re.I))
    if info.code == "EPSG:4326":
        if epsg_spelling:
            return OutputCRS(info, "http://www.opengis.net/def/crs/EPSG/0/4326", True)
        return OutputCRS(info, CRS84_URI, False)
    return OutputCRS(info, info.uri, bool(info.epsg) and _north_first(info.epsg))


def supported_crs_uris() -> list[str]:
    """The ``crs`` list of every collection: CRS84 first, then the EPSG systems, then the extensions."""
    return [info.uri for info in SUPPORTED.values()]


def _swap(geoms):
    return shapely.transform(geoms, lambda c: c[:, ::-1].copy())


def to_wgs84(geoms, crs: OutputCRS):
    """Geometries given in ``crs`` (its axis order) → WGS 84 lon/lat."""
    if crs.north_first:
        geoms = _swap(geoms)
    return transform_geometry(geoms, crs.info, SUPPORTED["EPSG:4326"])


def from_wgs84(geoms, crs: OutputCRS):
    """WGS 84 lon/lat geometries → ``crs`` in its axis order, rounded to the output precision."""
    out = transform_geometry(geoms, SUPPORTED["EPSG:4326"], crs.info)
    if crs.north_first:
        out = _swap(out)
    return _round(out, GEOGRAPHIC_DECIMALS if crs.info.geographic else PROJECTED_DECIMALS)


def _round(geoms, decimals: int):
    return shapely.transform(geoms, lambda c: np.round(c, decimals))


# ---------------------------------------------------------------------------------------------- bbox
@dataclass(frozen=True)
class BBox:
    """A bounding box as the client gave it (in ``crs`` axis order), with its WGS 84 footprint."""

    values: tuple[float, ...]
    crs: OutputCRS

    @cached_property
    def polygon(self):
        """The box as a WGS 84 polygon (edges densified before reprojection, so it stays exact)."""
        v = self.values
        x0, y0, x1, y1 = (v[0], v[1], v[3], v[4]) if len(v) == 6 else v
        box = shapely.box(x0, y0, x1, y1)
        if not self.crs.is_storage and self.crs.info.code not in ("EPSG:4326", "EPSG:4490"):
            box = shapely.segmentize(box, max(x1 - x0, y1 - y0) / 32 or 1.0)
        return to_wgs84(box, self.crs)


def parse_bbox(text: str | Sequence[float] | None, crs: OutputCRS | str | None = None, *,
               parameter: str = "bbox") -> BBox | None:
    """Parse ``minx,miny,maxx,maxy`` (or 6 numbers with heights) in ``crs`` (default CRS84).

    Raises ``InvalidBBox`` naming ``parameter`` for anything but 4/6 finite numbers in order, or
    longitudes/latitudes out of range in a geographic CRS.
    """
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    crs = crs if isinstance(crs, OutputCRS) else parse_output_crs(crs, parameter="bbox-crs")
    parts = text.split(",") if isinstance(text, str) else list(text)
    try:
        values = tuple(float(p) for p in parts)
    except (TypeError, ValueError):
        raise InvalidBBox(f"bbox 必须是逗号分隔的 4 个（或 6 个）数字，收到 '{text}'"
                          "（bbox must be 4 or 6 comma-separated numbers）", parameter=parameter) from None
    if len(values) not in (4, 6):
        raise InvalidBBox(f"bbox 需要 4 个（或 6 个）数字，收到 {len(values)} 个（bbox needs 4 or 6 numbers）",
                          parameter=parameter)
    if not all(math.isfinite(v) for v in values):
        raise InvalidBBox("bbox 中有非有限数值（NaN/inf）（bbox values must be finite）", parameter=parameter)
    lo, hi = (values[:2], values[3:5]) if len(values) == 6 else (values[:2], values[2:])
    if lo[0] > hi[0] or lo[1] > hi[1]:
        raise InvalidBBox("bbox 的最小值大于最大值（顺序应为 minx,miny,maxx,maxy；不支持跨越 180° 经线）"
                          "(bbox min must not exceed max)", parameter=parameter)
    if crs.info.geographic:
        lat_i, lon_i = (0, 1) if crs.north_first else (1, 0)
        if not all(-180 <= c[lon_i] <= 180 and -90 <= c[lat_i] <= 90 for c in (lo, hi)):
            raise InvalidBBox("bbox 经度须在 [-180, 180]、纬度须在 [-90, 90] 之间"
                              "(longitude/latitude out of range)", parameter=parameter)
    bbox = BBox(values, crs)
    try:   # reproject now, so a box the CRS cannot express is the client's 400, not a 500 later
        with np.errstate(all="ignore"):
            footprint = bbox.polygon
        ok = bool(np.all(np.isfinite(shapely.bounds(footprint)))) and bool(shapely.is_valid(footprint))
    except Exception:   # GEOS / PROJ refuse coordinates far outside the system's domain
        ok = False
    if not ok:
        raise InvalidBBox(f"bbox 超出坐标系 {crs.info.code} 的有效范围，无法换算为经纬度"
                          "(bbox outside the CRS's domain)", parameter=parameter)
    return bbox


# ---------------------------------------------------------------------------------------------- datetime
@dataclass(frozen=True)
class TimeInterval:
    """A closed interval of UTC instants; ``None`` for an open end."""

    start: datetime | None
    end: datetime | None

    def overlaps(self, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """Which [start, end] intervals (numpy datetime64[ms] arrays, NaT for unknown) intersect this one."""
        ok = ~(np.isnat(start) | np.isnat(end))
        if self.start is not None:
            ok &= end >= np.datetime64(self.start.replace(tzinfo=None), "ms")
        if self.end is not None:
            ok &= start <= np.datetime64(self.end.replace(tzinfo=None), "ms")
        return ok


def _parse_instant(text: str, *, upper: bool) -> datetime:
    text = text.strip()
    if re.fullmatch(r"\d{4}", text):
        d = date(int(text), 12, 31) if upper else date(int(text), 1, 1)
        return _day_bound(d, upper)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return _day_bound(date.fromisoformat(text), upper)
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?", text):
        raise ValueError(text)
    value = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _day_bound(d: date, upper: bool) -> datetime:
    t = datetime.combine(d, time(0, 0), tzinfo=timezone.utc)
    return t + timedelta(days=1, milliseconds=-1) if upper else t


def parse_datetime(text: str | None, *, parameter: str = "datetime") -> TimeInterval | None:
    """Parse an OGC ``datetime`` value (instant, date, year, or ``start/end`` with ``..``) into a TimeInterval."""
    if text is None or not text.strip():
        return None
    try:
        if "/" in text:
            a, _, b = text.partition("/")
            if "/" in b:
                raise ValueError(text)
            start = None if a.strip() in ("", "..") else _parse_instant(a, upper=False)
            end = None if b.strip() in ("", "..") else _parse_instant(b, upper=True)
            if start is None and end is None:
                raise ValueError(text)
        else:
            start, end = _parse_instant(text, upper=False), _parse_instant(text, upper=True)
    except ValueError:
        raise InvalidParameter(
            f"无法解析 datetime '{text}'：应为 RFC 3339 时间（如 2023-05-01T00:00:00Z）、日期、年份，"
            "或用 / 连接的区间（开放端写 ..）(invalid datetime)", parameter=parameter) from None
    if start is not None and end is not None and start > end:
        raise InvalidParameter("datetime 区间的开始晚于结束（interval start after end）", parameter=parameter)
    return TimeInterval(start, end)


# ---------------------------------------------------------------------------------------------- paging
def _parse_count(value, *, name: str, default: int, low: int, high: int, parameter: str,
                 cap: bool = False) -> int:
    """An integer query parameter within ``low..high`` (``default`` when absent), else InvalidParameter.
    ``cap``: a value above ``high`` becomes ``high`` instead of an error."""
    if value is None or value == "":
        return default
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise InvalidParameter(f"{name} 必须是整数，收到 '{value}'（{name} must be an integer）",
                               parameter=parameter) from None
    if cap and n > high:
        return high
    if not low <= n <= high:
        raise InvalidParameter(f"{name} 须在 {low} 到 {high} 之间，收到 {n}（{name} must be {low}..{high}）",
                               parameter=parameter)
    return n


def parse_limit(value: int | str | None, *, parameter: str = "limit") -> int:
    """Page size: ``DEFAULT_LIMIT`` when absent; above ``MAX_LIMIT`` it is served as ``MAX_LIMIT`` (OGC API
    Features: a larger limit is not an error, the server pages at its maximum and links ``next``)."""
    return _parse_count(value, name="limit", default=DEFAULT_LIMIT, low=1, high=MAX_LIMIT, parameter=parameter,
                        cap=True)


def parse_offset(value: int | str | None, *, parameter: str = "offset") -> int:
    return _parse_count(value, name="offset", default=0, low=0, high=MAX_OFFSET, parameter=parameter)


MAX_SORT_KEYS = 5


def parse_sortby(text: str | None, properties, *, parameter: str = "sortby") -> tuple[tuple[str, bool], ...]:
    """``sortby=year,-area_mu`` (OGC API Features Part 8 style: ``-`` descending, ``+`` or nothing ascending)
    → ((name, descending), ...). Unknown properties, empty keys or more than ``MAX_SORT_KEYS`` keys → 400.
    Missing values sort last either way; ties keep the layer's order (stable paging)."""
    if text is None or not str(text).strip():
        return ()
    keys = []
    for part in str(text).split(","):
        part = part.strip()
        desc = part.startswith("-")
        name = part.lstrip("+-").strip()
        if not name:
            raise InvalidParameter(f"sortby 中有空的排序键：'{text}'（empty sort key）", parameter=parameter)
        if name not in properties:
            raise InvalidParameter(f"sortby 的属性 '{name}' 不在此图层中；可用：{', '.join(properties)}",
                                   parameter=parameter)
        keys.append((name, desc))
    if len(keys) > MAX_SORT_KEYS:
        raise InvalidParameter(f"sortby 最多 {MAX_SORT_KEYS} 个排序键", parameter=parameter)
    return tuple(keys)


# ---------------------------------------------------------------------------------------------- queries
@dataclass(frozen=True)
class ItemsQuery:
    """Everything that selects and pages a layer's items. ``filter`` is a ``kfqmap.cql.CompiledFilter``."""

    bbox: BBox | None = None
    datetime: TimeInterval | None = None
    properties: Mapping[str, str] = field(default_factory=dict)   # equality filters, raw text values
    filter: Any = None
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    crs: OutputCRS = field(default_factory=lambda: parse_output_crs(None))
    sortby: tuple[tuple[str, bool], ...] = ()        # (property, descending), see ``parse_sortby``


@dataclass(frozen=True)
class ItemsPage:
    """One page of a selection: the encoded features (GeoJSON text, bytes) and the counts."""

    features: list[bytes]
    number_matched: int
    offset: int
    limit: int

    @property
    def number_returned(self) -> int:
        return len(self.features)

    @property
    def has_next(self) -> bool:
        return self.offset + self.number_returned < self.number_matched

    @property
    def has_prev(self) -> bool:
        return self.offset > 0

    def feature_collection(self, extra: Mapping[str, Any]) -> bytes:
        """The whole FeatureCollection document; ``extra`` (links, timeStamp...) is added after the counts."""
        head = {"type": "FeatureCollection", "numberMatched": self.number_matched,
                "numberReturned": self.number_returned, **extra}
        return b"".join((orjson.dumps(head)[:-1], b',"features":[', b",".join(self.features), b"]}"))


_JSON_TYPES = {"b": "boolean", "i": "integer", "u": "integer", "f": "number"}


def queryables_schema(layer, names, types: Mapping[str, str], temporal: str | None) -> dict[str, Any]:
    """JSON Schema ``properties`` of a layer's queryables: every property plus the geometry (in memory and in
    PostGIS alike)."""
    props: dict[str, Any] = {}
    if layer.is_spatial:
        gtype = layer.geometry_type
        props["geometry"] = {"$ref": f"https://geojson.org/schema/{gtype}.json", "x-ogc-role": "primary-geometry"}
    for name in names:
        entry: dict[str, Any] = {"title": name, "type": types[name]}
        if name == "id":
            entry["x-ogc-role"] = "id"
        if name == temporal:
            entry["x-ogc-role"] = "primary-instant"
        props[name] = entry
    return props


class LayerIndex:
    """One layer's frame with what fast OGC queries need; everything is built lazily and cached."""

    #: answers come from memory (a pushdown index, ``kfqmap.providers.postgis_pushdown.PostGISItems``, is False:
    #: a server runs its calls in a worker thread)
    in_memory = True

    def __init__(self, layer, frame, spatial=None):
        self.layer = layer
        self.frame = frame
        self.spatial = spatial          # the layer's ``kfqmap.query.LayerIndex``: one STRtree shared with queries
        self._lock = threading.Lock()
        self._chunks: dict[int, list[bytes]] = {}
        self._positions = pd.Index(frame.index)

    def __len__(self) -> int:
        return len(self.frame)

    # ---------------------------------------------------------------- schema
    @cached_property
    def property_names(self) -> list[str]:
        return [c for c in self.frame.columns if c != self.frame.geometry.name]

    @cached_property
    def property_types(self) -> dict[str, str]:
        """JSON Schema type of each property column."""
        out = {}
        for name in self.property_names:
            kind = self.frame[name].dtype.kind
            out[name] = _JSON_TYPES.get(kind, "string")
            if kind == "f" and self._integral(name):
                out[name] = "integer"
        return out

    def _integral(self, name: str) -> bool:
        """A float column that is really an integer column with missing values (how GDAL reads those)."""
        values = self.frame[name].to_numpy(dtype="float64", na_value=np.nan)
        missing = np.isnan(values)
        values = values[~missing]
        return bool(missing.any()) and bool(len(values)) and bool(np.all(np.mod(values, 1) == 0))

    @cached_property
    def temporal_property(self) -> str | None:
        return next((p for p in TEMPORAL_PROPERTIES if p in self.property_names), None)

    @cached_property
    def temporal_extent(self) -> list[str | None] | None:
        """[first, last] as RFC 3339 instants, or None when the layer has no temporal property."""
        if self.temporal_property is None:
            return None
        start, end = self._time_bounds
        if np.all(np.isnat(start)):
            return [None, None]
        lo, hi = start[~np.isnat(start)].min(), end[~np.isnat(end)].max()
        return [f"{np.datetime_as_string(lo, unit='s')}Z", f"{np.datetime_as_string(hi, unit='s')}Z"]

    @cached_property
    def _time_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        col = self.frame[self.temporal_property]
        if self.property_types.get(self.temporal_property) in ("integer", "number"):
            years = col.to_numpy(dtype="float64", na_value=np.nan)
            ok = ~np.isnan(years) & (years >= 1) & (years <= 9999)
            start = np.full(len(years), np.datetime64("NaT"), dtype="datetime64[ms]")
            end = start.copy()
            y = years[ok].astype("int64")
            start[ok] = (y - 1970).astype("datetime64[Y]").astype("datetime64[ms]")
            end[ok] = (y - 1970 + 1).astype("datetime64[Y]").astype("datetime64[ms]") - np.timedelta64(1, "ms")
            return start, end
        stamps = pd.to_datetime(col, errors="coerce", utc=True)
        values = stamps.dt.tz_convert(None).to_numpy(dtype="datetime64[ms]")
        return values, values

    @cached_property
    def queryables(self) -> dict[str, Any]:
        return queryables_schema(self.layer, self.property_names, self.property_types, self.temporal_property)

    @cached_property
    def bounds(self) -> tuple[float, float, float, float] | None:
        geoms = self.frame.geometry.values
        if not self.layer.is_spatial or len(geoms) == 0 or bool(np.all(shapely.is_missing(geoms))):
            return None
        b = shapely.total_bounds(geoms)
        return tuple(float(v) for v in b) if np.all(np.isfinite(b)) else None

    # ---------------------------------------------------------------- selection
    @cached_property
    def tree(self) -> shapely.STRtree:
        if self.spatial is not None and self.spatial.frame is self.frame:
            return self.spatial.tree
        return shapely.STRtree(np.asarray(self.frame.geometry.values, dtype=object))

    def _column(self, name: str) -> np.ndarray:
        return self.frame[name].to_numpy()

    def equality_mask(self, name: str, text: str, positions: np.ndarray) -> np.ndarray:
        """Which features at ``positions`` have property ``name`` equal to ``text`` (typed per queryable)."""
        kind = self.property_types[name]
        values = self._column(name)[positions]
        try:
            if kind == "boolean":
                wanted = {"true": True, "1": True, "false": False, "0": False}[text.strip().lower()]
                return values == wanted
            if kind in ("integer", "number"):
                return pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype="float64",
                                                                                  na_value=np.nan) == float(text)
        except (KeyError, ValueError):
            raise InvalidParameter(f"属性 {name} 是 {kind} 类型，'{text}' 不是合法值（invalid value for {name}）",
                                   parameter=name) from None
        return np.array([v is not None and v == v and str(v) == text for v in values], dtype=bool)

    def select(self, query: ItemsQuery) -> np.ndarray:
        """Positions (sorted, in layer order) of the features the query selects."""
        if query.bbox is not None:
            if not self.layer.is_spatial:
                return np.empty(0, dtype="int64")
            positions = np.sort(self.tree.query(query.bbox.polygon, predicate="intersects"))
        else:
            positions = np.arange(len(self.frame))
        if query.datetime is not None and self.temporal_property is not None and len(positions):
            start, end = self._time_bounds
            positions = positions[query.datetime.overlaps(start[positions], end[positions])]
        for name, text in query.properties.items():
            if len(positions):
                positions = positions[self.equality_mask(name, text, positions)]
        if query.filter is not None and len(positions):
            whole = len(positions) == len(self.frame)
            subset = self.frame if whole else self.frame.iloc[positions]
            spatial, chosen = self.spatial, positions
            metric = (lambda: spatial.geoms_4549 if whole else spatial.geoms_4549[chosen]) if spatial is not None \
                else None
            mask = np.asarray(query.filter.mask(subset, metric_geoms=metric), dtype=bool)
            positions = positions[mask]
        return positions

    def items(self, query: ItemsQuery) -> ItemsPage:
        positions = self.select(query)
        if query.sortby and len(positions) > 1:
            positions = self._sorted(positions, query.sortby)
        page = positions[query.offset: query.offset + query.limit]
        return ItemsPage(self.encode(page, query.crs), int(len(positions)), query.offset, query.limit)

    def _sorted(self, positions: np.ndarray, keys) -> np.ndarray:
        """``positions`` reordered by ``keys`` (missing values last, ties in layer order)."""
        names = [name for name, _ in keys]
        sub = pd.DataFrame({n: self.frame[n].to_numpy()[positions] for n in names})
        order = sub.sort_values(by=names, ascending=[not d for _, d in keys], na_position="last",
                                kind="stable").index.to_numpy()
        return positions[order]

    def records(self, query: ItemsQuery | None = None) -> list[dict[str, Any]]:
        """The selected features' properties as plain dicts (JSON types; missing values as None)."""
        positions = self.select(query or ItemsQuery())
        return [orjson.loads(p) for p in self._properties(positions)]

    def position(self, feature_id: str) -> int:
        try:
            pos = self._positions.get_loc(feature_id)
        except KeyError:
            raise FeatureNotFound(f"图层 {self.layer.id} 中没有 id 为 '{feature_id}' 的要素"
                                  f"（no feature '{feature_id}' in {self.layer.id}）", parameter="featureId") from None
        if not isinstance(pos, (int, np.integer)):
            raise FeatureNotFound(f"要素 id '{feature_id}' 不唯一", parameter="featureId")
        return int(pos)

    def feature(self, feature_id: str, crs: OutputCRS | None = None) -> bytes:
        """One feature's GeoJSON text."""
        return self.encode(np.array([self.position(feature_id)]), crs or parse_output_crs(None))[0]

    # ---------------------------------------------------------------- encoding
    @cached_property
    def _json_frame(self) -> pd.DataFrame:
        """The property columns as pandas should write them (integer-valued floats as nullable Int64)."""
        frame = pd.DataFrame(self.frame[self.property_names])
        for name in self.property_names:
            if self.property_types[name] == "integer" and frame[name].dtype.kind == "f":
                frame[name] = frame[name].astype("Int64")
        return frame

    @cached_property
    def _index_values(self) -> np.ndarray:
        return self.frame.index.to_numpy(dtype=object)

    def _properties(self, positions: np.ndarray) -> list[bytes]:
        """Each feature's properties object as JSON text (pandas' C writer, one line per record)."""
        if not len(positions):
            return []
        if not self.property_names:
            return [b"{}"] * len(positions)
        text = self._json_frame.iloc[positions].to_json(orient="records", lines=True, force_ascii=False,
                                                        date_format="iso", double_precision=10)
        lines = text.encode().split(b"\n")
        return [line for line in lines if line]

    def _geometries(self, positions: np.ndarray, crs: OutputCRS) -> list[bytes]:
        geoms = self.frame.geometry.values[positions]
        geoms = np.asarray(geoms, dtype=object)
        if crs.is_storage:
            geoms = _round(geoms, GEOGRAPHIC_DECIMALS)
        else:
            geoms = from_wgs84(geoms, crs)
        texts = shapely.to_geojson(geoms)
        return [b"null" if t is None else t.encode() for t in texts.tolist()]

    def _assemble(self, positions: np.ndarray, geoms: list[bytes], props: list[bytes]) -> list[bytes]:
        ids = [orjson.dumps(str(i)) for i in self._index_values[positions].tolist()]
        return [b'{"type":"Feature","id":' + i + b',"geometry":' + g + b',"properties":' + q + b"}"
                for i, g, q in zip(ids, geoms, props)]

    def _chunk(self, number: int) -> list[bytes]:
        chunk = self._chunks.get(number)
        if chunk is None:
            positions = np.arange(number * _CHUNK, min((number + 1) * _CHUNK, len(self.frame)))
            chunk = self._assemble(positions, self._geometries(positions, parse_output_crs(None)),
                                   self._properties(positions))
            with self._lock:
                self._chunks.setdefault(number, chunk)
        return chunk

    def warm(self) -> None:
        """Build the STRtree, schema and every chunk of the GeoJSON cache."""
        if self.layer.is_spatial:
            self.tree
        self.queryables, self.bounds, self.temporal_extent
        for number in range((len(self.frame) + _CHUNK - 1) // _CHUNK):
            self._chunk(number)

    def is_quick(self, query: ItemsQuery) -> bool:
        """Whether ``items(query)`` is only index look-ups and cached text (no CQL2, no reprojection,
        every chunk of the page already encoded): a server may run it without leaving its event loop."""
        chunks = (len(self.frame) + _CHUNK - 1) // _CHUNK
        return query.filter is None and query.crs.is_storage and len(self._chunks) == chunks

    def encode(self, positions: np.ndarray, crs: OutputCRS) -> list[bytes]:
        """GeoJSON text of the features at ``positions``: cached in the storage CRS, computed otherwise."""
        positions = np.asarray(positions, dtype="int64")
        if crs.is_storage:
            out = []
            for p in positions.tolist():
                out.append(self._chunk(p // _CHUNK)[p % _CHUNK])
            return out
        return self._assemble(positions, self._geometries(positions, crs), self._properties(positions))


def check_properties(index: LayerIndex, params: Mapping[str, str]) -> dict[str, str]:
    """Keep the equality filters that name queryables; anything else is an unknown parameter (400)."""
    unknown = [k for k in params if k not in index.property_types]
    if unknown:
        raise InvalidParameter(
            f"未知的查询参数：{', '.join(unknown)}。可用的属性过滤：{', '.join(index.property_names)}"
            f"（unknown query parameter）", parameter=unknown[0])
    return dict(params)


__all__ = [
    "DEFAULT_LIMIT", "MAX_LIMIT", "MAX_OFFSET", "TEMPORAL_PROPERTIES", "BBox", "OutputCRS", "TimeInterval",
    "ItemsQuery", "ItemsPage", "LayerIndex", "parse_bbox", "parse_output_crs", "parse_datetime",
    "parse_limit", "parse_offset", "parse_sortby", "supported_crs_uris", "check_properties", "to_wgs84", "from_wgs84",
]
