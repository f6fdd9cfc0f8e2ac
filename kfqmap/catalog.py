"""The layer catalog: reads ``geodata/catalog.json``, validates it into ``Layer`` objects, loads layers.

>>> from kfqmap.catalog import load_catalog
>>> cat = load_catalog()
>>> frame = cat.read("cores")        # a GeoDataFrame in EPSG:4326, no HTTP involved

Each layer's data belongs to its ``kfqmap.collection.Collection`` (``cat.collection("cores")``); frames are shared
per data version: treat them as read-only (``.copy()`` before modifying).
"""
from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import geopandas as gpd

from .collection import Collection
from .errors import DataSourceError, KFQMapError, LayerNotFound
from .models import GROUPS, Layer, Style
from .providers import FrameProvider, open_provider
from .providers.gpkg import GeoPackageLayer, GeoPackageStore
from .providers.store_imports import store_layers
from .settings import CatalogSettings

log = logging.getLogger("kfqmap.catalog")


class Catalog:
    """The layers of one geodata directory (plus extra layers), each owned by its ``Collection``.

    The catalog only knows which layers exist and hands out their collections; reading, caching, versions and
    writes belong to ``kfqmap.collection.Collection``."""

    def __init__(self, layers: list[Layer], root: Path, *, store=None):
        self.root = root
        self.store = store                       # the embedded GeoPackage store, when the plan layers live there
        self._layers: dict[str, Layer] = {}
        self._collections: dict[str, Collection] = {}
        self._store_defined: set[str] = set()      # layers created by imports (kfqmap_store_layers)
        self._store_checked = time.monotonic()
        self._sync_lock = threading.RLock()
        for layer in layers:
            self._register(layer, self._provider(layer))

    def _register(self, layer: Layer, provider) -> None:
        check_layers([*self._layers.values(), layer])
        # new dicts swapped in whole: a reader iterating the old ones in another thread is never disturbed
        self._collections = {**self._collections, layer.id: Collection(layer, provider)}
        self._layers = {**self._layers, layer.id: layer}

    def _provider(self, layer: Layer):
        """The store for the seeded plan layers, else the provider the layer's ``source`` names."""
        if self.store is not None and self.store.has_layer(layer.id) and layer.source in (*SEEDED_SOURCES,
                                                                                        STORE_SOURCE):
            make = getattr(self.store, "layer_provider", None)     # the PostGIS store names its own provider
            return make(layer) if make is not None else GeoPackageLayer(self.store, layer)
        return open_provider(layer, self.root)

    # -------------------------------------------------------------- lookup
    def _sync_store_layers(self) -> None:
        """Pick up layers that imports created or removed in the store since (another process — the CLI, another
        server worker — may have done it), asking the store at most every ``STORE_LAYERS_TTL_S`` seconds."""
        if self.store is None or time.monotonic() - self._store_checked < STORE_LAYERS_TTL_S:
            return
        with self._sync_lock:
            if time.monotonic() - self._store_checked < STORE_LAYERS_TTL_S:
                return
            try:
                wanted = {layer.id: layer for layer in store_layers(self.store)}
            except Exception as exc:        # a damaged or busy store: keep the layers known so far
                log.warning("store layers not re-read: %s", exc)
                wanted = None
            if wanted is not None:
                for lid in [lid for lid in self._store_defined if lid not in wanted]:
                    self.remove_layer(lid)
                for lid, layer in wanted.items():
                    if lid not in self._layers:
                        self._register(layer, self._provider(layer))
                        self._store_defined.add(lid)
            self._store_checked = time.monotonic()

    @property
    def layers(self) -> list[Layer]:
        self._sync_store_layers()
        return list(self._layers.values())

    @property
    def ids(self) -> list[str]:
        self._sync_store_layers()
        return list(self._layers)

    def get(self, layer_id: str) -> Layer:
        if layer_id not in self._layers or layer_id in self._store_defined:
            self._sync_store_layers()
        try:
            return self._layers[layer_id]
        except KeyError:
            raise LayerNotFound(
                f"没有 id 为 '{layer_id}' 的图层。可用图层：{', '.join(self._layers)}", parameter="layer"
            ) from None

    def collection(self, layer_id: str) -> Collection:
        """The layer's ``Collection`` (raises ``LayerNotFound``)."""
        self.get(layer_id)
        collection = self._collections.get(layer_id)
        if collection is None:                     # removed (an undone import) between the two lines
            raise LayerNotFound(f"没有 id 为 '{layer_id}' 的图层", parameter="layer")
        return collection

    def by_group(self, group: str) -> list[Layer]:
        return [layer for layer in self._layers.values() if layer.group == group]

    def spatial_layers(self) -> list[Layer]:
        return [layer for layer in self._layers.values() if layer.is_spatial]

    # -------------------------------------------------------------- data
    def read(self, layer_id: str) -> gpd.GeoDataFrame:
        """The layer's features as a GeoDataFrame in EPSG:4326 at the current data version (shared; read-only)."""
        return self.collection(layer_id).frame()

    def readable(self, layer_ids, *, in_memory: bool = False) -> tuple[list[str], dict[str, DataSourceError]]:
        """Split ``layer_ids`` into those whose data can be read now and those whose store fails — for operations
        over every layer, which should answer for the rest rather than fail as a whole. ``in_memory``: keep only
        layers with a frame (operations that scan whole layers — default query layers, name search — leave large
        pushdown layers out; they are queried by naming them)."""
        ok: list[str] = []
        failed: dict[str, DataSourceError] = {}
        for lid in layer_ids:
            collection = self.collection(lid)
            try:
                collection.state()
                if in_memory and collection.pushdown:
                    continue
            except DataSourceError as exc:
                failed[lid] = exc
            else:
                ok.append(lid)
        return ok, failed

    def add_layer(self, layer: Layer, frame: gpd.GeoDataFrame | None = None) -> None:
        """Register a layer at run time (extra file layers, PostGIS tables, tests). With ``frame``, the layer
        is that frame (read-only); without, its ``source``/``file`` name the provider."""
        if layer.id in self._layers:
            if layer.source == STORE_SOURCE and layer.id in self._store_defined:
                return                       # already picked up from the store
            raise KFQMapError(f"图层 id 已存在：{layer.id}")
        provider = FrameProvider(layer.id, frame) if frame is not None else self._provider(layer)
        self._register(layer, provider)
        if layer.source == STORE_SOURCE:
            self._store_defined.add(layer.id)

    def remove_layer(self, layer_id: str) -> None:
        """Forget a layer registered at run time (an undone import that had created it)."""
        if layer_id not in self._layers:
            raise LayerNotFound(f"没有 id 为 '{layer_id}' 的图层", parameter="layer")
        self._layers = {k: v for k, v in self._layers.items() if k != layer_id}
        self._collections = {k: v for k, v in self._collections.items() if k != layer_id}
        self._store_defined.discard(layer_id)


def check_layers(layers: list[Layer]) -> None:
    """Ids unique, groups known: checked before any data is touched."""
    seen: set[str] = set()
    for layer in layers:
        if layer.id in seen:
            raise KFQMapError(f"图层 id 重复：{layer.id}")
        seen.add(layer.id)
        if layer.group not in GROUPS:
            raise KFQMapError(f"图层 {layer.id} 的分组 '{layer.group}' 不在 {list(GROUPS)} 之中")


#: catalog sources that the embedded store takes over when it is enabled (the shipped geodata files)
SEEDED_SOURCES = ("geojson",)
#: the source of layers the store defines itself (created by an import; ``providers/store_imports.py``)
STORE_SOURCE = "store"
#: how often the catalog asks the store whether imports created or removed layers (seconds)
STORE_LAYERS_TTL_S = 1.0


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


def _catalog_file(root: Path) -> Path:
    return root / "catalog.json"


def load_catalog(settings: CatalogSettings | None = None) -> Catalog:
    """Read and validate ``catalog.json`` of the geodata directory, open the embedded store (creating and seeding
    it on first use, upgrading it without touching edited layers — see ``kfqmap.providers.gpkg``), then register
    any extra layers (files, or PostGIS tables — checked now, read on first use; see ``CatalogSettings``)."""
    settings = settings or CatalogSettings()
    root = Path(settings.geodata_dir)
    path = _catalog_file(root)
    if not path.exists():
        raise KFQMapError(f"找不到图层目录文件 {path}")
    data = json.loads(path.read_text(encoding="utf-8"))
    layers = [Layer.model_validate(item) for item in data["layers"]]
    check_layers(layers)
    store = None
    seeds = [(layer, root / layer.file) for layer in layers if layer.source in SEEDED_SOURCES]
    if settings.store == "gpkg":
        store = GeoPackageStore.open(settings.store_path(), seeds)
    elif settings.store == "postgis":
        from .providers.postgis_store import PostGISStore

        store = PostGISStore.open(settings.store_dsn, seeds)
    catalog = Catalog(layers, root, store=store)
    if store is not None:                  # layers created by imports (kfqmap import --new-layer)
        for layer in store_layers(store):
            if layer.id in catalog.ids:
                log.warning("store layer %s is hidden: the catalog now has a layer with that id", layer.id)
            else:
                catalog.add_layer(layer)
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
