"""The layer catalog: reads ``geodata/catalog.json``, validates it into ``Layer`` objects, loads layers.

>>> from kfqmap.catalog import load_catalog
>>> cat = load_catalog()
>>> frame = cat.read("cores")        # a GeoDataFrame in EPSG:4326, no HTTP involved

Frames are cached per catalog and shared: treat them as read-only (``.copy()`` before modifying).
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd

from .errors import DataSourceError, KFQMapError, LayerNotFound
from .models import GROUPS, Layer, Style
from .settings import CatalogSettings
from .sources import read_layer

#: after a layer's store fails (database down, table gone), requests for it fail at once with the same error
#: for this many seconds instead of each waiting for a connection timeout
FAILURE_TTL_S = 5.0


class Catalog:
    """The layers of one geodata directory (plus any extra file layers), with cached frames.

    Each layer is read once, under its own lock (a slow database read of one layer does not hold up the first
    read of another); a store failure is remembered for ``FAILURE_TTL_S`` seconds."""

    def __init__(self, layers: list[Layer], root: Path):
        self.root = root
        self._layers: dict[str, Layer] = {}
        for layer in layers:
            if layer.id in self._layers:
                raise KFQMapError(f"目录中图层 id 重复：{layer.id}")
            if layer.group not in GROUPS:
                raise KFQMapError(f"图层 {layer.id} 的分组 '{layer.group}' 不在 {list(GROUPS)} 之中")
            self._layers[layer.id] = layer
        self._frames: dict[str, gpd.GeoDataFrame] = {}
        self._lock = threading.Lock()                           # guards the two dicts below
        self._layer_locks: dict[str, threading.Lock] = {}
        self._failures: dict[str, tuple[float, DataSourceError]] = {}

    # -------------------------------------------------------------- lookup
    @property
    def layers(self) -> list[Layer]:
        return list(self._layers.values())

    @property
    def ids(self) -> list[str]:
        return list(self._layers)

    def get(self, layer_id: str) -> Layer:
        try:
            return self._layers[layer_id]
        except KeyError:
            raise LayerNotFound(
                f"没有 id 为 '{layer_id}' 的图层。可用图层：{', '.join(self._layers)}", parameter="layer"
            ) from None

    def by_group(self, group: str) -> list[Layer]:
        return [layer for layer in self._layers.values() if layer.group == group]

    def spatial_layers(self) -> list[Layer]:
        return [layer for layer in self._layers.values() if layer.is_spatial]

    # -------------------------------------------------------------- data
    def read(self, layer_id: str) -> gpd.GeoDataFrame:
        """The layer's features as a GeoDataFrame in EPSG:4326 (cached; read-only)."""
        layer = self.get(layer_id)
        frame = self._frames.get(layer_id)
        if frame is not None:
            return frame
        with self._lock:
            lock = self._layer_locks.setdefault(layer_id, threading.Lock())
        with lock:
            frame = self._frames.get(layer_id)
            if frame is None:
                failed = self._failures.get(layer_id)
                if failed is not None and time.monotonic() - failed[0] < FAILURE_TTL_S:
                    raise failed[1]
                try:
                    frame = _normalise(read_layer(layer.source, layer.file, base=self.root), layer)
                except DataSourceError as exc:
                    self._failures[layer_id] = (time.monotonic(), exc)
                    raise
                self._failures.pop(layer_id, None)
                self._frames[layer_id] = frame
        return frame

    def readable(self, layer_ids) -> tuple[list[str], dict[str, DataSourceError]]:
        """Split ``layer_ids`` into those whose data can be read now and those whose store fails — for operations
        over every layer, which should answer for the rest rather than fail as a whole."""
        ok: list[str] = []
        failed: dict[str, DataSourceError] = {}
        for lid in layer_ids:
            try:
                self.read(lid)
            except DataSourceError as exc:
                failed[lid] = exc
            else:
                ok.append(lid)
        return ok, failed

    def add_layer(self, layer: Layer, frame: gpd.GeoDataFrame | None = None) -> None:
        """Register a layer at run time (extra file layers, PostGIS tables, tests)."""
        if layer.id in self._layers:
            raise KFQMapError(f"图层 id 已存在：{layer.id}")
        self._layers[layer.id] = layer
        if frame is not None:
            self._frames[layer.id] = _normalise(frame, layer)


def parse_figures(value) -> list[dict]:
    """A feature's ``figures`` (JSON text as GDAL reads it, a list, or one object) → the list of figure dicts.

    Missing, NaN or unparseable values give ``[]``; entries that are not objects are dropped.
    """
    if value is None or (isinstance(value, float) and value != value):
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    if isinstance(value, dict):
        value = [value]
    return [f for f in value if isinstance(f, dict)] if isinstance(value, list) else []


def _normalise(frame: gpd.GeoDataFrame, layer: Layer) -> gpd.GeoDataFrame:
    """Give every frame a unique string ``id`` column and the index it names (the OGC feature id)."""
    if "id" not in frame.columns:
        frame = frame.copy()
        frame.insert(0, "id", [str(i + 1) for i in range(len(frame))])
    ids = frame["id"].astype(str)
    if ids.duplicated().any():
        dup = ids[ids.duplicated()].iloc[0]
        raise KFQMapError(f"图层 {layer.id} 中要素 id 重复：{dup}")
    frame = frame.copy()
    frame["id"] = ids
    frame.index = pd.Index(ids.values, name="fid")
    return frame


def _catalog_file(root: Path) -> Path:
    return root / "catalog.json"


def load_catalog(settings: CatalogSettings | None = None) -> Catalog:
    """Read and validate ``catalog.json`` of the geodata directory, then register any extra layers
    (files, or PostGIS tables — checked now, read on first use; see ``CatalogSettings``)."""
    settings = settings or CatalogSettings()
    root = Path(settings.geodata_dir)
    path = _catalog_file(root)
    if not path.exists():
        raise KFQMapError(f"找不到图层目录文件 {path}")
    data = json.loads(path.read_text(encoding="utf-8"))
    catalog = Catalog([Layer.model_validate(item) for item in data["layers"]], root)
    for layer_id, (source, location) in settings.extra_layer_sources().items():
        if source == "postgis":
            from .stores.postgis import postgis_layer

            catalog.add_layer(postgis_layer(layer_id, location))
        else:
            catalog.add_layer(extra_file_layer(layer_id, Path(location)))
    return catalog


def extra_file_layer(layer_id: str, file: Path) -> Layer:
    """A Layer for any GDAL-readable polygon file that is not part of the plan (e.g. benchmark parcels)."""
    info = gpd.read_file(file, rows=1) if Path(file).exists() else None
    if info is None:
        raise KFQMapError(f"额外图层文件不存在：{file}")
    geom_type = info.geom_type.iloc[0] if len(info) else "Polygon"
    return Layer(
        id=layer_id, title_zh=f"额外图层 {layer_id}", title_en=f"Extra layer {layer_id}", group="额外",
        kind="extra", geometry_type=geom_type, source="file", file=str(Path(file).resolve()),
        plan_section="（非规划内容）", description=f"从 {file} 载入的额外图层，不属于规划。",
        schematic=False, illustrative=True, style=Style(fill="#999999", stroke="#666666", stroke_width=0.5, label=False),
    )
