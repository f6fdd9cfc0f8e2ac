"""The plan layers in PostGIS (``KFQMAP_STORE=postgis``): the store shared by workers on several machines.

The embedded GeoPackage (``providers/gpkg.py``) is shared by the workers of one machine; a deployment over several
machines keeps the plan layers in the bureau's PostgreSQL instead, so that an edit through any worker is seen by
every worker (``docs/deploy.md``)::

    KFQMAP_STORE=postgis KFQMAP_STORE_DSN=postgresql://gis@db:5432/kfq kfqmap serve

On first start each plan layer with a geometry is copied from ``geodata/`` into ``kfqmap_plan.<layer id>`` (an
integer ``fid`` key, the layer's columns typed as pyogrio reads them — booleans, integers, floats, text, JSON as
``jsonb`` — and ``geom geometry(<type>, 4326)``), in one transaction under an advisory lock, so several workers
starting together seed once. Each table is then an ordinary ``PostGISProvider`` layer: writes, versions by the
statement trigger, read replicas. Tables without geometry (``indicators``, ``unlocated_places``) stay with their
files (read-only).

Upgrades, as the GeoPackage store does them: a layer whose geodata file changed is re-seeded (its rows replaced
in one transaction, the table kept) when nobody edited it (its change counter is still the one recorded after
seeding) and its columns are the same; an edited layer is kept, and the log says newer plan data exists.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd
import shapely

from ..errors import DataSourceError
from ..stores import postgis as pg
from .gpkg import _storable, file_hash
from .postgis import _SETUP, PostGISProvider

log = logging.getLogger("kfqmap.providers.postgis_store")

SCHEMA = "kfqmap_plan"
_META = f"""
CREATE TABLE IF NOT EXISTS kfqmap.plan_layers (
    layer_id text PRIMARY KEY, seed_hash text NOT NULL, seeded_version bigint NOT NULL,
    columns text NOT NULL, seeded_at timestamptz NOT NULL DEFAULT now());
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
"""


def _pg_type(series: pd.Series, is_json: bool) -> str:
    if is_json:
        return "jsonb"
    kind = series.dtype.kind
    if kind == "b":
        return "boolean"
    if kind in "iu":
        return "integer" if series.dtype.itemsize <= 4 else "bigint"
    if kind == "f":
        return "double precision"
    if kind == "M":
        return "timestamptz"
    return "text"


def _value(v):
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, np.generic):
        return v.item()
    return v


class PostGISStore:
    """The plan layers' tables in one PostgreSQL database (the Catalog asks ``has_layer`` / ``layer_provider``)."""

    def __init__(self, dsn: str):
        self.dsn = dsn
        self.layers: set[str] = set()

    @classmethod
    def open(cls, dsn: str, seeds: Iterable[tuple[Any, Path]] = ()) -> "PostGISStore":
        if not dsn.strip():
            raise DataSourceError("KFQMAP_STORE=postgis 需要 KFQMAP_STORE_DSN（例如 postgresql://gis@db:5432/kfq，"
                                  "密码用 PGPASSWORD 或 ~/.pgpass）")
        store = cls(dsn.strip())
        loc = pg.parse_location(f"{store.dsn}#{SCHEMA}.store")      # the checks of a layer location (no password)
        with pg._connect(loc) as conn:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtext('kfqmap_plan_seed'))")
                conn.execute(_SETUP)
                conn.execute(_META)
                for layer, path in seeds:
                    if layer.geometry_type == "None":
                        continue
                    try:
                        store._sync(conn, layer, Path(path))
                    except OSError as exc:
                        log.error("store: layer %s not seeded, its geodata file cannot be read: %s", layer.id, exc)
        return store

    def has_layer(self, layer_id: str) -> bool:
        return layer_id in self.layers

    def layer_provider(self, layer) -> PostGISProvider:
        return PostGISProvider(layer.id, f"{self.dsn}#{SCHEMA}.{layer.id}")

    # ------------------------------------------------------------------ seeding
    def _sync(self, conn, layer, path: Path) -> None:
        import pyogrio

        digest = file_hash(path)
        row = conn.execute("SELECT seed_hash, seeded_version, columns FROM kfqmap.plan_layers WHERE layer_id = %s",
                           (layer.id,)).fetchone()
        if row is not None and row[0] == digest:
            self.layers.add(layer.id)
            return
        frame = pyogrio.read_dataframe(path, use_arrow=False)
        if frame.crs is not None and frame.crs.to_epsg() != 4326:
            frame = frame.to_crs(4326)
        frame, json_columns = _storable(frame)
        props = [c for c in frame.columns if c != frame.geometry.name]
        columns = [(c, _pg_type(frame[c], c in json_columns)) for c in props]
        signature = ",".join(f"{c}:{t}" for c, t in columns)
        if row is None:
            self._create(conn, layer, columns)
        else:
            edited = self._version(conn, layer.id) != row[1]
            if edited or row[2] != signature:
                log.warning("store: layer %s has newer plan data in %s but %s; kept as it is", layer.id, path.name,
                            "it was edited" if edited else "its columns changed")
                self.layers.add(layer.id)
                return
            log.info("store: layer %s re-seeded from the new %s", layer.id, path.name)
            from psycopg import sql

            conn.execute(sql.SQL("DELETE FROM {t}").format(t=sql.Identifier(SCHEMA, layer.id)))
        self._insert(conn, layer, frame, columns)
        conn.execute("INSERT INTO kfqmap.plan_layers (layer_id, seed_hash, seeded_version, columns) "
                     "VALUES (%s, %s, %s, %s) ON CONFLICT (layer_id) DO UPDATE SET seed_hash = excluded.seed_hash, "
                     "seeded_version = excluded.seeded_version, columns = excluded.columns, seeded_at = now()",
                     (layer.id, digest, self._version(conn, layer.id), signature))
        self.layers.add(layer.id)

    def _create(self, conn, layer, columns: list[tuple[str, str]]) -> None:
        from psycopg import sql

        table = sql.Identifier(SCHEMA, layer.id)
        geom_type = layer.geometry_type if layer.geometry_type in pg._GEOM_TYPES.values() else "Geometry"
        defs = [sql.SQL("fid bigserial PRIMARY KEY")]
        defs += [sql.SQL("{c} {t}").format(c=sql.Identifier(c), t=sql.SQL(t)) for c, t in columns]
        defs.append(sql.SQL("geom geometry({g}, 4326)").format(g=sql.SQL(geom_type)))
        conn.execute(sql.SQL("CREATE TABLE {t} ({d})").format(t=table, d=sql.SQL(", ").join(defs)))
        if "id" in dict(columns):
            conn.execute(sql.SQL("CREATE UNIQUE INDEX ON {t} (id)").format(t=table))
        conn.execute(sql.SQL("CREATE INDEX ON {t} USING gist (geom)").format(t=table))
        conn.execute(sql.SQL("CREATE TRIGGER kfqmap_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {t} "
                             "FOR EACH STATEMENT EXECUTE FUNCTION kfqmap.bump_version()").format(t=table))

    def _insert(self, conn, layer, frame, columns: list[tuple[str, str]]) -> None:
        from psycopg import sql

        names = [c for c, _ in columns]
        holders = [sql.SQL("%s::jsonb") if t == "jsonb" else sql.SQL("%s") for _, t in columns]
        holders.append(sql.SQL("ST_GeomFromWKB(%s, 4326)"))
        stmt = sql.SQL("INSERT INTO {t} ({c}) VALUES ({v})").format(
            t=sql.Identifier(SCHEMA, layer.id), c=sql.SQL(", ").join(map(sql.Identifier, [*names, "geom"])),
            v=sql.SQL(", ").join(holders))
        geoms = frame.geometry.values
        wkb = [None if g is None or shapely.is_empty(g) else shapely.to_wkb(g) for g in geoms]
        rows = [[_value(v) for v in values] + [blob]
                for values, blob in zip(frame[names].itertuples(index=False, name=None), wkb)]
        with conn.cursor() as cur:
            cur.executemany(stmt, rows)

    @staticmethod
    def _version(conn, layer_id: str) -> int:
        row = conn.execute("SELECT version FROM kfqmap.table_versions WHERE table_oid = %s::regclass::oid",
                           (f'{SCHEMA}."{layer_id}"',)).fetchone()
        return int(row[0]) if row else 0


__all__ = ["PostGISStore", "SCHEMA"]
