"""The import, start to end: read → place (CRS) → check → map columns → report → (commit, all or nothing).

>>> from kfqmap.catalog import load_catalog
>>> from kfqmap.importing import ImportOptions, run_import
>>> report = run_import(load_catalog(), "parks.zip", ImportOptions(layer="parks", mode="replace"))  # doctest: +SKIP
>>> report.ok, report.committed                                                                      # doctest: +SKIP

``dry_run`` (the default) only reports. A commit writes the layer's whole new table and the import log entry in
one SQLite transaction (``providers/store_imports.py``); ``undo_import`` puts the previous table back.

Modes: ``append`` adds the features; ``replace`` makes them the layer's features — each imported feature is
matched to an old one by ``key`` (or, without a key, by ``name``), keeps the old feature's ``id`` (so indicator
links and URLs keep working) and the old values of columns the file does not have (``figures``, ``functions``
…); unmatched old and new features are listed; ``upsert`` replaces the features whose ``key`` matches and appends
the others. Every imported feature gets provenance: ``source`` (file and table), ``placement`` = "imported",
``accuracy_m`` (``--accuracy``, else the control-point RMS, else ``DEFAULT_ACCURACY_M`` with a warning),
``illustrative`` (false unless asked; then ``placeholder`` true and ``accuracy_m`` ≥ 500 as the data contract
says), ``schematic`` false, ``imported_by``, ``imported_at``,
``import_id``.
"""
from __future__ import annotations

import codecs
import getpass
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from ..area import ellipsoidal_area
from ..errors import ImportRejected, InvalidParameter
from ..models import GROUPS, Layer, Style
from ..providers import store_imports
from .checks import check_geometries, dominant_family, family, overlaps
from .georef import fit, read_control_points
from .mapping import check_values, map_columns
from .placement import place
from .readers import READER_NAMES, read_source
from .report import ImportReport

MODES = ("append", "replace", "upsert")
DEFAULT_ACCURACY_M = 10.0
PREVIEW_MAX = 5000
PLACEHOLDER_ACCURACY_M = 500.0
_GEOMETRY_OPTIONS = {"polygon": "Polygon", "line": "LineString", "point": "Point"}
_STYLES = {"Polygon": Style(fill="#2b8cbe", fill_opacity=0.3, stroke="#045a8d", stroke_width=1.2),
           "LineString": Style(stroke="#d95f0e", stroke_width=2.0),
           "Point": Style(fill="#d7301f", stroke="#ffffff", stroke_width=1.0, radius=5)}


@dataclass
class ImportOptions:
    layer: str | None = None                 # an existing layer …
    new_layer: str | None = None             # … or a new one (id), with:
    title: str | None = None
    group: str = "额外"
    mode: str = "append"
    key: str | None = None
    crs: str | None = None
    swap_xy: bool = False
    encoding: str | None = None
    table: str | None = None                 # GeoPackage table
    sheet: str | None = None                 # XLSX sheet
    xy: tuple[str, str] | None = None        # coordinate columns of a CSV/XLSX
    wkt_column: str | None = None
    control_points: Path | None = None
    control_crs: str = "EPSG:4549"
    control_method: str = "similarity"
    max_rms_m: float = 1.0
    geometry: str | None = None              # polygon | line | point (which features of a mixed file)
    user_map: dict[str, str] = field(default_factory=dict)
    keep_unmapped: bool = True
    accuracy_m: float | None = None
    illustrative: bool = False
    user: str | None = None
    source_name: str | None = None           # the name the user knows the file by (uploads are renamed)
    preview: bool = False                    # put the imported features (WGS 84) in ``report.preview``
    dry_run: bool = True


@dataclass
class PreparedImport:
    report: ImportReport
    layer: Layer
    frame: gpd.GeoDataFrame
    import_id: int


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _store(catalog):
    if catalog.store is None:
        raise InvalidParameter("导入需要内置数据库（KFQMAP_STORE=gpkg，默认）；当前以只读文件方式运行", parameter="layer")
    return catalog.store


def _check_encoding(name: str | None) -> None:
    if name:
        try:
            codecs.lookup(name)
        except LookupError:
            raise InvalidParameter(f"未知的文字编码 '{name}'（可用如 GBK、GB18030、UTF-8、Big5）", parameter="encoding") from None


def _target(catalog, opts: ImportOptions) -> tuple[Layer, bool]:
    if bool(opts.layer) == bool(opts.new_layer):
        raise InvalidParameter("请指定 --layer 图层id（导入到已有图层）或 --new-layer 新图层id（二选一）", parameter="layer")
    if opts.mode not in MODES:
        raise InvalidParameter(f"--mode 只能是 {' / '.join(MODES)}", parameter="mode")
    if opts.mode == "upsert" and not opts.key:
        raise InvalidParameter("--mode upsert 需要 --key 字段名（按它判断是否同一要素）", parameter="key")
    if opts.layer:
        layer = catalog.get(opts.layer)
        if not catalog.store.has_layer(layer.id):
            raise InvalidParameter(f"图层 {layer.id} 不在内置数据库中（外部文件或 PostGIS 图层），不能导入到它", parameter="layer")
        if not layer.is_spatial:
            raise InvalidParameter(f"图层 {layer.id} 没有几何（表格图层），不能导入空间数据", parameter="layer")
        return layer, False
    lid = opts.new_layer
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", lid or ""):
        raise InvalidParameter(f"新图层 id '{lid}' 无效：只能用小写字母、数字和下划线，以字母开头", parameter="new_layer")
    if lid in catalog.ids or catalog.store.has_layer(lid):
        raise InvalidParameter(f"图层 {lid} 已存在：导入到已有图层请用 --layer {lid}", parameter="new_layer")
    if opts.group not in GROUPS or opts.group == "指标":
        raise InvalidParameter(f"分组 '{opts.group}' 不可用；可选：{'、'.join(g for g in GROUPS if g != '指标')}",
                               parameter="group")
    if opts.mode == "upsert":
        raise InvalidParameter("新图层只能用 append 方式导入", parameter="mode")
    return Layer(id=lid, title_zh=opts.title or lid, title_en=lid, group=opts.group,
                 # not "extra" (benchmark files, left out of the plan tileset): an import is drawn in the viewer
                 kind="context" if opts.group in ("额外", "背景") else "plan", geometry_type="Polygon",
                 source="store", file=f"store:{lid}", plan_section="（导入数据）", description="",
                 schematic=False, illustrative=opts.illustrative), True


def prepare(catalog, path: str | Path, opts: ImportOptions, progress=None) -> PreparedImport:
    """Everything up to the commit: the report and the layer's new table. Raises on fatal problems (unreadable
    file, impossible CRS, everything outside Kunshan); per-feature problems are ``report.errors``. ``progress``:
    called with the name of each stage as it starts (the CLI's progress bar)."""
    step = progress or (lambda stage: None)
    step("读取文件")
    store = _store(catalog)
    _check_encoding(opts.encoding)
    layer, new = _target(catalog, opts)
    path = Path(path)
    source = read_source(path, encoding=opts.encoding, table=opts.table, xy=opts.xy, wkt_column=opts.wkt_column,
                         sheet=opts.sheet)
    label = source.label if not opts.source_name else source.label.replace(path.name, opts.source_name)
    step("坐标换算")
    control = None
    if opts.control_points:
        src, dst, names = read_control_points(Path(opts.control_points))
        control = fit(src, dst, crs=opts.control_crs, method=opts.control_method, max_rms_m=opts.max_rms_m,
                      names=names)
    geoms, placement = place(source, crs=opts.crs, swap_xy=opts.swap_xy, control=control)
    report = ImportReport(source=label, reader=READER_NAMES.get(path.suffix.lower(), path.suffix), target=layer.id,
                          target_title=layer.title_zh, new_layer=new, mode=opts.mode, key=opts.key,
                          dry_run=opts.dry_run, encoding=source.encoding, encoding_origin=source.encoding_origin,
                          crs=placement.crs, crs_how=placement.how, crs_guessed=placement.guessed,
                          swapped_xy=placement.swapped, notes=[*source.notes, *placement.notes],
                          skipped_entities=dict(source.skipped), features_read=len(source.frame))
    if control is not None:
        report.control_points = {"method": control.method, "crs": control.crs, "names": control.names,
                                 "residuals_m": control.residuals_m, "rms_m": control.rms_m,
                                 "max_rms_m": control.max_rms_m, "scale": control.scale,
                                 "rotation_deg": control.rotation_deg}
        report.notes += control.notes
    if placement.guessed:
        report.errors.append(f"坐标系是推测的（{placement.crs}{'，x/y 互换' if placement.swapped else ''}）："
                             f"确认无误后加 --crs {placement.crs}{' --swap-xy' if placement.swapped else ''} 再导入")
    types = pd.Series([g.geom_type if g is not None else "无几何" for g in geoms])
    report.counts_by_type = {str(k): int(v) for k, v in types.value_counts().items()}
    fam = _family(layer, new, opts, geoms, path)
    if new:
        layer = layer.model_copy(update={"geometry_type": fam, "style": _STYLES[fam],
                                         "description": f"导入自 {label}"})
    old = None if new else catalog.read(layer.id)
    attrs = pd.DataFrame(source.frame.drop(columns=source.frame.geometry.name))
    target_cols = None if old is None else [c for c in old.columns if c != old.geometry.name]
    mapped, mapping = map_columns(attrs, target_cols, user_map=opts.user_map, keep_unmapped=opts.keep_unmapped)
    report.columns = [{"source": m.source, "target": m.target, "how": m.how} for m in mapping]
    labels = [(str(n) if isinstance(n, str) and n.strip() else f"第{i + 1}个要素")
              for i, n in enumerate(mapped["name"] if "name" in mapped.columns else [None] * len(mapped))]
    step("检查几何")
    work = np.asarray(geoms, dtype=object).copy()
    idx = check_geometries(work, labels, fam, report)
    if not len(idx):
        raise InvalidParameter(f"{label} 中没有可导入到{_FAM_ZH[fam]}图层 {layer.id} 的要素"
                               f"（读入：{'，'.join(f'{k} {v}' for k, v in report.counts_by_type.items())}）"
                               + ("；DXF 中没有闭合的多段线或填充" if fam == "Polygon" and path.suffix.lower() == ".dxf" else ""),
                               parameter="file")
    mapped = mapped.iloc[idx].reset_index(drop=True)
    kept = work[idx]
    if new and ("name" not in mapped.columns or mapped["name"].isna().any()):
        stem = Path(opts.source_name or path.name).stem
        fill = pd.Series([f"{stem}-{i + 1}" for i in range(len(mapped))], index=mapped.index)
        missing = mapped["name"].isna() if "name" in mapped.columns else pd.Series(True, index=mapped.index)
        mapped["name"] = mapped["name"].where(~missing, fill) if "name" in mapped.columns else fill
        report.warnings.append(f"{int(missing.sum())} 个要素没有名称，按“文件名-序号”命名")
    dtypes = {} if old is None else {c: old[c].dtype.kind for c in target_cols}
    mapped, problems = check_values(mapped, None if new else layer.id, dtypes, labels=[labels[i] for i in idx])
    report.errors += problems
    if fam == "Polygon" and old is not None and "area_mu" in old.columns:
        computed = np.round(ellipsoidal_area(kept) * 3 / 2000, 2)
        given = mapped["area_mu"] if "area_mu" in mapped.columns else pd.Series(np.nan, index=mapped.index)
        if given.isna().any():
            mapped["area_mu"] = given.where(given.notna(), pd.Series(computed, index=mapped.index))
            report.notes.append(f"{int(given.isna().sum())} 个要素没有面积（亩），按椭球面积计算填入 area_mu")
    step("字段对应")
    accuracy = opts.accuracy_m if opts.accuracy_m is not None else (
        round(max(control.rms_m, 0.01), 3) if control is not None else source.accuracy_m)
    stated = None          # the file's own per-feature accuracy (a re-imported KFQMap export, a survey table)
    if opts.accuracy_m is None and control is None and "file_accuracy_m" in mapped.columns:
        stated = pd.to_numeric(mapped["file_accuracy_m"], errors="coerce")
        if stated.notna().any():
            report.notes.append(f"{int(stated.notna().sum())} 个要素的定位精度取自文件的 accuracy_m 列")
        else:
            stated = None
    if accuracy is None and (stated is None or stated.isna().any()):
        accuracy = DEFAULT_ACCURACY_M
        report.warnings.append(f"文件没有说明定位精度，accuracy_m 记为 {DEFAULT_ACCURACY_M:g} m（可用 --accuracy 指定）")
    if opts.illustrative:       # the data contract: an illustrative feature is a placeholder, accuracy ≥ 500 m
        if accuracy is not None and accuracy < PLACEHOLDER_ACCURACY_M or stated is not None:
            report.notes.append(f"标为示例（illustrative）的要素按数据约定是占位要素，accuracy_m 记为不小于 "
                                f"{PLACEHOLDER_ACCURACY_M:g} m")
        accuracy = max(accuracy if accuracy is not None else 0.0, PLACEHOLDER_ACCURACY_M)
        stated = None
    import_id = store_imports.next_import_id(store)
    user = opts.user or _user()
    prov = {"source": label, "placement": "imported",
            "accuracy_m": float(accuracy if accuracy is not None else DEFAULT_ACCURACY_M),
            "illustrative": bool(opts.illustrative), "schematic": False, "placeholder": bool(opts.illustrative),
            "imported_by": user, "imported_at": _now(), "import_id": import_id}
    for k, v in prov.items():
        mapped[k] = v
    if stated is not None:
        mapped["accuracy_m"] = stated.fillna(float(accuracy if accuracy is not None else DEFAULT_ACCURACY_M))
    new_rows = gpd.GeoDataFrame(mapped, geometry=gpd.GeoSeries(kept, crs=4326), crs=4326)
    frame = _combine(old, new_rows, opts, layer, report)
    frame = _tidy_types(frame, old)
    report.features_imported = len(new_rows)
    if opts.preview:                          # the viewer's overlay before commit (at most PREVIEW_MAX features)
        cols = [c for c in ("name",) if c in new_rows.columns]
        shown = new_rows.iloc[:PREVIEW_MAX][cols + ["geometry"]]
        report.preview = json.loads(shown.to_json(drop_id=True, to_wgs84=False))
    report.features_after = len(frame)
    step("重叠统计")
    report.overlaps = overlaps(catalog, kept, skip=layer.id if opts.mode == "replace" else None)
    if fam != "Polygon":
        report.area_m2 = report.area_mu = 0.0
    return PreparedImport(report, layer, frame, import_id)


_FAM_ZH = {"Polygon": "面", "LineString": "线", "Point": "点"}


def _family(layer: Layer, new: bool, opts: ImportOptions, geoms, path: Path) -> str:
    if not new:
        fam = family(layer.geometry_type)
        if opts.geometry and _GEOMETRY_OPTIONS.get(opts.geometry) != fam:
            raise InvalidParameter(f"图层 {layer.id} 是{_FAM_ZH[fam]}图层，--geometry 不能是 {opts.geometry}",
                                   parameter="geometry")
        return fam
    if opts.geometry:
        if opts.geometry not in _GEOMETRY_OPTIONS:
            raise InvalidParameter("--geometry 只能是 polygon / line / point", parameter="geometry")
        return _GEOMETRY_OPTIONS[opts.geometry]
    fam = dominant_family(geoms)
    if fam is None:
        raise InvalidParameter("文件中没有可导入的几何", parameter="file")
    return fam


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:        # no login name (a container without $USER)
        return "unknown"


def _combine(old, new_rows: gpd.GeoDataFrame, opts: ImportOptions, layer: Layer, report: ImportReport):
    """The layer's table after the import (see the module doc for the modes); sets ids and ``report.matching``."""
    n = len(new_rows)
    prefix = f"imp{int(new_rows['import_id'].iloc[0])}-" if n else ""
    ids = [f"{prefix}{i + 1}" for i in range(n)]
    key = opts.key
    if key:
        if key not in new_rows.columns:
            raise InvalidParameter(f"导入文件（映射后）没有键字段 {key}", parameter="key")
        values = new_rows[key].astype(str)
        if new_rows[key].isna().any() or values.duplicated().any():
            report.errors.append(f"键字段 {key} 在导入文件中有空值或重复值")
    if old is None or opts.mode == "append":
        if old is not None and key and key in old.columns:
            clash = set(old[key].dropna().astype(str)) & set(new_rows[key].astype(str))
            if clash:
                report.warnings.append(f"append：{len(clash)} 个键值在图层中已存在（{'、'.join(sorted(clash)[:5])}）；"
                                       "要覆盖请用 --mode upsert")
        new_rows.insert(0, "id", ids)
        if old is None:
            return new_rows
        return _concat(old.reset_index(drop=True), new_rows)
    by = key or "name"
    if by not in old.columns:
        raise InvalidParameter(f"图层 {layer.id} 没有字段 {by}，无法按它匹配旧要素", parameter="key")
    old_keys = old[by].astype(str).tolist()
    old_pos = {}
    for pos, k in enumerate(old_keys):
        old_pos.setdefault(k, pos)
    new_keys = new_rows[by].astype(str).tolist() if by in new_rows.columns else [""] * n
    matched: list[int | None] = []
    for k in new_keys:                 # one old feature matches at most one new one (the first)
        pos = old_pos.get(k)
        matched.append(None if pos in matched else pos)
    twice = [new_keys[i] for i, p in enumerate(matched) if p is None and old_pos.get(new_keys[i]) is not None]
    if twice:
        report.warnings.append(f"{len(twice)} 个新要素与前面的新要素对应同一个旧要素（{'、'.join(twice[:5])}），作为新要素导入")
    for i, pos in enumerate(matched):
        if pos is not None:
            ids[i] = str(old["id"].iloc[pos])
    new_rows.insert(0, "id", ids)
    hit = {p for p in matched if p is not None}
    report.matching = {"by": by, "matched": len(hit),
                       "unmatched_old": [str(old[by].iloc[p]) for p in range(len(old)) if p not in hit],
                       "unmatched_new": [new_keys[i] for i, p in enumerate(matched) if p is None]}
    # carry the old values of columns the file does not have (figures, functions …) to matched features
    carried = [c for c in old.columns if c not in new_rows.columns and c != old.geometry.name]
    for c in carried:
        new_rows[c] = [old[c].iloc[p] if p is not None else None for p in matched]
    if opts.mode == "replace":
        if report.matching["unmatched_old"]:
            report.warnings.append(f"replace：{len(report.matching['unmatched_old'])} 个旧要素没有对应的新要素，"
                                   "导入后不再存在（见匹配列表）")
        return _concat(old.iloc[0:0].reset_index(drop=True), new_rows)
    keep_old = old.reset_index(drop=True).iloc[[p for p in range(len(old)) if p not in hit]]
    return _concat(keep_old, new_rows)


def _concat(old: gpd.GeoDataFrame, new_rows: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    old = old.rename_geometry("geometry") if old.geometry.name != "geometry" else old
    cols = list(old.columns) + [c for c in new_rows.columns if c not in old.columns]
    frame = pd.concat([old, new_rows], ignore_index=True)
    frame = frame[[c for c in cols if c != "geometry"] + ["geometry"]]
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=4326)


def _tidy_types(frame: gpd.GeoDataFrame, old) -> gpd.GeoDataFrame:
    """Booleans with gaps stay booleans (nullable), integer columns stay integers, so the store declares them as
    it did before the import."""
    for c in frame.columns:
        if c == "geometry":
            continue
        s = frame[c]
        if s.dtype == object:
            values = s.dropna()
            if len(values) and all(isinstance(v, (bool, np.bool_)) for v in values):
                frame[c] = s.astype("boolean")
        elif s.dtype.kind == "f":
            was_int = old is not None and c in old.columns and old[c].dtype.kind in "iu"
            values = s.dropna()
            if (was_int or c in ("year", "import_id")) and len(values) and np.all(np.mod(values, 1) == 0):
                frame[c] = s.astype("Int64")
    return frame


def run_import(catalog, path: str | Path, opts: ImportOptions, progress=None) -> ImportReport:
    """Prepare and, unless ``opts.dry_run``, commit. A report with errors is never committed (``ImportRejected``)."""
    prepared = prepare(catalog, path, opts, progress)
    report = prepared.report
    if opts.dry_run:
        return report
    if report.errors:
        raise ImportRejected("导入被拒绝，文件未写入：" + "；".join(report.errors[:3])
                             + (f"（共 {len(report.errors)} 个问题，用 --dry-run 查看报告）" if len(report.errors) > 3 else ""))
    if progress:
        progress("写入")
    summary = {k: v for k, v in report.to_dict().items() if k not in ("columns", "invalid", "preview")}
    store_imports.commit_table(catalog.store, prepared.layer, prepared.frame, import_id=prepared.import_id,
                               mode=opts.mode, source=report.source, user=opts.user or _user(), summary=summary,
                               new_layer=report.new_layer,
                               provenance={"source": report.source, "crs": report.crs, "imported_at": _now()})
    if report.new_layer:
        catalog.add_layer(prepared.layer)
    else:
        catalog.collection(prepared.layer.id).refresh()
    report.committed, report.import_id, report.dry_run = True, prepared.import_id, False
    return report


def undo_import(catalog, import_id: int, *, user: str | None = None) -> dict:
    """Restore the layer an import changed to what it was before; returns the import's log entry."""
    store = _store(catalog)
    entries = [e for e in store_imports.import_log(store) if e["import_id"] == import_id]
    if not entries:
        raise InvalidParameter(f"没有编号为 {import_id} 的导入", parameter="undo")
    layer_id = entries[0]["layer_id"]
    layer = catalog.get(layer_id) if layer_id in catalog.ids else None
    entry = store_imports.undo(store, import_id, layer, user=user or _user())
    if entry["created_layer"] and layer_id in catalog.ids:
        catalog.remove_layer(layer_id)
    elif layer_id in catalog.ids:
        catalog.collection(layer_id).refresh()
    return entry


def drawing_preview(path: str | Path, opts: ImportOptions, *, limit: int = PREVIEW_MAX) -> dict:
    """The file's geometries in its own coordinates (no CRS, no placement) for picking control points on the drawing
    in the viewer: ``{"type": "FeatureCollection", "features": […], "bbox": [minx, miny, maxx, maxy], "count": n}``."""
    import shapely

    _check_encoding(opts.encoding)
    source = read_source(Path(path), encoding=opts.encoding, table=opts.table, xy=opts.xy,
                         wkt_column=opts.wkt_column, sheet=opts.sheet)
    geoms = np.asarray(source.frame.geometry.values, dtype=object)
    present = geoms[~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)]
    if not len(present):
        raise InvalidParameter(f"{source.label} 中没有非空几何", parameter="file")
    names = source.frame["name"].tolist() if "name" in source.frame.columns else [None] * len(geoms)
    features = [{"type": "Feature", "properties": {"name": n if isinstance(n, str) else None},
                 "geometry": json.loads(shapely.to_geojson(shapely.force_2d(g)))}
                for g, n in list(zip(geoms, names))[:limit] if g is not None and not g.is_empty]
    return {"type": "FeatureCollection", "features": features,
            "bbox": [float(v) for v in shapely.total_bounds(present)], "count": int(len(present))}


def read_for_stats(path: str | Path, *, crs: str | None = None, encoding: str | None = None,
                   table: str | None = None, swap_xy: bool = False) -> gpd.GeoDataFrame:
    """Any importable file as a GeoDataFrame in WGS 84 for ``stats --file`` (nothing is imported). A guessed CRS is
    refused here too: statistics on wrongly placed features would mislead."""
    path = Path(path)
    source = read_source(path, encoding=encoding, table=table)
    geoms, placement = place(source, crs=crs, swap_xy=swap_xy)
    if placement.guessed:
        raise InvalidParameter(placement.notes[0], parameter="crs")
    frame = gpd.GeoDataFrame(pd.DataFrame(source.frame.drop(columns=source.frame.geometry.name)),
                             geometry=gpd.GeoSeries(geoms, crs=4326), crs=4326)
    frame.index = (frame["id"].astype(str) if "id" in frame.columns and frame["id"].is_unique
                   else [str(i + 1) for i in range(len(frame))])
    return frame


__all__ = ["ImportOptions", "PreparedImport", "prepare", "run_import", "undo_import", "read_for_stats", "MODES"]
