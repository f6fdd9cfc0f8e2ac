"""What a reader hands to the rest of the import: the features as read, with what the file says about itself.

Readers never transform coordinates: ``Source.frame`` holds the file's own coordinates (its CRS, if it has one,
in ``Source.crs``), so that placement (``placement.py``) can decide — from the file, from ``--crs``, from a
guess, or from control points — how they map to WGS 84, and say which it did.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd

#: file suffixes a reader exists for (DWG is named so that it gets a clear message, not "unknown format")
SUFFIXES = (".zip", ".shp", ".gpkg", ".geojson", ".json", ".kml", ".kmz", ".fgb", ".csv", ".txt", ".xlsx",
            ".dxf", ".dwg")


@dataclass
class Source:
    """One file (one table of it) as read: raw coordinates, attributes and what the file declares."""

    frame: gpd.GeoDataFrame                 # geometry in the file's own coordinates, crs dropped
    label: str                              # what provenance calls the source: "parcels.zip", "plan.gpkg:parks"
    crs: Any = None                         # pyproj CRS or a kfqmap CRS code ("GCJ-02") the file declares; None
    crs_origin: str | None = None           # where that CRS came from (".prj", "GeoPackage", "GeoJSON crs" …)
    encoding: str | None = None             # text encoding used to decode the attributes
    encoding_origin: str | None = None      # how it was chosen (".cpg", "detected", "--encoding", "$DWGCODEPAGE" …)
    accuracy_m: float | None = None         # positional accuracy the file states, when it does
    notes: list[str] = field(default_factory=list)   # what the reader noticed (shown in the report)
    skipped: dict[str, int] = field(default_factory=dict)   # entities/rows left out, by kind
