"""Read-only providers: a GDAL-readable file (GeoJSON, GeoPackage, FlatGeobuf, Shapefile...) and a frame given in
memory (tests, run-time layers). Their ``version`` is the file's modification time and size, so replacing a file
on disk is picked up without a restart."""
from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio

from ..errors import ReadOnlyLayer, StoreUnavailable
from .base import Snapshot, WriteOp, WriteResult

log = logging.getLogger("kfqmap.providers")


def read_file(path: Path) -> gpd.GeoDataFrame:
    """A vector file as a GeoDataFrame in EPSG:4326 (a file without a CRS is taken as WGS 84)."""
    frame = pyogrio.read_dataframe(path, use_arrow=False)
    if frame.crs is None:
        frame = frame.set_crs(4326)
    elif frame.crs.to_epsg() != 4326:
        frame = frame.to_crs(4326)
    return frame


class FileProvider:
    """One layer read from a file, whole, whenever the file changes."""

    writable = False
    pushdown = False

    def __init__(self, layer_id: str, path: Path):
        self.layer_id = layer_id
        self.path = Path(path)

    def describe(self) -> str:
        return f"file {self.path}"

    def version(self) -> str:
        try:
            st = self.path.stat()
        except OSError as exc:
            raise self._unavailable(exc) from None
        return f"file-{st.st_mtime_ns:x}-{st.st_size:x}"

    def snapshot(self) -> Snapshot:
        version = self.version()
        try:
            frame = read_file(self.path)
        except Exception as exc:       # truncated, random bytes, not a vector file: that layer only is unavailable
            raise self._unavailable(exc) from None
        return Snapshot(version, frame, np.arange(1, len(frame) + 1, dtype=np.uint64))

    def apply(self, ops: list[WriteOp], context=None) -> WriteResult:
        raise ReadOnlyLayer(f"图层 {self.layer_id} 来自只读文件，不能编辑（read-only layer）")

    def _unavailable(self, exc: Exception) -> StoreUnavailable:
        # the path and GDAL's message go to the server log only: clients must not learn server paths
        log.error("layer %s: data file %s cannot be read: %s", self.layer_id, self.path, exc)
        return StoreUnavailable(f"图层 {self.layer_id} 的数据文件无法读取（layer data unavailable）；"
                                "管理员请查看服务器日志")


class FrameProvider:
    """A layer whose frame was handed over in memory (``Catalog.add_layer(layer, frame)``)."""

    writable = False
    pushdown = False

    def __init__(self, layer_id: str, frame: gpd.GeoDataFrame):
        self.layer_id = layer_id
        self._snapshot = Snapshot("mem-1", frame, np.arange(1, len(frame) + 1, dtype=np.uint64))

    def describe(self) -> str:
        return "memory"

    def version(self) -> str:
        return self._snapshot.version

    def snapshot(self) -> Snapshot:
        return self._snapshot

    def apply(self, ops: list[WriteOp], context=None) -> WriteResult:
        raise ReadOnlyLayer(f"图层 {self.layer_id} 是只读图层，不能编辑（read-only layer）")
