"""Accounts: users and roles, password hashes, API tokens, server sessions and failed-login counts — all kept in the
embedded GeoPackage (the store file, ``kfqmap.providers.gpkg``), so every server worker process shares them.

Roles (``ROLES``): ``viewer`` 查看 (read only), ``editor`` 编辑 (may change the layers listed in ``layers``, or every
writable layer when the list is empty), ``admin`` 管理 (everything: audit, restore, all layers).

Tables (created on first use; same file, WAL and ``synchronous=FULL`` as the layers):

* ``kfqmap_users(name, role, layers, disabled, password_hash, created_at, updated_at)`` — ``password_hash`` is an
  argon2id hash (argon2-cffi, its current default parameters); never the password itself; never logged.
* ``kfqmap_tokens(id, user, token_hash, created_at, expires_at, revoked_at, note)`` — API tokens for scripts and
  GIS clients (``Authorization: Bearer kfq_…``). The token is 32 random bytes shown once; only its SHA-256 is kept
  (a random 256-bit secret needs no slow hash: nothing can be guessed from the digest).
* ``kfqmap_sessions(id_hash, user, csrf, created_at, expires_at)`` — browser sessions (cookie ``kfqmap_session``);
  the cookie's value is kept as SHA-256 only; ``csrf`` is the session's token for the ``X-CSRF-Token`` header.
* ``kfqmap_login_failures(key, at)`` — failed logins per user name + client address (rate limit).

Disabling a user ends their sessions and makes their tokens useless at once (every request checks the user row).
With the PostGIS store (several machines) the same tables live in PostgreSQL: ``kfqmap.accounts_pg``.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from .errors import Forbidden, InvalidParameter, LoginFailed, TooManyAttempts
from .providers.gpkg import GeoPackageStore, connect

ROLES = {"viewer": "查看", "editor": "编辑", "admin": "管理"}
_ROLE_ALIASES = {"查看": "viewer", "编辑": "editor", "管理": "admin"}
_NAME = re.compile(r"^[\w.\-@\u4e00-\u9fff]{1,64}$")
TOKEN_PREFIX = "kfq_"
#: shortest password accepted
MIN_PASSWORD = 8
#: password hashes computed at once per process: each argon2id hash takes 64 MiB and tens of milliseconds, so a
#: flood of logins (with made-up user names, which the per-user limit does not slow) queues here instead of
#: exhausting memory
HASHES_AT_ONCE = 2
_HASH_SLOTS = threading.BoundedSemaphore(HASHES_AT_ONCE)
#: failed logins from one address (any user names) within the window before 429, against guessing across names
ADDRESS_FAILURES_FACTOR = 4


@dataclass(frozen=True)
class Principal:
    """Who a request acts as. ``layers`` empty = every layer (for an editor); ``via`` = token | session | anonymous
    | local."""

    name: str
    role: str
    layers: tuple[str, ...] = ()
    via: str = "anonymous"
    csrf: str | None = field(default=None, repr=False)

    @property
    def anonymous(self) -> bool:
        return self.via == "anonymous"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def can_edit(self, layer_id: str) -> bool:
        if self.role == "admin":
            return True
        return self.role == "editor" and (not self.layers or layer_id in self.layers)

    def as_json(self) -> dict:
        return {"user": None if self.anonymous else self.name, "role": self.role, "role_zh": ROLES.get(self.role),
                "layers": list(self.layers), "anonymous": self.anonymous}


ANONYMOUS = Principal("anonymous", "viewer", (), "anonymous")


def parse_role(value: str) -> str:
    role = _ROLE_ALIASES.get(value, value)
    if role not in ROLES:
        raise InvalidParameter(f"角色须为 {' / '.join(f'{k}（{v}）' for k, v in ROLES.items())}，收到 '{value}'",
                               parameter="role")
    return role


def parse_duration(value: str) -> timedelta:
    """``90d``, ``12h``, ``30m``, ``2w`` → a timedelta (token lifetimes)."""
    m = re.fullmatch(r"\s*(\d{1,5})\s*([mhdw])\s*", str(value or ""))
    if not m:
        raise InvalidParameter(f"有效期写法如 90d、12h、30m、2w，收到 '{value}'", parameter="expires")
    n, unit = int(m.group(1)), m.group(2)
    if n <= 0:
        raise InvalidParameter("有效期必须大于 0", parameter="expires")
    return {"m": timedelta(minutes=n), "h": timedelta(hours=n), "d": timedelta(days=n), "w": timedelta(weeks=n)}[unit]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class AccountStore:
    """The account tables of one store file, with their own SQLite connection (reads never wait for layer writes).

    The logic (hashing, token digests, sessions, lockout) is written once, here: its SQL names tables as
    ``{users}``/``{tokens}``/``{sessions}``/``{failures}`` and uses ``?`` parameters, and ``_sql`` turns it into
    the backend's. ``kfqmap.accounts_pg.PostgresAccountStore`` (the PostGIS store, several machines) only
    replaces the connection, the DDL and ``_sql``."""

    #: table names in this backend
    TABLES = {"users": "kfqmap_users", "tokens": "kfqmap_tokens", "sessions": "kfqmap_sessions",
              "failures": "kfqmap_login_failures"}

    def _sql(self, text: str) -> str:
        return text.format(**self.TABLES)

    def __init__(self, path: Path):
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        self._hasher = None
        self._dummy_hash: str | None = None
        self._create()

    @classmethod
    def open(cls, path: Path) -> "AccountStore":
        """The accounts of the store file at ``path`` (a GeoPackage, created when missing)."""
        if not Path(path).exists():
            GeoPackageStore.open(path).close()
        return cls(path)

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

    def _write(self, fn):
        """``fn(conn)`` in one write transaction; ``conn.execute``/``executemany`` take this class's SQL."""
        with self._lock:
            conn = self.conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                out = fn(_Dialect(conn, self._sql))
                conn.execute("COMMIT")
                return out
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def _read(self, sql: str, args=()) -> list[tuple]:
        with self._lock:
            return self.conn.execute(self._sql(sql), args).fetchall()

    def _create(self) -> None:
        def run(conn):
            conn.execute("""CREATE TABLE IF NOT EXISTS {users} (name TEXT PRIMARY KEY COLLATE NOCASE,
                role TEXT NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')), layers TEXT NOT NULL DEFAULT '[]',
                disabled INTEGER NOT NULL DEFAULT 0, password_hash TEXT, created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL)""")
            conn.execute("""CREATE TABLE IF NOT EXISTS {tokens} (id TEXT PRIMARY KEY, "user" TEXT NOT NULL,
                token_hash TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL, expires_at TEXT, revoked_at TEXT, note TEXT)""")
            conn.execute("""CREATE TABLE IF NOT EXISTS {sessions} (id_hash TEXT PRIMARY KEY, "user" TEXT NOT NULL,
                csrf TEXT NOT NULL, created_at TEXT NOT NULL, expires_at TEXT NOT NULL)""")
            conn.execute("CREATE TABLE IF NOT EXISTS {failures} (key TEXT NOT NULL, at REAL NOT NULL)")
            conn.execute("CREATE INDEX IF NOT EXISTS kfqmap_login_failures_key ON {failures} (key, at)")
        self._write(run)

    # -------------------------------------------------------------- passwords
    @property
    def hasher(self):
        if self._hasher is None:
            from argon2 import PasswordHasher
            self._hasher = PasswordHasher()
        return self._hasher

    def _hash(self, password: str) -> str:
        if not isinstance(password, str) or len(password) < MIN_PASSWORD:
            raise InvalidParameter(f"密码至少 {MIN_PASSWORD} 个字符（password too short）", parameter="password")
        with _HASH_SLOTS:
            return self.hasher.hash(password)

    def _verify(self, stored: str | None, password: str) -> bool:
        from argon2.exceptions import InvalidHashError, VerificationError
        if stored is None:     # unknown user or no password: spend the same work, then fail
            if self._dummy_hash is None:
                self._dummy_hash = self._hash(secrets.token_hex(16))
            stored, password = self._dummy_hash, password + "\0"
        try:
            with _HASH_SLOTS:
                return self.hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    # -------------------------------------------------------------- users
    def add_user(self, name: str, role: str, *, password: str | None = None, layers: list[str] = ()) -> None:
        if not _NAME.match(name or ""):
            raise InvalidParameter("用户名为 1–64 个字母、数字、汉字或 . _ - @（invalid user name）", parameter="name")
        role = parse_role(role)
        hashed = self._hash(password) if password is not None else None
        now = _iso(_now())

        def run(conn):
            if conn.execute("SELECT 1 FROM {users} WHERE name = ?", (name,)).fetchall():
                raise InvalidParameter(f"用户 {name} 已存在（user exists）", parameter="name")
            conn.execute("INSERT INTO {users} VALUES (?, ?, ?, 0, ?, ?, ?)",
                         (name, role, json.dumps(list(layers or []), ensure_ascii=False), hashed, now, now))
        self._write(run)

    def set_password(self, name: str, password: str) -> None:
        """A new password; the user's browser sessions end (their API tokens stay: revoke those separately)."""
        hashed = self._hash(password)
        self._update_user(name, "password_hash = ?", (hashed,),
                          lambda conn: conn.execute('DELETE FROM {sessions} WHERE "user" = ?', (name,)))

    def set_disabled(self, name: str, disabled: bool = True) -> None:
        def more(conn):
            if disabled:
                conn.execute('DELETE FROM {sessions} WHERE "user" = ?', (name,))
        self._update_user(name, "disabled = ?", (1 if disabled else 0,), more)

    def set_role(self, name: str, role: str, layers: list[str] | None = None) -> None:
        role = parse_role(role)
        self._update_user(name, "role = ?, layers = ?", (role, json.dumps(list(layers or []), ensure_ascii=False)))

    def _update_user(self, name: str, sets: str, args: tuple, more=None) -> None:
        def run(conn):
            cur = conn.execute(f"UPDATE {{users}} SET {sets}, updated_at = ? WHERE name = ?",
                               (*args, _iso(_now()), name))
            if cur.rowcount == 0:
                raise InvalidParameter(f"没有用户 {name}（no such user）", parameter="name")
            if more is not None:
                more(conn)
        self._write(run)

    def users(self) -> list[dict]:
        rows = self._read("SELECT name, role, layers, disabled, created_at, updated_at, password_hash IS NOT NULL "
                          "FROM {users} ORDER BY name")
        return [{"name": r[0], "role": r[1], "role_zh": ROLES[r[1]], "layers": json.loads(r[2]),
                 "disabled": bool(r[3]), "created_at": r[4], "updated_at": r[5], "has_password": bool(r[6])}
                for r in rows]

    def _principal(self, name: str, via: str, csrf: str | None = None) -> Principal | None:
        rows = self._read("SELECT name, role, layers, disabled FROM {users} WHERE name = ?", (name,))
        if not rows or rows[0][3]:
            return None
        return Principal(rows[0][0], rows[0][1], tuple(json.loads(rows[0][2])), via, csrf)

    # -------------------------------------------------------------- tokens
    def create_token(self, user: str, *, expires: timedelta | None, note: str | None = None) -> tuple[str, str]:
        """A new API token for ``user``: ``(token id, secret)``. The secret is shown once and stored hashed."""
        if self._principal(user, "token") is None:
            raise InvalidParameter(f"没有可用的用户 {user}（no such active user）", parameter="user")
        token_id = secrets.token_hex(4)
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = _now()

        def run(conn):
            conn.execute("INSERT INTO {tokens} VALUES (?, ?, ?, ?, ?, NULL, ?)",
                         (token_id, user, _digest(secret), _iso(now), _iso(now + expires) if expires else None, note))
        self._write(run)
        return token_id, secret

    def revoke_token(self, token_id: str) -> None:
        def run(conn):
            cur = conn.execute("UPDATE {tokens} SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                               (_iso(_now()), token_id))
            if cur.rowcount == 0:
                raise InvalidParameter(f"没有未吊销的令牌 {token_id}（no such active token）", parameter="token")
        self._write(run)

    def tokens(self, user: str | None = None) -> list[dict]:
        sql = 'SELECT id, "user", created_at, expires_at, revoked_at, note FROM {tokens}'
        rows = self._read(sql + (' WHERE "user" = ?' if user else "") + " ORDER BY created_at",
                          (user,) if user else ())
        return [dict(zip(("id", "user", "created_at", "expires_at", "revoked_at", "note"), r)) for r in rows]

    def token_principal(self, secret: str) -> Principal | None:
        """The user a bearer token acts for, or None (unknown, expired, revoked, or its user disabled)."""
        rows = self._read('SELECT "user", expires_at, revoked_at FROM {tokens} WHERE token_hash = ?',
                          (_digest(secret),))
        if not rows or rows[0][2] is not None:
            return None
        if rows[0][1] is not None and rows[0][1] <= _iso(_now()):
            return None
        return self._principal(rows[0][0], "token")

    # -------------------------------------------------------------- sessions and logins
    def login(self, name: str, password: str, address: str, *, max_failures: int = 5, window_s: int = 900,
              session_hours: float = 12) -> tuple[str, Principal]:
        """Check a password; a new session ``(cookie value, principal with csrf)``. ``LoginFailed`` for an unknown
        user, a wrong password or a disabled account alike; ``TooManyAttempts`` after ``max_failures`` failures
        of one user name from one address within ``window_s``."""
        key, address_key = f"{str(name).lower()}|{address}", f"*|{address}"
        since = time.time() - window_s
        for k, limit in ((key, max_failures), (address_key, max_failures * ADDRESS_FAILURES_FACTOR)):
            failures = self._read("SELECT count(*), min(at) FROM {failures} WHERE key = ? AND at > ?",
                                  (k, since))[0]
            if failures[0] >= limit:
                error = TooManyAttempts("登录失败次数过多，请稍后再试（too many failed logins）")
                error.retry_after = max(1, int(failures[1] + window_s - time.time()) + 1)
                raise error
        rows = self._read("SELECT password_hash, disabled FROM {users} WHERE name = ?", (name,))
        stored = rows[0][0] if rows else None
        ok = self._verify(stored, password) and bool(rows) and not rows[0][1]
        if not ok:
            self._write(lambda conn: conn.executemany("INSERT INTO {failures} VALUES (?, ?)",
                                                      [(key, time.time()), (address_key, time.time())]))
            raise LoginFailed("用户名或密码错误（invalid user name or password）", parameter="password")
        principal = self._principal(name, "session")
        secret, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        now = _now()

        def run(conn):
            conn.execute("DELETE FROM {failures} WHERE key = ? OR at < ?", (key, since))
            conn.execute("DELETE FROM {sessions} WHERE expires_at <= ?", (_iso(now),))
            conn.execute("INSERT INTO {sessions} VALUES (?, ?, ?, ?, ?)",
                         (_digest(secret), principal.name, csrf, _iso(now),
                          _iso(now + timedelta(hours=session_hours))))
        self._write(run)
        return secret, Principal(principal.name, principal.role, principal.layers, "session", csrf)

    def session_principal(self, secret: str) -> Principal | None:
        rows = self._read('SELECT "user", csrf, expires_at FROM {sessions} WHERE id_hash = ?', (_digest(secret),))
        if not rows or rows[0][2] <= _iso(_now()):
            return None
        return self._principal(rows[0][0], "session", rows[0][1])

    def logout(self, secret: str) -> None:
        self._write(lambda conn: conn.execute("DELETE FROM {sessions} WHERE id_hash = ?", (_digest(secret),)))


class _Dialect:
    """A connection that takes ``AccountStore`` SQL (table placeholders, ``?``) and runs the backend's."""

    def __init__(self, conn, translate):
        self.conn, self.translate = conn, translate

    def execute(self, sql: str, args=()):
        return self.conn.execute(self.translate(sql), args)

    def executemany(self, sql: str, rows) -> None:
        cursor = self.conn.cursor()
        cursor.executemany(self.translate(sql), rows)


def check_csrf(principal: Principal, header: str | None) -> None:
    """A session's state-changing request must echo the session's CSRF token (constant-time comparison)."""
    from .errors import CSRFRejected
    if principal.via != "session":
        return
    if not header or not principal.csrf or not hmac.compare_digest(header.encode(), principal.csrf.encode()):
        raise CSRFRejected("缺少或错误的 X-CSRF-Token 请求头（登录时返回的 csrf 值）（CSRF token missing or wrong）")


def require_role(principal: Principal, *, admin: bool = False, layer: str | None = None, edit: bool = False) -> None:
    """Raise ``Forbidden`` unless ``principal`` may do this (``NotAuthenticated`` is the server's job)."""
    if admin and not principal.is_admin:
        raise Forbidden(f"需要管理员权限（{principal.name} 的角色是 {ROLES.get(principal.role)}）（admin role required）")
    if edit and layer is None and principal.role not in ("editor", "admin"):
        raise Forbidden(f"需要编辑权限（{principal.name} 的角色是 {ROLES.get(principal.role)}）（editor role required）")
    if layer is not None and not principal.can_edit(layer):
        raise Forbidden(f"用户 {principal.name} 无权编辑图层 {layer}（not allowed to edit this layer）",
                        parameter="collectionId")
