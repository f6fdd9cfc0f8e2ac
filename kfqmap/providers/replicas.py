"""PostgreSQL streaming read replicas for PostGIS layers: which server answers a read.

One primary takes the writes and the version reads (``PostGISProvider``'s kept connection and its poller); reads
(pushdown items, tiles, statistics, and the in-memory snapshot of a small table) go to a replica that is up, not
lagging, and has replayed everything the read must see, else to the next replica, else to the primary. No client
sees an error because a replica is down or behind: the read is run again elsewhere.

Configuration (read when the catalog is loaded, ``ReplicaSettings``)::

    KFQMAP_PG_REPLICAS="postgresql://replica1:5432,postgresql://replica2:5432"
    KFQMAP_PG_REPLICA_MAX_LAG_S=5        # behind the primary for longer than this: out of rotation
    KFQMAP_PG_REPLICA_CHECK_S=0.2        # how often each replica is asked where it is

A replica entry is a libpq URI or keyword string naming *the server* (host, port, options); what it does not say
(database, user, ``sslmode`` …) is taken from each layer's own location, since a streaming replica carries every
database of its primary: ``host=/run/pg-replica port=5433`` serves every PostGIS layer of that primary.

**Which reads may go to a replica (read-your-writes).** Every version of a table the provider knows comes with
the primary's WAL insert position read in the same statement (``pg_current_wal_insert_lsn()``, ≥ the commit of
every change that version includes); a write through this worker records it after its commit. A read needs a
replica whose replayed position (``pg_last_wal_replay_lsn()``, as last checked) is at least that: until then the
read goes to the primary. So data read for version *V* always includes *V*, a cached tile is never older than the
version it is filed under, and a user who just saved reads the saved data on the next request (per worker; other
workers see the new version within the poll interval, 0.2 s, and apply the same rule).

**Lag.** Each check also compares the replica with the primary's current position: a replica that has not
caught up with the primary for more than ``max_lag_s`` (``pg_last_xact_replay_timestamp`` alone would call an idle
replica of an idle primary "late") leaves the rotation until it catches up. A replica that fails a check or a
read (down, restarting, ``conflict with recovery``) is out until a check succeeds; its pool is then opened anew.
"""
from __future__ import annotations

import itertools
import logging
import re
import threading
import time
import weakref
from dataclasses import dataclass, field

from pydantic_settings import BaseSettings, SettingsConfigDict

from ..errors import DataSourceError
from ..settings import PostgresSettings

log = logging.getLogger("kfqmap.providers.replicas")

#: connections per replica per table, as for the primary's read pool
REPLICA_POOL_SIZE = 8
#: seconds to wait for a replica connection before the read goes elsewhere (a replica that is up answers in ms)
REPLICA_CONNECT_S = 2.0

_SPLIT = re.compile(r"\s*,\s*(?=postgres(?:ql)?://|[a-z_]+\s*=)")


class ReplicaSettings(BaseSettings):
    """``KFQMAP_PG_REPLICAS`` (comma-separated replica servers), ``KFQMAP_PG_REPLICA_MAX_LAG_S``,
    ``KFQMAP_PG_REPLICA_CHECK_S``. Read when a provider is created (catalog load), never at import time."""

    model_config = SettingsConfigDict(env_prefix="KFQMAP_")

    pg_replicas: str = ""
    pg_replica_max_lag_s: float = 5.0
    pg_replica_check_s: float = 0.2

    def replica_list(self) -> list[str]:
        return parse_replicas(self.pg_replicas)


def parse_replicas(text: str) -> list[str]:
    """``"postgresql://r1:5432, host=/run/r2 port=5433"`` → the two entries (a comma inside a multi-host URI is
    kept: entries are split only where the next one starts with a scheme or a ``key=``)."""
    return [part.strip() for part in _SPLIT.split(text.strip()) if part.strip()] if text.strip() else []


def replica_dsn(primary_dsn: str, replica: str) -> str:
    """The primary's connection parameters with the replica's on top (host, port, …): a keyword DSN."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    try:
        over = conninfo_to_dict(replica)
    except Exception as exc:
        raise DataSourceError(f"KFQMAP_PG_REPLICAS 中的 '{replica[:80]}' 无法解析：{exc}") from None
    if "password" in over:
        raise DataSourceError("KFQMAP_PG_REPLICAS 中不要写密码：请用 PGPASSWORD 或 ~/.pgpass（PGPASSFILE）。")
    params = {**conninfo_to_dict(primary_dsn), **{k: v for k, v in over.items() if v not in (None, "")}}
    return make_conninfo(**params)


def lsn_int(text: str | None) -> int:
    """``'16/B374D848'`` → an integer that compares like the WAL position (0 for NULL)."""
    if not text:
        return 0
    hi, _, lo = text.partition("/")
    return (int(hi, 16) << 32) | int(lo, 16)


@dataclass(eq=False)
class Replica:
    """One replica server as the checks last saw it."""

    dsn: str
    name: str
    up: bool = False
    replay_lsn: int = 0
    caught_up_at: float = field(default_factory=time.monotonic)
    lagging: bool = False
    pool: object = None
    reason: str = "not checked yet"

    def usable(self, need_lsn: int) -> bool:
        return self.up and not self.lagging and self.replay_lsn >= need_lsn


class ReplicaSet:
    """The replicas of one primary database; a daemon thread checks them every ``check_s`` seconds.

    ``candidates(need_lsn)`` lists the replicas a read may use now (round-robin order); ``failed(replica, exc)``
    takes one out after a failed read. Shared by every layer of the same primary database (``replica_set``).
    """

    def __init__(self, primary_dsn: str, replicas: list[str], *, max_lag_s: float = 5.0, check_s: float = 0.2):
        from psycopg.conninfo import conninfo_to_dict

        self.primary_dsn = primary_dsn
        self.max_lag_s = max_lag_s
        self.check_s = check_s
        self.replicas = []
        for entry in replicas:
            dsn = replica_dsn(primary_dsn, entry)
            info = conninfo_to_dict(dsn)
            self.replicas.append(Replica(dsn, f"{info.get('host') or 'local'}:{info.get('port') or 5432}"))
        self.primary_lsn = 0
        self._turn = itertools.count()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._users = 0
        self._checked = threading.Event()
        self._conns: dict = {}             # the checker's kept connections (checker thread only)
        self._thread = threading.Thread(target=_check_loop, args=(weakref.ref(self), self._stop), daemon=True,
                                        name="kfqmap-replica-check")
        self._thread.start()

    # ------------------------------------------------------------------ routing
    def candidates(self, need_lsn: int) -> list[Replica]:
        if not self._checked.is_set():
            self._checked.wait(timeout=REPLICA_CONNECT_S)      # the first check, once, right after start
        usable = [r for r in self.replicas if r.usable(need_lsn)]
        if len(usable) > 1:
            k = next(self._turn) % len(usable)
            usable = usable[k:] + usable[:k]
        return usable

    def pool(self, replica: Replica):
        """The replica's connection pool, opened on first use after the replica was seen up."""
        pool = replica.pool
        if pool is None:
            from psycopg_pool import ConnectionPool

            with self._lock:
                if replica.pool is None:
                    replica.pool = ConnectionPool(
                        replica.dsn, min_size=0, max_size=REPLICA_POOL_SIZE, open=True, timeout=REPLICA_CONNECT_S,
                        name=f"kfqmap-replica-{replica.name}",
                        kwargs={"autocommit": True, "application_name": "kfqmap", "connect_timeout": 2,
                                **PostgresSettings().connect_kwargs()})
                pool = replica.pool
        return pool

    def failed(self, replica: Replica, exc: BaseException) -> None:
        """A read on ``replica`` failed: out of rotation until a check succeeds; its pool is dropped."""
        if replica.up:
            log.warning("PostgreSQL replica %s out of rotation: %s", replica.name, str(exc).strip()[:200])
        replica.up, replica.reason = False, str(exc).strip()[:200] or type(exc).__name__
        self._drop_pool(replica)

    def _drop_pool(self, replica: Replica) -> None:
        with self._lock:
            pool, replica.pool = replica.pool, None
        if pool is not None:
            threading.Thread(target=pool.close, kwargs={"timeout": 1.0}, daemon=True).start()

    def status(self) -> list[dict]:
        """For logs and tests: each replica's name, up, lagging, replayed position."""
        return [{"name": r.name, "up": r.up, "lagging": r.lagging, "replay_lsn": r.replay_lsn, "reason": r.reason}
                for r in self.replicas]

    # ------------------------------------------------------------------ checks
    def check(self) -> None:
        """Ask the primary for its position and each replica for its replayed position (kept connections).

        A replica counts as caught up when it has replayed what the primary had written at the *previous* check
        (``check_s`` earlier): streaming under a steady stream of writes is always a few ms behind "now"."""
        now = time.monotonic()
        primary_now = None
        try:
            primary_now = lsn_int(self._query("primary", self.primary_dsn,
                                              "SELECT pg_current_wal_insert_lsn()::text")[0])
        except Exception:
            pass        # the primary's own errors reach clients through the provider; replicas still get checked
        for replica in self.replicas:
            try:
                standby, lsn = self._query(replica.name, replica.dsn,
                                           "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text")
            except Exception as exc:
                if replica.up:
                    log.warning("PostgreSQL replica %s out of rotation: %s", replica.name, str(exc).strip()[:200])
                    self._drop_pool(replica)
                replica.up, replica.reason = False, str(exc).strip()[:200] or type(exc).__name__
                continue
            if not standby:        # promoted (fail-over): a former replica is no longer a copy of this primary
                if replica.up:
                    log.warning("PostgreSQL replica %s is not in recovery (promoted?): out of rotation", replica.name)
                    self._drop_pool(replica)
                replica.up, replica.reason = False, "not in recovery (promoted?)"
                continue
            replica.replay_lsn = lsn_int(lsn)
            if replica.replay_lsn >= self.primary_lsn or primary_now is None:
                replica.caught_up_at = now      # (a primary that does not answer: no lag can be told)
            lagging = now - replica.caught_up_at > self.max_lag_s
            if lagging != replica.lagging:
                log.warning("PostgreSQL replica %s %s", replica.name,
                            f"behind the primary for over {self.max_lag_s:g} s: out of rotation" if lagging
                            else "caught up: back in rotation")
            if not replica.up:
                log.info("PostgreSQL replica %s answers: in rotation unless lagging", replica.name)
            replica.lagging, replica.up, replica.reason = lagging, True, ""
        if primary_now is not None:
            self.primary_lsn = primary_now
        self._checked.set()

    def _query(self, key: str, dsn: str, sql: str):
        """One row from the checker's kept connection to ``dsn`` (re-opened after a failure)."""
        import psycopg

        conn = self._conns.get(key)
        try:
            if conn is None or conn.closed or conn.broken:
                conn = self._conns[key] = psycopg.connect(dsn, autocommit=True, connect_timeout=2,
                                                          application_name="kfqmap-replica-check",
                                                          **PostgresSettings().connect_kwargs())
            return conn.execute(sql).fetchone()
        except BaseException:
            bad = self._conns.pop(key, None)
            if bad is not None:
                try:
                    bad.close()
                except Exception:
                    pass
            raise

    def close(self) -> None:
        self._stop.set()
        for replica in self.replicas:
            self._drop_pool(replica)
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        for conn in list(self._conns.values()):
            try:
                conn.close()
            except Exception:
                pass
        self._conns.clear()


def _check_loop(ref, stop: threading.Event) -> None:
    while True:
        rs = ref()
        if rs is None:
            return
        try:
            rs.check()
        except Exception:      # never let the checker die: a replica then stays as last seen
            log.exception("replica check failed")
        interval = rs.check_s
        del rs
        if stop.wait(interval):
            return


_SETS: dict[tuple, ReplicaSet] = {}
_SETS_LOCK = threading.Lock()


def replica_set(primary_dsn: str, settings: ReplicaSettings | None = None) -> ReplicaSet | None:
    """The shared ``ReplicaSet`` of a primary database, or None when no replicas are configured."""
    settings = settings or ReplicaSettings()
    replicas = settings.replica_list()
    if not replicas:
        return None
    key = (primary_dsn, tuple(replicas), settings.pg_replica_max_lag_s, settings.pg_replica_check_s)
    with _SETS_LOCK:
        rs = _SETS.get(key)
        if rs is None or rs._stop.is_set():
            rs = _SETS[key] = ReplicaSet(primary_dsn, replicas, max_lag_s=settings.pg_replica_max_lag_s,
                                         check_s=settings.pg_replica_check_s)
        rs._users += 1
        return rs


def release(rs: ReplicaSet) -> None:
    """One user (a provider) is done; the last one closes the set."""
    with _SETS_LOCK:
        rs._users -= 1
        if rs._users > 0:
            return
        for key, value in list(_SETS.items()):
            if value is rs:
                del _SETS[key]
    rs.close()


def is_replica_failure(exc: BaseException) -> bool:
    """Errors after which a read is run again elsewhere: the connection failed or the server is going away
    (OperationalError, PoolTimeout), or a standby cancelled the query (conflict with recovery, SQLSTATE 40001/
    40P01)."""
    import psycopg
    from psycopg_pool import PoolTimeout

    if isinstance(exc, psycopg.errors.QueryCanceled):
        return False               # a statement timeout (57014) says nothing about the replica
    if isinstance(exc, (psycopg.OperationalError, PoolTimeout)):
        return True
    state = getattr(getattr(exc, "diag", None), "sqlstate", None) or getattr(exc, "sqlstate", None) or ""
    return state in ("40001", "40P01") or state.startswith("57P")


__all__ = ["ReplicaSettings", "ReplicaSet", "Replica", "replica_set", "release", "parse_replicas", "replica_dsn",
           "lsn_int", "is_replica_failure"]
