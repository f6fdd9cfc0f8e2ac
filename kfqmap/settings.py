"""Settings, read when an app or command is created (never at import time). Prefix ``KFQMAP_``."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

GEODATA_DIR = Path(__file__).resolve().parent.parent / "geodata"


def default_data_dir() -> Path:
    """Where the embedded store lives unless ``KFQMAP_DATA_DIR`` says otherwise: ``$XDG_DATA_HOME/kfqmap``
    (``~/.local/share/kfqmap``), outside any source tree (``make run`` uses ``./data``, which git ignores)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "kfqmap"

#: how an ``extra_layers`` value names a PostGIS table instead of a file
POSTGIS_PREFIXES = ("postgresql://", "postgres://")


class CatalogSettings(BaseSettings):
    """Where the catalog lives, and extra layers (files or PostGIS tables) to register beside the plan's layers.

    ``KFQMAP_EXTRA_LAYERS`` is a ``;``-separated list of ``layer_id=location`` (layers in group 额外, not part
    of the plan). A location is either

    - a GDAL-readable file: ``parcels=/tmp/bench/data/parcels_200000.gpkg;other=/path/x.geojson``
      (used by the benchmarks), or
    - a PostGIS table: a libpq connection URI, ``#``, then ``table``, ``schema.table`` or
      ``schema.table:geom_column``, e.g.
      ``parcels=postgresql://gis@db.example:5432/kfq#public.parcels`` or, over a unix socket,
      ``parcels=postgresql://gis@/kfq?host=/run/postgresql&port=5432#public.parcels``;
      keyword connection strings take a ``postgis:`` prefix:
      ``parcels=postgis:host=/run/postgresql dbname=kfq user=gis#public.parcels``.

    PostGIS connection strings must not hold a password (the location shows in the catalog): libpq takes it
    from ``PGPASSWORD`` or ``~/.pgpass`` (``PGPASSFILE``). The table is checked when the catalog loads (a
    missing table, a table without geometry or a database that refuses the connection stops the start with a
    ``DataSourceError`` naming it); its rows are read on first use.
    """

    model_config = SettingsConfigDict(env_prefix="KFQMAP_")

    geodata_dir: Path = GEODATA_DIR
    extra_layers: str = ""
    #: ``gpkg``: the plan layers are served from the embedded, writable GeoPackage store in ``data_dir``
    #: (created and seeded from ``geodata_dir`` on first use); ``files``: read-only, straight from the files;
    #: ``postgis``: from tables in the PostgreSQL database ``store_dsn`` (seeded on first use; shared by workers
    #: on several machines — ``kfqmap.providers.postgis_store``, docs/deploy.md)
    store: Literal["gpkg", "files", "postgis"] = "gpkg"
    #: the database of ``store=postgis`` (a libpq URI or ``host=… dbname=…``; no password: PGPASSWORD/~/.pgpass)
    store_dsn: str = ""
    data_dir: Path = Field(default_factory=default_data_dir)

    def store_path(self) -> Path:
        """The store's file: ``kfqmap.gpkg`` for the packaged geodata; a store seeded from another geodata
        directory (tests, a second plan) gets its own file, ``kfqmap-<hash>.gpkg``, in the same data directory."""
        root = Path(self.geodata_dir).resolve()
        if root == GEODATA_DIR.resolve():
            return Path(self.data_dir) / "kfqmap.gpkg"
        digest = hashlib.sha1(str(root).encode()).hexdigest()[:10]
        return Path(self.data_dir) / f"kfqmap-{digest}.gpkg"

    def extra_layer_sources(self) -> dict[str, tuple[str, str]]:
        """Every extra layer: id → (reader name, location), reader ``file`` or ``postgis``."""
        out: dict[str, tuple[str, str]] = {}
        for part in filter(None, (p.strip() for p in self.extra_layers.split(";"))):
            layer_id, equals, location = part.partition("=")
            location = location.strip()
            if not equals or not layer_id.strip() or not location:
                from .errors import InvalidParameter
                raise InvalidParameter(f"KFQMAP_EXTRA_LAYERS 的一项 '{part[:80]}' 应写成 图层id=文件路径或数据库地址"
                                       "（layer_id=location）", parameter="KFQMAP_EXTRA_LAYERS")
            if location.startswith(POSTGIS_PREFIXES):
                out[layer_id.strip()] = ("postgis", location)
            elif location.startswith("postgis:"):
                out[layer_id.strip()] = ("postgis", location.removeprefix("postgis:").strip())
            else:
                out[layer_id.strip()] = ("file", location)
        return out

    def extra_layer_paths(self) -> dict[str, Path]:
        """The extra layers that are files: id → path."""
        return {layer_id: Path(location) for layer_id, (source, location) in self.extra_layer_sources().items()
                if source == "file"}


class PostgresSettings(BaseSettings):
    """How KFQMap talks to PostgreSQL. ``KFQMAP_PG_PREPARED_STATEMENTS`` (default true): psycopg prepares a
    statement that one connection runs 5 times; behind pgbouncer in *transaction* pooling (before pgbouncer 1.21)
    a prepared statement is lost when the next transaction lands on another server connection, so set it false
    there (``docs/deploy.md``). Read when a connection is opened."""

    model_config = SettingsConfigDict(env_prefix="KFQMAP_")

    pg_prepared_statements: bool = True

    def connect_kwargs(self) -> dict:
        """Extra ``psycopg.connect`` arguments."""
        return {} if self.pg_prepared_statements else {"prepare_threshold": None}


def _default_scratch_root() -> Path:
    import os
    import tempfile
    uid = os.getuid() if hasattr(os, "getuid") else os.getlogin()
    return Path(tempfile.gettempdir()) / f"kfqmap-{uid}"


class ScratchSettings(BaseSettings):
    """Where KFQMap keeps its temporary files: one known folder, ``<system temp>/kfqmap-<uid>/`` by default
    (``KFQMAP_SCRATCH_DIR`` to move it). Each process works in its own ``<kind>-<pid>-…`` sub-folder; folders of
    processes that no longer run (a server killed with ``kill -9`` mid-export) are removed when the next server or
    export starts (``kfqmap.export.clean_stale_scratch``)."""

    model_config = SettingsConfigDict(env_prefix="KFQMAP_")

    scratch_dir: Path = Field(default_factory=_default_scratch_root)
