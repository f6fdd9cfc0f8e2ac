"""GIS files through pyogrio/GDAL: Shapefile (zipped or loose), GeoPackage (one table), GeoJSON (incl. a declared
``crs`` and KFQMap's own GCJ-02/BD-09 exports), KML/KMZ (every folder, named in a ``folder`` column), FlatGeobuf.

These read the *upload* (a file of the user's), never the store: the store is written with Python's sqlite3 only.
"""
from __future__ import annotations

import re
import shutil
import tempfile
import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from ..errors import InvalidParameter
from .dbf import cpg_encoding, detect_dbf_encoding
from .source import Source

#: GeoJSON member KFQMap's GCJ-02/BD-09 exports carry (they have no EPSG code for a ``crs`` member)
_KFQMAP_CRS = re.compile(rb'"kfqmap_crs"\s*:\s*"([^"]+)"')


def _fail(message: str) -> InvalidParameter:
    return InvalidParameter(message, parameter="file")


def _read(path: str, label: str, **kwargs) -> gpd.GeoDataFrame:
    try:
        return pyogrio.read_dataframe(path, use_arrow=False, **kwargs)
    except Exception as exc:
        first = str(exc).splitlines()[0][:200] if str(exc) else exc.__class__.__name__
        raise _fail(f"无法读取 {label}：{first}（文件是否完整？）") from None


def _with_crs(frame: gpd.GeoDataFrame, source: Source, origin: str) -> Source:
    if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry.name not in frame.columns:
        raise _fail(f"{source.label} 没有几何列（属性表）：只能导入带几何的图层")
    if frame.crs is not None:
        source.crs, source.crs_origin = frame.crs, origin
    source.frame = frame.set_crs(None, allow_override=True) if frame.crs is not None else frame
    return source


# ------------------------------------------------------------------------------------------ Shapefile
def read_shapefile(path: Path, encoding: str | None) -> Source:
    """A loose ``.shp`` (with its .dbf/.shx/.prj/.cpg beside it) or a ``.zip`` holding one Shapefile."""
    scratch = None
    if path.suffix.lower() == ".zip":
        # the members are extracted under plain names and read from there: zips made on Chinese Windows store GBK
        # file names without the UTF-8 flag, which neither zipfile nor GDAL's /vsizip/ decodes as written
        scratch = tempfile.TemporaryDirectory(prefix="kfqmap-import-")
        try:
            with zipfile.ZipFile(path) as zf:
                infos = [i for i in zf.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX")]
                bad = zf.testzip()
                if bad is not None:
                    raise _fail(f"压缩包 {path.name} 已损坏（{_member_name(bad)} 校验失败）：请重新打包上传")
                shps = [i for i in infos if i.filename.lower().endswith(".shp")]
                if not shps:
                    raise _fail(f"压缩包 {path.name} 中没有 .shp 文件（可导入：Shapefile 的 .shp/.dbf/.shx/.prj 打包）")
                if len(shps) > 1:
                    raise _fail(f"压缩包 {path.name} 含多个 Shapefile（{'、'.join(_member_name(i) for i in shps)}）："
                                "请每次导入一个")
                stem = shps[0].filename[:-4]
                sidecar = {i.filename[len(stem):].lower(): i for i in infos
                           if i.filename.startswith(stem) and len(i.filename) == len(stem) + 4}
                for ext, info in sidecar.items():
                    with zf.open(info) as src, open(Path(scratch.name) / f"layer{ext}", "wb") as dst:
                        shutil.copyfileobj(src, dst)
                has = set(sidecar)
        except zipfile.BadZipFile:
            scratch.cleanup()
            raise _fail(f"{path.name} 不是完整的 zip 压缩包（可能上传中断或文件被截断）") from None
        except (EOFError, OSError, zipfile.LargeZipFile) as exc:
            scratch.cleanup()
            raise _fail(f"压缩包 {path.name} 无法读取（{exc.__class__.__name__}）：文件可能被截断") from None
        except BaseException:
            scratch.cleanup()
            raise
        folder = Path(scratch.name)
        dbf = (folder / "layer.dbf").read_bytes() if ".dbf" in has else None
        cpg = (folder / "layer.cpg").read_text("ascii", "ignore") if ".cpg" in has else None
        gdal_path = str(folder / "layer.shp")
        label = f"{path.name}:{Path(_member_name(shps[0])).name}"
    else:
        has = {p.suffix.lower() for p in path.parent.glob(path.stem + ".*")}
        dbf_path = next((p for p in path.parent.glob(path.stem + ".*") if p.suffix.lower() == ".dbf"), None)
        cpg_path = next((p for p in path.parent.glob(path.stem + ".*") if p.suffix.lower() == ".cpg"), None)
        dbf = dbf_path.read_bytes() if dbf_path else None
        cpg = cpg_path.read_text("ascii", "ignore") if cpg_path else None
        gdal_path, label = str(path), path.name
    try:
        return _read_shapefile_parts(gdal_path, label, has, dbf, cpg, encoding)
    finally:
        if scratch is not None:
            scratch.cleanup()


def _read_shapefile_parts(gdal_path: str, label: str, has: set[str], dbf: bytes | None, cpg: str | None,
                          encoding: str | None) -> Source:
    missing = [s for s in (".shx", ".dbf") if s not in has]
    if missing:
        raise _fail(f"Shapefile {label} 缺少 {'、'.join(missing)} 文件（Shapefile 至少需要 .shp、.shx、.dbf 三个文件；"
                    "请一起上传，最好打成 zip）")
    source = Source(frame=gpd.GeoDataFrame(), label=label)
    if encoding:
        source.encoding, source.encoding_origin = encoding, "--encoding 指定"
    elif cpg:
        source.encoding, source.encoding_origin = cpg_encoding(cpg), ".cpg 文件"
    else:
        source.encoding, source.encoding_origin = detect_dbf_encoding(dbf or b"")
    if ".prj" not in has:
        source.notes.append("没有 .prj 文件：坐标系需用 --crs 指定或由坐标范围推测")
    frame = _read(gdal_path, label, encoding=source.encoding)
    return _with_crs(frame, source, ".prj 文件")


def _member_name(info) -> str:
    """A zip member's name as its author wrote it: names stored without the UTF-8 flag are GBK on Chinese Windows
    (zipfile decodes them as CP437)."""
    name = info.filename if isinstance(info, zipfile.ZipInfo) else str(info)
    if isinstance(info, zipfile.ZipInfo) and not info.flag_bits & 0x800:
        try:
            return name.encode("cp437").decode("gb18030")
        except (UnicodeEncodeError, UnicodeDecodeError):
            return name
    return name


# ------------------------------------------------------------------------------------------ others
def gpkg_tables(path: Path) -> list[str]:
    try:
        return [str(name) for name, geom in pyogrio.list_layers(path)]
    except Exception as exc:
        raise _fail(f"无法读取 GeoPackage {path.name}：{str(exc).splitlines()[0][:160]}") from None


def read_gpkg(path: Path, table: str | None) -> Source:
    tables = gpkg_tables(path)
    if not tables:
        raise _fail(f"GeoPackage {path.name} 中没有表")
    if table is None:
        if len(tables) > 1:
            raise InvalidParameter(f"GeoPackage {path.name} 有 {len(tables)} 个表：{'、'.join(tables)}；"
                                   "请用 --table 选择一个", parameter="table")
        table = tables[0]
    elif table not in tables:
        raise InvalidParameter(f"GeoPackage {path.name} 中没有表 {table}；可选：{'、'.join(tables)}", parameter="table")
    source = Source(frame=gpd.GeoDataFrame(), label=f"{path.name}:{table}", encoding="UTF-8",
                    encoding_origin="GeoPackage（总是 UTF-8）")
    return _with_crs(_read(str(path), source.label, layer=table), source, "GeoPackage")


def read_geojson(path: Path) -> Source:
    source = Source(frame=gpd.GeoDataFrame(), label=path.name, encoding="UTF-8", encoding_origin="GeoJSON（UTF-8）")
    with open(path, "rb") as fh:
        head = fh.read(65536)
    declared = _KFQMAP_CRS.search(head)
    frame = _read(str(path), path.name)
    if declared:
        source.crs, source.crs_origin = declared.group(1).decode(), "KFQMap 导出文件的 kfqmap_crs"
        source.frame = frame.set_crs(None, allow_override=True)
        return source
    origin = "GeoJSON 的 crs 成员" if b'"crs"' in head else "GeoJSON（RFC 7946：WGS 84）"
    return _with_crs(frame, source, origin)


def read_fgb(path: Path) -> Source:
    source = Source(frame=gpd.GeoDataFrame(), label=path.name, encoding="UTF-8", encoding_origin="FlatGeobuf（UTF-8）")
    return _with_crs(_read(str(path), path.name), source, "FlatGeobuf")


def read_kml(path: Path) -> Source:
    """Every KML folder (GDAL layer) of a .kml/.kmz, concatenated; the folder's name in a ``folder`` column."""
    gdal_path = str(path)
    if path.suffix.lower() == ".kmz":
        try:
            with zipfile.ZipFile(path) as zf:
                docs = [n for n in zf.namelist() if n.lower().endswith(".kml")]
        except zipfile.BadZipFile:
            raise _fail(f"{path.name} 不是完整的 KMZ（zip）文件") from None
        if not docs:
            raise _fail(f"KMZ {path.name} 中没有 .kml 文档")
        gdal_path = f"/vsizip/{path.resolve()}/{docs[0]}"
    try:
        layers = [str(name) for name, _ in pyogrio.list_layers(gdal_path)]
    except Exception as exc:
        raise _fail(f"无法读取 KML {path.name}：{str(exc).splitlines()[0][:160]}") from None
    frames = []
    for name in layers:
        part = _read(gdal_path, f"{path.name}:{name}", layer=name)
        if len(part):
            part = part.set_crs(None, allow_override=True)
            part.insert(0, "folder", name)
            frames.append(part)
    if not frames:
        raise _fail(f"KML {path.name} 中没有要素")
    frame = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry")
    source = Source(frame=frame, label=path.name, crs="EPSG:4326", crs_origin="KML（规定为 WGS 84）",
                    encoding="UTF-8", encoding_origin="KML（XML 声明）")
    if len(layers) > 1:
        source.notes.append(f"KML 的 {len(layers)} 个文件夹合并导入，文件夹名在 folder 列")
    return source
