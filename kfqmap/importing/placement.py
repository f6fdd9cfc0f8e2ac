"""Where the coordinates of an import are: the file's CRS, ``--crs``, control points, or a stated guess — then the
check that the features land in Kunshan.

Order: control points (a drawing in local coordinates) › ``--crs`` (also overrides what the file declares, e.g. a
KML that was really drawn on a GCJ-02 map; the report says so) › the file's own CRS › a **guess** from the
coordinate range, which the report states and which an import will not commit until the user confirms it by
passing ``--crs`` (and ``--swap-xy`` when the axes were found swapped). Guesses tried, in order: lon/lat degrees,
lat/lon swapped, EPSG:4549 (3° Gauss-Krüger CM 120°E: x ≈ 5xx,xxx–6xx,xxx m), EPSG:4528 (with the zone prefix:
x ≈ 40,5xx,xxx m), each also with northing/easting swapped, and EPSG:3857; a guess holds only when the whole
extent lands in the zone.

The zone (``ZONE``): the bounding box of 昆山市 from ``../shared/reference/kunshan_admin_boundaries_gcj02.geojson``
converted to WGS 84 (120.803–121.157°E, 31.106–31.543°N) widened by about 10 km on each side. Features outside
it are refused, with where they landed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS

from ..crs import SUPPORTED, parse_crs, transform_geometry
from ..errors import InvalidCRS, InvalidParameter
from .georef import ControlFit
from .source import Source

ZONE = (120.70, 31.00, 121.26, 31.65)
#: places named when an import lands elsewhere ("where it landed")
PLACES = (("昆山", 120.98, 31.38), ("上海", 121.47, 31.23), ("苏州", 120.62, 31.30), ("无锡", 120.30, 31.57),
          ("南京", 118.80, 32.06), ("杭州", 120.16, 30.27), ("北京", 116.40, 39.90), ("广州", 113.26, 23.13),
          ("深圳", 114.06, 22.54), ("武汉", 114.31, 30.59), ("成都", 104.07, 30.57), ("西安", 108.94, 34.34))
_GUESSES = (("EPSG:4326", False), ("EPSG:4326", True), ("EPSG:4549", False), ("EPSG:4549", True),
            ("EPSG:4528", False), ("EPSG:4528", True), ("EPSG:3857", False))


@dataclass
class Placement:
    crs: str                       # what the coordinates were taken to be ("EPSG:4549", "GCJ-02", a CRS name…)
    how: str                       # "file" | "option" | "guess" | "control_points"
    swapped: bool = False          # x/y were exchanged before transforming
    guessed: bool = False          # True: a guess the user has not confirmed
    control: ControlFit | None = None
    notes: list[str] = field(default_factory=list)


def _swap(geoms):
    return shapely.transform(geoms, lambda c: c[:, ::-1].copy())


def _to_wgs84(geoms, crs: Any):
    """Geometries from ``crs`` (a kfqmap code or a pyproj CRS) to WGS 84 lon/lat."""
    if isinstance(crs, str):
        return transform_geometry(geoms, parse_crs(crs), "EPSG:4326")
    epsg = crs.to_epsg()
    if epsg is not None and f"EPSG:{epsg}" in SUPPORTED:
        return transform_geometry(geoms, f"EPSG:{epsg}", "EPSG:4326")
    return gpd.GeoSeries(geoms, crs=crs).to_crs(4326).values


def _crs_name(crs: Any) -> str:
    if isinstance(crs, str):
        return parse_crs(crs).code
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.name


def in_zone(bounds) -> bool:
    minx, miny, maxx, maxy = bounds
    return all(math.isfinite(v) for v in bounds) and minx >= ZONE[0] and maxx <= ZONE[2] and miny >= ZONE[1] \
        and maxy <= ZONE[3]


def guess_crs(geoms) -> tuple[str, bool] | None:
    """(CRS code, swapped) under which the whole extent of ``geoms`` lands in the zone, else None."""
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    corners = shapely.multipoints([(minx, miny), (maxx, maxy), (minx, maxy), (maxx, miny)])
    for code, swapped in _GUESSES:
        g = _swap(corners) if swapped else corners
        with np.errstate(all="ignore"):
            try:
                out = transform_geometry(g, code, "EPSG:4326")
            except Exception:
                continue
        if in_zone(shapely.total_bounds(out)):
            return code, swapped
    return None


def where(lon: float, lat: float) -> str:
    """'约 北京 附近（116.41, 39.91）' or the distance and direction from the nearest listed place."""
    if not (math.isfinite(lon) and math.isfinite(lat)) or abs(lon) > 180 or abs(lat) > 90:
        return "坐标换算后不是有效的经纬度"
    best = min(PLACES, key=lambda p: math.hypot((p[1] - lon) * math.cos(math.radians(lat)), p[2] - lat))
    km = math.hypot((best[1] - lon) * math.cos(math.radians(lat)), best[2] - lat) * 111.2
    if km < 30:
        return f"落在 {best[0]} 附近（{lon:.4f}, {lat:.4f}）"
    return f"落在 {lon:.4f}, {lat:.4f}（距 {best[0]} 约 {km:.0f} km）"


def _range_text(geoms) -> str:
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    return f"x {minx:,.3f}–{maxx:,.3f}，y {miny:,.3f}–{maxy:,.3f}"


def place(source: Source, *, crs: str | None = None, swap_xy: bool = False,
          control: ControlFit | None = None) -> tuple[np.ndarray, Placement]:
    """The source's geometries in WGS 84 and how they got there. Raises when nothing can be placed, or when the
    whole import lands outside the zone (with where it landed and what to check)."""
    geoms = np.asarray(source.frame.geometry.values, dtype=object)
    present = geoms[~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)] if len(geoms) else geoms
    if not len(present):
        raise InvalidParameter(f"{source.label} 中没有非空几何", parameter="file")
    if swap_xy:
        geoms = _swap(geoms)
    if control is not None:
        placement = Placement("控制点配准 → EPSG:4549", "control_points", swap_xy, control=control)
        out = transform_geometry(control.apply(geoms), "EPSG:4549", "EPSG:4326")
        return _checked(out, placement, geoms)
    if crs:
        info = parse_crs(crs)
        placement = Placement(info.code, "option", swap_xy)
        if source.crs is not None and _crs_name(source.crs) != info.code:
            placement.notes.append(f"文件声明的坐标系是 {_crs_name(source.crs)}（{source.crs_origin}），按 --crs {info.code} 处理")
        return _checked(_to_wgs84(geoms, info.code), placement, geoms)
    if source.crs is not None:
        if not isinstance(source.crs, str) and isinstance(source.crs, CRS) and source.crs.is_engineering:
            raise InvalidCRS(f"{source.label} 的坐标系是局部工程坐标，请用 --control-points 配准", parameter="crs")
        placement = Placement(_crs_name(source.crs), "file", swap_xy, notes=[f"坐标系取自{source.crs_origin}"])
        try:
            out = _to_wgs84(geoms, source.crs)
        except Exception as exc:
            raise InvalidCRS(f"文件的坐标系 {_crs_name(source.crs)} 无法换算到 WGS 84：{str(exc)[:100]}；请用 --crs 指定",
                             parameter="crs") from None
        return _checked(out, placement, geoms)
    present = geoms[~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)]
    guess = guess_crs(present)
    if guess is None:
        local = float(np.max(np.abs(shapely.total_bounds(present)))) < 200_000
        hint = ("像是 CAD 的局部坐标：请用 --control-points 给出控制点配准" if local else
                "请用 --crs 指定（EPSG:4326/4490/4549/4528/3857、gcj02、bd09）")
        raise InvalidCRS(f"无法判断 {source.label} 的坐标系：坐标范围 {_range_text(present)} 不像昆山的经纬度、"
                         f"高斯-克吕格（EPSG:4549/4528）或 Web 墨卡托坐标；{hint}", parameter="crs")
    code, extra_swap = guess
    swapped = extra_swap != swap_xy
    placement = Placement(code, "guess", swapped, guessed=True)
    desc = f"{code}{'（x/y 轴序颠倒）' if swapped else ''}"
    placement.notes.append(f"文件没有坐标系，按坐标范围推测为 {desc}：确认后请加 --crs {code}"
                           f"{' --swap-xy' if swapped else ''} 再导入")
    if code == "EPSG:4326":
        placement.notes.append("经纬度无法区分 WGS 84 / CGCS2000 / GCJ-02（高德、腾讯）/ BD-09（百度）：若坐标取自网络地图，"
                               "请用 --crs gcj02 或 --crs bd09")
    return _checked(_to_wgs84(_swap(geoms) if extra_swap else geoms, code), placement, geoms)


def _checked(out, placement: Placement, raw) -> tuple[np.ndarray, Placement]:
    out = np.asarray(out, dtype=object)
    ok = ~shapely.is_missing(out) & ~shapely.is_empty(out)
    bounds = shapely.total_bounds(out[ok])
    coords = shapely.get_coordinates(out[ok])
    if not np.isfinite(coords).all():
        raise InvalidCRS(f"按 {placement.crs} 换算后坐标无效（超出该坐标系的范围）：坐标范围 {_range_text(raw[ok])}；"
                         "请检查 --crs", parameter="crs")
    if not shapely.intersects(shapely.box(*ZONE), shapely.box(*bounds)):
        centre = ((bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2)
        guess = guess_crs(raw[ok])
        hint = (f"；坐标范围看起来像 {guess[0]}{'（轴序颠倒，加 --swap-xy）' if guess[1] else ''}" if guess else "")
        raise InvalidParameter(f"按 {placement.crs} 换算，要素{where(*centre)}，不在昆山范围内"
                               f"（{ZONE[0]}–{ZONE[2]}°E，{ZONE[1]}–{ZONE[3]}°N）：请检查坐标系（--crs）和 x/y 顺序{hint}",
                               parameter="crs")
    return out, placement
