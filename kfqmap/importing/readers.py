"""Which reader opens a file: by its suffix (``SUFFIXES`` in ``source.py``)."""
from __future__ import annotations

from pathlib import Path

from ..errors import InvalidParameter
from . import cad, gis, tabular
from .source import SUFFIXES, Source

READER_NAMES = {".zip": "Shapefile（zip）", ".shp": "Shapefile", ".gpkg": "GeoPackage", ".geojson": "GeoJSON",
                ".json": "GeoJSON", ".kml": "KML", ".kmz": "KMZ", ".fgb": "FlatGeobuf", ".csv": "CSV", ".txt": "CSV",
                ".xlsx": "Excel（XLSX）", ".dxf": "DXF", ".dwg": "DWG"}


def read_source(path: Path, *, encoding: str | None = None, table: str | None = None,
                xy: tuple[str, str] | None = None, wkt_column: str | None = None, sheet: str | None = None) -> Source:
    """Read ``path`` with the reader its suffix names; raise ``InvalidParameter`` naming the problem."""
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.exists():
        raise InvalidParameter(f"文件不存在：{path}", parameter="file")
    if suffix not in SUFFIXES:
        raise InvalidParameter(f"不支持的文件类型 {suffix or '（无扩展名）'}；可导入："
                               f"{'、'.join(sorted(set(READER_NAMES.values())))}", parameter="file")
    if suffix in (".zip", ".shp"):
        return gis.read_shapefile(path, encoding)
    if suffix == ".gpkg":
        return gis.read_gpkg(path, table)
    if suffix in (".geojson", ".json"):
        return gis.read_geojson(path)
    if suffix in (".kml", ".kmz"):
        return gis.read_kml(path)
    if suffix == ".fgb":
        return gis.read_fgb(path)
    if suffix in (".csv", ".txt", ".xlsx"):
        return tabular.read_table(path, encoding=encoding, xy=xy, wkt_column=wkt_column, sheet=sheet)
    return cad.read_dxf(path)
