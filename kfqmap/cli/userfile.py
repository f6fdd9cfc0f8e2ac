"""Reading a user's own vector file for the CLI (``stats --file``, ``export --within``): one reader, one set of checks."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..crs import parse_crs, transform_geometry
from ..errors import InvalidGeometry, InvalidParameter


def read_user_file(path: str | Path, crs: str | None, *, parameter: str = "file",
                   crs_hint: str = "请用 --crs 指定，如 --crs EPSG:4549"):
    """A user's vector file (GeoJSON/GPKG/Shapefile…) → GeoDataFrame in EPSG:4326, checked.

    ``crs`` says what its coordinates are (else the file's own CRS, else WGS 84). Missing or unreadable files,
    empty files, coordinates that cannot be lon/lat and invalid geometries raise ``InvalidParameter`` /
    ``InvalidGeometry`` with ``parameter``; ``crs_hint`` tells the user how to give the CRS.
    """
    import pyogrio
    import shapely

    p = Path(path)
    if not p.exists():
        raise InvalidParameter(f"文件不存在：{path}", parameter=parameter)
    try:
        frame = pyogrio.read_dataframe(p, use_arrow=False)
    except Exception as exc:
        raise InvalidGeometry(f"无法读取文件 {p.name}：{str(exc).splitlines()[0][:160]}（是否是有效的 GeoJSON / GPKG / Shapefile？）",
                              parameter=parameter) from None
    if not crs and p.suffix.lower() in (".geojson", ".json"):
        crs = _declared_crs(p)           # our own GCJ-02 / BD-09 exports declare it (kfqmap_crs)
    if len(frame) == 0:
        raise InvalidGeometry(f"文件 {p.name} 中没有要素", parameter=parameter)
    if crs:
        info = parse_crs(crs)
        geoms = transform_geometry(np.asarray(frame.geometry.values, dtype=object), info, "EPSG:4326")
        frame = frame.set_crs(None, allow_override=True).set_geometry(
            frame.geometry.__class__(geoms, index=frame.index, crs=4326))
    elif frame.crs is not None and frame.crs.to_epsg() != 4326:
        epsg = frame.crs.to_epsg()
        if epsg is None:
            raise InvalidParameter(f"无法识别文件的坐标系；{crs_hint}", parameter="crs")
        parse_crs(f"EPSG:{epsg}")
        frame = frame.to_crs(4326)
    geoms = np.asarray(frame.geometry.values, dtype=object)
    coords = shapely.get_coordinates(geoms)
    if len(coords) and not np.isfinite(coords).all():
        raise InvalidGeometry("坐标无法换算为经纬度（超出所给坐标系的有效范围）；请检查 --crs 是否与文件对应", parameter="crs")
    if len(coords) and ((np.abs(coords[:, 0]) > 180).any() or (np.abs(coords[:, 1]) > 90).any()):
        raise InvalidGeometry(f"坐标超出经纬度范围：文件可能是投影坐标（米）；{crs_hint}",
                              parameter="crs")
    bad = np.flatnonzero(~shapely.is_valid(geoms) & ~shapely.is_missing(geoms))
    if len(bad):
        reason = shapely.is_valid_reason(geoms[bad[0]])
        raise InvalidGeometry(f"文件 {p.name} 第 {bad[0] + 1} 个要素的几何无效：{reason}（共 {len(bad)} 个无效要素；请先修复）",
                              parameter=parameter)
    if "id" in frame.columns:
        frame.index = frame["id"].astype(str)
    else:
        frame.index = [str(i + 1) for i in range(len(frame))]
    return frame


def _declared_crs(path: Path) -> str | None:
    """``kfqmap_crs`` of a GeoJSON file KFQMap wrote (the member sits before the features)."""
    import re

    with open(path, "rb") as f:
        head = f.read(65536).decode("utf-8", "ignore")
    m = re.search(r'"kfqmap_crs"\s*:\s*"([^"]+)"', head)
    return m.group(1) if m else None
