"""Tables of coordinates: CSV (with or without BOM; UTF-8 or GBK/GB18030) and XLSX, with a WKT column or a pair of
coordinate columns.

Columns recognised (case-insensitive; the first pair present wins): 经度/纬度, lon/lat, lng/lat,
longitude/latitude, 东坐标/北坐标, easting/northing, x/y, X坐标/Y坐标; a WKT column named wkt, geometry, geom,
the_geom or 几何. ``xy=("列A", "列B")`` or ``wkt_column`` name them when the headers are different. A value that is
not a number in a coordinate column is an error naming its row (as the spreadsheet numbers it) and column.
"""
from __future__ import annotations

import io
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..errors import InvalidParameter
from .source import Source

XY_PAIRS = (("经度", "纬度"), ("lon", "lat"), ("lng", "lat"), ("longitude", "latitude"), ("东坐标", "北坐标"),
            ("easting", "northing"), ("x", "y"), ("x坐标", "y坐标"))
WKT_NAMES = ("wkt", "geometry", "geom", "the_geom", "几何")


def _decode(data: bytes, encoding: str | None) -> tuple[str, str, str]:
    """(text, encoding, how it was chosen)."""
    if encoding:
        return data.decode(encoding), encoding, "--encoding 指定"
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), "UTF-8", "BOM（UTF-8）"
    try:
        return data.decode("utf-8"), "UTF-8", "自动检测：UTF-8（无 BOM）"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "GB18030", "自动检测：不是 UTF-8，按 GBK/GB18030 解码"
    except UnicodeDecodeError:
        raise InvalidParameter("CSV 既不是 UTF-8 也不是 GBK 编码：请用 --encoding 指定", parameter="encoding") from None


def _numeric_if_all(series: pd.Series) -> pd.Series:
    """A text column whose every non-empty value is a number becomes numeric (codes with leading zeros stay text)."""
    text = series.map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip())
    filled = text[text != ""]
    if not len(filled) or filled.str.match(r"^0\d").any():
        return series.where(text != "", None)
    numbers = pd.to_numeric(filled, errors="coerce")
    if numbers.isna().any():
        return series.where(text != "", None)
    return pd.to_numeric(text.where(text != "", None), errors="coerce")


def read_table(path: Path, *, encoding: str | None, xy: tuple[str, str] | None, wkt_column: str | None,
               sheet: str | None = None) -> Source:
    label = path.name
    if path.suffix.lower() == ".xlsx":
        try:
            table = pd.read_excel(path, sheet_name=sheet or 0, dtype=object, engine="openpyxl")
        except Exception as exc:
            raise InvalidParameter(f"无法读取 Excel 文件 {path.name}：{str(exc).splitlines()[0][:160]}",
                                   parameter="file") from None
        enc, origin, first_row = "UTF-8", "XLSX（Unicode）", 2
    else:
        text, enc, origin = _decode(path.read_bytes(), encoding)
        try:
            table = pd.read_csv(io.StringIO(text), sep=None, engine="python", dtype=str, keep_default_na=False)
        except Exception as exc:
            raise InvalidParameter(f"无法读取 CSV 文件 {path.name}：{str(exc).splitlines()[0][:160]}",
                                   parameter="file") from None
        first_row = 2
    table.columns = [str(c).strip() for c in table.columns]
    lower = {c.lower(): c for c in table.columns}
    if wkt_column or (not xy and any(n in lower for n in WKT_NAMES)):
        col = wkt_column or lower[next(n for n in WKT_NAMES if n in lower)]
        if col not in table.columns:
            raise InvalidParameter(f"表中没有列 {col}；列：{'、'.join(table.columns)}", parameter="wkt_column")
        geoms = []
        for i, value in enumerate(table[col].tolist()):
            try:
                geoms.append(shapely.from_wkt(str(value)))
            except Exception:
                raise InvalidParameter(f"第 {i + first_row} 行列 {col} 的值不是 WKT 几何：{str(value)[:60]}",
                                       parameter="file") from None
        frame = gpd.GeoDataFrame(table.drop(columns=[col]), geometry=geoms)
        note = f"几何来自 WKT 列 {col}"
    else:
        if xy:
            xcol, ycol = xy
            for c in (xcol, ycol):
                if c not in table.columns:
                    raise InvalidParameter(f"表中没有列 {c}；列：{'、'.join(table.columns)}", parameter="xy")
        else:
            pair = next(((lower[a], lower[b]) for a, b in XY_PAIRS if a in lower and b in lower), None)
            if pair is None:
                raise InvalidParameter(f"{label} 中找不到坐标列（可识别：经度/纬度、lon/lat、x/y、东坐标/北坐标、wkt）；"
                                       f"现有列：{'、'.join(table.columns)}；请用 --xy 列名1,列名2 指定", parameter="xy")
            xcol, ycol = pair
        coords = {}
        for c in (xcol, ycol):
            values = table[c].tolist()
            cleaned = [str(v).strip().replace(",", "") if v is not None else "" for v in values]
            numbers = pd.to_numeric(pd.Series(cleaned), errors="coerce")
            bad = np.flatnonzero(numbers.isna().to_numpy())
            if len(bad):
                raise InvalidParameter(f"{label} 第 {bad[0] + first_row} 行列 {c} 的值 '{values[bad[0]]}' 不是数字"
                                       f"（共 {len(bad)} 行有问题）", parameter="file")
            coords[c] = numbers.to_numpy(dtype="float64")
        frame = gpd.GeoDataFrame(table.drop(columns=[xcol, ycol]),
                                 geometry=shapely.points(coords[xcol], coords[ycol]))
        note = f"点坐标来自列 {xcol}（横/东）、{ycol}（纵/北）"
    if len(frame) == 0:
        raise InvalidParameter(f"{label} 中没有数据行", parameter="file")
    for col in frame.columns:
        if col != frame.geometry.name:
            frame[col] = _numeric_if_all(frame[col])
    source = Source(frame=frame, label=label, encoding=enc, encoding_origin=origin, notes=[note])
    return source
