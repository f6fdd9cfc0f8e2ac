"""Layer data providers, chosen by name from a registry (a layer's ``source`` in the catalog names one).

* ``geojson``, ``gpkg``, ``file``: a GDAL-readable file, read-only (``files.FileProvider``);
* ``postgis``: a PostGIS table, writable, pushdown for large tables (``postgis.PostGISProvider``);
* the embedded GeoPackage store (``gpkg.GeoPackageStore``) takes over the plan layers when it is enabled — the
  catalog decides that, not the registry.

A new backend (GeoParquet, a remote OGC API...) implements ``base.Provider`` and registers a factory with
``register_provider(name, factory)``; layers with ``source: name`` then use it, and no router changes.
See ``docs/CONTRACTS.md`` ("Providers").
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..errors import KFQMapError
from .base import Provider, Snapshot, WriteOp, WriteResult
from .files import FileProvider, FrameProvider
from .postgis import PostGISProvider

ProviderFactory = Callable[..., Provider]     # (layer, root: Path) -> Provider


def _file(layer, root: Path) -> Provider:
    path = Path(layer.file)
    return FileProvider(layer.id, path if path.is_absolute() else root / path)


def _postgis(layer, root: Path) -> Provider:
    return PostGISProvider(layer.id, layer.file)


PROVIDERS: dict[str, ProviderFactory] = {"geojson": _file, "gpkg": _file, "file": _file, "postgis": _postgis}


def register_provider(name: str, factory: ProviderFactory) -> None:
    """Make ``source: name`` in a catalog entry use ``factory(layer, root)``."""
    PROVIDERS[name] = factory


def open_provider(layer, root: Path) -> Provider:
    try:
        factory = PROVIDERS[layer.source]
    except KeyError:
        raise KFQMapError(f"图层 {layer.id} 的数据源类型 '{layer.source}' 未知；可用：{', '.join(PROVIDERS)}") from None
    return factory(layer, root)


__all__ = ["Provider", "Snapshot", "WriteOp", "WriteResult", "FileProvider", "FrameProvider", "PostGISProvider",
           "PROVIDERS", "register_provider", "open_provider"]
