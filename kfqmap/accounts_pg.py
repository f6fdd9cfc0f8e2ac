"""Accounts in PostgreSQL, for the PostGIS store (``KFQMAP_STORE=postgis``): workers on several machines, each
with its own data directory, share users, API tokens, sessions, revocations and failed-login counts (issue 16:
"sessions and tokens live in the store, not in memory").

The logic is ``kfqmap.accounts.AccountStore``'s (argon2id hashes, SHA-256 token and session digests, CSRF,
lockout); this class only gives it a PostgreSQL connection and its tables in the ``kfqmap`` schema, the one that
holds the store's versions and history::

    kfqmap.users(name citext PRIMARY KEY, role, layers, disabled, password_hash, created_at, updated_at)
    kfqmap.tokens(id, "user", token_hash UNIQUE, created_at, expires_at, revoked_at, note)
    kfqmap.sessions(id_hash PRIMARY KEY, "user", csrf, created_at, expires_at)
    kfqmap.login_failures(key, at)

User names compare without regard to case (``citext``), as the SQLite ``COLLATE NOCASE`` does.

**Moving from the data directory.** When these tables are created (the first start with the PostGIS store, under
an advisory lock so workers starting together do it once), the users and API tokens of the SQLite account file
of that machine's data directory (``CatalogSettings.store_path()``), if there is one, are copied over — password
hashes and token digests as they are, so passwords and tokens keep working. Sessions and failed-login counts are
not copied (users sign in again). Later starts never copy again; ``kfqmap users``/``kfqmap tokens`` work on these
tables when ``KFQMAP_STORE=postgis``.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path

from .accounts import AccountStore, _Dialect
from .errors import DataSourceError, InvalidParameter, StoreUnavailable
from .stores import postgis as pg

log = logging.getLogger("kfqmap.accounts")

_DDL = """
CREATE SCHEMA IF NOT EXISTS kfqmap;
CREATE EXTENSION IF NOT EXISTS citext;
CREATE TABLE kfqmap.users (name citext PRIMARY KEY,
    role text NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')), layers text NOT NULL DEFAULT '[]',
    disabled integer NOT NULL DEFAULT 0, password_hash text, created_at text NOT NULL, updated_at text NOT NULL);
CREATE TABLE kfqmap.tokens (id text PRIMARY KEY, "user" text NOT NULL, token_hash text NOT NULL UNIQUE,
    created_at text NOT NULL, expires_at text, revoked_at text, note text);
CREATE TABLE kfqmap.sessions (id_hash text PRIMARY KEY, "user" text NOT NULL, csrf text NOT NULL,
    created_at text NOT NULL, expires_at text NOT NULL);
CREATE TABLE kfqmap.login_failures (key text NOT NULL, at double precision NOT NULL);
CREATE INDEX login_failures_key ON kfqmap.login_failures (key, at);
"""


class PostgresAccountStore(AccountStore):
    """``AccountStore`` on PostgreSQL (one kept connection, re-opened after a failure)."""

    TABLES = {"users": "kfqmap.users", "tokens": "kfqmap.tokens", "sessions": "kfqmap.sessions",
              "failures": "kfqmap.login_failures"}

    def __init__(self, dsn: str, *, migrate_from: Path | None = None):
        if not dsn.strip():
            raise DataSourceError("KFQMAP_STORE=postgis 需要 KFQMAP_STORE_DSN（账户也保存在该数据库）")
        self.loc = pg.parse_location(f"{dsn.strip()}#kfqmap.users")     # the layer checks (no password in it)
        self.path = None
        self.migrate_from = Path(migrate_from) if migrate_from is not None else None
        self._conn = None
        self._lock = threading.RLock()
        self._hasher = None
        self._dummy_hash = None
        self._create()

    @classmethod
    def open(cls, dsn: str, *, migrate_from: Path | None = None) -> "PostgresAccountStore":
        return cls(dsn, migrate_from=migrate_from)

    def _sql(self, text: str) -> str:
        return text.format(**self.TABLES).replace("?", "%s")

    @property
    def conn(self):
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = pg._connect(self.loc)
        return self._conn

    def _run(self, fn):
        import psycopg

        with self._lock:
            try:
                return fn(self.conn)
            except psycopg.errors.UniqueViolation:
                raise InvalidParameter("该名称已存在（already exists）", parameter="name") from None
            except psycopg.OperationalError as exc:
                self.close()
                log.warning("accounts: PostgreSQL failed for %s: %s", self.loc.describe(), exc)
                raise StoreUnavailable("账户数据库暂时无法访问（store unavailable）；请稍后重试") from None

    def _write(self, fn):
        def run(conn):
            with conn.transaction():
                return fn(_Dialect(conn, self._sql))
        return self._run(run)

    def _read(self, sql: str, args=()) -> list[tuple]:
        return self._run(lambda conn: conn.execute(self._sql(sql), args).fetchall())

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.close()
                finally:
                    self._conn = None

    def _create(self) -> None:
        def run(conn):
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtext('kfqmap_accounts'))")
                if conn.execute("SELECT to_regclass('kfqmap.users')").fetchone()[0] is not None:
                    return 0
                conn.execute(_DDL)
                return self._migrate(conn)
        moved = self._run(run)
        if moved:
            log.warning("accounts: %d user(s) and their API tokens copied from %s into PostgreSQL (kfqmap.users)",
                        moved, self.migrate_from)

    def _migrate(self, conn) -> int:
        """Copy users and tokens of the data directory's SQLite account file (inside the creating transaction)."""
        path = self.migrate_from
        if path is None or not path.exists():
            return 0
        from .providers.gpkg import connect

        lite = connect(path)
        try:
            have = {r[0] for r in lite.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()}
            if "kfqmap_users" not in have:
                return 0
            users = lite.execute("SELECT name, role, layers, disabled, password_hash, created_at, updated_at "
                                 "FROM kfqmap_users").fetchall()
            tokens = (lite.execute("SELECT id, user, token_hash, created_at, expires_at, revoked_at, note "
                                   "FROM kfqmap_tokens").fetchall() if "kfqmap_tokens" in have else [])
        finally:
            lite.close()
        cursor = conn.cursor()
        if users:
            cursor.executemany("INSERT INTO kfqmap.users VALUES (%s, %s, %s, %s, %s, %s, %s)", users)
        if tokens:
            cursor.executemany("INSERT INTO kfqmap.tokens VALUES (%s, %s, %s, %s, %s, %s, %s)", tokens)
        return len(users)


def open_accounts(settings, path: Path | None = None) -> AccountStore:
    """The accounts a server or the CLI uses with ``settings`` (``CatalogSettings``): PostgreSQL with the PostGIS
    store (shared by every machine), else the SQLite tables of the store file ``path`` (default
    ``settings.store_path()``, shared by the workers of one machine)."""
    if settings.store == "postgis":
        return PostgresAccountStore.open(settings.store_dsn, migrate_from=settings.store_path())
    return AccountStore.open(path if path is not None else settings.store_path())
