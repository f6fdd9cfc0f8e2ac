"""Readers that open a layer's data, behind one small interface, chosen by name from a registry.

A layer's ``source`` in the catalog names its reader: ``geojson``, ``gpkg`` and ``file`` (files through
GDAL/pyogrio, ``location`` a path) and ``postgis`` (a PostGIS table, ``location`` = ``<libpq dsn>#schema.table``;
see ``kfqmap/stores/postgis.py``). Every reader returns a GeoDataFrame in EPSG:4326.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Protocol

import geopandas as gpd
import pyogrio

from .errors import KFQMapError


class LayerReader(Protocol):
    def __call__(self, location: str, *, base: Path) -> gpd.GeoDataFrame: ...


def _read_file(location: str, *, base: Path) -> gpd.GeoDataFrame:
    path = Path(location)
    if not path.is_absolute():
        path = base / path
    if not path.exists():
        raise KFQMapError(f"图层数据文件不存在：{path}")
    frame = pyogrio.read_dataframe(path, use_arrow=False)
    if frame.crs is None:
        frame = frame.set_crs(4326)
    elif frame.crs.to_epsg() != 4326:
        frame = frame.to_crs(4326)
    return frame


def _read_postgis(location: str, *, base: Path) -> gpd.GeoDataFrame:
    from .stores.postgis import read_postgis   # psycopg is imported only when a PostGIS layer is read

    return read_postgis(location, base=base)


READERS: dict[str, Callable[..., gpd.GeoDataFrame]] = {
    "geojson": _read_file,
    "gpkg": _read_file,
    "file": _read_file,
    "postgis": _read_postgis,
}


def register_reader(name: str, reader: Callable[..., gpd.GeoDataFrame]) -> None:
    """Register a reader under a name that catalog entries can use as ``source``."""
    READERS[name] = reader


def read_layer(source: str, location: str, *, base: Path) -> gpd.GeoDataFrame:
    try:
        reader = READERS[source]
    except KeyError:
        raise KFQMapError(f"未知的数据源类型 '{source}'；可用：{', '.join(READERS)}") from None
    return reader(location, base=base)
