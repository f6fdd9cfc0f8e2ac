"""GeoPackage: one table per plan layer (table name = layer id), tables without geometry as attribute tables.

Each table's ``identifier`` is the Chinese layer title and its ``description`` names the CRS. GCJ-02 tables
are written with GDAL's "Undefined SRS" and say "GCJ-02" in their description. Files are GeoPackage 1.2, which
older readers (GDAL 3.6's ogrinfo, ArcGIS) open without warnings.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyogrio

from ..crs import CRSInfo
from ._common import clean_attributes, crs_label, write_gdal
from .selection import LayerSelection, Selection, to_crs


def write_selection(selection, target: Path, crs: CRSInfo, *, progress=None, **_):
    first = True
    for item in selection.items:
        layer = item.layer
        options = {"IDENTIFIER": layer.title_zh,
                   "DESCRIPTION": f"{layer.title_zh}（{layer.title_en}）— {layer.group} — 规划章节 {layer.plan_section}。"
                                  f"{crs_label(crs)}"}
        if not layer.is_spatial:
            table = pd.DataFrame(clean_attributes(item.frame).drop(columns=item.frame.geometry.name))
            pyogrio.write_dataframe(table, target, driver="GPKG", layer=layer.id, append=not first,
                                    layer_options=options, dataset_options={"VERSION": "1.2"} if first else None)
        else:
            write_gdal(to_crs(item.frame, crs), target, driver="GPKG", layer=layer.id, crs=crs, append=not first,
                       layer_options=options, dataset_options={"VERSION": "1.2"} if first else None)
        first = False
        if progress:
            progress(len(item.frame))


def write(frame, target, crs, layer=None):
    write_selection(Selection(None, [LayerSelection(layer, frame)]), Path(target), crs)
