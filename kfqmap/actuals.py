"""Indicator actuals (实际值) in the embedded store: yearly values from 2021 with their source and who entered them.

Three tables of their own in the GeoPackage (``kfqmap.providers.gpkg``), beside ``kfqmap_layers``, never in
``geodata/``:

* ``kfqmap_indicator_actuals(indicator_id, year, value, value_text, source, entered_by, entered_at, via)`` — the
  current value per indicator and year; ``value_text`` is the number exactly as entered (the status rules compare
  it as a decimal, so 0.0031 is never 0.00309999…);
* ``kfqmap_indicator_actuals_log(id, indicator_id, year, old_value_text, new_value_text, source, entered_by,
  entered_at, via)`` — every change, append-only (who changed what, when, through which door: cli/api/xlsx);
* ``kfqmap_indicator_settings(indicator_id, warn_threshold, set_by, set_at)`` — the bureau's own warning threshold
  per indicator, overriding the default in the indicator table.

The same discipline as the store's feature writes: its connection, its thread lock, one ``BEGIN IMMEDIATE``
transaction per call (a whole XLSX sheet is one call): a failure rolls everything back, nothing is half-loaded.
Validation (known indicator, unit, year, number) is the caller's (``kfqmap.monitor``); this module only stores.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal

from .errors import ReadOnlyLayer

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS kfqmap_indicator_actuals (
        indicator_id TEXT NOT NULL, year INTEGER NOT NULL, value REAL NOT NULL, value_text TEXT NOT NULL,
        source TEXT, entered_by TEXT NOT NULL, entered_at TEXT NOT NULL, via TEXT NOT NULL,
        PRIMARY KEY (indicator_id, year))""",
    """CREATE TABLE IF NOT EXISTS kfqmap_indicator_actuals_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT, indicator_id TEXT NOT NULL, year INTEGER NOT NULL,
        old_value_text TEXT, new_value_text TEXT, source TEXT, entered_by TEXT NOT NULL, entered_at TEXT NOT NULL,
        via TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS kfqmap_indicator_settings (
        indicator_id TEXT PRIMARY KEY, warn_threshold TEXT NOT NULL, set_by TEXT NOT NULL, set_at TEXT NOT NULL)""",
)


@dataclass(frozen=True)
class Actual:
    indicator_id: str
    year: int
    value: Decimal
    source: str | None = None
    entered_by: str = ""
    entered_at: str = ""
    via: str = ""


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class ActualsStore:
    """Actuals, their log and the per-indicator thresholds in one embedded GeoPackage store."""

    def __init__(self, store):
        self.store = store
        self._ready = False

    @classmethod
    def of(cls, catalog) -> "ActualsStore | None":
        """The actuals of ``catalog``'s embedded store; None when the catalog serves files (``KFQMAP_STORE=files``)."""
        store = getattr(catalog, "store", None)
        if store is None or not hasattr(store, "conn"):   # files, or the PostGIS store: no GeoPackage to keep them
            return None
        cached = _BY_STORE.get(store)
        if cached is None:
            cached = _BY_STORE[store] = cls(store)
        return cached

    @staticmethod
    def require(catalog) -> "ActualsStore":
        a = ActualsStore.of(catalog)
        if a is None:
            raise ReadOnlyLayer("指标实际值保存在内置数据库中；当前的存储方式（KFQMAP_STORE=files 或 postgis）无法录入"
                                "（actuals need the embedded GeoPackage store）", parameter="indicator")
        return a

    # the store's own connection and thread lock (kfqmap.providers.gpkg.GeoPackageStore): one writer at a time
    def _conn(self):
        conn = self.store.conn
        if not self._ready:
            with self.store._lock:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    for ddl in _SCHEMA:
                        conn.execute(ddl)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            self._ready = True
        return conn

    def read(self) -> dict[str, dict[int, Actual]]:
        """Every actual: ``{indicator_id: {year: Actual}}``."""
        with self.store._lock:
            rows = self._conn().execute(
                "SELECT indicator_id, year, value_text, source, entered_by, entered_at, via "
                "FROM kfqmap_indicator_actuals ORDER BY indicator_id, year").fetchall()
        out: dict[str, dict[int, Actual]] = {}
        for iid, year, text, source, by, at, via in rows:
            out.setdefault(iid, {})[int(year)] = Actual(iid, int(year), Decimal(text), source, by, at, via)
        return out

    def thresholds(self) -> dict[str, Decimal]:
        with self.store._lock:
            rows = self._conn().execute("SELECT indicator_id, warn_threshold FROM kfqmap_indicator_settings").fetchall()
        return {iid: Decimal(t) for iid, t in rows}

    def log(self, indicator_id: str | None = None) -> list[dict]:
        sql = ("SELECT indicator_id, year, old_value_text, new_value_text, source, entered_by, entered_at, via "
               "FROM kfqmap_indicator_actuals_log")
        args: tuple = ()
        if indicator_id is not None:
            sql += " WHERE indicator_id = ?"
            args = (indicator_id,)
        with self.store._lock:
            rows = self._conn().execute(sql + " ORDER BY id", args).fetchall()
        keys = ("indicator_id", "year", "old_value", "new_value", "source", "entered_by", "entered_at", "via")
        return [dict(zip(keys, r)) for r in rows]

    def put(self, actuals: list[Actual], *, by: str, via: str) -> int:
        """Write ``actuals`` (validated by the caller) in one transaction; returns how many values changed."""
        at = _now()
        changed = 0
        with self.store._lock:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                for a in actuals:
                    text = _text(a.value)
                    old = conn.execute("SELECT value_text, source FROM kfqmap_indicator_actuals "
                                       "WHERE indicator_id = ? AND year = ?", (a.indicator_id, a.year)).fetchall()
                    if old and old[0][0] == text and old[0][1] == a.source:
                        continue
                    conn.execute("INSERT OR REPLACE INTO kfqmap_indicator_actuals VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                 (a.indicator_id, a.year, float(a.value), text, a.source, by, at, via))
                    conn.execute("INSERT INTO kfqmap_indicator_actuals_log (indicator_id, year, old_value_text, "
                                 "new_value_text, source, entered_by, entered_at, via) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                 (a.indicator_id, a.year, old[0][0] if old else None, text, a.source, by, at, via))
                    changed += 1
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return changed

    def set_threshold(self, indicator_id: str, threshold: Decimal, *, by: str) -> None:
        with self.store._lock:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("INSERT OR REPLACE INTO kfqmap_indicator_settings VALUES (?, ?, ?, ?)",
                             (indicator_id, _text(threshold), by, _now()))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise


#: one ActualsStore per open GeoPackageStore (its tables are created once)
_BY_STORE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _text(d: Decimal) -> str:
    """A decimal as plain text without exponent (0.0031, 1595.14, 30)."""
    return format(d, "f")       # as entered: 0.0030 stays 0.0030, 1e3 becomes 1000
