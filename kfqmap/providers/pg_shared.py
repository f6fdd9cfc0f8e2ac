"""What the PostGIS providers of one database share inside a worker: a kept connection, a read pool, one poller.

Each ``PostGISProvider`` (one table) used to open its own kept connection and read pool and start its own version
poller thread: a worker serving the plan's layers from a PostGIS store (``KFQMAP_STORE=postgis``) held about two
connections per layer (~21) and ran a poller per table, so four workers on two machines came near PostgreSQL's
default ``max_connections`` of 100. Now every provider of one database (same connection string) in a process
shares one ``SharedDatabase``:

* **one kept connection** (autocommit) for set-up, writes (one transaction at a time) and in-memory snapshots,
  used under ``lock`` (libpq connections are not for two threads at once);
* **one read pool** (``READ_POOL_SIZE`` connections at most) for pushdown reads of every table;
* **one version poller** with a connection of its own: every ``POLL_S`` it reads the change counter of every
  watched table, so a long write transaction on one layer never delays another layer's version. While the database
  does not answer it backs off to ``POLL_MAX_S``.

A provider joins with ``SharedDatabase.join(loc)`` and leaves with ``leave(provider)`` (its ``close``); the last
one to leave closes the connections and stops the poller. Providers that are never closed (a server's) are held
weakly and simply drop out of the poller when they are garbage-collected.
"""
from __future__ import annotations

import logging
import threading
import weakref

from ..errors import DataSourceError, StoreUnavailable
from ..settings import PostgresSettings
from ..stores import postgis as pg

log = logging.getLogger("kfqmap.providers.postgis")

#: connections kept for pushdown reads of one database (all its tables)
READ_POOL_SIZE = 8
#: how often the poller reads the tables' change counters (seconds), and its back-off while the database is away
POLL_S = 0.2
POLL_MAX_S = 5.0

_REGISTRY: dict[str, "SharedDatabase"] = {}
_REGISTRY_LOCK = threading.Lock()


class _Kept:
    """One kept connection (autocommit) to the database, re-opened after a failure."""

    def __init__(self, loc):
        self.loc = loc
        self.conn = None

    def get(self):
        if self.conn is None or self.conn.closed or self.conn.broken:
            self.conn = pg._connect(self.loc)
        return self.conn

    def alive(self) -> bool:
        return self.conn is not None and not self.conn.closed

    def drop(self) -> None:
        try:
            if self.conn is not None:
                self.conn.close()
        except Exception:  # noqa: BLE001 - a broken connection may fail to close; it is dropped either way
            pass
        self.conn = None


class SharedDatabase:
    """The connections and the version poller of one database, shared by its providers in this process."""

    def __init__(self, loc):
        self.loc = loc
        self.lock = threading.RLock()          # the kept connection is used only while holding it
        self._kept = _Kept(loc)
        self._pool = None
        self._members: weakref.WeakSet = weakref.WeakSet()
        self._watched: weakref.WeakSet = weakref.WeakSet()
        self._polling = _Kept(loc)             # the poller's own connection
        self._poll_lock = threading.Lock()     # the poller's connection (and close) only while holding it
        self._poller: threading.Thread | None = None
        self._stop = threading.Event()
        self.closed = False

    # ------------------------------------------------------------------ membership
    @classmethod
    def join(cls, loc, provider) -> "SharedDatabase":
        with _REGISTRY_LOCK:
            db = _REGISTRY.get(loc.dsn)
            if db is None or db.closed:
                db = _REGISTRY[loc.dsn] = cls(loc)
            db._members.add(provider)
            return db

    def leave(self, provider) -> None:
        """``provider`` is closed: the last member to leave closes the connections and stops the poller."""
        with _REGISTRY_LOCK:
            self._members.discard(provider)
            self._watched.discard(provider)
            if len(self._members):
                return
            self.closed = True
            if _REGISTRY.get(self.loc.dsn) is self:
                del _REGISTRY[self.loc.dsn]
        self._stop.set()
        with self.lock:
            self.drop_connection()
            pool, self._pool = self._pool, None
        with self._poll_lock:
            self._polling.drop()
        if pool is not None:
            pool.close()
        poller = self._poller
        if poller is not None and poller is not threading.current_thread():
            poller.join(timeout=POLL_MAX_S + 1)

    # ------------------------------------------------------------------ the kept connection
    def connection(self):
        """The kept connection (autocommit), re-opened after a failure; call it holding ``lock``."""
        if self.closed:
            raise StoreUnavailable("PostGIS 连接已关闭（provider closed）")
        return self._kept.get()

    def has_connection(self) -> bool:
        return self._kept.alive()

    def drop_connection(self) -> None:
        self._kept.drop()

    # ------------------------------------------------------------------ the read pool
    def pool(self):
        """The read pool of this database (created on first use)."""
        if self.closed:
            raise StoreUnavailable("PostGIS 连接已关闭（provider closed）")
        if self._pool is None:
            from psycopg.conninfo import conninfo_to_dict
            from psycopg_pool import ConnectionPool

            kwargs = {} if "connect_timeout" in conninfo_to_dict(self.loc.dsn) else {
                "connect_timeout": pg.CONNECT_TIMEOUT}
            with self.lock:
                if self._pool is None:
                    self._pool = ConnectionPool(self.loc.dsn, min_size=1, max_size=READ_POOL_SIZE, open=True,
                                                timeout=pg.CONNECT_TIMEOUT, name=f"kfqmap-{self.loc.describe()}",
                                                kwargs={"autocommit": True, "application_name": "kfqmap",
                                                        **kwargs, **PostgresSettings().connect_kwargs()})
        return self._pool

    # ------------------------------------------------------------------ the version poller
    def watch(self, provider) -> None:
        """Keep ``provider``'s version current from now on (``provider._poll_once``)."""
        with _REGISTRY_LOCK:
            self._watched.add(provider)
            if self._poller is None and not self.closed:
                self._poller = threading.Thread(target=_poll, args=(weakref.ref(self), self._stop), daemon=True,
                                                name=poller_name(self.loc.dsn))
                self._poller.start()

    def run_poll(self, fn):
        """``fn(conn)`` on the poller's own connection; database errors become StoreUnavailable/DataSourceError."""
        import psycopg

        with self._poll_lock:
            for attempt in (1, 2):
                if self.closed:
                    raise StoreUnavailable("PostGIS 连接已关闭（provider closed）")
                had_connection = self._polling.alive()
                try:
                    return fn(self._polling.get())
                except psycopg.OperationalError as exc:
                    self._polling.drop()
                    if attempt == 1 and had_connection:
                        continue        # the kept one was cut (server restart, idle time-out): once more, new
                    log.warning("PostGIS version poll failed for %s: %s", self.loc.describe(), exc)
                    raise StoreUnavailable("PostGIS 数据库暂时无法访问（store unavailable）；请稍后重试") from None
                except psycopg.Error as exc:
                    log.warning("PostGIS version poll error for %s: %s", self.loc.describe(), exc)
                    raise DataSourceError("PostGIS 数据读取失败；管理员请查看服务器日志") from None


def poller_name(dsn: str) -> str:
    """The poller thread's name: the database it watches (``kfqmap-versions-dbname@host:port``)."""
    from psycopg.conninfo import conninfo_to_dict

    info = conninfo_to_dict(dsn)
    return f"kfqmap-versions-{info.get('dbname', '')}@{info.get('host', '')}:{info.get('port', '')}"


def _poll(ref, stop: threading.Event) -> None:
    """The poller of one database: every ``POLL_S`` each watched provider reads its counter (``_poll_once``) on the
    poller's connection; while the database does not answer the wait doubles up to ``POLL_MAX_S``."""
    failures = 0
    while True:
        if stop.wait(min(POLL_MAX_S, POLL_S * (2 ** failures))):
            return
        db = ref()
        if db is None or db.closed:
            return
        failed = False
        for provider in list(db._watched):
            if stop.is_set():
                return
            if not provider._closed and not provider._poll_once(db.run_poll):
                failed = True
            provider = None
        failures = min(failures + 1, 8) if failed else 0
        db = None

