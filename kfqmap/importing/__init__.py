"""Importing planners' own GIS and CAD files into the embedded store: read, place, check, report, commit, undo.

Modules, one job each: ``source`` (what a reader returns), ``readers`` (which reader by suffix), ``gis``
(pyogrio: Shapefile, GeoPackage, GeoJSON, KML/KMZ, FlatGeobuf), ``dbf`` (DBF encoding detection), ``tabular``
(CSV/XLSX), ``cad`` (DXF), ``placement`` (CRS from file / option / guess; the Kunshan check), ``georef``
(control points), ``mapping`` (columns → the target schema), ``checks`` (geometry checks, area, overlap),
``report`` (the report), ``pipeline`` (the whole import). The store side (layers created by imports, the import
log, undo) is ``kfqmap.providers.store_imports``. See docs/import.md.
"""
from __future__ import annotations

from .mapping import parse_mapping
from .pipeline import (ImportOptions, PreparedImport, drawing_preview, prepare, read_for_stats, run_import,
                       undo_import)
from .report import ImportReport

__all__ = ["ImportOptions", "ImportReport", "PreparedImport", "drawing_preview", "parse_mapping", "prepare",
           "read_for_stats", "run_import", "undo_import"]
