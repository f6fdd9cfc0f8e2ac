"""FlatGeobuf: one file, one layer ``kfqmap`` with every selected feature (``src_layer``, ``layer_zh``).

FlatGeobuf stores one CRS per file; GCJ-02 files have none, and the layer title/description say "GCJ-02".
"""
from __future__ import annotations

from pathlib import Path

from ..crs import CRSInfo
from ._common import crs_label, write_gdal
from .selection import LayerSelection, Selection


def write_selection(selection, target: Path, crs: CRSInfo, *, progress=None, **_):
    frame = selection.combined(crs)
    options = {"TITLE": "昆山开发区“十四五”规划空间格局（KFQMap 导出）", "DESCRIPTION": crs_label(crs)}
    write_gdal(frame, target, driver="FlatGeobuf", layer="kfqmap", crs=crs, layer_options=options)
    if progress:
        progress(len(frame))


def write(frame, target, crs, layer=None):
    write_selection(Selection(None, [LayerSelection(layer, frame)]), Path(target), crs)
