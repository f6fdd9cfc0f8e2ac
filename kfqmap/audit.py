"""Audit reports: the history rows (``kfqmap.history``) as a table for people — 北京时间, Chinese headers — and as
an Excel file (``kfqmap audit --out audit.xlsx``)."""
from __future__ import annotations

from pathlib import Path

from . import history
from .history import Change, beijing, changed_properties

OPS_ZH = {"create": "新增", "replace": "替换", "update": "修改", "delete": "删除"}
HEADERS = ("序号", "时间（北京时间）", "时间（UTC）", "用户", "图层", "要素", "操作", "修改内容", "修改说明", "客户端地址",
           "恢复自")


def rows(changes: list[Change]) -> list[tuple]:
    """One row per change, in ``HEADERS`` order."""
    out = []
    for ch in changes:
        op = OPS_ZH.get(ch.op, ch.op) + ("（恢复）" if ch.restored_from else "")
        out.append((ch.seq, beijing(ch.at), ch.at, ch.user, ch.layer_id, ch.feature_id, op,
                    "、".join(changed_properties(ch)), ch.note or "", ch.address or "", ch.restored_from or ""))
    return out


def write_xlsx(changes: list[Change], path: Path) -> None:
    """The audit rows as an .xlsx workbook with one sheet, 修改记录."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "修改记录"
    sheet.append(HEADERS)
    for row in rows(changes):
        sheet.append(list(row))
    for column, width in zip("ABCDEFGHIJK", (8, 20, 26, 14, 20, 20, 10, 30, 30, 16, 8)):
        sheet.column_dimensions[column].width = width
    sheet.freeze_panes = "A2"
    book.save(path)


def collect(catalog, *, user: str | None = None, layer: str | None = None, start: str | None = None,
            end: str | None = None, limit: int = 100_000) -> list[Change]:
    """Every recorded change matching the conditions, from the embedded store (all its layers) and from each
    PostGIS layer that keeps history (its own ``kfqmap.history``), oldest first. ``start``/``end``: UTC strings
    (``history.parse_time``)."""
    query = {"user": user, "start": start, "end": end, "limit": limit}
    changes: list[Change] = []
    if layer is not None:
        collection = catalog.collection(layer)
        if collection.keeps_history:
            changes = collection.provider.audit(**query)
        return changes
    embedded = catalog.store if hasattr(catalog.store, "history") else None     # the GeoPackage store
    if embedded is not None:
        changes += embedded.history(lambda conn: history.audit(conn, **query))
    for layer_id in catalog.ids:
        collection = catalog.collection(layer_id)
        provider = collection.provider
        if (embedded is None or getattr(provider, "store", None) is not embedded) and collection.keeps_history:
            changes += provider.audit(**query)
    return sorted(changes, key=lambda c: (c.at, c.seq))[:limit]
