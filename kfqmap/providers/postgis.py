"""PostGIS provider: one table of a bureau's shared PostgreSQL/PostGIS database as a writable layer.

Reading the table and describing it is ``kfqmap.stores.postgis`` (location syntax, geometry column, SRID, column
types, errors); this module adds what a ``Collection`` needs on top:

* **versions that see every change.** On first use the provider installs (idempotently) a statement-level trigger
  on the table that bumps a counter in ``kfqmap.table_versions`` on every INSERT/UPDATE/DELETE/TRUNCATE, whoever
  makes it (KFQMap, QGIS editing the same table, ``psql``). ``version()`` reads that counter over one kept
  connection. A role that may not create the trigger falls back to the table's statistics counters
  (``pg_stat_all_tables``: inserted/updated/deleted rows, plus the row estimate), which PostgreSQL 15 publishes
  when a transaction ends; that fallback is logged, since a change then shows only after the statistics flush.
* **writes** (``apply``): one transaction per call, geometries sent as WKB and transformed to the table's SRID
  in the database, every identifier quoted and every value bound.
* **size-aware reading**: tables up to ``MEMORY_ROWS`` rows are read whole and cached per version (in-memory
  mode, the same fast path as the files); larger tables are served by pushdown (``kfqmap.providers.pushdown``).
* **read replicas** (``KFQMAP_PG_REPLICAS``, ``kfqmap.providers.replicas``): reads go to a streaming replica that
  has replayed the current version (else another, else the primary); writes and versions stay on the primary.
"""
from __future__ import annotations

import logging
import threading
import uuid

import numpy as np
import shapely

from .. import history
from ..errors import DataSourceError, FeatureNotFound, InvalidParameter, PreconditionFailed, StoreUnavailable
from ..stores import postgis as pg
from .base import ChangeContext, Snapshot, WriteOp, WriteResult
from .gpkg import feature_geometry, local_context
from .pg_shared import SharedDatabase
from .postgis_pushdown import key_condition
from .replicas import ReplicaSettings, is_replica_failure, lsn_int, replica_dsn

log = logging.getLogger("kfqmap.providers.postgis")

#: tables with at most this many rows are read whole into memory (per version); larger ones use pushdown
MEMORY_ROWS = 50_000

_SETUP = """
CREATE SCHEMA IF NOT EXISTS kfqmap;
CREATE TABLE IF NOT EXISTS kfqmap.table_versions (
    table_oid oid PRIMARY KEY, version bigint NOT NULL DEFAULT 0, changed_at timestamptz NOT NULL DEFAULT now());
CREATE OR REPLACE FUNCTION kfqmap.bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO kfqmap.table_versions AS v (table_oid, version, changed_at) VALUES (TG_RELID, 1, now())
    ON CONFLICT (table_oid) DO UPDATE SET version = v.version + 1, changed_at = now();
    RETURN NULL;
END $$;
"""


class PostGISProvider:
    """A PostGIS table behind a ``Collection``; ``pushdown`` is decided from the table's size on first use."""

    writable = True

    def __init__(self, layer_id: str, location: str):
        self.layer_id = layer_id
        self.location = location
        self.loc = pg.parse_location(location)
        # the kept connection, read pool and version poller are the database's, shared with its other tables
        self._db = SharedDatabase.join(self.loc, self)
        self._lock = self._db.lock
        self._info: pg.TableInfo | None = None
        self._oid: int | None = None
        self._mode: str | None = None          # "trigger" or "stats"
        self._rows: int | None = None
        self._watched = False
        self._latest = ""
        self._poll_error: DataSourceError | None = None
        self._closed = False
        # read replicas: the WAL position a read must see (that of the newest version known here), and the set
        self._replica_settings = ReplicaSettings()
        self._track_lsn = bool(self._replica_settings.replica_list())
        for entry in self._replica_settings.replica_list():    # a mistake stops the start, not each read
            replica_dsn(self.loc.dsn, entry)
        self._need_lsn = 0
        self._lsn_lock = threading.Lock()
        self._lsn_version: str | None = None
        self._replicas = None

    def describe(self) -> str:
        return f"PostGIS {self.loc.describe()}"

    # ------------------------------------------------------------------ connection
    def _connection(self):
        """The database's kept connection (autocommit), re-opened after a failure (never after ``close``)."""
        if self._closed:
            raise StoreUnavailable("PostGIS 连接已关闭（provider closed）")
        return self._db.connection()

    def _run(self, fn):
        """Run ``fn(conn)`` under the lock, mapping database errors to DataSourceError/StoreUnavailable."""
        import psycopg

        with self._lock:
            try:
                return fn(self._connection())
            except psycopg.OperationalError as exc:
                self._close()
                log.warning("PostGIS failed for %s: %s", self.loc.describe(), exc)
                raise StoreUnavailable("PostGIS 数据库暂时无法访问（store unavailable）；请稍后重试") from None
            except psycopg.Error as exc:
                log.warning("PostGIS error for %s: %s", self.loc.describe(), exc)
                raise DataSourceError("PostGIS 数据读取失败；管理员请查看服务器日志") from None

    def _close(self) -> None:
        self._db.drop_connection()

    @property
    def info(self) -> pg.TableInfo:
        if self._info is None:
            self._run(self._setup)
        return self._info

    def _setup(self, conn) -> None:
        from psycopg import sql

        info = pg._table_info(conn, self.loc)
        table = sql.Identifier(info.schema, info.table)
        self._oid = conn.execute("SELECT %s::regclass::oid", (f'"{info.schema}"."{info.table}"',)).fetchone()[0]
        self._rows = int(conn.execute("SELECT reltuples::int8 FROM pg_class WHERE oid = %s",
                                      (self._oid,)).fetchone()[0])
        if self._rows < 0:      # never analysed: count (once)
            self._rows = int(conn.execute(sql.SQL("SELECT count(*) FROM {t}").format(t=table)).fetchone()[0])
        try:
            with conn.transaction():
                # one setup at a time, across threads and processes: CREATE OR REPLACE of the shared functions
                # in two transactions at once fails ("tuple concurrently updated") and would drop a layer to the
                # statistics fallback (no change trigger, no history)
                conn.execute("SELECT pg_advisory_xact_lock(hashtext('kfqmap.setup'))")
                conn.execute(_SETUP)
                conn.execute(history.PG_SCHEMA)
                if "id" in dict(info.columns):    # changes by other programs: recorded by the database
                    conn.execute(sql.SQL(
                        "CREATE OR REPLACE TRIGGER kfqmap_history_external AFTER INSERT OR UPDATE OR DELETE ON {t} "
                        "FOR EACH ROW EXECUTE FUNCTION kfqmap.record_external({g}, {f}, {layer})").format(
                        t=table, g=sql.Literal(info.column), f=sql.Literal(info.fid or ""),
                        layer=sql.Literal(self.layer_id)))
                    conn.execute(sql.SQL(       # TRUNCATE fires no row trigger: its rows are recorded before
                        "CREATE OR REPLACE TRIGGER kfqmap_history_truncate BEFORE TRUNCATE ON {t} "
                        "FOR EACH STATEMENT EXECUTE FUNCTION kfqmap.record_truncate({g}, {f}, {layer})").format(
                        t=table, g=sql.Literal(info.column), f=sql.Literal(info.fid or ""),
                        layer=sql.Literal(self.layer_id)))
                conn.execute(sql.SQL(
                    "CREATE OR REPLACE TRIGGER kfqmap_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {t} "
                    "FOR EACH STATEMENT EXECUTE FUNCTION kfqmap.bump_version()").format(t=table))
            self._mode = "trigger"
        except Exception as exc:   # no privilege to create the schema/trigger: statistics counters instead
            log.warning("PostGIS %s: cannot install the change trigger (%s); falling back to pg_stat counters, "
                        "changes by other programs show after the statistics flush", self.loc.describe(), exc)
            self._mode = "stats"
        self._pushdown = self._rows > MEMORY_ROWS and info.geometry_type != "None"
        self._info = info

    @property
    def pushdown(self) -> bool:
        """Decided once, from the table's size when first used (``MEMORY_ROWS``)."""
        self.info
        return self._pushdown

    # ------------------------------------------------------------------ pushdown reads
    def _pool(self):
        """The database's connection pool for pushdown reads (concurrent requests do not queue on one connection)."""
        if self._closed:
            raise StoreUnavailable("PostGIS 连接已关闭（provider closed）")
        return self._db.pool()

    def _replica_set(self):
        if not self._track_lsn or self._closed:
            return None
        if self._replicas is None:
            from .replicas import replica_set

            with self._lock:
                if self._replicas is None:
                    self._replicas = replica_set(self.loc.dsn, self._replica_settings)
        return self._replicas

    def _on_replica(self, fn):
        """``fn(conn)`` on a usable replica: ``(True, result)``, or ``(False, None)`` when none could answer
        (then the caller reads from the primary). A replica that fails is taken out and the next one tried."""
        rs = self._replica_set()
        if rs is None:
            return False, None
        from psycopg_pool import PoolTimeout

        for replica in rs.candidates(self._need_lsn):
            try:
                with rs.pool(replica).connection() as conn:
                    return True, fn(conn)
            except PoolTimeout:
                continue      # its connections are all busy (or it is going down: the checker will say): next
            except Exception as exc:
                if not is_replica_failure(exc):
                    raise
                rs.failed(replica, exc)
        return False, None

    def read(self, fn):
        """Run ``fn(conn)`` on a pooled connection — of a replica when one is usable (``_on_replica``), else of the
        primary; database errors become DataSourceError/StoreUnavailable."""
        import psycopg
        from psycopg_pool import PoolTimeout

        try:
            done, result = self._on_replica(fn)
            if done:
                return result
            try:
                with self._pool().connection() as conn:
                    return fn(conn)
            except psycopg.errors.QueryCanceled:
                raise                      # a statement timeout: running it again would only double the work
            except psycopg.OperationalError as exc:
                # a pooled connection the server closed (it restarted, or cut idle sessions): test the idle ones
                # (the dead are replaced) and run the read again, once
                log.info("PostGIS read retried on a new connection for %s: %s", self.loc.describe(), exc)
                self._pool().check()
            with self._pool().connection() as conn:
                return fn(conn)
        except (psycopg.OperationalError, PoolTimeout) as exc:
            log.warning("PostGIS read failed for %s: %s", self.loc.describe(), exc)
            raise StoreUnavailable("PostGIS 数据库暂时无法访问（store unavailable）；请稍后重试") from None
        except psycopg.errors.QueryCanceled:
            raise StoreUnavailable("PostGIS 查询超时（query timed out）；请缩小范围后重试") from None
        except psycopg.Error as exc:
            log.warning("PostGIS query failed for %s: %s", self.loc.describe(), exc)
            raise DataSourceError("PostGIS 数据读取失败；管理员请查看服务器日志") from None

    def extent(self) -> tuple[float, float, float, float] | None:
        """WGS 84 bounds: the planner's estimate when the table is analysed, else computed once."""
        from psycopg import sql

        info = self.info

        def run(conn):
            box = None
            try:
                box = conn.execute("SELECT ST_EstimatedExtent(%s, %s, %s)::text",
                                   (info.schema, info.table, info.column)).fetchone()[0]
            except Exception:
                box = None
            stmt = sql.SQL("SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) FROM (SELECT ST_Transform("
                           "ST_SetSRID({e}, {s}), 4326) AS b) q")
            if box is not None:
                row = conn.execute(stmt.format(e=sql.SQL("%s::box2d::geometry"), s=sql.Literal(info.srid or 4326)),
                                   (box,)).fetchone()
            else:
                ext = sql.SQL("(SELECT ST_Extent({g}) FROM {t})::geometry").format(
                    g=sql.Identifier(info.column), t=sql.Identifier(info.schema, info.table))
                row = conn.execute(stmt.format(e=ext, s=sql.Literal(info.srid or 4326))).fetchone()
            return tuple(float(v) for v in row) if row and row[0] is not None else None

        return self.read(run)

    def min_max(self, column: str):
        from psycopg import sql

        info = self.info
        stmt = sql.SQL("SELECT min({c}), max({c}) FROM {t}").format(c=sql.Identifier(column),
                                                                   t=sql.Identifier(info.schema, info.table))
        return self.read(lambda c: c.execute(stmt).fetchone())

    # ------------------------------------------------------------------ versions
    def version(self) -> str:
        """The table's change counter. Read once synchronously, then kept current by the database's poller every
        ``POLL_S`` (``pg_shared``: so no request, and no event loop, ever waits on the database for it); a write
        through this provider sets it at once. A poll failure is raised here until the database answers again."""
        if not self._watched:
            with self._lock:
                if not self._watched:
                    self._latest = self._read_version()
                    self._db.watch(self)
                    self._watched = True
        if self._poll_error is not None:
            raise self._poll_error
        return self._latest

    def _poll_once(self, run) -> bool:
        """The poller's turn for this table (``run``: the poller's connection); False when it failed."""
        try:
            self._latest, self._poll_error = self._read_version(run), None
            return True
        except DataSourceError as exc:
            self._poll_error = exc
            return False

    def close(self) -> None:
        """Leave the shared database (the last table to leave closes its connections and stops its poller).

        Under the lock: request threads use the kept connection only while holding it, and libpq crashes the
        process (SIGSEGV) if a connection is finished while another thread is executing on it."""
        with self._lock:
            self._closed = True
            replicas, self._replicas = self._replicas, None
        if replicas is not None:
            from .replicas import release

            release(replicas)
        self._db.leave(self)

    def _read_version(self, run=None) -> str:
        """The counter (and the WAL position it was read at), on the kept connection or through ``run``."""
        self.info

        lsn = ", pg_current_wal_insert_lsn()::text" if self._track_lsn else ", NULL"

        def read(conn):
            if self._mode == "trigger":
                row = conn.execute("SELECT (SELECT version FROM kfqmap.table_versions WHERE table_oid = %s)" + lsn,
                                   (self._oid,)).fetchone()
                return f"pg{self._oid}-{row[0] or 0}", row[1]
            row = conn.execute("SELECT n_tup_ins, n_tup_upd, n_tup_del, n_live_tup" + lsn +
                               " FROM pg_stat_all_tables WHERE relid = %s", (self._oid,)).fetchone()
            return f"pg{self._oid}-s{'-'.join(str(v) for v in (row or ())[:4])}", row[4] if row else None

        try:
            if run is not None:
                version, position = run(read)
            else:
                with self._lock:
                    had_connection = self._db.has_connection()
                    try:
                        version, position = self._run(read)
                    except StoreUnavailable:
                        if not had_connection:   # the server did not take a new connection: it is down
                            raise
                        version, position = self._run(read)    # the kept one was cut (restart, idle time-out)
        except StoreUnavailable:
            fallback = self._version_from_replica()
            if fallback is None:
                raise
            version, position = fallback
            with self._lsn_lock:     # no more than that replica holds can be asked while the primary is away
                if version != self._lsn_version:
                    log.warning("PostGIS primary of %s does not answer: reading version %s from a replica "
                                "(writes wait for the primary)", self.loc.describe(), version)
                self._need_lsn, self._lsn_version = lsn_int(position), version
            return version
        self._note_lsn(version, position)
        return version

    def _version_from_replica(self) -> tuple[str, str] | None:
        """While the primary does not answer: the counter as a replica holds it (it is replicated with the rows)
        and that replica's replayed position, so reads go on from the replicas. None without usable replicas."""
        from psycopg_pool import PoolTimeout

        rs = self._replica_set() if self._mode == "trigger" else None
        if rs is None:
            return None
        for replica in rs.candidates(0):
            try:
                with rs.pool(replica).connection() as conn:
                    row = conn.execute("SELECT (SELECT version FROM kfqmap.table_versions WHERE table_oid = %s), "
                                       "pg_last_wal_replay_lsn()::text", (self._oid,)).fetchone()
                replica.replay_lsn = max(replica.replay_lsn, lsn_int(row[1]))   # known now, not at the next check
                return f"pg{self._oid}-{row[0] or 0}", row[1]
            except PoolTimeout:
                continue
            except Exception as exc:
                if not is_replica_failure(exc):
                    return None
                rs.failed(replica, exc)
        return None

    def _note_lsn(self, version: str, position: str | None) -> None:
        """Remember the primary's WAL position at which ``version`` was first seen: reads need a replica that
        has replayed that far (set before the version is published, so no read of it can go to a replica
        that lacks it)."""
        if position is not None and version != self._lsn_version:
            with self._lsn_lock:      # the poller and a writer may both get here: the larger position wins
                self._need_lsn = max(self._need_lsn, lsn_int(position))
                self._lsn_version = version

    # ------------------------------------------------------------------ reading (in-memory mode)
    def snapshot(self) -> Snapshot:
        info = self.info

        def read(conn):
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                version = self._version_in(conn)
                frame, fids = pg.read_table(conn, info)
            # no ETags here: md5(to_jsonb(row)) of every row costs more than the snapshot itself (40,000 polygons:
            # ~2 s against ~0.35 s), after every edit; a GET reads one feature's ETag once per version instead
            # (LayerState.etag_cache)
            return Snapshot(version, frame, fids)

        if self._mode == "trigger":       # the counter is replicated with the rows: a replica gives both
            try:
                done, snapshot = self._on_replica(read)
            except Exception as exc:     # not a replica failure (a bad column type…): the primary will say
                log.warning("PostGIS replica read failed for %s: %s", self.loc.describe(), exc)
                done = False
            if done:
                return snapshot
        return self._run(read)

    def _version_in(self, conn) -> str:
        if self._mode == "trigger":
            row = conn.execute("SELECT version FROM kfqmap.table_versions WHERE table_oid = %s",
                               (self._oid,)).fetchone()
            return f"pg{self._oid}-{row[0] if row else 0}"
        return self._read_version()

    # ------------------------------------------------------------------ writing
    @property
    def history(self) -> bool:
        """True when changes are recorded (``kfqmap.history`` table and trigger installed: the role may create
        them) and the table has an ``id`` column to address features by."""
        info = self.info
        return self._mode == "trigger" and "id" in dict(info.columns)

    def apply(self, ops: list[WriteOp], context: ChangeContext | None = None) -> WriteResult:
        """One transaction: each op checks ``if_match`` against the row (locked ``FOR UPDATE``), changes it, and
        appends its history row (when ``history``)."""
        info = self.info
        keeps = self.history
        context = context or local_context()
        ids: list[str] = []
        etags: list[str | None] = []
        afters: list[dict | None] = []

        def write(conn):
            ids.clear(), etags.clear(), afters.clear()
            with conn.transaction():
                conn.execute("SET LOCAL kfqmap.writer = 'on'")    # not an outside change (record_external)
                for op in ops:
                    before = None
                    if keeps and op.op != "create":
                        before, etag = self._row(conn, info, op.feature_id, lock=True)
                        if op.if_match is not None and op.if_match != etag:
                            raise PreconditionFailed(
                                f"要素 {op.feature_id} 已被他人修改（当前版本 {etag}，你的版本 {op.if_match}）；"
                                "请重新读取后再修改（precondition failed: the feature changed）",
                                current_etag=etag, feature_id=op.feature_id)
                    feature_id = self._apply_one(conn, info, op)
                    after = etag = None
                    if keeps and op.op != "delete":
                        after, etag = self._row(conn, info, feature_id)
                    if keeps:
                        history.record(conn, layer_id=self.layer_id, feature_id=feature_id, op=op.op, before=before,
                                       after=after, user=context.user, address=context.address,
                                       note=context.note, restored_from=context.restored_from)
                    ids.append(feature_id)
                    etags.append(etag)
                    afters.append(after)
                version = self._version_in(conn)
            position = (conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()[0]
                        if self._track_lsn else None)      # after the commit: ≥ its WAL record
            return WriteResult(version, list(ids), list(etags), list(afters)), position

        result, position = self._run_write(write)
        if self._mode == "trigger":
            self._note_lsn(result.version, position)   # read-your-writes: replicas only once they replayed it
            self._latest = result.version          # read-your-writes without waiting for the poller
        elif position is not None:
            with self._lsn_lock:
                self._need_lsn = max(self._need_lsn, lsn_int(position))
        return result

    def _run_write(self, fn):
        import psycopg

        with self._lock:
            try:
                return fn(self._connection())
            except psycopg.errors.UniqueViolation:
                raise InvalidParameter("要素 id 已存在（id already exists）", parameter="id") from None
            except (psycopg.errors.NotNullViolation, psycopg.errors.CheckViolation,
                    psycopg.errors.InvalidTextRepresentation, psycopg.errors.NumericValueOutOfRange,
                    psycopg.errors.DatatypeMismatch, psycopg.errors.InvalidDatetimeFormat) as exc:
                raise InvalidParameter(f"属性值不符合数据库约束：{exc.diag.message_primary}") from None
            except psycopg.OperationalError as exc:
                self._close()
                log.warning("PostGIS write failed for %s: %s", self.loc.describe(), exc)
                raise StoreUnavailable("PostGIS 数据库暂时无法写入（store unavailable）；请稍后重试") from None

    def _apply_one(self, conn, info: pg.TableInfo, op: WriteOp) -> str:
        from psycopg import sql

        table = sql.Identifier(info.schema, info.table)
        names = {name for name, _ in info.columns}
        key = "id" if "id" in names else None
        if op.op == "create":
            feature = op.feature or {}
            values = self._values(info, feature, partial=False)
            if key and values.get("id") is None and dict(info.columns)[key] in ("text", "varchar"):
                values["id"] = f"{self.layer_id}-{uuid.uuid4().hex[:10]}"    # as the store names new features
            cols = list(values)
            returning = sql.Identifier(key) if key else sql.Identifier(info.fid or info.column)
            row = conn.execute(sql.SQL("INSERT INTO {t} ({c}) VALUES ({v}) RETURNING {r}::text").format(
                t=table, c=sql.SQL(", ").join(map(sql.Identifier, cols)),
                v=sql.SQL(", ").join(self._placeholder(info, c) for c in cols), r=returning),
                [values[c] for c in cols]).fetchone()
            return str(row[0])
        if key is None:
            raise InvalidParameter("该 PostGIS 表没有 id 列，不能按 id 修改要素", parameter="featureId")
        where, key_value = key_condition(dict(info.columns).get(key, "text"), key, op.feature_id)
        if where is None:
            raise FeatureNotFound(f"图层 {self.layer_id} 中没有 id 为 '{op.feature_id}' 的要素", parameter="featureId")
        if op.op == "delete":
            cur = conn.execute(sql.SQL("DELETE FROM {t} WHERE ").format(t=table) + where, [key_value])
        else:
            values = self._values(info, op.feature or {}, partial=op.op == "update")
            if "id" in values and str(values["id"]) != op.feature_id:
                raise InvalidParameter("要素 id 不能修改（the id of a feature cannot change）", parameter="id")
            if op.op == "replace":
                for name in names:
                    values.setdefault(name, None)
                values["id"] = op.feature_id
            if not values:
                return op.feature_id
            sets = sql.SQL(", ").join(sql.SQL("{c} = ").format(c=sql.Identifier(c)) + self._placeholder(info, c)
                                      for c in values)
            cur = conn.execute(sql.SQL("UPDATE {t} SET ").format(t=table) + sets + sql.SQL(" WHERE ") + where,
                               [*values.values(), key_value])
        if cur.rowcount == 0:
            raise FeatureNotFound(f"图层 {self.layer_id} 中没有 id 为 '{op.feature_id}' 的要素", parameter="featureId")
        return op.feature_id

    # ------------------------------------------------------------------ features, ETags, history
    def _row(self, conn, info: pg.TableInfo, feature_id: str, *, lock: bool = False) -> tuple[dict, str]:
        """One row as a GeoJSON feature (WGS 84) and its ETag (an MD5 of the whole stored row)."""
        from psycopg import sql

        where, value = key_condition(dict(info.columns).get("id", "text"), "id", feature_id)
        row = None
        if where is not None:
            drop = sql.SQL(" - ").join([sql.Literal(info.column)] + ([sql.Literal(info.fid)] if info.fid else []))
            stmt = sql.SQL("SELECT to_jsonb(t) - {drop}, ST_AsGeoJSON(ST_Transform(t.{g}, 4326), 15)::jsonb, "
                           "left(md5(to_jsonb(t)::text), 20) FROM {t} AS t WHERE ").format(
                drop=drop, g=sql.Identifier(info.column), t=sql.Identifier(info.schema, info.table)) + where
            if lock:
                stmt += sql.SQL(" FOR UPDATE")
            row = conn.execute(stmt, [value]).fetchone()
        if row is None:
            raise FeatureNotFound(f"图层 {self.layer_id} 中没有 id 为 '{feature_id}' 的要素", parameter="featureId")
        props, geometry, etag = row
        return {"type": "Feature", "id": props.get("id"), "geometry": geometry, "properties": props}, etag

    def feature(self, feature_id: str) -> tuple[str, dict, str]:
        info = self.info

        def read(conn):
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                version = self._version_in(conn)
                feature, etag = self._row(conn, info, feature_id)
            return version, feature, etag
        return self._run_history(read)

    def features(self) -> tuple[str, dict[str, dict]]:
        info = self.info

        def read(conn):
            return self._features(conn, info)
        return self._run_history(read)

    def _features(self, conn, info) -> tuple[str, dict[str, dict]]:
        from psycopg import sql

        drop = sql.SQL(" - ").join([sql.Literal(info.column)] + ([sql.Literal(info.fid)] if info.fid else []))
        rows = conn.execute(sql.SQL("SELECT to_jsonb(t) - {drop}, ST_AsGeoJSON(ST_Transform(t.{g}, 4326), 15)::jsonb "
                                    "FROM {t} AS t").format(drop=drop, g=sql.Identifier(info.column),
                                                            t=sql.Identifier(info.schema, info.table))).fetchall()
        out = {str(p.get("id")): {"type": "Feature", "id": p.get("id"), "geometry": g, "properties": p}
               for p, g in rows}
        return self._version_in(conn), out

    def columns(self) -> dict[str, str]:
        kinds = {"int2": "integer", "int4": "integer", "int8": "integer", "float4": "number", "float8": "number",
                 "numeric": "number", "bool": "boolean", "json": "json", "jsonb": "json"}
        return {name: kinds.get(typ, "string") for name, typ in self.info.columns}

    def asof(self, when: str) -> list[dict]:
        info = self.info

        def read(conn):
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                _, current = self._features(conn, info)
                return history.layer_asof(current, history.changes_after(conn, self.layer_id, when))
        return self._run_history(read)

    def history_of(self, feature_id: str, limit: int = 100) -> list:
        return self._run_history(lambda conn: history.feature_history(conn, self.layer_id, feature_id, limit=limit))

    def change(self, seq: int):
        change = self._run_history(lambda conn: history.change(conn, seq))
        return change if change is not None and change.layer_id == self.layer_id else None

    def audit(self, **query) -> list:
        return self._run_history(lambda conn: history.audit(conn, layer=self.layer_id, **query))

    def _run_history(self, fn):
        return self._run(fn)

    @staticmethod
    def _placeholder(info: pg.TableInfo, column: str):
        from psycopg import sql

        if column == info.column:
            srid = info.srid or 4326
            return sql.SQL("ST_Transform(ST_GeomFromWKB(%s, 4326), {s})").format(s=sql.Literal(srid))
        typ = dict(info.columns).get(column, "text")
        if typ in ("json", "jsonb"):
            return sql.SQL("%s::{t}").format(t=sql.SQL(typ))
        return sql.SQL("%s")

    def _values(self, info: pg.TableInfo, feature: dict, *, partial: bool) -> dict:
        import json

        if not isinstance(feature, dict):
            raise InvalidParameter("要素必须是 GeoJSON Feature 对象（feature must be an object）", parameter="feature")
        props = feature.get("properties") or {}
        if not isinstance(props, dict):
            raise InvalidParameter("properties 必须是对象（properties must be an object）", parameter="properties")
        columns = dict(info.columns)
        if not partial and feature.get("id") is not None and "id" in columns and "id" not in props:
            props = {**props, "id": str(feature["id"])}
        unknown = [k for k in props if k not in columns]
        if unknown:
            raise InvalidParameter(f"图层 {self.layer_id} 没有属性 {', '.join(unknown)}；"
                                   f"可用属性：{', '.join(columns)}", parameter=unknown[0])
        values = {}
        for k, v in props.items():
            if columns[k] in ("json", "jsonb") and v is not None:
                v = json.dumps(v, ensure_ascii=False)
            values[k] = v
        if not partial or "geometry" in feature:
            layer = _GeometryRules(self.layer_id, info.geometry_type)
            geom = feature_geometry(layer, feature.get("geometry"), required=not partial)
            values[info.column] = None if geom is None else shapely.to_wkb(geom)
        return values


class _GeometryRules:
    """The two Layer attributes ``feature_geometry`` needs, for a table known only by its description."""

    def __init__(self, layer_id: str, geometry_type: str):
        self.id = layer_id
        self.geometry_type = geometry_type
        self.is_spatial = geometry_type != "None"


__all__ = ["PostGISProvider", "MEMORY_ROWS"]
