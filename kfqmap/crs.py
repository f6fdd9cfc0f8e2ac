"""Coordinate reference systems KFQMap accepts, and the transforms between them.

One table (``SUPPORTED``) names every CRS the project reads and writes, with Chinese and English names.
EPSG systems go through pyproj; GCJ-02 (AMap/Tencent) and BD-09 (Baidu) are not EPSG systems and use the
published closed-form forward formulas, with an iterated inverse accurate to well under 0.5 m.

Axis order is always lon, lat (x, y), as in RFC 7946, whatever the EPSG axis order.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import shapely
from pyproj import CRS, Transformer

from .errors import InvalidCRS


@dataclass(frozen=True)
class CRSInfo:
    code: str          # canonical short code: "EPSG:4326", "GCJ-02", "BD-09"
    name_zh: str
    name_en: str
    uri: str           # OGC URI as used by OGC API Features Part 2
    geographic: bool
    epsg: int | None   # None for GCJ-02 / BD-09


SUPPORTED: dict[str, CRSInfo] = {
    "EPSG:4326": CRSInfo("EPSG:4326", "WGS 84 经纬度", "WGS 84 longitude/latitude",
                         "http://www.opengis.net/def/crs/OGC/1.3/CRS84", True, 4326),
    "EPSG:4490": CRSInfo("EPSG:4490", "CGCS2000 国家大地坐标系（经纬度）", "China Geodetic Coordinate System 2000",
                         "http://www.opengis.net/def/crs/EPSG/0/4490", True, 4490),
    "EPSG:4549": CRSInfo("EPSG:4549", "CGCS2000 3度带高斯-克吕格 中央经线120°E", "CGCS2000 / 3-degree Gauss-Kruger CM 120E",
                         "http://www.opengis.net/def/crs/EPSG/0/4549", False, 4549),
    "EPSG:4528": CRSInfo("EPSG:4528", "CGCS2000 3度带高斯-克吕格 第40带（带号）", "CGCS2000 / 3-degree Gauss-Kruger zone 40",
                         "http://www.opengis.net/def/crs/EPSG/0/4528", False, 4528),
    "EPSG:3857": CRSInfo("EPSG:3857", "Web 墨卡托", "WGS 84 / Pseudo-Mercator",
                         "http://www.opengis.net/def/crs/EPSG/0/3857", False, 3857),
    "GCJ-02": CRSInfo("GCJ-02", "GCJ-02 火星坐标（高德/腾讯）", "GCJ-02 (AMap/Tencent offset lon/lat)",
                      "https://kfqmap.example/def/crs/GCJ-02", True, None),
    "BD-09": CRSInfo("BD-09", "BD-09 百度坐标", "BD-09 (Baidu offset lon/lat)",
                     "https://kfqmap.example/def/crs/BD-09", True, None),
}

STORAGE_CRS = "EPSG:4326"     # geodata/ and GeoJSON on the wire
MEASURE_CRS = "EPSG:4549"     # lengths, buffers, projected areas

_ALIASES = {
    "crs84": "EPSG:4326", "wgs84": "EPSG:4326", "wgs 84": "EPSG:4326", "4326": "EPSG:4326",
    "cgcs2000": "EPSG:4490", "4490": "EPSG:4490", "4549": "EPSG:4549", "4528": "EPSG:4528",
    "3857": "EPSG:3857", "900913": "EPSG:3857", "epsg:900913": "EPSG:3857",
    "gcj02": "GCJ-02", "gcj-02": "GCJ-02", "gcj": "GCJ-02", "amap": "GCJ-02", "火星坐标": "GCJ-02",
    "bd09": "BD-09", "bd-09": "BD-09", "baidu": "BD-09", "百度坐标": "BD-09",
}
_URI = re.compile(r"^https?://www\.opengis\.net/def/crs/(?P<auth>OGC|EPSG)/[^/]+/(?P<code>[^/]+)$", re.I)


def parse_crs(value: str | int | CRSInfo | None, *, parameter: str = "crs") -> CRSInfo:
    """Parse an EPSG code, ``EPSG:nnnn``, an OGC CRS URI, ``CRS84``, ``gcj02`` or ``bd09`` into a CRSInfo.

    ``None`` or an empty string means the storage CRS (WGS 84). Anything else raises ``InvalidCRS`` with
    the list of accepted systems.
    """
    if isinstance(value, CRSInfo):
        return value
    if value is None or (isinstance(value, str) and not value.strip()):
        return SUPPORTED[STORAGE_CRS]
    text = str(value).strip()
    key = text.upper()
    if key in SUPPORTED:
        return SUPPORTED[key]
    alias = _ALIASES.get(text.lower())
    if alias:
        return SUPPORTED[alias]
    m = _URI.match(text)
    if m:
        code = m.group("code").upper()
        if m.group("auth").upper() == "OGC" and code in ("CRS84", "CRS84H"):
            return SUPPORTED["EPSG:4326"]
        if f"EPSG:{code}" in SUPPORTED:
            return SUPPORTED[f"EPSG:{code}"]
    for info in SUPPORTED.values():
        if text == info.uri:
            return info
    accepted = ", ".join(SUPPORTED)
    raise InvalidCRS(f"不支持的坐标系 '{text}'。可用：{accepted}（也接受 OGC URI、CRS84、gcj02、bd09）",
                     parameter=parameter)


@lru_cache(maxsize=64)
def _epsg_transformer(src: int, dst: int) -> Transformer:
    return Transformer.from_crs(CRS.from_epsg(src), CRS.from_epsg(dst), always_xy=True)


# ---------------------------------------------------------------- GCJ-02 / BD-09 (vectorised numpy)
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = math.pi * 3000.0 / 180.0


def _delta(lon, lat):
    x = lon - 105.0
    y = lat - 35.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
            + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
            + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
            + (160.0 * np.sin(y / 12.0 * np.pi) + 320 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
            + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
            + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
            + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0)
    radlat = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    return dlon, dlat


def wgs84_to_gcj02(lon, lat):
    """WGS 84 → GCJ-02 (closed form). Accepts scalars or arrays; returns the same shape."""
    lon = np.asarray(lon, dtype="float64")
    lat = np.asarray(lat, dtype="float64")
    dlon, dlat = _delta(lon, lat)
    return _out(lon + dlon, lat + dlat)


def _invert(forward, target_lon, target_lat, lon, lat, tol_deg: float, max_iter: int):
    """Fixed-point inversion of ``forward`` (a small shift): from a first guess, subtract the residual until
    ``forward(lon, lat)`` is within ``tol_deg`` of the target everywhere (or ``max_iter`` rounds)."""
    for _ in range(max_iter):
        flon, flat = forward(lon, lat)
        rlon, rlat = np.asarray(flon) - target_lon, np.asarray(flat) - target_lat
        lon, lat = lon - rlon, lat - rlat
        if np.all(np.abs(rlon) < tol_deg) and np.all(np.abs(rlat) < tol_deg):
            break
    return _out(lon, lat)


def gcj02_to_wgs84(lon, lat, *, tol_deg: float = 1e-9, max_iter: int = 30):
    """GCJ-02 → WGS 84 by fixed-point iteration of the forward formula (residual < ``tol_deg``, ≈ 0.1 mm)."""
    glon = np.asarray(lon, dtype="float64")
    glat = np.asarray(lat, dtype="float64")
    return _invert(wgs84_to_gcj02, glon, glat, glon.copy(), glat.copy(), tol_deg, max_iter)


def gcj02_to_bd09(lon, lat):
    """GCJ-02 → BD-09 (closed form)."""
    x = np.asarray(lon, dtype="float64")
    y = np.asarray(lat, dtype="float64")
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return _out(z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006)


def bd09_to_gcj02(lon, lat, *, tol_deg: float = 1e-9, max_iter: int = 30):
    """BD-09 → GCJ-02: the published closed-form inverse, refined by iteration to < ``tol_deg``."""
    blon = np.asarray(lon, dtype="float64")
    blat = np.asarray(lat, dtype="float64")
    x, y = blon - 0.0065, blat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return _invert(gcj02_to_bd09, blon, blat, z * np.cos(theta), z * np.sin(theta), tol_deg, max_iter)


def wgs84_to_bd09(lon, lat):
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon, lat):
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def _out(x, y):
    if np.ndim(x) == 0:
        return float(x), float(y)
    return x, y


# ---------------------------------------------------------------- generic coordinate / geometry transforms
def _to_wgs84_xy(info: CRSInfo, x, y):
    if info.code == "GCJ-02":
        return gcj02_to_wgs84(x, y)
    if info.code == "BD-09":
        return bd09_to_wgs84(x, y)
    if info.epsg in (4326, 4490):   # CGCS2000 and WGS 84 agree to well under 1 m here: same numbers
        return x, y
    return _epsg_transformer(info.epsg, 4326).transform(x, y)


def _from_wgs84_xy(info: CRSInfo, x, y):
    if info.code == "GCJ-02":
        return wgs84_to_gcj02(x, y)
    if info.code == "BD-09":
        return wgs84_to_bd09(x, y)
    if info.epsg in (4326, 4490):
        return x, y
    return _epsg_transformer(4326, info.epsg).transform(x, y)


def transform_xy(x, y, src, dst):
    """Transform coordinates (scalars or arrays, lon/lat order for geographic systems) from ``src`` to ``dst``."""
    s, d = parse_crs(src), parse_crs(dst)
    if s.code == d.code:
        return x, y
    if s.epsg and d.epsg and {s.epsg, d.epsg} - {4326, 4490}:
        return _epsg_transformer(s.epsg, d.epsg).transform(x, y)
    return _from_wgs84_xy(d, *_to_wgs84_xy(s, x, y))


def transform_geometry(geoms, src, dst):
    """Transform a shapely geometry or array of geometries between any two supported CRSs (vectorised)."""
    s, d = parse_crs(src), parse_crs(dst)
    if s.code == d.code:
        return geoms

    def fn(coords: np.ndarray) -> np.ndarray:
        x, y = transform_xy(coords[:, 0], coords[:, 1], s, d)
        return np.column_stack([np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64")])

    return shapely.transform(geoms, fn)


def transform_frame(frame, dst):
    """Return a copy of a GeoDataFrame in ``dst`` (also GCJ-02 / BD-09, which pyproj does not know)."""
    d = parse_crs(dst)
    src = frame.crs.to_epsg() if frame.crs is not None else 4326
    out = frame.copy()
    out.geometry = out.geometry.__class__(
        transform_geometry(frame.geometry.values, f"EPSG:{src}", d), index=frame.index,
        crs=(f"EPSG:{d.epsg}" if d.epsg else None))
    if d.epsg is None:
        out = out.set_crs(None, allow_override=True)
        out.attrs["kfqmap_crs"] = d.code
    return out


def declared_crs(data) -> str | None:
    """The CRS a GeoJSON object declares through KFQMap's own ``kfqmap_crs`` member (written on GCJ-02 / BD-09
    exports, which have no EPSG code to put in a ``crs`` member), or None."""
    if isinstance(data, dict) and isinstance(data.get("kfqmap_crs"), str):
        return data["kfqmap_crs"]
    return None
