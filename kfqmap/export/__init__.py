"""Export plan layers to the formats planners use: GIS, CAD, spreadsheets, images (and folium HTML).

One entry point, :func:`export_layers`, does what every caller (CLI, server, Python shell) needs:

1. select the features (layers, an optional bbox or drawn geometry, an optional CQL2 filter);
2. check the format and the output CRS;
3. hand the selection to the format's writer, which writes to a temporary file *in the target directory*;
4. rename that file onto the target atomically, so a failing export never leaves a half-written file.

Formats live in one module each (``geojson.py``, ``gpkg.py`` …) and are looked up by name in :data:`FORMATS`
and imported lazily, so a format whose module is missing (``html`` until the web engineer adds it) only fails
when it is asked for. Each module provides ``write_selection(selection, target, crs, *, progress, **options)``;
a module that only has the contract's single-frame ``write(frame, target, crs, layer)`` is called with the
selected layers concatenated into one frame (columns ``src_layer`` and ``layer_zh`` added).

Selection semantics: features that *intersect* the bbox or the drawn geometry are exported whole (never
clipped). A filter whose properties a layer does not have selects nothing from that layer; if no selected
layer has them, the filter is rejected.
"""
from __future__ import annotations

import importlib
import inspect
import logging
import multiprocessing
import os
import re
import shutil
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from ..catalog import Catalog
from ..collection import PushdownState
from .. import cql
from ..crs import CRSInfo, parse_crs
from .. import errors as _errors
from ..errors import EmptySelection, InvalidCRS, InvalidFilter, InvalidGeometry, InvalidParameter, WorkTimeout
from ..features import parse_bbox as _parse_bbox
from ..filters import check_filter_usable, filter_mask, missing_properties
from ..query import parse_geometry as _parse_geometry
from .selection import LayerSelection, Selection, to_crs

#: progress callback: ``progress(advance)`` after ``advance`` more features were written; ``progress(0, total=n)``
#: is called once first with the number of features to write.
Progress = Callable[..., None]

_GIS = ("EPSG:4326", "EPSG:4490", "EPSG:4549", "EPSG:4528", "EPSG:3857", "GCJ-02")


@dataclass(frozen=True)
class ExportFormat:
    """One export format: the module that writes it and how its files are named and served."""

    name: str
    module: str                 # module under kfqmap.export
    extension: str              # file extension of the target, with the dot
    media_type: str
    title_zh: str
    default_crs: str
    crs: tuple[str, ...]        # output CRSs the format can carry honestly
    spatial_only: bool = True   # tables without geometry (the indicators) are skipped
    needs_catalog: bool = False # the writer reads catalog-wide statistics (XLSX)


FORMATS: dict[str, ExportFormat] = {f.name: f for f in (
    ExportFormat("geojson", "geojson", ".geojson", "application/geo+json", "GeoJSON", "EPSG:4326", _GIS, False),
    ExportFormat("gpkg", "gpkg", ".gpkg", "application/geopackage+sqlite3", "GeoPackage", "EPSG:4326", _GIS, False),
    ExportFormat("shapefile", "shapefile", ".zip", "application/zip", "Shapefile（zip）", "EPSG:4326", _GIS, False),
    ExportFormat("kml", "kml", ".kml", "application/vnd.google-earth.kml+xml", "KML", "EPSG:4326",
                 ("EPSG:4326", "EPSG:4490", "GCJ-02")),
    ExportFormat("fgb", "fgb", ".fgb", "application/vnd.flatgeobuf", "FlatGeobuf", "EPSG:4326", _GIS),
    ExportFormat("csv", "csv", ".csv", "text/csv; charset=utf-8", "CSV（WKT 几何 + 属性，UTF-8 BOM）", "EPSG:4326",
                 _GIS, False),
    ExportFormat("dxf", "dxf", ".dxf", "image/vnd.dxf", "DXF（CAD）", "EPSG:4549", ("EPSG:4549", "EPSG:4528")),
    ExportFormat("xlsx", "xlsx", ".xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                 "XLSX 面积统计报表", "EPSG:4326", ("EPSG:4326",), False, True),
    ExportFormat("png", "image", ".png", "image/png", "PNG 地图", "EPSG:4549", ("EPSG:4549", "EPSG:4528", "EPSG:3857")),
    ExportFormat("pdf", "image", ".pdf", "application/pdf", "PDF 地图", "EPSG:4549", ("EPSG:4549", "EPSG:4528", "EPSG:3857")),
    ExportFormat("html", "html", ".html", "text/html; charset=utf-8", "独立网页地图（folium）", "EPSG:4326", ("EPSG:4326", "EPSG:4490")),
)}

_FORMAT_ALIASES = {"json": "geojson", "geopackage": "gpkg", "shp": "shapefile", "zip": "shapefile",
                   "flatgeobuf": "fgb", "excel": "xlsx", "cad": "dxf", "htm": "html", "folium": "html"}


def get_format(name: str) -> ExportFormat:
    """The format for a name (``gpkg``, ``shp``, ``flatgeobuf`` … case-insensitive); ``InvalidParameter`` if unknown."""
    key = str(name or "").strip().lower().lstrip(".")
    key = _FORMAT_ALIASES.get(key, key)
    if key not in FORMATS:
        raise InvalidParameter(f"不支持的导出格式 '{name}'。可用：{', '.join(FORMATS)}", parameter="format")
    return FORMATS[key]


def format_for_path(path: str | os.PathLike) -> ExportFormat:
    """Guess the format from a file name's extension (``.gpkg`` → gpkg, ``.zip``/``.shp`` → shapefile)."""
    suffix = Path(path).suffix.lower()
    for fmt in FORMATS.values():
        if fmt.extension == suffix:
            return fmt
    return get_format(suffix)


def writer_module(fmt: ExportFormat):
    try:
        return importlib.import_module(f"{__name__}.{fmt.module}")
    except ModuleNotFoundError as exc:
        if exc.name == f"{__name__}.{fmt.module}":
            raise InvalidParameter(f"导出格式 '{fmt.name}' 的写出模块尚未安装（kfqmap/export/{fmt.module}.py）",
                                   parameter="format") from None
        raise


# ---------------------------------------------------------------- selection
def parse_bbox(value, *, crs: str | CRSInfo | None = None) -> BaseGeometry | None:
    """``"minx,miny,maxx,maxy"`` (or 4/6 numbers) in ``crs`` → the box as a WGS 84 polygon, or None.

    The same parser as the OGC ``bbox``/``bbox-crs`` parameters (:func:`kfqmap.features.parse_bbox`), so the
    CLI's ``--bbox`` and the server's ``?bbox=`` accept and reject exactly the same input: default CRS84
    lon,lat; an EPSG code takes its authority axis order (``EPSG:4326`` is lat,lon); edges are densified before
    reprojection.
    """
    if isinstance(crs, CRSInfo):
        crs = crs.code
    parsed = _parse_bbox(value, crs, parameter="bbox")
    return None if parsed is None else parsed.polygon


def parse_geometry(value, *, crs: str | CRSInfo | None = None) -> BaseGeometry:
    """A drawn geometry (shapely, GeoJSON dict/Feature/FeatureCollection text, or WKT) in ``crs`` → a valid
    lon/lat shapely geometry.

    GeoJSON and shapely input go through :func:`kfqmap.query.parse_geometry`, the parser behind
    ``/query/geometry``, so an export's drawn area and a query's accept and reject the same input (non-finite or
    out-of-range coordinates, self-intersections, coordinates outside the CRS's domain → ``InvalidGeometry``).
    """
    if isinstance(crs, CRSInfo):
        crs = crs.code
    parse_crs(crs, parameter="geometry-crs")          # an unknown CRS names the right parameter
    if isinstance(value, str) and not value.strip().startswith("{"):
        try:
            value = shapely.from_wkt(value.strip())
        except Exception:  # noqa: BLE001 - any parse failure is the caller's input
            raise InvalidGeometry("无法解析范围几何：不是有效的 WKT 或 GeoJSON（invalid WKT）",
                                  parameter="geometry") from None
    elif not isinstance(value, (str, dict, BaseGeometry)):
        raise InvalidGeometry(f"无法解析范围几何：{type(value).__name__}", parameter="geometry")
    return _parse_geometry(value, crs)


def select(catalog: Catalog, layer_ids: Sequence[str] | str, *, bbox=None, bbox_crs=None, geometry=None,
           geometry_crs=None, filter: str | None = None, items=None, asof: str | None = None) -> Selection:
    """The features to export: layers (ids, or a comma-separated string), then bbox, geometry and filter.

    ``items`` (a ``kfqmap.features.ItemsQuery``, one layer): the features an OGC items request selects — bbox in
    its CRS, datetime, property equality, CQL2 filter — through the layer's own items index, so ``items?f=gpkg``
    downloads exactly what ``items?f=json`` pages through. ``asof`` (UTC, ``history.parse_time``; one editable
    layer, not with ``filter``): the layer as it was then, rebuilt from the history, then bbox/geometry."""
    if items is not None:
        return _select_items(catalog, layer_ids, items)
    if isinstance(layer_ids, str):
        layer_ids = [p.strip() for p in layer_ids.split(",")]
    ids = [i for i in dict.fromkeys(layer_ids or []) if i]
    if not ids:
        raise EmptySelection("没有选择图层：请用 layers 指定至少一个图层", parameter="layers")
    layers = [catalog.get(i) for i in ids]   # LayerNotFound for an unknown id
    area = parse_bbox(bbox, crs=bbox_crs) if bbox is not None else None
    bb = tuple(float(v) for v in area.bounds) if area is not None else None
    geom = parse_geometry(geometry, crs=geometry_crs) if geometry is not None else None
    if geom is not None:
        area = geom if area is None else area.intersection(geom)
        if area.is_empty:
            raise EmptySelection("bbox 与范围几何不相交，没有要素可导出")
    if asof is not None:
        return _select_asof(catalog, layers, asof, area, bb, geom, filter)
    compiled = _compile_filter(filter) if filter else None

    items: list[LayerSelection] = []
    states = [catalog.collection(layer.id).state() for layer in layers]
    check_filter_usable(states, compiled)
    for layer, state in zip(layers, states):
        if isinstance(state, PushdownState):      # a large PostGIS table: the selection is made in SQL
            items.append(_pushdown_selection(layer, state, area, compiled, strict=len(layers) == 1))
            continue
        frame = state.frame
        keep = np.ones(len(frame), dtype=bool)
        if area is not None:
            if layer.is_spatial:
                keep &= _intersects(frame, area)
            else:
                keep[:] = False          # a table without geometry is never "inside" an area
        if compiled is not None:
            keep &= filter_mask(state, compiled, strict=len(layers) == 1)
        items.append(LayerSelection(layer, frame.loc[keep].copy(), complete=bool(keep.all())))
    return Selection(catalog, items, bbox=bb, geometry=geom, filter=filter or None)


def _select_asof(catalog: Catalog, layers, when: str, area, bb, geom, filter) -> Selection:
    """One layer as it was at ``when`` (``editing.asof_frame``), cut to the bbox / drawn area."""
    from ..editing import asof_frame

    if len(layers) != 1:
        raise InvalidParameter("asof 导出只能针对一个图层", parameter="asof")
    if filter:
        raise InvalidParameter("asof 导出不支持 filter（过去状态只按范围选择）", parameter="asof")
    layer = layers[0]
    frame = asof_frame(catalog.collection(layer.id), when)
    keep = np.ones(len(frame), dtype=bool)
    if area is not None:
        keep = _intersects(frame, area) if layer.is_spatial else np.zeros(len(frame), dtype=bool)
    return Selection(catalog, [LayerSelection(layer, frame.loc[keep].copy(), complete=bool(keep.all()))],
                     bbox=bb, geometry=geom, filter=None)


def _select_items(catalog: Catalog, layer_ids, query) -> Selection:
    ids = [layer_ids] if isinstance(layer_ids, str) else list(layer_ids)
    if len(ids) != 1:
        raise InvalidParameter("按要素查询导出只能针对一个图层", parameter="layers")
    layer = catalog.get(ids[0])
    state = catalog.collection(layer.id).state()
    bbox = tuple(float(v) for v in query.bbox.polygon.bounds) if query.bbox is not None else None
    text = getattr(query.filter, "text", None)
    if isinstance(state, PushdownState):
        frame = state.items.frame(query)
        return Selection(catalog, [LayerSelection(layer, frame, complete=len(frame) == len(state.items))],
                         bbox=bbox, geometry=None, filter=text)
    positions = state.items.select(query)
    frame = state.frame.iloc[positions].copy()
    return Selection(catalog, [LayerSelection(layer, frame, complete=len(positions) == len(state.frame))],
                     bbox=bbox, geometry=None, filter=text)


def _pushdown_selection(layer, state, area, compiled, *, strict: bool) -> LayerSelection:
    """bbox/drawn area and filter of a pushdown layer, in SQL (at most ``SELECT_MAX_ROWS`` features)."""
    from ..features import ItemsQuery

    missing = missing_properties(state, compiled) if compiled is not None else []
    if missing:              # the filter rule (kfqmap/filters.py): a 400 for one layer, nothing among several
        if strict:
            raise InvalidFilter(f"图层 {layer.id} 没有属性 {', '.join(missing)}；可用属性："
                                f"{', '.join(state.property_names)}", parameter="filter")
        frame = gpd.GeoDataFrame({n: [] for n in state.property_names}, geometry=gpd.GeoSeries([], crs="EPSG:4326"))
        return LayerSelection(layer, frame, complete=False)
    frame = state.items.frame(ItemsQuery(filter=compiled), area=area if layer.is_spatial else None)
    return LayerSelection(layer, frame, complete=area is None and compiled is None)


def _intersects(frame: gpd.GeoDataFrame, area: BaseGeometry) -> np.ndarray:
    geoms = frame.geometry.values
    shapely.prepare(area)
    return np.asarray(shapely.intersects(area, np.asarray(geoms, dtype=object)), dtype=bool) & ~frame.geometry.isna().values


def _compile_filter(text: str):
    return cql.parse_filter(text)


# ---------------------------------------------------------------- temporary files
log = logging.getLogger("kfqmap.export")

#: ``<kind>-<pid>-<random>`` (scratch folders) and ``.<stem>.<pid>-<random>.part<ext>`` (atomic writes): the pid
#: says whether the process that made it still runs, so leftovers of a killed process can be told from live work
_SCRATCH_NAME = re.compile(r"^[a-z]+-(\d+)-")
_PART_NAME = re.compile(r"^\..*\.(\d+)-[A-Za-z0-9_]+\.part")
#: folders an older KFQMap left directly in the system temp dir (no pid in the name): removed after an hour
_LEGACY_PREFIX = "kfqmap-export-"
_LEGACY_AGE_S = 3600


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def scratch_root() -> Path:
    """The one folder KFQMap keeps temporaries in (``ScratchSettings.scratch_dir``), created private (0700)."""
    from ..settings import ScratchSettings
    root = Path(ScratchSettings().scratch_dir)
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    return root


def scratch_dir(kind: str = "export") -> Path:
    """A new private folder ``<scratch root>/<kind>-<pid>-<random>`` (the caller removes it when done)."""
    return Path(tempfile.mkdtemp(prefix=f"{kind}-{os.getpid()}-", dir=scratch_root()))


def clean_stale_scratch() -> list[Path]:
    """Remove what killed processes left behind: scratch folders whose process no longer runs, and folders named
    ``kfqmap-export-*`` that older versions left in the system temp dir over an hour ago. Returns what was removed."""
    removed: list[Path] = []
    root = scratch_root()
    for entry in root.iterdir():
        m = _SCRATCH_NAME.match(entry.name)
        if m and not _pid_alive(int(m.group(1))):
            shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
            removed.append(entry)
    now = time.time()
    try:
        legacy = [p for p in Path(tempfile.gettempdir()).glob(_LEGACY_PREFIX + "*") if p.is_dir()]
    except OSError:
        legacy = []
    for entry in legacy:
        try:
            st = entry.stat()
        except OSError:
            continue
        if st.st_uid == getattr(os, "getuid", lambda: st.st_uid)() and now - st.st_mtime > _LEGACY_AGE_S:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    if removed:
        log.info("removed %d temporary item(s) left by stopped processes", len(removed))
    return removed


def clean_stale_parts(directory: str | os.PathLike) -> list[Path]:
    """Remove ``.<name>.<pid>-….part…`` files (and GDAL journals beside them) of processes that no longer run."""
    removed = []
    try:
        entries = list(Path(directory).iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = _PART_NAME.match(entry.name)
        if m and not _pid_alive(int(m.group(1))):
            try:
                entry.unlink()
                removed.append(entry)
            except OSError:
                pass
    return removed


# ---------------------------------------------------------------- atomic files
@contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's directory; rename it onto ``target`` only if the block succeeds.

    The temporary name keeps the target's extension (GDAL picks drivers by it), starts with ``.`` so file
    browsers hide it, and carries this process's id: ``.<stem>.<pid>-<random>.part<ext>``. On any exception the
    temporary file (and GDAL sidecars such as ``-journal``) is removed; what a killed process (``kill -9``)
    left in the same directory is removed by the next export or seed that writes there.
    """
    target = Path(target)
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise InvalidParameter(f"输出目录不存在：{directory}", parameter="out")
    clean_stale_parts(directory)
    fd, name = tempfile.mkstemp(prefix=f".{target.stem}.{os.getpid()}-", suffix=f".part{target.suffix}",
                                dir=directory)
    os.close(fd)
    tmp = Path(name)
    tmp.unlink()             # writers create the file themselves (GDAL refuses to overwrite some formats)
    try:
        yield tmp
        if not tmp.exists():
            raise RuntimeError(f"writer produced no file for {target}")
        os.replace(tmp, target)
    finally:
        for leftover in directory.glob(tmp.name + "*"):
            try:
                leftover.unlink()
            except OSError:
                pass


# ---------------------------------------------------------------- the entry point
@dataclass(frozen=True)
class ExportResult:
    path: Path
    format: ExportFormat
    crs: CRSInfo
    features: int
    layers: tuple[str, ...]

    @property
    def media_type(self) -> str:
        return self.format.media_type


def resolve_crs(fmt: ExportFormat, crs) -> CRSInfo:
    info = parse_crs(crs) if crs not in (None, "") else parse_crs(fmt.default_crs)
    if info.code not in fmt.crs:
        raise InvalidCRS(f"{fmt.title_zh} 不能使用坐标系 {info.code}；可用：{', '.join(fmt.crs)}", parameter="crs")
    return info


def export_layers(catalog: Catalog, layer_ids: Sequence[str] | str, fmt: str, target: str | os.PathLike,
                  crs: str | CRSInfo | None = None, bbox=None, geometry=None, filter: str | None = None,
                  progress: Progress | None = None, *, bbox_crs=None, geometry_crs=None,
                  options: dict[str, Any] | None = None, isolate: bool = False,
                  time_limit: float | None = None, items=None, asof: str | None = None) -> ExportResult:
    """Export the selected features of ``layer_ids`` to ``target`` in format ``fmt`` and CRS ``crs``.

    ``crs=None`` means the format's default (WGS 84, or EPSG:4549 for DXF and map images). Raises
    ``InvalidParameter`` (unknown format), ``InvalidCRS``, ``LayerNotFound``, ``InvalidBBox``, ``InvalidGeometry``,
    ``InvalidFilter`` or ``EmptySelection`` before anything is written; a failure while writing leaves no file.
    ``options`` are format-specific (map images: ``title``, ``size``, ``dpi``). ``items``: a typed OGC items query
    instead of bbox/filter (see ``select``).

    ``isolate=True`` (the server) draws map images (PNG/PDF) in a child process that exits afterwards, so the
    renderer's memory goes back to the system. ``time_limit`` (seconds) stops the writing: a child process is
    killed, an in-process writer is stopped at its next progress report; either raises ``WorkTimeout``.
    """
    f = get_format(fmt)
    info = resolve_crs(f, crs)
    selection = select(catalog, layer_ids, bbox=bbox, bbox_crs=bbox_crs, geometry=geometry,
                       geometry_crs=geometry_crs, filter=filter, items=items, asof=asof)
    if f.spatial_only:
        skipped = [i.layer.id for i in selection.items if not i.layer.is_spatial]
        selection.items = [i for i in selection.items if i.layer.is_spatial]
        if not selection.items:
            raise EmptySelection(f"{f.title_zh} 只能导出有几何的图层；所选图层 {', '.join(skipped)} 没有几何",
                                 parameter="layers")
    if selection.feature_count == 0:
        raise EmptySelection("所选范围/过滤条件内没有要素，未写出文件", parameter="layers")
    module = writer_module(f)
    if progress is not None:
        progress(0, total=selection.feature_count)
    opts = dict(options or {})
    if f.module == "image":
        opts.setdefault("file_format", f.name)
        module.check_options(**opts)          # size/dpi mistakes are reported before any drawing starts
    deadline = None if time_limit is None else time.monotonic() + time_limit
    if deadline is not None and not (isolate and f.module == "image"):
        progress = _deadline_progress(progress, deadline, time_limit)
    with atomic_path(target) as tmp:
        if isolate and f.module == "image":
            _write_in_child(module.__name__, Selection(None, selection.items, selection.bbox, selection.geometry,
                                                       selection.filter), tmp, info, opts, time_limit)
        elif hasattr(module, "write_selection"):
            module.write_selection(selection, tmp, info, progress=progress, **opts)
        else:
            _call_frame_writer(module, selection, tmp, info, opts)
            if progress is not None:
                progress(selection.feature_count)
    return ExportResult(Path(target), f, info, selection.feature_count, tuple(i.layer.id for i in selection.items))


def _deadline_progress(progress: Progress | None, deadline: float, limit: float) -> Progress:
    """A progress callback that stops the writer (``WorkTimeout``) once ``deadline`` has passed."""
    def report(advance: int = 0, **kwargs) -> None:
        if time.monotonic() > deadline:
            raise WorkTimeout(f"导出超过 {limit:g} 秒的时间上限，已停止（export time limit exceeded）")
        if progress is not None:
            progress(advance, **kwargs)
    return report


# ---------------------------------------------------------------- map images in a child process
_CHILD_LOCK = threading.Lock()
_CHILD_CONTEXT = None


def _child_context():
    """A ``forkserver`` context whose server has already imported the image writer (matplotlib, geopandas),
    so each render starts in tens of milliseconds; ``spawn`` where forkserver does not exist."""
    global _CHILD_CONTEXT
    with _CHILD_LOCK:
        if _CHILD_CONTEXT is None:
            if "forkserver" in multiprocessing.get_all_start_methods():
                ctx = multiprocessing.get_context("forkserver")
                ctx.set_forkserver_preload(["kfqmap.export.image"])
            else:   # pragma: no cover - Windows
                ctx = multiprocessing.get_context("spawn")
            _CHILD_CONTEXT = ctx
        return _CHILD_CONTEXT


def _child_main(conn, module_name: str, selection: Selection, tmp: Path, info: CRSInfo, opts: dict) -> None:
    try:
        importlib.import_module(module_name).write_selection(selection, tmp, info, progress=None, **opts)
        conn.send(("ok",))
    except _errors.KFQMapError as exc:
        conn.send(("error", type(exc).__name__, exc.message, exc.parameter))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which logs it
        conn.send(("crash", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def _write_in_child(module_name: str, selection: Selection, tmp: Path, info: CRSInfo, opts: dict,
                    time_limit: float | None) -> None:
    """Run one image writer in a fresh child process and wait for it (at most ``time_limit`` s, then kill it)."""
    ctx = _child_context()
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child_main, args=(child, module_name, selection, tmp, info, opts),
                       name="kfqmap-render", daemon=True)
    proc.start()
    child.close()
    try:
        ready = parent.poll(time_limit)
        message = parent.recv() if ready else None
    except EOFError:                     # the child died without a word (killed, out of memory)
        message = ("crash", f"render process ended with exit code {proc.exitcode}")
    finally:
        if proc.is_alive() and (message is None):
            proc.kill()
        proc.join(10)
        if proc.is_alive():
            proc.kill()
            proc.join()
        parent.close()
    if message is None:
        raise WorkTimeout(f"地图绘制超过 {time_limit:g} 秒的时间上限，已停止（map render time limit exceeded）")
    if message[0] == "error":
        cls = getattr(_errors, message[1], _errors.KFQMapError)
        raise cls(message[2], parameter=message[3])
    if message[0] == "crash":
        raise RuntimeError(f"map render failed: {message[1]}")


def _call_frame_writer(module, selection: Selection, tmp: Path, info: CRSInfo, opts: dict) -> None:
    """Adapter for modules with only the contract's ``write(frame, target, crs, layer)`` (e.g. ``html``)."""
    if len(selection.items) == 1:
        frame, layer = selection.items[0].frame, selection.items[0].layer
    else:
        frame, layer = selection.combined(), None
    params = inspect.signature(module.write).parameters
    kwargs = {k: v for k, v in opts.items() if k in params}
    module.write(frame, tmp, info, layer, **kwargs)


def default_filename(layer_ids: Iterable[str], fmt: str) -> str:
    """``cores_parks.gpkg`` — the download name the server and CLI suggest."""
    f = get_format(fmt)
    ids = list(layer_ids)
    stem = "_".join(ids) if len(ids) <= 3 else f"kfqmap_{len(ids)}_layers"
    return f"{stem}{f.extension}"


__all__ = ["FORMATS", "ExportFormat", "ExportResult", "LayerSelection", "Selection", "export_layers", "get_format",
           "format_for_path", "parse_bbox", "parse_geometry", "select", "to_crs", "atomic_path", "default_filename",
           "scratch_root", "scratch_dir", "clean_stale_scratch", "clean_stale_parts"]
