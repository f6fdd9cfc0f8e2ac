"""Helpers shared by the export writers: CRS labels, attribute clean-up, GDAL writes."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from ..crs import CRSInfo

#: written wherever a format cannot carry a non-EPSG CRS (GCJ-02)
GCJ02_NOTE = ("坐标系：GCJ-02（高德/腾讯“火星坐标”），不是 EPSG 坐标系，文件中没有坐标系定义（无 .prj / 无 SRS）。"
              "请勿当作 WGS 84 使用：在昆山，两者相差约 300–700 米。"
              " Coordinates are GCJ-02 (AMap/Tencent offset lon/lat), not an EPSG CRS: no CRS is declared in this file.")


def crs_label(crs: CRSInfo) -> str:
    """One line naming the output CRS, honest about GCJ-02."""
    if crs.epsg is None:
        return GCJ02_NOTE
    return f"坐标系：{crs.code} {crs.name_zh}（{crs.name_en}）"


def gdal_crs(crs: CRSInfo) -> str | None:
    return f"EPSG:{crs.epsg}" if crs.epsg else None


def clean_attributes(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Make every attribute column writable by GDAL: lists/dicts → JSON text, mixed objects → strings."""
    out = frame.copy()
    geom_name = out.geometry.name
    for col in out.columns:
        if col == geom_name:
            continue
        series = out[col]
        if series.dtype == object:
            def conv(v):
                if v is None or (isinstance(v, float) and np.isnan(v)):
                    return None
                if isinstance(v, (list, dict, tuple)):
                    return json.dumps(v, ensure_ascii=False)
                if isinstance(v, (bool, np.bool_)):
                    return "true" if v else "false"
                return v if isinstance(v, str) else str(v)
            kinds = {type(v) for v in series.dropna()}
            if kinds and kinds <= {bool, np.bool_} and not series.isna().any():
                out[col] = series.astype(bool)
            elif kinds and not kinds <= {str}:   # e.g. booleans with gaps after joining layers → "true"/"false"/null
                out[col] = series.map(conv).astype(object)
    return out


def write_gdal(frame: gpd.GeoDataFrame, path: Path, *, driver: str, layer: str | None, crs: CRSInfo,
               append: bool = False, layer_options: dict | None = None, dataset_options: dict | None = None,
               geometry_type: str | None = None) -> None:
    """Write one frame (already in ``crs``) through pyogrio/GDAL."""
    frame = clean_attributes(frame)
    frame = frame.set_crs(gdal_crs(crs), allow_override=True) if gdal_crs(crs) else frame.set_crs(None, allow_override=True)
    kwargs = {}
    if geometry_type is not None:
        kwargs["geometry_type"] = geometry_type
    with warnings.catch_warnings():   # GCJ-02 has no CRS on purpose; the writers label it in metadata
        warnings.filterwarnings("ignore", message="'crs' was not provided")
        pyogrio.write_dataframe(frame, path, driver=driver, layer=layer, append=append,
                                layer_options=layer_options or None, dataset_options=dataset_options or None,
                                **kwargs)


def is_table(frame: gpd.GeoDataFrame) -> bool:
    return bool(len(frame) == 0 or frame.geometry.isna().all())


def geometry_family(geom_type: str | None) -> str | None:
    """Point/MultiPoint → point, (Multi)LineString → line, (Multi)Polygon → polygon."""
    if geom_type is None:
        return None
    t = geom_type.replace("Multi", "")
    return {"Point": "point", "LineString": "line", "Polygon": "polygon"}.get(t, "other")


def plain_value(v):
    """A value fit for display (KML descriptions, DXF text, XLSX cells): NaN → None, numpy → Python."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, float) and np.isnan(v):
        return None
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    return v


class Ticker:
    """Report progress every ``every`` features from a per-feature loop (the CLI's bar moves on big layers)."""

    def __init__(self, progress, every: int = 500):
        self.progress, self.every, self.pending = progress, every, 0

    def tick(self) -> None:
        self.pending += 1
        if self.pending >= self.every:
            self.flush()

    def flush(self) -> None:
        if self.progress and self.pending:
            self.progress(self.pending)
        self.pending = 0
