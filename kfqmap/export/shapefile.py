"""Zipped ESRI Shapefile: one file set per plan layer and geometry type, ``.prj``, ``.cpg`` "UTF-8", a field map.

Contents of the zip (flat, no folders):

* ``<layer>.shp/.shx/.dbf/.prj/.cpg`` — one set per plan layer; a layer holding several geometry kinds gets one
  set per kind: ``<layer>_point``, ``<layer>_line``, ``<layer>_polygon``. Tables without geometry (the
  indicators) are a lone ``<layer>.dbf`` (+ ``.cpg``).
* ``fields.csv`` (UTF-8 with BOM) — for every file set, each original attribute name and its DBF field name.
* ``README.txt`` — the CRS, the field-name rules below and any values the DBF format had to truncate.

DBF field names are at most 10 bytes; :func:`field_name_map` maps the names deterministically:

1. a fixed table of abbreviations for the contract's long names (``illustrative`` → ``illustr`` …, see
   :data:`ABBREVIATIONS`);
2. other ASCII names of ≤ 10 bytes are kept as they are;
3. other ASCII names are cut to their first 10 characters;
4. names with non-ASCII characters (Chinese) become ``c_`` + the first 8 hex digits of the SHA-1 of the
   name's UTF-8 bytes (e.g. ``园区类型说明文字`` → ``c_…``), the same for every export; ASCII-only field names
   open everywhere (ArcGIS, old AutoCAD Map, Excel), which Chinese DBF names do not;
5. a name that clashes (case-insensitively, as dBASE compares) with an earlier column's is cut to leave room
   for ``_2``, ``_3`` … in column order.

Text values longer than 254 bytes (the DBF limit) are cut at a character boundary; README.txt lists them.
GCJ-02 exports have no ``.prj`` on purpose (there is no honest WKT for GCJ-02); README.txt and ``CRS.txt`` say so.
"""
from __future__ import annotations

import csv
import hashlib
import io
import tempfile
import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from ..crs import CRSInfo
from ._common import GCJ02_NOTE, clean_attributes, crs_label, geometry_family, write_gdal
from .selection import LayerSelection, Selection, to_crs

#: fixed abbreviations of the contract's attribute names longer than 10 bytes
ABBREVIATIONS: dict[str, str] = {
    "illustrative": "illustr",
    "value_2020_text": "v2020_text",
    "target_text": "tgt_text",
    "target_year": "tgt_year",
    "growth_text": "growth_txt",
    "current_use": "cur_use",
    "planned_use": "plan_use",
    "description": "descr",
    "plan_section": "plan_sect",
}
MAX_BYTES = 254
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")


def short_name(name: str) -> tuple[str, str]:
    """The ≤ 10-byte DBF name of one attribute name, before clash resolution, and the rule that made it."""
    if name in ABBREVIATIONS:
        return ABBREVIATIONS[name], "abbreviation"
    if name.isascii():
        if len(name) <= 10:
            return name, "unchanged"
        return name[:10], "truncated"
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]
    return f"c_{digest}", "non-ascii"


def field_name_map(columns) -> dict[str, tuple[str, str]]:
    """``{original: (dbf_name, rule)}`` for the columns, in order, with clashes resolved (see module doc)."""
    out: dict[str, tuple[str, str]] = {}
    used: set[str] = set()
    for col in columns:
        name, rule = short_name(str(col))
        if name.upper() in used:
            n = 2
            while True:
                suffix = f"_{n}"
                candidate = name[: 10 - len(suffix)] + suffix
                if candidate.upper() not in used:
                    name, rule = candidate, rule + "+numbered"
                    break
                n += 1
        used.add(name.upper())
        out[str(col)] = (name, rule)
    return out


def _cut(text: str, limit: int = MAX_BYTES) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", errors="ignore")


def write_selection(selection, target: Path, crs: CRSInfo, *, progress=None, **_):
    field_rows: list[list[str]] = []
    truncated: list[str] = []
    with tempfile.TemporaryDirectory(prefix="kfqmap-shp-") as tmpdir:
        tmp = Path(tmpdir)
        written: list[str] = []
        for item in selection.items:
            layer, frame = item.layer, item.frame
            parts = _split_by_family(layer, frame)
            for stem, part in parts:
                attrs = clean_attributes(part)
                geom_name = attrs.geometry.name
                columns = [c for c in attrs.columns if c != geom_name]
                mapping = field_name_map(columns)
                for col in columns:
                    if attrs[col].dtype == object or str(attrs[col].dtype).startswith("str"):
                        values = attrs[col]
                        for fid, v in values.items():
                            if isinstance(v, str) and len(v.encode("utf-8")) > MAX_BYTES:
                                truncated.append(f"{stem}: 要素 {fid} 的 {col} 超过 {MAX_BYTES} 字节，已截断")
                        attrs[col] = values.map(lambda v: _cut(v) if isinstance(v, str) else v).astype(object)
                attrs = attrs.rename(columns={c: mapping[c][0] for c in columns})
                for col in columns:
                    field_rows.append([layer.id, layer.title_zh, stem, col, mapping[col][0], mapping[col][1]])
                path = tmp / f"{stem}.shp"
                options = {"ENCODING": "UTF-8"}
                if not layer.is_spatial:
                    table = pd.DataFrame(attrs.drop(columns=geom_name))
                    pyogrio.write_dataframe(table, tmp / f"{stem}.dbf", driver="ESRI Shapefile", layer_options=options)
                else:
                    write_gdal(to_crs(attrs, crs), path, driver="ESRI Shapefile", layer=stem, crs=crs,
                               layer_options=options)
                written.append(stem if layer.is_spatial else stem + "@table")
            if progress:
                progress(len(frame))
        written = [s.removesuffix("@table") + (".dbf" if s.endswith("@table") else ".shp") for s in written]
        for name in written:   # GDAL writes .cpg from ENCODING; make sure it says exactly UTF-8
            stem = Path(name).stem
            (tmp / f"{stem}.cpg").write_text("UTF-8", encoding="ascii")
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name in written:
                stem = Path(name).stem
                for ext in SHAPEFILE_PARTS:
                    p = tmp / f"{stem}{ext}"
                    if p.exists():
                        zf.write(p, p.name)
            zf.writestr("fields.csv", _fields_csv(field_rows))
            zf.writestr("README.txt", _readme(selection, crs, written, truncated))
            if crs.epsg is None:
                zf.writestr("CRS.txt", GCJ02_NOTE + "\n")


def _split_by_family(layer, frame: gpd.GeoDataFrame) -> list[tuple[str, gpd.GeoDataFrame]]:
    if not layer.is_spatial:
        return [(layer.id, frame)]
    fam = frame.geometry.geom_type.map(geometry_family)
    fam = fam.where(fam.notna(), geometry_family(layer.geometry_type))
    kinds = list(dict.fromkeys(fam))
    if len(kinds) <= 1:
        return [(layer.id, frame)]
    return [(f"{layer.id}_{k}", frame.loc[fam == k]) for k in kinds]


def _fields_csv(rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["layer_id", "layer_title", "file", "original_name", "dbf_name", "rule"])
    w.writerows(rows)
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def _readme(selection, crs: CRSInfo, written: list[str], truncated: list[str]) -> str:
    lines = [
        "昆山开发区“十四五”规划空间格局 — KFQMap Shapefile 导出",
        "",
        crs_label(crs),
        "" if crs.epsg else "本压缩包中没有 .prj 文件：GCJ-02 不是 EPSG 坐标系，写任何 .prj 都会错误地声明为 WGS 84。",
        "文字编码：UTF-8（每个 .cpg 文件写明 UTF-8）。",
        "",
        "文件：" + "、".join(written),
        "",
        "字段名映射（DBF 字段名最多 10 字节）：见 fields.csv。规则：",
        "1. 规定的缩写：" + "，".join(f"{k}→{v}" for k, v in ABBREVIATIONS.items()) + "；",
        "2. 其余不超过 10 字节的 ASCII 名称保持不变；",
        "3. 更长的 ASCII 名称截取前 10 个字符；",
        "4. 含中文等非 ASCII 字符的名称改为 c_ + 名称 UTF-8 字节 SHA-1 的前 8 位十六进制；",
        "5. 与前面字段重名（不区分大小写）时截短并加 _2、_3 …",
        "",
        "文本值超过 254 字节（DBF 上限）时按字符边界截断。",
    ]
    lines += truncated or ["本次没有截断任何值。"]
    return "\r\n".join(lines) + "\r\n"


def write(frame, target, crs, layer=None):
    write_selection(Selection(None, [LayerSelection(layer, frame)]), Path(target), crs)
