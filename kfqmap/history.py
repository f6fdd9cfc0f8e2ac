"""History and audit (全过程留痕): one append-only row per change of a feature, written by the provider in the same
transaction as the change itself, so a change without its history row cannot exist.

Table ``kfqmap_history`` in the embedded GeoPackage (created by ``create_schema``)::

    seq            INTEGER PRIMARY KEY AUTOINCREMENT  -- the change number, increasing with time
    layer_id       TEXT      feature_id TEXT          -- which feature
    op             TEXT      -- create | replace | update | delete (a restore is the op it needed, restored_from set)
    before, after  TEXT      -- the whole feature as GeoJSON (WGS 84) before / after; NULL when it did not exist
    user           TEXT      -- account name (``本机:<os user>`` for a change made with the Python API or CLI)
    at             TEXT      -- UTC, ISO 8601 with milliseconds and ``Z``
    address        TEXT      -- the client's address (HTTP), NULL otherwise
    note           TEXT      -- 修改说明 given with the change (HTTP header ``X-Change-Note`` or body ``note``)
    restored_from  INTEGER   -- for a restore: the ``seq`` whose ``after`` was brought back

Append-only is enforced by the database: triggers ``RAISE(ABORT)`` on any ``UPDATE`` or ``DELETE`` of the table,
whoever tries (KFQMap, QGIS, the sqlite3 shell). Changes made outside KFQMap (QGIS editing the GeoPackage) are
found by the store afterwards and recorded with user ``外部程序`` (``GeoPackageStore.reconcile``).

Times are stored in UTC; ``beijing(at)`` formats one in 北京时间 (UTC+8) for people.

``layer_asof(current, rows, when)`` rebuilds a layer as it was at ``when``: starting from the current features, the
changes made after ``when`` are undone newest first (each one's ``before`` put back). It is exact for layers edited
only through KFQMap since ``when``.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from .errors import InvalidParameter

TABLE = "kfqmap_history"
#: the same table in a PostGIS database (``kfqmap.providers.postgis``): schema ``kfqmap``, jsonb before/after,
#: append-only by a trigger that raises on UPDATE, DELETE and TRUNCATE
PG_TABLE = "kfqmap.history"
#: the note of a change made to a PostGIS table outside KFQMap (recorded by the database itself, user db:<role>)
PG_EXTERNAL_NOTE = "在 KFQMap 之外修改（psql、QGIS 等），由数据库触发器记录"
#: the note of the rows a TRUNCATE outside KFQMap removed (each recorded as a delete before the table is emptied)
PG_TRUNCATE_NOTE = "在 KFQMap 之外清空整表（TRUNCATE），由数据库触发器在清空前逐行记录为删除"
PG_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {PG_TABLE} (
    seq bigserial PRIMARY KEY, layer_id text NOT NULL, feature_id text NOT NULL,
    op text NOT NULL CHECK (op IN ('create', 'replace', 'update', 'delete')),
    before jsonb, after jsonb, "user" text NOT NULL, at text NOT NULL, address text, note text,
    restored_from bigint);
CREATE INDEX IF NOT EXISTS history_feature ON {PG_TABLE} (layer_id, feature_id, seq);
CREATE INDEX IF NOT EXISTS history_at ON {PG_TABLE} (at);
CREATE OR REPLACE FUNCTION kfqmap.history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '修改记录只可追加，不可修改或删除（history is append-only）';
END $$;
CREATE OR REPLACE TRIGGER history_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {PG_TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION kfqmap.history_append_only();
CREATE OR REPLACE FUNCTION kfqmap.feature_json(r jsonb, geom_col text, fid_col text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('type', 'Feature', 'id', r -> 'id',
        'geometry', ST_AsGeoJSON(ST_Transform((r ->> geom_col)::geometry, 4326), 15)::jsonb,
        'properties', r - geom_col - fid_col)
$$;
CREATE OR REPLACE FUNCTION kfqmap.record_external() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    b jsonb;
    a jsonb;
BEGIN
    IF coalesce(current_setting('kfqmap.writer', true), '') = 'on' THEN
        RETURN NULL;                   -- KFQMap records its own changes, with the user who made them
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN b := kfqmap.feature_json(to_jsonb(OLD), TG_ARGV[0], TG_ARGV[1]); END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN a := kfqmap.feature_json(to_jsonb(NEW), TG_ARGV[0], TG_ARGV[1]); END IF;
    INSERT INTO {PG_TABLE} (layer_id, feature_id, op, before, after, "user", at, address, note)
    VALUES (TG_ARGV[2], coalesce(a ->> 'id', b ->> 'id', ''),
            CASE TG_OP WHEN 'INSERT' THEN 'create' WHEN 'UPDATE' THEN 'update' ELSE 'delete' END, b, a,
            'db:' || session_user, to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
            host(inet_client_addr()), '{PG_EXTERNAL_NOTE}');
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION kfqmap.record_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- TRUNCATE fires no row trigger: before it empties the table, every row is recorded as deleted (one
    -- statement, in the TRUNCATE's transaction: if it rolls back, so do these rows)
    IF coalesce(current_setting('kfqmap.writer', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
    EXECUTE format($q$
        INSERT INTO {PG_TABLE} (layer_id, feature_id, op, before, after, "user", at, address, note)
        SELECT %L, coalesce(f ->> 'id', ''), 'delete', f, NULL, 'db:' || session_user,
               to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), host(inet_client_addr()), %L
        FROM (SELECT kfqmap.feature_json(to_jsonb(t), %L, %L) AS f FROM %I.%I AS t) AS rows$q$,
        TG_ARGV[2], '{PG_TRUNCATE_NOTE}', TG_ARGV[0], TG_ARGV[1], TG_TABLE_SCHEMA, TG_TABLE_NAME);
    RETURN NULL;
END $$;
"""
BEIJING = timezone(timedelta(hours=8), "北京时间")


def create_schema(conn: sqlite3.Connection) -> None:
    """The history table, its indexes and its append-only guards (inside the caller's transaction or not)."""
    conn.execute(f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, layer_id TEXT NOT NULL, feature_id TEXT NOT NULL,
        op TEXT NOT NULL CHECK (op IN ('create', 'replace', 'update', 'delete')),
        before TEXT, after TEXT, user TEXT NOT NULL, at TEXT NOT NULL, address TEXT, note TEXT,
        restored_from INTEGER)""")
    conn.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}_feature ON {TABLE} (layer_id, feature_id, seq)")
    conn.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}_at ON {TABLE} (at)")
    for event in ("UPDATE", "DELETE"):
        conn.execute(f"CREATE TRIGGER IF NOT EXISTS {TABLE}_no_{event.lower()} BEFORE {event} ON {TABLE} "
                     f"BEGIN SELECT RAISE(ABORT, '修改记录只可追加，不可修改或删除（history is append-only）'); END")


def _sql(conn, text: str) -> str:
    """``text`` written for SQLite (``?``, ``kfqmap_history``) made fit for ``conn`` (psycopg: ``%s``,
    ``kfqmap.history``)."""
    if isinstance(conn, sqlite3.Connection):
        return text
    return text.replace("?", "%s").replace(TABLE, PG_TABLE)


def now_utc() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def record(conn: sqlite3.Connection, *, layer_id: str, feature_id: str, op: str, before: dict | None,
           after: dict | None, user: str, address: str | None, note: str | None,
           restored_from: int | None = None) -> int:
    """Append one change (inside the caller's write transaction); returns its ``seq``."""
    row = conn.execute(_sql(conn,
        f'INSERT INTO {TABLE} (layer_id, feature_id, op, before, after, "user", at, address, note, restored_from) '
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq"),
        (layer_id, feature_id, op, _dump(before), _dump(after), user, now_utc(), address, note,
         restored_from)).fetchall()
    return int(row[0][0])


def _dump(feature: dict | None) -> str | None:
    return None if feature is None else json.dumps(feature, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Change:
    """One history row."""

    seq: int
    layer_id: str
    feature_id: str
    op: str
    before: dict | None
    after: dict | None
    user: str
    at: str
    address: str | None
    note: str | None
    restored_from: int | None

    def as_json(self, *, full: bool = True) -> dict[str, Any]:
        out = {"seq": self.seq, "layer": self.layer_id, "feature_id": self.feature_id, "op": self.op,
               "user": self.user, "at": self.at, "at_beijing": beijing(self.at), "address": self.address,
               "note": self.note, "restored_from": self.restored_from, "changed": changed_properties(self)}
        if full:
            out["before"], out["after"] = self.before, self.after
        return out


_COLUMNS = 'seq, layer_id, feature_id, op, before, after, "user", at, address, note, restored_from'


def _change(row) -> Change:
    seq, layer_id, feature_id, op, before, after, user, at, address, note, restored_from = row
    return Change(int(seq), layer_id, feature_id, op, _load(before), _load(after), user, at, address, note,
                  restored_from)


def _load(value):
    return json.loads(value) if isinstance(value, str) else value


def changed_properties(change: Change) -> list[str]:
    """The names of what a change altered: property names, and ``geometry`` when the outline moved."""
    b, a = change.before or {}, change.after or {}
    bp, ap = b.get("properties") or {}, a.get("properties") or {}
    names = sorted(k for k in set(bp) | set(ap) if bp.get(k) != ap.get(k))
    if b.get("geometry") != a.get("geometry"):
        names.append("geometry")
    return names


def parse_time(value: str | None, *, parameter: str) -> str | None:
    """An ISO 8601 date or date-time (``2026-06-30``, ``2026-06-30T08:00:00Z``, ``…+08:00``) → the stored UTC form.
    A value without a zone is read as 北京时间 (people type local times); a date alone is its 00:00 北京时间."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip().replace("z", "Z")
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidParameter(f"{parameter} 不是合法的时间：'{value}'（例：2026-06-30T00:00:00Z 或 2026-06-30）",
                               parameter=parameter) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=BEIJING)
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_asof(value: str | None) -> str:
    """The ``asof`` parameter of items, statistics, tiles and exports: required, then ``parse_time``."""
    when = parse_time(value, parameter="asof")
    if when is None:
        raise InvalidParameter("asof 不能为空（例：2026-06-30T00:00:00Z 或 2026-06-30）", parameter="asof")
    return when


def beijing(at: str) -> str:
    """A stored UTC time as 北京时间 for people: ``2026-06-30 16:00:00``."""
    when = datetime.fromisoformat(at.replace("Z", "+00:00"))
    return when.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


# ------------------------------------------------------------------------------------------ reading
def feature_history(conn: sqlite3.Connection, layer_id: str, feature_id: str, *, limit: int = 1000) -> list[Change]:
    """The changes of one feature, newest first."""
    rows = conn.execute(_sql(conn, f"SELECT {_COLUMNS} FROM {TABLE} WHERE layer_id = ? AND feature_id = ? "
                        "ORDER BY seq DESC LIMIT ?"), (layer_id, feature_id, int(limit))).fetchall()
    return [_change(r) for r in rows]


def change(conn: sqlite3.Connection, seq: int) -> Change | None:
    rows = conn.execute(_sql(conn, f"SELECT {_COLUMNS} FROM {TABLE} WHERE seq = ?"), (int(seq),)).fetchall()
    return _change(rows[0]) if rows else None


def audit(conn: sqlite3.Connection, *, user: str | None = None, layer: str | None = None,
          start: str | None = None, end: str | None = None, limit: int = 10_000) -> list[Change]:
    """Changes matching every given condition (``start`` ≤ at < ``end``, UTC strings from ``parse_time``),
    oldest first."""
    where, args = [], []
    for cond, value in (('"user" = ?', user), ("layer_id = ?", layer), ("at >= ?", start), ("at < ?", end)):
        if value is not None:
            where.append(cond)
            args.append(value)
    sql = f"SELECT {_COLUMNS} FROM {TABLE}" + (" WHERE " + " AND ".join(where) if where else "")
    rows = conn.execute(_sql(conn, sql + " ORDER BY seq LIMIT ?"), (*args, int(limit))).fetchall()
    return [_change(r) for r in rows]


def changes_after(conn: sqlite3.Connection, layer_id: str, when: str) -> list[Change]:
    """The changes of a layer made after ``when`` (UTC), newest first."""
    rows = conn.execute(_sql(conn, f"SELECT {_COLUMNS} FROM {TABLE} WHERE layer_id = ? AND at > ? ORDER BY seq DESC"),
                        (layer_id, when)).fetchall()
    return [_change(r) for r in rows]


def layer_asof(current: dict[str, dict], later_changes: list[Change]) -> list[dict]:
    """The layer's features at a past time: ``current`` (id → GeoJSON feature now) with ``later_changes`` (the
    changes after that time, newest first) undone one by one."""
    features = dict(current)
    for ch in later_changes:
        if ch.before is None:
            features.pop(ch.feature_id, None)
        else:
            features[ch.feature_id] = ch.before
    return [features[k] for k in sorted(features)]
