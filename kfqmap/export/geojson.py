"""GeoJSON: one FeatureCollection with every selected feature (``src_layer`` = layer id, ``layer_zh`` = its title).

Written by this module, feature by feature, rather than by GDAL: GDAL's coordinate formatter "tidies" values
such as 120.6999999 into 120.7 (1 cm off), and our exports promise the stored coordinates. Python writes every
float with the shortest text that reads back to the same double, so nothing is lost.

* WGS 84: RFC 7946 (lon/lat, polygon exteriors counter-clockwise, holes clockwise, no ``crs`` member).
* Any other EPSG CRS: the file cannot be RFC 7946; it carries the 2008-style ``crs`` member
  (``urn:ogc:def:crs:EPSG::4549``), which GDAL/QGIS honour, and lon/lat-or-easting/northing order.
* GCJ-02 has no EPSG code: no ``crs`` member, but the foreign members ``kfqmap_crs: "GCJ-02"`` and a note.

Attribute values are written as they are stored; text holding a JSON array or object (``figures``) is written
as JSON, as in geodata/.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import mapping

from ..crs import CRSInfo
from ._common import GCJ02_NOTE, Ticker, crs_label, plain_value
from .selection import LayerSelection, Selection, to_crs


def _value(v):
    if v is pd.NA or v is pd.NaT:
        return None
    v = plain_value(v)
    if v is None:
        return None
    if isinstance(v, str) and v[:1] in "[{":
        try:
            return json.loads(v)
        except ValueError:
            return v
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v


def _geometry(geom, rfc7946: bool):
    if geom is None or geom.is_empty:
        return None
    if rfc7946 and geom.geom_type in ("Polygon", "MultiPolygon"):
        geom = shapely.orient_polygons(geom, exterior_cw=False)
    return mapping(geom)


def write_selection(selection, target: Path, crs: CRSInfo, *, progress=None, **_):
    rfc7946 = crs.code == "EPSG:4326"
    head: dict = {"type": "FeatureCollection",
                  "description": "昆山开发区“十四五”规划空间格局（KFQMap 导出）。" + crs_label(crs)}
    if crs.epsg and not rfc7946:
        head["crs"] = {"type": "name", "properties": {"name": f"urn:ogc:def:crs:EPSG::{crs.epsg}"}}
    if crs.epsg is None:
        head.update(kfqmap_crs=crs.code, kfqmap_crs_note=GCJ02_NOTE)
    with open(target, "w", encoding="utf-8", newline="\n") as fh:
        text = json.dumps(head, ensure_ascii=False)
        fh.write(text[:-1] + ', "features": [\n')
        first = True
        ticker = Ticker(progress)
        for item in selection.items:
            frame = to_crs(item.frame, crs)
            geom_name = frame.geometry.name
            columns = [c for c in frame.columns if c != geom_name]
            values = frame[columns].to_numpy(dtype=object)
            for row, geom in zip(values, frame.geometry.values):
                props = {"src_layer": item.layer.id if item.layer else None,
                         "layer_zh": item.layer.title_zh if item.layer else None}
                props.update({c: _value(v) for c, v in zip(columns, row)})
                feature = {"type": "Feature", "properties": props, "geometry": _geometry(geom, rfc7946)}
                fh.write(("" if first else ",\n") + json.dumps(feature, ensure_ascii=False, allow_nan=False))
                first = False
                ticker.tick()
        ticker.flush()
        fh.write("\n]}\n")


def write(frame, target, crs, layer=None):
    """Contract form: one layer's frame (EPSG:4326) to GeoJSON."""
    write_selection(Selection(None, [LayerSelection(layer, frame)]), Path(target), crs)
