"""Imports in the embedded GeoPackage store: layers the store defines itself, and the import log that makes every
import undoable. Python's sqlite3 only, on the store's own connection and lock (never GDAL on the store file).

Tables (created on first use, beside ``kfqmap_layers``):

* ``kfqmap_store_layers(layer_id, layer_json, provenance_json, created_at)``: layers that are not in
  ``geodata/catalog.json`` (created by ``kfqmap import --new-layer``): the catalog record (title, group, style…)
  as JSON and where the layer came from. ``load_catalog`` lists them after the catalog's own layers; upgrades
  (``GeoPackageStore.sync``) only look at catalog layers, so store layers survive restarts and upgrades.
* ``kfqmap_imports(import_id, layer_id, mode, source, imported_by, imported_at, created_layer, previous,
  summary_json, undone_at, undone_by)``: one row per committed import; ``previous`` holds the layer's table as it
  was before (declared columns and every row, geometry blobs base64), NULL when the import created the layer.

``commit_table`` replaces a layer's table with the prepared frame and logs the import in **one** transaction
(``BEGIN IMMEDIATE`` … ``COMMIT``): a failure or a killed process leaves the store as it was. The layer counts
as edited afterwards, so an upgrade never re-seeds it over the import. ``undo`` restores the previous table
(same rows, same ``fid``s) in one transaction; only a layer's latest import can be undone.
"""
from __future__ import annotations

import base64
import json
from datetime import datetime, timezone

import geopandas as gpd

from ..errors import InvalidParameter, KFQMapError
from ..models import Layer
from . import gpkg

_TABLES = (
    """CREATE TABLE IF NOT EXISTS kfqmap_store_layers (layer_id TEXT PRIMARY KEY, layer_json TEXT NOT NULL,
       provenance_json TEXT, created_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS kfqmap_imports (import_id INTEGER PRIMARY KEY, layer_id TEXT NOT NULL,
       mode TEXT NOT NULL, source TEXT NOT NULL, imported_by TEXT, imported_at TEXT NOT NULL,
       created_layer INTEGER NOT NULL DEFAULT 0, previous TEXT, summary_json TEXT, undone_at TEXT, undone_by TEXT)""",
)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ensure(conn) -> None:
    """Create the tables (inside the caller's write transaction: a failed first import leaves no trace)."""
    for sql in _TABLES:
        conn.execute(sql)


def _has_log(conn) -> bool:
    return bool(conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'kfqmap_imports'").fetchall())


def store_layers(store) -> list[Layer]:
    """The layers the store defines itself (created by imports), in creation order. Imports land in the embedded
    GeoPackage store only: another store (``KFQMAP_STORE=postgis``) defines none."""
    if not isinstance(store, gpkg.GeoPackageStore):
        return []
    with store._lock:
        conn = store.conn
        have = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'kfqmap_store_layers'").fetchall()
        if not have:
            return []
        rows = conn.execute("SELECT layer_json FROM kfqmap_store_layers ORDER BY created_at, layer_id").fetchall()
    return [Layer.model_validate_json(r[0]) for r in rows]


def next_import_id(store) -> int:
    with store._lock:
        if not _has_log(store.conn):
            return 1
        return int(store.conn.execute("SELECT COALESCE(MAX(import_id), 0) + 1 FROM kfqmap_imports").fetchall()[0][0])


def import_log(store, layer_id: str | None = None) -> list[dict]:
    """Every import (newest first), without the saved previous rows."""
    with store._lock:
        if not _has_log(store.conn):
            return []
        cur = store.conn.execute(
            "SELECT import_id, layer_id, mode, source, imported_by, imported_at, created_layer, summary_json, "
            "undone_at, undone_by FROM kfqmap_imports WHERE ? IS NULL OR layer_id = ? ORDER BY import_id DESC",
            (layer_id, layer_id))
        names = [c[0] for c in cur.description]
        rows = cur.fetchall()
    out = []
    for row in rows:
        item = dict(zip(names, row))
        item["summary"] = json.loads(item.pop("summary_json") or "{}")
        item["created_layer"] = bool(item["created_layer"])
        out.append(item)
    return out


def _saved_table(conn, layer_id: str, layer_row: dict) -> str:
    """The layer's table as JSON: declared columns, every row (blobs base64), and its kfqmap_layers flags."""
    table = gpkg._quote(layer_id)
    columns = [(r[1], r[2]) for r in conn.execute(f"PRAGMA table_info({table})").fetchall()]
    rows = conn.execute(f"SELECT * FROM {table} ORDER BY fid").fetchall()
    encoded = [[{"b64": base64.b64encode(v).decode()} if isinstance(v, (bytes, memoryview)) else v for v in row]
               for row in rows]
    return json.dumps({"columns": columns, "rows": encoded, "edited": layer_row.get("edited", 0),
                       "json_columns": json.loads(layer_row.get("json_columns") or "[]")}, ensure_ascii=False)


def commit_table(store, layer: Layer, frame: gpd.GeoDataFrame, *, import_id: int, mode: str, source: str,
                 user: str | None, summary: dict, new_layer: bool, provenance: dict | None = None) -> None:
    """Replace ``layer``'s table with ``frame`` (WGS 84, the final rows) and log import ``import_id``; one
    transaction. ``new_layer``: also register ``layer`` in ``kfqmap_store_layers``."""
    frame, json_columns = gpkg._storable(frame)
    with store._lock:
        conn = store.conn
        row = store.layer_row(layer.id)
        if new_layer and (row is not None):
            raise InvalidParameter(f"内置数据库中已有图层 {layer.id}", parameter="new_layer")
        if not new_layer and row is None:
            raise InvalidParameter(f"内置数据库中没有图层 {layer.id}", parameter="layer")
        conn.execute("BEGIN IMMEDIATE")
        try:
            _ensure(conn)
            if not new_layer:
                store.reconcile_in(conn, layer)      # outside changes before the import stay recorded as such
            previous = None if new_layer else _saved_table(conn, layer.id, row)
            gpkg._drop_table(conn, layer.id)
            gpkg._create_feature_table(conn, layer, frame)
            conn.executemany("INSERT INTO gpkg_data_columns (table_name, column_name, name, mime_type) "
                             "VALUES (?, ?, ?, 'application/json')", [(layer.id, c, c) for c in json_columns])
            if row is None:
                conn.execute("INSERT INTO kfqmap_layers (layer_id, version, seed_hash, seeded_at, edited, "
                             "json_columns) VALUES (?, 1, NULL, ?, 1, ?)", (layer.id, _now(), json.dumps(json_columns)))
                conn.execute("INSERT INTO kfqmap_store_layers VALUES (?, ?, ?, ?)",
                             (layer.id, layer.model_dump_json(), json.dumps(provenance or {}, ensure_ascii=False),
                              _now()))
            else:
                conn.execute("UPDATE kfqmap_layers SET version = version + 1, edited = 1, json_columns = ? "
                             "WHERE layer_id = ?", (json.dumps(json_columns), layer.id))
            store._create_version_triggers(layer.id)
            # every feature the import added, changed or removed goes into the history (issue 13), by the importer
            store.record_rewrite(conn, layer, user=user, note=f"导入 {import_id}（{mode}，{source}）")
            conn.execute("INSERT INTO kfqmap_imports (import_id, layer_id, mode, source, imported_by, imported_at, "
                         "created_layer, previous, summary_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (import_id, layer.id, mode, source, user, _now(), int(new_layer), previous,
                          json.dumps(summary, ensure_ascii=False)))
            conn.execute("COMMIT")
        except BaseException as exc:
            conn.execute("ROLLBACK")
            if "UNIQUE constraint failed: kfqmap_imports" in str(exc):
                raise KFQMapError("另一个导入刚刚提交，请重新运行本次导入（import id taken）") from None
            raise


def undo(store, import_id: int, layer: Layer | None, *, user: str | None = None) -> dict:
    """Restore the layer of import ``import_id`` to what it was before (drop it if the import created it).
    ``layer``: the layer's catalog record (needed to recreate its table). Returns the log entry."""
    with store._lock:
        conn = store.conn
        if not _has_log(conn):
            raise InvalidParameter(f"没有编号为 {import_id} 的导入", parameter="undo")
        rows = conn.execute("SELECT layer_id, created_layer, previous, undone_at FROM kfqmap_imports "
                            "WHERE import_id = ?", (import_id,)).fetchall()
        if not rows:
            raise InvalidParameter(f"没有编号为 {import_id} 的导入", parameter="undo")
        layer_id, created, previous, undone_at = rows[0]
        if undone_at:
            raise InvalidParameter(f"导入 {import_id} 已于 {undone_at} 撤销", parameter="undo")
        later = conn.execute("SELECT import_id FROM kfqmap_imports WHERE layer_id = ? AND import_id > ? "
                             "AND undone_at IS NULL ORDER BY import_id", (layer_id, import_id)).fetchall()
        if later:
            raise InvalidParameter(f"图层 {layer_id} 在导入 {import_id} 之后还有导入 {later[-1][0]}：请先撤销较新的导入",
                                   parameter="undo")
        conn.execute("BEGIN IMMEDIATE")
        try:
            if layer is not None:
                store.reconcile_in(conn, layer)
            gpkg._drop_table(conn, layer_id)
            if created:
                conn.execute("DELETE FROM kfqmap_layers WHERE layer_id = ?", (layer_id,))
                conn.execute("DELETE FROM kfqmap_store_layers WHERE layer_id = ?", (layer_id,))
            else:
                _restore(store, conn, layer, json.loads(previous))
                store.record_rewrite(conn, layer, user=user, note=f"撤销导入 {import_id}")
            conn.execute("UPDATE kfqmap_imports SET undone_at = ?, undone_by = ? WHERE import_id = ?",
                         (_now(), user, import_id))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return next(item for item in import_log(store, layer_id) if item["import_id"] == import_id)


def _restore(store, conn, layer: Layer, saved: dict) -> None:
    """Recreate ``layer``'s table exactly as saved (declared types, rows, fids), inside the caller's transaction."""
    if layer is None:
        raise KFQMapError("撤销需要图层的目录记录")
    empty = gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=4326))
    gpkg._create_feature_table(conn, layer, empty)
    table = gpkg._quote(layer.id)
    have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})").fetchall()}
    names = [name for name, _ in saved["columns"]]
    for name, decl in saved["columns"]:
        if name not in have:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {gpkg._quote(name)} {decl or 'TEXT'}")
    rows = [[base64.b64decode(v["b64"]) if isinstance(v, dict) and "b64" in v else v for v in row]
            for row in saved["rows"]]
    if rows:
        conn.executemany(f"INSERT INTO {table} ({', '.join(map(gpkg._quote, names))}) "
                         f"VALUES ({', '.join('?' * len(names))})", rows)
    json_columns = saved.get("json_columns") or []
    conn.executemany("INSERT INTO gpkg_data_columns (table_name, column_name, name, mime_type) "
                     "VALUES (?, ?, ?, 'application/json')", [(layer.id, c, c) for c in json_columns])
    conn.execute("UPDATE kfqmap_layers SET version = version + 1, edited = ?, json_columns = ? WHERE layer_id = ?",
                 (saved.get("edited", 1), json.dumps(json_columns), layer.id))
    store._create_version_triggers(layer.id)
