"""CSV for Excel: UTF-8 with BOM, geometry as WKT in the first column ``WKT``, then the attributes.

A CSV file cannot declare a CRS, so every row carries a ``crs`` column ("EPSG:4549", "GCJ-02" …); GDAL reads
the ``WKT`` column back as the geometry. Tables without geometry (the indicators) have an empty ``WKT``.
"""
from __future__ import annotations

from pathlib import Path

from ..crs import CRSInfo
from ._common import write_gdal
from .selection import LayerSelection, Selection


def write_selection(selection, target: Path, crs: CRSInfo, *, progress=None, **_):
    frame = selection.combined(crs)
    frame["crs"] = crs.code
    options = {"GEOMETRY": "AS_WKT", "WRITE_BOM": "YES", "LINEFORMAT": "CRLF", "STRING_QUOTING": "IF_NEEDED"}
    write_gdal(frame, target, driver="CSV", layer=Path(target).stem, crs=crs, layer_options=options)
    if progress:
        progress(len(frame))


def write(frame, target, crs, layer=None):
    write_selection(Selection(None, [LayerSelection(layer, frame)]), Path(target), crs)
