"""The embedded store: one GeoPackage file (SQLite, WAL mode) holding one table per layer, writable and crash-safe.

``make run`` / ``kfqmap serve`` create it on first start under the data directory (``KFQMAP_DATA_DIR``; see
``kfqmap.settings.CatalogSettings``) and seed it from ``geodata/``: every plan layer becomes an editable copy with
its provenance. QGIS and GDAL open the file as it is (``ogrinfo kfqmap.gpkg``); a change they make is seen by
KFQMap like one of its own, because the version counters are kept by SQLite triggers, not by KFQMap's code.

Tables KFQMap adds beside the GeoPackage's own:

* ``kfqmap_meta(key, value)``: ``store_id`` (random, so versions of two stores never collide in an ETag),
  ``schema_version``.
* ``kfqmap_layers(layer_id, version, seed_hash, seeded_at, edited, json_columns, pending_seed_hash)``: per layer,
  a change counter (``version``) bumped by triggers on every insert/update/delete of its table, the SHA-256 of the
  geodata file it was seeded from, and whether anything changed it since (``edited``).

Upgrades (a new KFQMap with new or changed plan layers) never lose a planner's work (``sync``):

* a layer the store does not have yet is seeded;
* a layer whose geodata changed and that nobody edited is re-seeded from the new file;
* a layer whose geodata changed but that was edited (through KFQMap, QGIS, an import...) keeps its rows; columns
  the new geodata adds are added (empty), nothing is dropped, and ``pending_seed_hash`` records that a newer plan
  version exists (shown in the collection document, logged at start-up) for an admin to review.

Writes go through one SQLite connection in ``BEGIN IMMEDIATE`` transactions with ``synchronous=FULL``: a write is
acknowledged only after it is durable, and a killed process leaves either the whole transaction or none of it.
GDAL's R-tree triggers call ``ST_IsEmpty``/``ST_MinX``...; this module registers those functions on its own
connection (GDAL and QGIS register theirs).
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import math
import sqlite3
import struct
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from shapely.geometry import shape

from .. import history
from ..errors import (DataSourceError, FeatureNotFound, InvalidGeometry, InvalidParameter, PreconditionFailed,
                      StoreUnavailable)
from .base import PROVENANCE_FIELDS, ChangeContext, Snapshot, WriteOp, WriteResult

log = logging.getLogger("kfqmap.store")

SCHEMA_VERSION = 1
GEOMETRY_COLUMN = "geom"
SRS_ID = 4326
#: polygon layers accept either polygon type, line layers either line type (GeoJSON files mix them too)
_FAMILIES = {"Point": ("Point", "MultiPoint"), "MultiPoint": ("Point", "MultiPoint"),
             "LineString": ("LineString", "MultiLineString"), "MultiLineString": ("LineString", "MultiLineString"),
             "Polygon": ("Polygon", "MultiPolygon"), "MultiPolygon": ("Polygon", "MultiPolygon")}


# ------------------------------------------------------------------------------------------ GeoPackage blobs
def gpkg_blob(geom) -> bytes | None:
    """A shapely geometry as a GeoPackage geometry blob (header with the xy envelope + little-endian ISO WKB)."""
    if geom is None:
        return None
    if geom.is_empty:
        flags = 0b0001_0001                                   # empty, little-endian, no envelope
        return b"GP\x00" + bytes([flags]) + struct.pack("<i", SRS_ID) + shapely.to_wkb(geom, byte_order=1)
    minx, miny, maxx, maxy = geom.bounds
    flags = 0b0000_0011                                       # envelope [minx, maxx, miny, maxy], little-endian
    header = b"GP\x00" + bytes([flags]) + struct.pack("<i", SRS_ID) + struct.pack("<4d", minx, maxx, miny, maxy)
    return header + shapely.to_wkb(geom, byte_order=1, output_dimension=2)


def _envelope(blob: bytes | None) -> tuple[float, float, float, float] | None:
    """(minx, maxx, miny, maxy) of a GeoPackage blob, or None when empty/absent."""
    if blob is None or len(blob) < 8 or blob[:2] != b"GP":
        return None
    flags = blob[3]
    if flags & 0b0001_0000:
        return None
    endian = "<" if flags & 1 else ">"
    indicator = (flags >> 1) & 0b111
    if indicator:
        return struct.unpack(endian + "4d", blob[8:40])
    geom = shapely.from_wkb(blob[8:])
    minx, miny, maxx, maxy = geom.bounds
    return (minx, maxx, miny, maxy) if not geom.is_empty else None


def _st(index: int):
    def fn(blob):
        env = _envelope(blob)
        return None if env is None else env[index]
    return fn


def _st_is_empty(blob) -> int | None:
    if blob is None:
        return None
    return 1 if _envelope(blob) is None else 0


def connect(path: Path) -> sqlite3.Connection:
    """A connection to the store file as this module uses it (WAL, synchronous=FULL, GDAL's R-tree functions)."""
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 30000").fetchall()   # every statement read to its end:
    conn.execute("PRAGMA synchronous = FULL").fetchall()    # an open cursor keeps a read transaction
    conn.execute("PRAGMA journal_mode = WAL").fetchall()
    for name, fn in (("ST_MinX", _st(0)), ("ST_MaxX", _st(1)), ("ST_MinY", _st(2)), ("ST_MaxY", _st(3)),
                     ("ST_IsEmpty", _st_is_empty)):
        conn.create_function(name, 1, fn, deterministic=True)
    return conn


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def file_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ------------------------------------------------------------------------------------------ the store
class GeoPackageStore:
    """One GeoPackage file with a table per layer. Thread-safe: one connection, one lock for writes and counters."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self.store_id = ""

    # -------------------------------------------------------------- opening
    @classmethod
    def open(cls, path: Path, seeds: Iterable[tuple[Any, Path]] = ()) -> "GeoPackageStore":
        """Open (creating if needed) the store at ``path`` and bring it up to date with ``seeds``
        (``(layer, geodata file)`` pairs of the plan layers)."""
        store = cls(path)
        try:
            store.path.parent.mkdir(parents=True, exist_ok=True)
            # one process at a time creates or upgrades a store (several workers may start together)
            with open(store.path.with_name(store.path.name + ".lock"), "a+") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    store._init_schema()
                    store.sync(list(seeds))
                    # GDAL checks the GeoPackage header (application_id, user_version) in the main file's first
                    # bytes, not through the WAL: write the pages back so `ogrinfo` sees a GeoPackage at once
                    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)
        except sqlite3.DatabaseError as exc:
            log.error("embedded store %s cannot be opened: %s", path, exc)
            raise DataSourceError(f"内置数据库无法打开（{exc.__class__.__name__}）：请检查数据目录中的 "
                                  f"{Path(path).name} 是否完整，或从备份恢复") from None
        return store

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = connect(self.path)
        return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _init_schema(self) -> None:
        with self._lock:
            conn = self.conn
            _create_geopackage(conn)
            conn.execute("PRAGMA journal_mode = WAL").fetchall()
            conn.execute("CREATE TABLE IF NOT EXISTS kfqmap_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            conn.execute("""CREATE TABLE IF NOT EXISTS kfqmap_layers (
                layer_id TEXT PRIMARY KEY, version INTEGER NOT NULL DEFAULT 0, seed_hash TEXT, seeded_at TEXT,
                edited INTEGER NOT NULL DEFAULT 0, json_columns TEXT NOT NULL DEFAULT '[]',
                pending_seed_hash TEXT)""")
            history.create_schema(conn)
            conn.execute("""CREATE TABLE IF NOT EXISTS kfqmap_shadow (layer_id TEXT NOT NULL, fid INTEGER NOT NULL,
                feature_id TEXT, etag TEXT NOT NULL, feature TEXT NOT NULL, PRIMARY KEY (layer_id, fid))""")
            have = {r[1] for r in conn.execute("PRAGMA table_info(kfqmap_layers)").fetchall()}
            if "known_version" not in have:
                conn.execute("ALTER TABLE kfqmap_layers ADD COLUMN known_version INTEGER")
            conn.execute("INSERT OR IGNORE INTO kfqmap_meta VALUES ('store_id', ?)", (uuid.uuid4().hex[:12],))
            conn.execute("INSERT OR IGNORE INTO kfqmap_meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            self.store_id = conn.execute("SELECT value FROM kfqmap_meta WHERE key = 'store_id'").fetchall()[0][0]

    # -------------------------------------------------------------- seeding and upgrades
    def layer_row(self, layer_id: str) -> dict | None:
        with self._lock:
            cur = self.conn.execute("SELECT * FROM kfqmap_layers WHERE layer_id = ?", (layer_id,))
            rows = cur.fetchall()          # fetchall: a half-read cursor would keep a read transaction open
            return dict(zip([c[0] for c in cur.description], rows[0])) if rows else None

    def has_layer(self, layer_id: str) -> bool:
        return self.layer_row(layer_id) is not None

    def sync(self, seeds: list[tuple[Any, Path]]) -> None:
        """Seed new layers, re-seed unedited layers whose geodata changed, keep edited ones (see module doc)."""
        for layer, path in seeds:
            try:
                digest = file_hash(path)
            except OSError as exc:    # the layer is served from its file, which reports itself unavailable
                log.error("store: layer %s not seeded, its geodata file cannot be read: %s", layer.id, exc)
                continue
            row = self.layer_row(layer.id)
            if row is None:
                try:
                    self.seed(layer, path, digest)
                except Exception as exc:   # a damaged geodata file must not stop the other layers
                    log.error("store: layer %s not seeded from %s: %s", layer.id, path, exc)
            elif row["seed_hash"] != digest:
                if not row["edited"]:
                    log.info("store: layer %s re-seeded from the new %s", layer.id, Path(path).name)
                    self.seed(layer, path, digest)
                else:
                    self._keep_edited(layer, path, digest)

    def seed(self, layer, path: Path, digest: str | None = None) -> None:
        """(Re)create ``layer``'s table from the geodata file at ``path``."""
        frame = pyogrio.read_dataframe(path, use_arrow=False)
        if frame.crs is not None and frame.crs.to_epsg() != 4326:
            frame = frame.to_crs(4326)
        self.write_table(layer, frame, seed_hash=digest or file_hash(path))

    def write_table(self, layer, frame: gpd.GeoDataFrame, *, seed_hash: str | None) -> None:
        """Replace ``layer``'s table with ``frame`` (the version counter keeps counting up)."""
        frame, json_columns = _storable(frame)
        with self._lock:
            row = self.layer_row(layer.id)
            conn = self.conn
            conn.execute("BEGIN IMMEDIATE")     # drop, create, fill and register in one transaction
            try:
                _drop_table(conn, layer.id)
                _create_feature_table(conn, layer, frame)
                conn.executemany("INSERT INTO gpkg_data_columns (table_name, column_name, name, mime_type) "
                                 "VALUES (?, ?, ?, 'application/json')", [(layer.id, c, c) for c in json_columns])
                version = (row["version"] + 1) if row else 1
                conn.execute("INSERT OR REPLACE INTO kfqmap_layers (layer_id, version, seed_hash, seeded_at, "
                             "edited, json_columns, pending_seed_hash) VALUES (?, ?, ?, ?, 0, ?, NULL)",
                             (layer.id, version, seed_hash, _now(), json.dumps(json_columns)))
                self._create_version_triggers(layer.id)
                self.reconcile_in(conn, layer)      # the shadow copy of the seeded rows (no history: a seed)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def _keep_edited(self, layer, path: Path, digest: str) -> None:
        """An edited layer whose geodata changed: add the new columns, keep every row, remember the new seed."""
        new = pyogrio.read_info(path)
        fields = [str(f) for f in new["fields"]]
        types = dict(zip(fields, [str(t) for t in new["dtypes"]]))
        with self._lock:
            conn = self.conn
            have = {r[1] for r in conn.execute(f"PRAGMA table_info({_quote(layer.id)})")}
            added = [f for f in fields if f not in have]
            conn.execute("BEGIN IMMEDIATE")
            try:
                for name in added:
                    sqltype = {"int32": "INTEGER", "int64": "INTEGER", "float64": "REAL", "bool": "BOOLEAN"}.get(
                        types.get(name, ""), "TEXT")
                    conn.execute(f"ALTER TABLE {_quote(layer.id)} ADD COLUMN {_quote(name)} {sqltype}")
                self.reconcile_in(conn, layer)      # outside changes so far stay recorded as such
                conn.execute("UPDATE kfqmap_layers SET pending_seed_hash = ?, version = version + ?, "
                             "known_version = NULL WHERE layer_id = ?", (digest, 1 if added else 0, layer.id))
                self.reconcile_in(conn, layer)      # new empty columns change no feature: a new baseline
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        log.warning("store: layer %s was edited; the new plan data in %s was NOT applied over the edits "
                    "(new columns added: %s). Review it and re-seed explicitly if wanted.",
                    layer.id, Path(path).name, ", ".join(added) or "none")

    def _create_version_triggers(self, table: str) -> None:
        """Triggers that bump the layer's counter on any change, whoever makes it (KFQMap, QGIS, ogr2ogr...)."""
        bump = (f"BEGIN UPDATE kfqmap_layers SET version = version + 1, edited = 1 "
                f"WHERE layer_id = '{table.replace(chr(39), chr(39) * 2)}'; END")
        for event in ("INSERT", "UPDATE", "DELETE"):
            name = _quote(f"kfqmap_version_{event.lower()}_{table}")
            self.conn.execute(f"CREATE TRIGGER IF NOT EXISTS {name} AFTER {event} ON {_quote(table)} {bump}")

    # -------------------------------------------------------------- reading
    def version(self, layer_id: str) -> str:
        with self._lock:
            try:
                rows = self.conn.execute("SELECT version FROM kfqmap_layers WHERE layer_id = ?",
                                         (layer_id,)).fetchall()
            except sqlite3.DatabaseError as exc:
                raise self._unavailable(exc) from None
        if not rows:
            raise DataSourceError(f"内置数据库中没有图层 {layer_id}")
        return f"{self.store_id}-{rows[0][0]}"

    def snapshot(self, layer) -> Snapshot:
        """The layer's rows and version read in one SQLite read transaction (so they always agree), as a frame
        like the geodata file's: JSON columns parsed, nullable integers/booleans as float, geometry in WGS 84."""
        with self._lock:
            conn = self.conn
            try:
                conn.execute("BEGIN")
                try:
                    rows = conn.execute("SELECT version, json_columns, known_version FROM kfqmap_layers "
                                        "WHERE layer_id = ?", (layer.id,)).fetchall()
                    if not rows:
                        raise DataSourceError(f"内置数据库中没有图层 {layer.id}")
                    version, json_columns, known = rows[0]
                    info = conn.execute(f"PRAGMA table_info({_quote(layer.id)})").fetchall()
                    cur = conn.execute(f"SELECT * FROM {_quote(layer.id)} ORDER BY fid")
                    names = [c[0] for c in cur.description]
                    data = cur.fetchall()
                    # the shadow copy holds each row's ETag as of ``known_version`` (kept by every write and by
                    # reconcile): when that is this version, the GET of a feature needs no second store read
                    etags = {str(k): e for k, e in conn.execute(
                        "SELECT feature_id, etag FROM kfqmap_shadow WHERE layer_id = ? AND feature_id IS NOT NULL",
                        (layer.id,)).fetchall()} if known == version else None
                finally:
                    conn.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                raise self._unavailable(exc) from None
        declared = {r[1]: (r[2] or "").upper() for r in info}
        columns = list(zip(*data)) if data else [() for _ in names]
        values = dict(zip(names, columns))
        fids = np.asarray(values.pop("fid", ()), dtype=np.uint64)
        blobs = values.pop(GEOMETRY_COLUMN, None)
        json_names = set(json.loads(json_columns or "[]"))
        frame = pd.DataFrame({name: _column(list(col), declared.get(name, ""), name in json_names)
                              for name, col in values.items()}, index=pd.RangeIndex(len(data)))
        geometry = gpd.GeoSeries(_geometries(blobs) if blobs is not None else [None] * len(data),
                                 index=frame.index, crs=4326)
        return Snapshot(f"{self.store_id}-{version}", gpd.GeoDataFrame(frame, geometry=geometry, crs=4326), fids,
                        etags=etags)

    def _unavailable(self, exc: Exception) -> StoreUnavailable:
        log.error("embedded store %s failed: %s", self.path, exc)
        return StoreUnavailable("内置数据库暂时无法读取（store unavailable）；管理员请查看服务器日志")

    # -------------------------------------------------------------- writing
    def apply(self, layer, ops: list[WriteOp], context: ChangeContext | None = None) -> WriteResult:
        """Apply ``ops`` to ``layer``'s table in one transaction; all or nothing. Each op's ``if_match`` is checked
        against the feature's current ETag inside the transaction, and each op appends its history row
        (``kfqmap.history``: before, after, who, when, why) in the same transaction."""
        context = context or local_context()
        table = _quote(layer.id)
        with self._lock:
            conn = self.conn
            info = conn.execute(f"PRAGMA table_info({table})").fetchall()
            columns = [r[1] for r in info]
            declared = {r[1]: (r[2] or "").upper() for r in info}
            json_columns = set(json.loads((self.layer_row(layer.id) or {}).get("json_columns") or "[]"))
            ids: list[str] = []
            etags: list[str | None] = []
            afters: list[dict | None] = []
            conn.execute("BEGIN IMMEDIATE")
            try:
                self._reconcile(conn, layer)          # changes made by other programs first, in their own rows
                for op in ops:
                    before = None
                    if op.op != "create":
                        fid = self._fid(conn, layer, table, op.feature_id)
                        before, etag = _row_feature(conn, table, fid, declared, json_columns)
                        if op.if_match is not None and op.if_match != etag:
                            raise PreconditionFailed(
                                f"要素 {op.feature_id} 已被他人修改（当前版本 {etag}，你的版本 {op.if_match}）；"
                                "请重新读取后再修改（precondition failed: the feature changed）",
                                current_etag=etag, feature_id=op.feature_id)
                    feature_id = self._apply_one(conn, layer, table, columns, json_columns, op)
                    after, etag = None, None
                    if op.op == "delete":
                        conn.execute("DELETE FROM kfqmap_shadow WHERE layer_id = ? AND fid = ?", (layer.id, fid))
                    else:
                        fid = (self._fid(conn, layer, table, feature_id) if "id" in columns else int(feature_id))
                        after, etag = _row_feature(conn, table, fid, declared, json_columns)
                        _shadow_put(conn, layer.id, fid, after, etag)
                    history.record(conn, layer_id=layer.id, feature_id=feature_id, op=op.op, before=before,
                                   after=after, user=context.user, address=context.address, note=context.note,
                                   restored_from=context.restored_from)
                    ids.append(feature_id)
                    etags.append(etag)
                    afters.append(after)
                conn.execute("UPDATE kfqmap_layers SET known_version = version WHERE layer_id = ?", (layer.id,))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return WriteResult(self.version(layer.id), ids, etags, afters)

    # -------------------------------------------------------------- changes made by other programs
    def reconcile(self, layer) -> int:
        """Record in the history the changes other programs (QGIS, ogr2ogr, the sqlite3 shell) made to ``layer``
        since KFQMap last saw it; returns how many. Cheap when there are none (one read)."""
        with self._lock:
            conn = self.conn
            try:
                rows = conn.execute("SELECT version, known_version FROM kfqmap_layers WHERE layer_id = ?",
                                    (layer.id,)).fetchall()
                if not rows or rows[0][0] == rows[0][1]:
                    return 0
                conn.execute("BEGIN IMMEDIATE")
                try:
                    count = self._reconcile(conn, layer)
                    conn.execute("UPDATE kfqmap_layers SET known_version = version WHERE layer_id = ?", (layer.id,))
                    conn.execute("COMMIT")
                    return count
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            except sqlite3.DatabaseError as exc:
                raise self._unavailable(exc) from None

    def _reconcile(self, conn, layer, *, user: str = None, note: str = None, record_new: bool = False) -> int:
        """Inside the caller's write transaction: compare every row with the shadow copy (the rows as KFQMap
        last saw them, matched by feature id) and append a history row per difference, by ``user`` (default
        ``外部程序``). The first time (an older store, or after a re-seed) the shadow is only filled, unless
        ``record_new`` (a layer an import just created: every feature is a recorded create)."""
        user, note = user or EXTERNAL_USER, note if note is not None else EXTERNAL_NOTE
        rows = conn.execute("SELECT version, known_version FROM kfqmap_layers WHERE layer_id = ?",
                            (layer.id,)).fetchall()
        if not rows or (rows[0][0] == rows[0][1] and not record_new):
            return 0
        baseline = rows[0][1] is None and not record_new
        table = _quote(layer.id)
        declared = {r[1]: (r[2] or "").upper() for r in conn.execute(f"PRAGMA table_info({table})").fetchall()}
        json_columns = set(json.loads((self.layer_row(layer.id) or {}).get("json_columns") or "[]"))
        shadow = {}
        for fid, feature_id, etag, feature in conn.execute(
                "SELECT fid, feature_id, etag, feature FROM kfqmap_shadow WHERE layer_id = ?", (layer.id,)).fetchall():
            shadow[feature_id if feature_id is not None else f"fid:{fid}"] = (etag, feature)
        conn.execute("DELETE FROM kfqmap_shadow WHERE layer_id = ?", (layer.id,))
        if baseline:
            shadow = {}
        count = 0
        seen = set()
        for (fid,) in conn.execute(f"SELECT fid FROM {table}").fetchall():
            feature, etag = _row_feature(conn, table, fid, declared, json_columns)
            key = feature.get("id") if feature.get("id") is not None else f"fid:{fid}"
            seen.add(key)
            _shadow_put(conn, layer.id, fid, feature, etag)
            known = shadow.get(key)
            if baseline or (known is not None and known[0] == etag):
                continue
            before = json.loads(known[1]) if known is not None else None
            self._external(conn, layer, key, "update" if before is not None else "create", before, feature,
                           user, note)
            count += 1
        for key in set(shadow) - seen:
            before = json.loads(shadow[key][1])
            self._external(conn, layer, key, "delete", before, None, user, note)
            count += 1
        if count and user == EXTERNAL_USER:
            log.warning("store: %d change(s) to layer %s made outside KFQMap recorded in the history", count, layer.id)
        return count

    def record_rewrite(self, conn, layer, *, user: str | None, note: str) -> int:
        """For code that rewrites a layer's table inside its own transaction (imports, their undo): call
        ``reconcile_in`` before the rewrite and this after it, so the history holds outside changes as such and
        every feature the rewrite changed, added or removed under ``user`` (``本机:…`` when None)."""
        count = self._reconcile(conn, layer, user=user or local_context().user, note=note, record_new=True)
        conn.execute("UPDATE kfqmap_layers SET known_version = version WHERE layer_id = ?", (layer.id,))
        return count

    def reconcile_in(self, conn, layer) -> int:
        """``reconcile`` inside the caller's transaction (changes by other programs, recorded as such)."""
        count = self._reconcile(conn, layer)
        conn.execute("UPDATE kfqmap_layers SET known_version = version WHERE layer_id = ?", (layer.id,))
        return count

    @staticmethod
    def _external(conn, layer, feature_id, op, before, after, user: str, note: str) -> None:
        history.record(conn, layer_id=layer.id, feature_id=str(feature_id), op=op, before=before, after=after,
                       user=user, address=None, note=note)

    # -------------------------------------------------------------- features, versions of features, history
    def read(self, fn):
        """``fn(conn)`` in one read transaction of the store's connection (a consistent view)."""
        with self._lock:
            conn = self.conn
            try:
                conn.execute("BEGIN")
                try:
                    return fn(conn)
                finally:
                    conn.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                raise self._unavailable(exc) from None

    def _layer_meta(self, conn, layer) -> tuple[str, dict, set]:
        table = _quote(layer.id)
        declared = {r[1]: (r[2] or "").upper() for r in conn.execute(f"PRAGMA table_info({table})").fetchall()}
        rows = conn.execute("SELECT version, json_columns FROM kfqmap_layers WHERE layer_id = ?",
                            (layer.id,)).fetchall()
        if not rows:
            raise DataSourceError(f"内置数据库中没有图层 {layer.id}")
        return f"{self.store_id}-{rows[0][0]}", declared, set(json.loads(rows[0][1] or "[]"))

    def feature(self, layer, feature_id: str) -> tuple[str, dict, str]:
        """``(layer version, GeoJSON feature, its ETag)`` read together."""
        def run(conn):
            version, declared, json_columns = self._layer_meta(conn, layer)
            table = _quote(layer.id)
            fid = self._fid(conn, layer, table, feature_id)
            feature, etag = _row_feature(conn, table, fid, declared, json_columns)
            return version, feature, etag
        return self.read(run)

    def features(self, layer) -> tuple[str, dict[str, dict]]:
        """``(layer version, {feature id: GeoJSON feature})`` of the whole layer."""
        def run(conn):
            return self._features(conn, layer)
        return self.read(run)

    def _features(self, conn, layer) -> tuple[str, dict[str, dict]]:
        version, declared, json_columns = self._layer_meta(conn, layer)
        cur = conn.execute(f"SELECT * FROM {_quote(layer.id)} ORDER BY fid")
        names = [c[0] for c in cur.description]
        out = {}
        for row in cur.fetchall():
            feature = _feature_of(names, row, declared, json_columns)
            out[str(feature["id"])] = feature
        return version, out

    def columns(self, layer) -> dict[str, str]:
        """The layer's property columns → ``integer | number | boolean | string | json`` (the write schema)."""
        def run(conn):
            _, declared, json_columns = self._layer_meta(conn, layer)
            return {name: ("json" if name in json_columns else _KINDS.get(kind, "string"))
                    for name, kind in declared.items() if name not in ("fid", GEOMETRY_COLUMN)}
        return self.read(run)

    def history(self, fn):
        """``fn(conn)`` over the history table (``kfqmap.history`` readers), in one read transaction, after the
        changes other programs made are recorded."""
        self.reconcile_all()
        return self.read(fn)

    def reconcile_all(self) -> int:
        """``reconcile`` every layer whose version moved since KFQMap last saw it."""
        class _Layer:                 # reconcile needs only the id
            def __init__(self, layer_id):
                self.id = layer_id
        stale = self.read(lambda conn: [r[0] for r in conn.execute(
            "SELECT layer_id FROM kfqmap_layers WHERE known_version IS NOT version").fetchall()])
        return sum(self.reconcile(_Layer(layer_id)) for layer_id in stale)

    def asof(self, layer, when: str) -> list[dict]:
        """The layer's features as they were at ``when`` (UTC), rebuilt from the history (``history.layer_asof``)."""
        def run(conn):
            _, current = self._features(conn, layer)
            return history.layer_asof(current, history.changes_after(conn, layer.id, when))
        return self.read(run)

    def _apply_one(self, conn, layer, table, columns, json_columns, op: WriteOp) -> str:
        props_cols = [c for c in columns if c not in ("fid", GEOMETRY_COLUMN)]
        if op.op == "create":
            feature = op.feature or {}
            values = _row_values(layer, feature, props_cols, json_columns, partial=False)
            fid_id = values.get("id")
            if fid_id is not None and conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (fid_id,)).fetchall():
                raise InvalidParameter(f"图层 {layer.id} 中已有 id 为 '{fid_id}' 的要素（id already exists）",
                                       parameter="id")
            names = list(values)
            cur = conn.execute(f"INSERT INTO {table} ({', '.join(map(_quote, names))}) "
                               f"VALUES ({', '.join('?' * len(names))})", [values[n] for n in names])
            if fid_id is None and "id" in props_cols:
                fid_id = f"{layer.id}-{cur.lastrowid}"
                conn.execute(f"UPDATE {table} SET id = ? WHERE fid = ?", (fid_id, cur.lastrowid))
            return str(fid_id if fid_id is not None else cur.lastrowid)
        fid = self._fid(conn, layer, table, op.feature_id)
        if op.op == "delete":
            conn.execute(f"DELETE FROM {table} WHERE fid = ?", (fid,))
            return op.feature_id
        feature = op.feature or {}
        partial = op.op == "update"
        values = _row_values(layer, feature, props_cols, json_columns, partial=partial)
        if "id" in values and values["id"] != op.feature_id:
            raise InvalidParameter("要素 id 不能修改（the id of a feature cannot change）", parameter="id")
        if not partial:     # replace: every property not given becomes NULL, the id stays
            for c in props_cols:
                values.setdefault(c, None)
            values["id"] = op.feature_id
        for name in PROVENANCE_FIELDS:
            if name in values and values[name] is None and name in ("id", "name") and name in props_cols:
                raise InvalidParameter(f"属性 {name} 不能为空（{name} is required）", parameter=name)
        if values:
            sets = ", ".join(f"{_quote(n)} = ?" for n in values)
            conn.execute(f"UPDATE {table} SET {sets} WHERE fid = ?", [*values.values(), fid])
        return op.feature_id

    @staticmethod
    def _fid(conn, layer, table, feature_id) -> int:
        rows = conn.execute(f"SELECT fid FROM {table} WHERE id = ?", (feature_id,)).fetchall()
        if not rows:
            raise FeatureNotFound(f"图层 {layer.id} 中没有 id 为 '{feature_id}' 的要素"
                                  f"（no feature '{feature_id}' in {layer.id}）", parameter="featureId")
        return int(rows[0][0])



_KINDS = {"INTEGER": "integer", "MEDIUMINT": "integer", "SMALLINT": "integer", "TINYINT": "integer", "INT": "integer",
          "BIGINT": "integer", "REAL": "number", "FLOAT": "number", "DOUBLE": "number", "BOOLEAN": "boolean"}


def local_context() -> ChangeContext:
    """Who changes data when no account is given (the Python API, a script): the operating-system user."""
    import getpass
    try:
        name = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in this environment
        name = "unknown"
    return ChangeContext(user=f"本机:{name}")


#: who the history names for a change made outside KFQMap, and the note it carries
EXTERNAL_USER = "外部程序"
EXTERNAL_NOTE = "在 KFQMap 之外修改（QGIS、ogr2ogr 等），由 KFQMap 发现后记录；修改人未知"


def _shadow_put(conn, layer_id: str, fid: int, feature: dict, etag: str) -> None:
    conn.execute("INSERT OR REPLACE INTO kfqmap_shadow VALUES (?, ?, ?, ?, ?)",
                 (layer_id, fid, feature.get("id"), etag, json.dumps(feature, ensure_ascii=False)))


def _feature_of(names: list[str], row: tuple, declared: dict, json_columns: set) -> dict:
    """One table row as a GeoJSON feature (WGS 84): JSON columns parsed, booleans as booleans."""
    props: dict[str, Any] = {}
    geometry = None
    for name, value in zip(names, row):
        if name == "fid":
            continue
        if name == GEOMETRY_COLUMN:
            geoms = _geometries([value])
            geometry = json.loads(shapely.to_geojson(geoms[0])) if geoms[0] is not None else None
            continue
        if value is not None and name in json_columns:
            value = _json_value(value)
        elif value is not None and declared.get(name) == "BOOLEAN":
            value = bool(value)
        props[name] = value
    return {"type": "Feature", "id": props.get("id"), "geometry": geometry, "properties": props}


def _row_feature(conn, table: str, fid: int, declared: dict, json_columns: set) -> tuple[dict, str]:
    """The row ``fid`` as a GeoJSON feature and its ETag: a hash of the row's stored values (every column but the
    key), so any change — by KFQMap, QGIS or ogr2ogr — gives a new ETag."""
    cur = conn.execute(f"SELECT * FROM {table} WHERE fid = ?", (fid,))
    names = [c[0] for c in cur.description]
    row = cur.fetchall()[0]
    digest = hashlib.sha256(json.dumps(
        [[n, v.hex() if isinstance(v, bytes) else v] for n, v in zip(names, row) if n != "fid"],
        ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()[:20]
    return _feature_of(names, row, declared, json_columns), digest


# ------------------------------------------------------------------------------------------ GeoPackage DDL
# The store writes its GeoPackage with Python's own SQLite only. GDAL (pyogrio) brings a second SQLite library
# into the process, and two SQLite libraries on one file in one process break each other's POSIX locks
# ("disk I/O error", and worse). GDAL and QGIS in *other* processes are fine: that is how planners open the file.
_APPLICATION_ID = 0x47504B47      # "GPKG"
_USER_VERSION = 10300             # GeoPackage 1.3: Debian's GDAL 3.6 (and the QGIS on it) warns on 1.4 files
_SQL_TYPES = {"b": "BOOLEAN", "i": "INTEGER", "u": "INTEGER", "f": "REAL", "M": "DATETIME"}


def _create_geopackage(conn: sqlite3.Connection) -> None:
    """The tables every GeoPackage has (OGC 12-128r18 §1.1), each created if missing (so a store made by an
    earlier KFQMap gains the tables a later one uses, e.g. ``gpkg_data_columns``)."""
    have = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()}
    wanted = {"gpkg_spatial_ref_sys", "gpkg_contents", "gpkg_geometry_columns", "gpkg_extensions",
              "gpkg_data_columns"}
    if wanted <= have:
        return
    from pyproj import CRS

    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(f"PRAGMA application_id = {_APPLICATION_ID}").fetchall()
        conn.execute(f"PRAGMA user_version = {_USER_VERSION}").fetchall()
        conn.execute("""CREATE TABLE IF NOT EXISTS gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER NOT NULL PRIMARY KEY,
            organization TEXT NOT NULL, organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL,
            description TEXT)""")
        conn.executemany("INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES (?, ?, ?, ?, ?, ?)", [
            ("Undefined cartesian SRS", -1, "NONE", -1, "undefined", "undefined cartesian coordinate reference system"),
            ("Undefined geographic SRS", 0, "NONE", 0, "undefined", "undefined geographic coordinate reference system"),
            ("WGS 84 geodetic", 4326, "EPSG", 4326, CRS.from_epsg(4326).to_wkt("WKT1_GDAL"),
             "longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid")])
        conn.execute("""CREATE TABLE IF NOT EXISTS gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL,
            identifier TEXT UNIQUE, description TEXT DEFAULT '',
            last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
            min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
            CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id))""")
        conn.execute("""CREATE TABLE IF NOT EXISTS gpkg_geometry_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL,
            geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
            CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
            CONSTRAINT uk_gc_table_name UNIQUE (table_name),
            CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
            CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id))""")
        conn.execute("""CREATE TABLE IF NOT EXISTS gpkg_extensions (table_name TEXT, column_name TEXT, extension_name TEXT NOT NULL,
            definition TEXT NOT NULL, scope TEXT NOT NULL,
            CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name))""")
        conn.execute("""CREATE TABLE IF NOT EXISTS gpkg_data_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL,
            name TEXT, title TEXT, description TEXT, mime_type TEXT, constraint_name TEXT,
            CONSTRAINT pk_gdc PRIMARY KEY (table_name, column_name),
            CONSTRAINT gdc_tn UNIQUE (table_name, name))""")
        conn.execute("""INSERT OR IGNORE INTO gpkg_extensions VALUES ('gpkg_data_columns', NULL, 'gpkg_schema',
            'http://www.geopackage.org/spec/#extension_schema', 'read-write')""")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _drop_table(conn: sqlite3.Connection, table: str) -> None:
    """Drop a feature table with everything registered for it (R-tree, contents, triggers), inside the caller's
    transaction."""
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?",
                                (table,)).fetchall():
        conn.execute(f"DROP TRIGGER IF EXISTS {_quote(name)}")
    for (column,) in conn.execute("SELECT column_name FROM gpkg_geometry_columns WHERE lower(table_name) = lower(?)",
                                  (table,)).fetchall():
        conn.execute(f"DROP TABLE IF EXISTS {_quote(f'rtree_{table}_{column}')}")   # and its shadow tables
    conn.execute(f"DROP TABLE IF EXISTS {_quote(table)}")
    for meta in ("gpkg_geometry_columns", "gpkg_extensions", "gpkg_data_columns", "gpkg_contents"):
        conn.execute(f"DELETE FROM {meta} WHERE lower(table_name) = lower(?)", (table,))


#: the contract's provenance fields keep their type even when a layer has no value at all (GDAL reads an all-null
#: GeoJSON property as text; a table of unlocated places has no accuracy_m yet, but it is a number)
_CONTRACT_TYPES = {"accuracy_m": "REAL", "illustrative": "BOOLEAN", "schematic": "BOOLEAN", "placeholder": "BOOLEAN"}


def _sql_type(series: pd.Series) -> str:
    if series.name in _CONTRACT_TYPES and series.isna().all():
        return _CONTRACT_TYPES[series.name]
    return _SQL_TYPES.get(series.dtype.kind, "TEXT")


def _create_feature_table(conn: sqlite3.Connection, layer, frame: gpd.GeoDataFrame) -> None:
    """Create ``layer``'s table as GDAL would (integer ``fid``, ``geom`` of type GEOMETRY in EPSG:4326, an R-tree
    with GDAL's triggers) and fill it from ``frame``; inside the caller's transaction."""
    table = _quote(layer.id)
    props = [c for c in frame.columns if c != frame.geometry.name]
    cols = ["fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL"]
    if layer.is_spatial:
        cols.append(f"{GEOMETRY_COLUMN} GEOMETRY")
    cols += [f"{_quote(c)} {_sql_type(frame[c])}" for c in props]
    conn.execute(f"CREATE TABLE {table} ({', '.join(cols)})")
    data_type = "features" if layer.is_spatial else "attributes"
    conn.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, description, srs_id) "
                 "VALUES (?, ?, ?, ?, ?)", (layer.id, data_type, layer.id, layer.title_zh,
                                            SRS_ID if layer.is_spatial else None))
    if layer.is_spatial:
        conn.execute("INSERT INTO gpkg_geometry_columns VALUES (?, ?, 'GEOMETRY', ?, 0, 0)",
                     (layer.id, GEOMETRY_COLUMN, SRS_ID))
        rtree = _quote(f"rtree_{layer.id}_{GEOMETRY_COLUMN}")
        conn.execute(f"CREATE VIRTUAL TABLE {rtree} USING rtree(id, minx, maxx, miny, maxy)")
        conn.execute("INSERT INTO gpkg_extensions VALUES (?, ?, 'gpkg_rtree_index', "
                     "'http://www.geopackage.org/spec120/#extension_rtree', 'write-only')", (layer.id, GEOMETRY_COLUMN))
        _create_rtree_triggers(conn, layer.id)
    rows = _rows(frame, props, layer.is_spatial)
    names = (["geom"] if layer.is_spatial else []) + props
    if rows:
        conn.executemany(f"INSERT INTO {table} ({', '.join(map(_quote, names))}) "
                         f"VALUES ({', '.join('?' * len(names))})", rows)
    if layer.is_spatial and len(frame):
        b = frame.geometry.total_bounds
        if np.all(np.isfinite(b)):
            conn.execute("UPDATE gpkg_contents SET min_x = ?, min_y = ?, max_x = ?, max_y = ? WHERE table_name = ?",
                         (*map(float, b), layer.id))


def _create_rtree_triggers(conn: sqlite3.Connection, table: str) -> None:
    """GDAL's R-tree maintenance triggers (the GeoPackage RTree extension), so every client keeps it current."""
    t, g = _quote(table), GEOMETRY_COLUMN
    r = _quote(f"rtree_{table}_{g}")
    box = f'NEW."fid", ST_MinX(NEW."{g}"), ST_MaxX(NEW."{g}"), ST_MinY(NEW."{g}"), ST_MaxY(NEW."{g}")'
    new_ok = f'(NEW."{g}" NOTNULL AND NOT ST_IsEmpty(NEW."{g}"))'
    new_empty = f'(NEW."{g}" ISNULL OR ST_IsEmpty(NEW."{g}"))'
    old_ok = f'(OLD."{g}" NOTNULL AND NOT ST_IsEmpty(OLD."{g}"))'
    old_empty = f'(OLD."{g}" ISNULL OR ST_IsEmpty(OLD."{g}"))'
    name = lambda s: _quote(f"rtree_{table}_{g}_{s}")  # noqa: E731
    for sql in (
        f"CREATE TRIGGER {name('insert')} AFTER INSERT ON {t} WHEN {new_ok} "
        f"BEGIN INSERT OR REPLACE INTO {r} VALUES ({box}); END",
        f'CREATE TRIGGER {name("update6")} AFTER UPDATE OF "{g}" ON {t} WHEN OLD."fid" = NEW."fid" AND {new_ok} '
        f"AND {old_ok} BEGIN UPDATE {r} SET minx = ST_MinX(NEW.\"{g}\"), maxx = ST_MaxX(NEW.\"{g}\"), "
        f"miny = ST_MinY(NEW.\"{g}\"), maxy = ST_MaxY(NEW.\"{g}\") WHERE id = NEW.\"fid\"; END",
        f'CREATE TRIGGER {name("update7")} AFTER UPDATE OF "{g}" ON {t} WHEN OLD."fid" = NEW."fid" AND {new_ok} '
        f"AND {old_empty} BEGIN INSERT INTO {r} VALUES ({box}); END",
        f'CREATE TRIGGER {name("update2")} AFTER UPDATE OF "{g}" ON {t} WHEN OLD."fid" = NEW."fid" AND {new_empty} '
        f'BEGIN DELETE FROM {r} WHERE id = OLD."fid"; END',
        f'CREATE TRIGGER {name("update5")} AFTER UPDATE ON {t} WHEN OLD."fid" != NEW."fid" AND {new_ok} '
        f'BEGIN DELETE FROM {r} WHERE id = OLD."fid"; INSERT OR REPLACE INTO {r} VALUES ({box}); END',
        f'CREATE TRIGGER {name("update4")} AFTER UPDATE ON {t} WHEN OLD."fid" != NEW."fid" AND {new_empty} '
        f'BEGIN DELETE FROM {r} WHERE id IN (OLD."fid", NEW."fid"); END',
        f'CREATE TRIGGER {name("delete")} AFTER DELETE ON {t} WHEN OLD."{g}" NOT NULL '
        f'BEGIN DELETE FROM {r} WHERE id = OLD."fid"; END',
    ):
        conn.execute(sql)


def _rows(frame: gpd.GeoDataFrame, props: list[str], spatial: bool) -> list[tuple]:
    """SQLite values of each row: NaN/NA → NULL, numpy scalars → Python, booleans → 0/1, geometry → blob."""
    columns = []
    if spatial:
        columns.append([gpkg_blob(g) for g in frame.geometry.values])
    for c in props:
        col = []
        for v in frame[c].tolist():
            if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT:
                col.append(None)
            elif isinstance(v, (bool, np.bool_)):
                col.append(int(v))
            elif isinstance(v, np.generic):
                col.append(v.item())
            elif isinstance(v, pd.Timestamp):
                col.append(v.isoformat())
            else:
                col.append(v)
        columns.append(col)
    return list(zip(*columns)) if columns else []


# ------------------------------------------------------------------------------------------ helpers
def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _geometries(blobs) -> np.ndarray:
    """GeoPackage blobs → shapely geometries (the header is skipped; empty/NULL → None)."""
    out = np.full(len(blobs), None, dtype=object)
    wkb, where = [], []
    for i, blob in enumerate(blobs):
        if blob is None or blob[3] & 0b0001_0000:
            continue
        indicator = (blob[3] >> 1) & 0b111
        start = 8 + (0, 32, 48, 48, 64)[indicator]
        wkb.append(bytes(blob[start:]))
        where.append(i)
    if wkb:
        out[np.asarray(where)] = shapely.from_wkb(np.asarray(wkb, dtype=object))
    return out


def _column(values: list, declared: str, is_json: bool) -> pd.Series:
    """One column as GDAL/pyogrio would give it: booleans and integers without NULLs keep their type, with NULLs
    they become float (NaN); text stays text; JSON columns are parsed."""
    has_null = any(v is None for v in values)
    if is_json:
        return pd.Series([np.nan if v is None else _json_value(v) for v in values], dtype=object)
    if declared == "BOOLEAN":
        return (pd.Series([np.nan if v is None else float(v) for v in values], dtype="float64") if has_null
                else pd.Series([bool(v) for v in values], dtype=bool))
    if declared in ("INTEGER", "MEDIUMINT", "SMALLINT", "TINYINT", "INT", "BIGINT"):
        if has_null or any(not isinstance(v, int) for v in values):
            return pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").astype("float64")
        return pd.Series(values, dtype="int32" if declared in ("MEDIUMINT", "SMALLINT", "TINYINT") else "int64")
    if declared in ("REAL", "FLOAT", "DOUBLE"):
        return pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").astype("float64")
    return pd.Series(values, dtype="str")        # pandas ≥ 3 string dtype, NaN for NULL, as pyogrio reads text


def _json_value(v):
    if isinstance(v, str):
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v


def _storable(frame: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Nested values (lists/dicts such as ``figures``) as JSON text; the names of those columns."""
    frame = frame.copy()
    json_columns = []
    for name in frame.columns:
        if name == frame.geometry.name or frame[name].dtype != object:
            continue
        values = frame[name].tolist()
        if any(isinstance(v, (list, dict)) for v in values):
            frame[name] = [json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else
                           (None if v is None or (isinstance(v, float) and math.isnan(v)) else v) for v in values]
            json_columns.append(name)
    return frame, json_columns


def feature_geometry(layer, value, *, required: bool):
    """A GeoJSON geometry mapping → a valid shapely geometry of the layer's type (WGS 84), else InvalidGeometry."""
    if value is None:
        if required and layer.is_spatial:
            raise InvalidGeometry("要素缺少几何（geometry is required）")
        return None
    if not layer.is_spatial:
        raise InvalidGeometry(f"图层 {layer.id} 没有几何，不能写入 geometry")
    try:
        geom = shape(value)
    except Exception:
        raise InvalidGeometry("geometry 不是合法的 GeoJSON 几何（invalid GeoJSON geometry）") from None
    if geom.is_empty:
        raise InvalidGeometry("geometry 为空（empty geometry）")
    allowed = _FAMILIES.get(layer.geometry_type, (layer.geometry_type,))
    if geom.geom_type not in allowed:
        raise InvalidGeometry(f"图层 {layer.id} 只接受 {' / '.join(allowed)}，收到 {geom.geom_type}")
    coords = shapely.get_coordinates(geom)
    if not np.all(np.isfinite(coords)) or not (np.all(np.abs(coords[:, 0]) <= 180)
                                               and np.all(np.abs(coords[:, 1]) <= 90)):
        raise InvalidGeometry("坐标超出经纬度范围（coordinates must be WGS 84 lon/lat）")
    if not geom.is_valid:
        raise InvalidGeometry(f"几何无效：{shapely.is_valid_reason(geom)}（invalid geometry）")
    return geom


def _row_values(layer, feature: dict, props_cols: list[str], json_columns: set[str], *, partial: bool) -> dict:
    """The SQL column values of a GeoJSON feature (or merge patch): unknown properties refused, nested values as
    JSON text, booleans as integers; the geometry under ``geom``."""
    if not isinstance(feature, dict):
        raise InvalidParameter("要素必须是 GeoJSON Feature 对象（feature must be an object）", parameter="feature")
    props = feature.get("properties") or {}
    if not isinstance(props, dict):
        raise InvalidParameter("properties 必须是对象（properties must be an object）", parameter="properties")
    if not partial and feature.get("id") is not None and "id" not in props:
        props = {**props, "id": str(feature["id"])}
    unknown = [k for k in props if k not in props_cols]
    if unknown:
        raise InvalidParameter(f"图层 {layer.id} 没有属性 {', '.join(unknown)}；可用属性：{', '.join(props_cols)}",
                               parameter=unknown[0])
    values: dict[str, Any] = {}
    for k, v in props.items():
        if isinstance(v, (list, dict)):
            v = json.dumps(v, ensure_ascii=False)
        elif isinstance(v, bool):
            v = int(v)
        elif isinstance(v, float) and not math.isfinite(v):
            raise InvalidParameter(f"属性 {k} 的值不是有限数（{v}）", parameter=k)
        values[k] = v
    if "id" in values and values["id"] is not None:
        values["id"] = str(values["id"])
    if not partial or "geometry" in feature:
        geom = feature_geometry(layer, feature.get("geometry"), required=not partial)
        if layer.is_spatial:
            values[GEOMETRY_COLUMN] = gpkg_blob(geom)
    return values


class GeoPackageLayer:
    """One layer of the embedded store, as a ``Provider``."""

    writable = True
    pushdown = False
    #: every change writes its history row in the same transaction; features carry ETags
    history = True

    def __init__(self, store: GeoPackageStore, layer):
        self.store = store
        self.layer = layer

    def describe(self) -> str:
        return f"GeoPackage {self.store.path} table {self.layer.id}"

    def version(self) -> str:
        return self.store.version(self.layer.id)

    def snapshot(self) -> Snapshot:
        self.store.reconcile(self.layer)       # a new version: record what other programs changed, if anything
        return self.store.snapshot(self.layer)

    def apply(self, ops: list[WriteOp], context: ChangeContext | None = None) -> WriteResult:
        return self.store.apply(self.layer, ops, context)

    def feature(self, feature_id: str) -> tuple[str, dict, str]:
        return self.store.feature(self.layer, feature_id)

    def features(self) -> tuple[str, dict[str, dict]]:
        return self.store.features(self.layer)

    def columns(self) -> dict[str, str]:
        return self.store.columns(self.layer)

    def asof(self, when: str) -> list[dict]:
        return self.store.asof(self.layer, when)

    def history_of(self, feature_id: str, limit: int = 100) -> list:
        """The feature's changes (``history.Change``), newest first."""
        return self.store.history(lambda conn: history.feature_history(conn, self.layer.id, feature_id, limit=limit))

    def change(self, seq: int):
        """History row ``seq`` when it belongs to this layer, else None."""
        change = self.store.history(lambda conn: history.change(conn, seq))
        return change if change is not None and change.layer_id == self.layer.id else None

    def audit(self, **query) -> list:
        """This layer's changes matching ``history.audit``'s conditions."""
        return self.store.history(lambda conn: history.audit(conn, layer=self.layer.id, **query))

    @property
    def pending_upgrade(self) -> bool:
        """True when newer plan data exists for this layer but was not applied over a planner's edits."""
        row = self.store.layer_row(self.layer.id) or {}
        return bool(row.get("pending_seed_hash"))
