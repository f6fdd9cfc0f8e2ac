"""Layer data providers (see ``base.py`` for the interface): ``files`` (read-only files and in-memory frames),
``gpkg`` (the embedded, writable GeoPackage store) and ``postgis`` (a PostGIS table, writable, with pushdown for
large tables)."""
from .base import Provider, Snapshot, WriteOp, WriteResult

__all__ = ["Provider", "Snapshot", "WriteOp", "WriteResult"]
