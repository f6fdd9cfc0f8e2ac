"""GeoJSON: one FeatureCollection with every selected feature (``src_layer`` = layer id, ``layer_zh`` = its Chinese title).

In WGS 84 the file follows RFC 7946 (lon/lat, 8 decimals ≈ 1 mm). In any other CRS it cannot be RFC 7946:
GDAL writes the 2008-style ``crs`` member naming the EPSG code, which QGIS/GDAL honour. GCJ-02 has no EPSG
code, so the collection carries no ``crs`` member but the foreign members ``kfqmap_crs: "GCJ-02"`` and a note.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..crs import CRSInfo
from ._common import GCJ02_NOTE, crs_label, write_gdal


def write_selection(selection, target: Path, crs: CRSInfo, *, progress=None, **_):
    frame = selection.combined(crs)
    options = {"WRITE_NAME": "NO", "DESCRIPTION": "昆山开发区“十四五”规划空间格局（KFQMap 导出）。" + crs_label(crs)}
    if crs.code == "EPSG:4326":
        options.update(RFC7946="YES", COORDINATE_PRECISION="8")
    if crs.epsg is None:
        options["FOREIGN_MEMBERS_COLLECTION"] = json.dumps({"kfqmap_crs": crs.code, "kfqmap_crs_note": GCJ02_NOTE},
                                                           ensure_ascii=False)
    write_gdal(frame, target, driver="GeoJSON", layer="kfqmap", crs=crs, layer_options=options)
    if progress:
        progress(len(frame))


def write(frame, target, crs, layer=None):
    """Contract form: one layer's frame (EPSG:4326) to GeoJSON."""
    from . import LayerSelection, Selection
    selection = Selection(None, [LayerSelection(layer, frame)])
    write_selection(selection, Path(target), crs)
