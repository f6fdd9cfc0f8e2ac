"""One ``Collection`` per layer: the single owner of everything derived from that layer's data.

A collection pairs a catalog ``Layer`` (what the layer is: titles, group, style, provenance) with a ``Provider``
(where its data lives: a file, the embedded GeoPackage store, PostGIS; see ``kfqmap/providers``). Items, exports,
queries, statistics, tiles and the CLI all reach a layer's data through its collection, so there is one selection
path and one place where caches live.

>>> from kfqmap.catalog import load_catalog
>>> parks = load_catalog().collection("parks")
>>> parks.version()                           # changes whenever the data does   # doctest: +SKIP
>>> parks.frame()                             # the features, a GeoDataFrame in EPSG:4326   # doctest: +SKIP
>>> parks.update("park_tienan", {"properties": {"plan_status": "实施中"}})            # doctest: +SKIP

**Versions and caches.** ``version()`` asks the provider at most every ``VERSION_TTL_S`` seconds (a change made
by any program is therefore seen within that time, well under the one second promised to users). Everything
derived from the data — the frame, the OGC items index with its encoded GeoJSON, the spatial index and metric
(EPSG:4549) geometries used by queries and filters, the tile preparation — hangs off one ``LayerState`` built
for one version; when the version changes a new state is built on the next use and the old one is dropped
(requests already holding it finish on it). Nothing else in KFQMap caches layer data.

**Identity.** A feature's OGC id is its ``id`` property (a string, unique in the layer); its MVT feature id is
the store's integer key (the GeoPackage ``fid``, PostGIS primary key), stable across edits and restarts.

**Failures.** A provider error (database down, damaged file) is remembered for ``FAILURE_TTL_S`` seconds so
that requests for that layer fail at once instead of each waiting; other layers are not affected.
"""
from __future__ import annotations

import threading
import time
from functools import cached_property
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from .errors import DataSourceError, KFQMapError, RequestTooLarge
from .features import LayerIndex as ItemsIndex
from .providers.base import ChangeContext, Provider, Snapshot, WriteOp, WriteResult
from .providers import postgis as postgis_provider
from .providers.postgis_pushdown import PostGISItems, PostGISTiles
from .query import LayerIndex as SpatialIndex
from .tiles import LayerSource

#: how long a version answer is trusted before the provider is asked again (seconds)
VERSION_TTL_S = 0.25
#: after a provider fails, requests for that layer fail at once with the same error for this many seconds
FAILURE_TTL_S = 5.0


class LayerState:
    """Everything derived from one version of a layer's data; each part is built on first use."""

    def __init__(self, layer, snapshot: Snapshot):
        self.layer = layer
        self.version = snapshot.version
        self.frame = normalise_frame(snapshot.frame, layer)
        self.fids = np.asarray(snapshot.fids, dtype=np.uint64)
        #: feature id → ETag at this version (the one ``If-Match`` must name), or None when the provider did not
        #: read them with the rows (the GeoPackage store does, from its shadow copy; PostGIS does not: too dear)
        self.etags: dict[str, str] | None = snapshot.etags
        #: ETags read one by one at this version (``kfqmap.editing.read_with_etag``), so each costs a store read
        #: once per version, not once per request
        self.etag_cache: dict[str, str] = {}
        self._lock = threading.Lock()

    @cached_property
    def spatial(self):
        """``kfqmap.query.LayerIndex``: STRtrees in WGS 84 and EPSG:4549, areas, hit columns (queries, filters)."""
        return SpatialIndex(self.layer, self.frame)

    @cached_property
    def items(self):
        """``kfqmap.features.LayerIndex``: OGC API Features selection and the encoded GeoJSON cache."""
        return ItemsIndex(self.layer, self.frame, self.spatial)

    @cached_property
    def tiles(self):
        """``kfqmap.tiles.LayerSource``: the layer prepared for MVT, with the store's keys as feature ids."""
        return LayerSource(self.layer.id, self.frame, fids=self.fids)

    def metric_geometries(self) -> np.ndarray:
        """The geometries in EPSG:4549 (metres), aligned with the frame's rows (CQL2 distance filters)."""
        return self.spatial.geoms_4549


class PushdownState:
    """What a pushdown layer (a large PostGIS table) has at one version: SQL-backed items and tiles, no frame."""

    pushdown = True
    #: a pushdown layer reads each feature's ETag with the feature (``PostGISItems.feature_and_etag``)
    etags = None

    def __init__(self, layer, provider, version: str):
        self.layer = layer
        self.version = version
        self.items = PostGISItems(provider, layer, version)
        self.tiles = PostGISTiles(provider, layer, version)

    @property
    def property_names(self) -> list[str]:
        return self.items.property_names

    @property
    def frame(self):
        raise RequestTooLarge(f"图层 {self.layer.id} 数据量大（超过 {postgis_provider.MEMORY_ROWS:,} 个要素），不整表载入；"
                              "请用要素接口（bbox/filter 分页）、瓦片或统计接口", parameter="collectionId")

    @property
    def spatial(self):
        raise RequestTooLarge(f"图层 {self.layer.id} 数据量大，不整层建立空间索引：查询需要限定范围（点、绘制范围、距离）"
                              "或过滤条件（如 near_filter）", parameter="layers")


class Collection:
    """One layer: its catalog record, its provider, and its current ``LayerState``."""

    def __init__(self, layer, provider: Provider):
        self.layer = layer
        self.provider = provider
        self._state: LayerState | None = None
        self._version: str | None = None
        self._checked = -1e9
        self._failure: tuple[float, DataSourceError] | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Collection {self.layer.id} ({self.provider.describe()})>"

    @property
    def id(self) -> str:
        return self.layer.id

    @property
    def writable(self) -> bool:
        return bool(self.provider.writable)

    @property
    def pushdown(self) -> bool:
        """True when queries run in the backend (a large PostGIS table) instead of on an in-memory frame."""
        return bool(getattr(self.provider, "pushdown", False))

    # ------------------------------------------------------------------ versions
    def _failed(self) -> None:
        failure = self._failure
        if failure is not None and time.monotonic() - failure[0] < FAILURE_TTL_S:
            raise failure[1]

    def version(self) -> str:
        """The data version (cached for ``VERSION_TTL_S``); raises the provider's error when it is down."""
        now = time.monotonic()
        if self._version is not None and now - self._checked < VERSION_TTL_S:
            return self._version
        self._failed()
        try:
            version = self.provider.version()
        except DataSourceError as exc:
            self._failure = (time.monotonic(), exc)
            raise
        self._version, self._checked, self._failure = version, now, None
        return version

    def is_current(self) -> bool:
        """True when ``state()`` would return at once (no read, no query): a server can skip a thread hop."""
        return (self._state is not None and self._version == self._state.version
                and time.monotonic() - self._checked < VERSION_TTL_S)

    def state(self) -> LayerState | PushdownState:
        """The ``LayerState`` of the current version (read from the provider when the version changed)."""
        version = self.version()
        state = self._state
        if state is not None and state.version == version:
            return state
        with self._lock:
            state = self._state
            if state is not None and state.version == self.version():
                return state
            self._failed()
            try:
                if self.pushdown:
                    state = PushdownState(self.layer, self.provider, self.version())
                else:
                    state = LayerState(self.layer, self.provider.snapshot())
            except DataSourceError as exc:
                self._failure = (time.monotonic(), exc)
                raise
            self._state = state
            self._version, self._checked = state.version, time.monotonic()
        return state

    def refresh(self) -> None:
        """Forget the cached version answer, so the next call asks the provider (after a write)."""
        self._checked = -1e9

    # ------------------------------------------------------------------ reading
    def frame(self) -> gpd.GeoDataFrame:
        """The layer's features at the current version (EPSG:4326, index = feature id). Shared: read-only."""
        return self.state().frame

    # ------------------------------------------------------------------ writing
    @property
    def keeps_history(self) -> bool:
        """True when every write is recorded (``kfqmap.history``) and features carry ETags (the embedded store)."""
        return bool(getattr(self.provider, "history", False))

    def apply(self, ops: list[WriteOp], context: ChangeContext | None = None) -> WriteResult:
        """Apply ``ops`` in one transaction (all or nothing); the change is visible on the next read. A provider
        that keeps history records each op with ``context`` (who, from where, why) in that transaction."""
        try:
            if self.keeps_history:
                return self.provider.apply(list(ops), context)
            return self.provider.apply(list(ops))
        finally:
            self.refresh()

    def create(self, feature: dict[str, Any]) -> str:
        """Add a GeoJSON feature (WGS 84); returns its id."""
        return self.apply([WriteOp("create", feature=feature)]).ids[0]

    def replace(self, feature_id: str, feature: dict[str, Any]) -> None:
        self.apply([WriteOp("replace", feature_id=feature_id, feature=feature)])

    def update(self, feature_id: str, patch: dict[str, Any]) -> None:
        """JSON merge patch of ``{"properties": {...}, "geometry": ...}``."""
        self.apply([WriteOp("update", feature_id=feature_id, feature=patch)])

    def delete(self, feature_id: str) -> None:
        self.apply([WriteOp("delete", feature_id=feature_id)])


def normalise_frame(frame: gpd.GeoDataFrame, layer) -> gpd.GeoDataFrame:
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
