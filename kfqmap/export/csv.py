"""CSV for Excel, LibreOffice, QGIS and GDAL: UTF-8 with BOM, CRLF, geometry as WKT in the first column ``WKT``.

Columns: ``WKT``, ``geometry_kind``, ``wkt_note``, then the attributes (``src_layer`` and ``layer_zh`` first), and
``crs`` last. Tables without geometry (the indicators) have an empty ``WKT``.

* **CRS.** A CSV file cannot declare one, so every row carries ``crs`` ("EPSG:4549", "GCJ-02" …).
* **Spreadsheet cell limit.** Excel and LibreOffice keep at most 32,767 characters in a cell and cut the rest
  when the file is saved again, which silently corrupts a boundary. Coordinates are first written at the
  precision the data has (8 decimals of a degree ≈ 1 mm, or 1 mm in projected CRSs) instead of GDAL's 15
  digits. A geometry whose WKT is still longer is simplified (Douglas–Peucker, topology kept) with the smallest
  tolerance that fits, and its ``wkt_note`` says so with the largest deviation in metres; the full geometry is
  in the GeoPackage export. (Chosen over refusing the layer: a planner asking for the administrative boundaries
  in CSV gets them, 数米 off, and is told by how much and where to get the exact ones.)
* **Text stays text.** Every text value is quoted and numbers are not (``"6%"``, ``"001"`` vs ``1595.14``), so
  readers that honour quoting keep them as text: LibreOffice with "Format quoted field as text"
  (引号内字段作为文本), QGIS's Delimited Text, GDAL (``-oo AUTODETECT_TYPE=YES -oo QUOTED_FIELDS_AS_STRING=YES``).
  Excel converts number-like text on opening any CSV whatever the quoting; use the XLSX export there.
* **Mixed geometry types.** One file holds points, lines and polygons; ``geometry_kind`` is ``point`` /
  ``line`` / ``polygon`` (empty for rows without geometry) — the values of QGIS Delimited Text's geometry type
  (``geomType=`` in the layer URI). QGIS loads one geometry type per layer: add the file once per kind (数据源管理器
  → 分隔文本 → 几何类型), or filter on ``geometry_kind``. GDAL's CSV driver reads all rows at once.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from ..crs import CRSInfo
from ._common import clean_attributes, geometry_family, plain_value
from .selection import LayerSelection, Selection

#: characters a spreadsheet cell holds (Excel and LibreOffice Calc)
CELL_LIMIT = 32_767
#: simplification tolerances tried, metres, smallest first
_TOLERANCES_M = [0.05 * 1.5 ** i for i in range(40)]     # 5 cm … ~550 km


def _decimals(crs: CRSInfo) -> int:
    """WKT decimals: 8 for degrees (≈ 1 mm), 3 for metres (1 mm)."""
    return 8 if _geographic(crs) else 3


def _geographic(crs: CRSInfo) -> bool:
    return crs.epsg is None or crs.epsg in (4326, 4490)     # GCJ-02 (no EPSG) is lon/lat too


def _deviation_m(original, simplified, crs: CRSInfo) -> float:
    """Hausdorff distance between the original and the simplified geometry, in metres (EPSG:4549)."""
    from ..crs import transform_geometry
    if crs.code in ("EPSG:4549", "EPSG:4528"):
        return float(shapely.hausdorff_distance(original, simplified))
    a, b = transform_geometry(np.array([original, simplified], dtype=object), crs.code, "EPSG:4549")
    return float(shapely.hausdorff_distance(a, b))


def fit_wkt(geom, crs: CRSInfo, limit: int = CELL_LIMIT) -> tuple[str, str | None]:
    """WKT of ``geom`` (in ``crs``) no longer than ``limit`` characters, and a note when it had to be simplified."""
    if geom is None or geom.is_empty:
        return "", None
    decimals = _decimals(crs)
    wkt = shapely.to_wkt(geom, rounding_precision=decimals, trim=True)
    if len(wkt) <= limit:
        return wkt, None
    units_per_m = 1.0 / 111_320.0 if _geographic(crs) else 1.0      # tolerance in the CRS's units, roughly
    for tol_m in _TOLERANCES_M:
        simple = shapely.simplify(geom, tol_m * units_per_m, preserve_topology=True)
        text = shapely.to_wkt(simple, rounding_precision=decimals, trim=True)
        if len(text) <= limit and not simple.is_empty:
            dev = _deviation_m(geom, simple, crs)
            note = (f"几何已简化：完整 WKT 有 {len(wkt):,} 个字符，超过电子表格单元格上限 {limit:,} 个字符"
                    f"（Excel/LibreOffice 保存时会截断）；简化后最大偏差约 {_metres(dev)} 米。完整几何请导出 GeoPackage（gpkg）。"
                    f" (Simplified to fit a spreadsheet cell: max deviation {_metres(dev)} m; use GPKG for the full geometry.)")
            return text, note
    raise AssertionError("unreachable: a tolerance of hundreds of km leaves a few vertices")


def _metres(value: float) -> str:
    return f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def _cell(value):
    """A CSV cell: text as str (quoted), numbers as int/float (bare), missing as None (empty, bare)."""
    v = plain_value(value)
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return None if isinstance(v, float) and not math.isfinite(v) else v
    return str(v)


class _Writer:
    """csv.writer that quotes text and leaves numbers and empty cells bare (Python 3.12's QUOTE_STRINGS)."""

    def __init__(self, handle):
        self.handle = handle

    def writerow(self, row) -> None:
        cells = []
        for v in row:
            if v is None:
                cells.append("")
            elif isinstance(v, str):
                cells.append('"' + v.replace('"', '""') + '"')
            else:
                # integral floats (years, counts in columns with gaps) as integers: 2020, not 2020.0
                cells.append(str(int(v)) if isinstance(v, float) and v.is_integer() else repr(v) if isinstance(v, float)
                             else str(v))
        self.handle.write(",".join(cells) + "\r\n")


def write_selection(selection, target: Path, crs: CRSInfo, *, progress=None, **_):
    frame = clean_attributes(selection.combined(crs))
    geom_name = frame.geometry.name
    geoms = frame.geometry.values
    attributes = [c for c in frame.columns if c != geom_name and c != "crs"]
    header = ["WKT", "geometry_kind", "wkt_note", *attributes, "crs"]
    records = pd.DataFrame(frame[attributes]).to_dict("records")
    with open(target, "w", encoding="utf-8-sig", newline="") as handle:
        writer = _Writer(handle)
        writer.writerow(header)
        for geom, row in zip(geoms, records):
            wkt, note = fit_wkt(geom, crs)
            kind = geometry_family(geom.geom_type) if wkt else None
            writer.writerow([wkt or None, kind, note, *(_cell(row[c]) for c in attributes), crs.code])
    if progress:
        progress(len(frame))


def write(frame, target, crs, layer=None):
    write_selection(Selection(None, [LayerSelection(layer, frame)]), Path(target), crs)


__all__ = ["CELL_LIMIT", "fit_wkt", "write_selection", "write"]
