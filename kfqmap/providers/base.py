"""The provider interface: what every backend of a layer (a file, the embedded GeoPackage store, PostGIS) offers.

A provider knows how to read and (when writable) change one layer's data, and how to tell whether that data has
changed: ``version()`` is a short string that changes whenever the data does (a write through KFQMap, or a change
made by another program such as QGIS or psql), and is cheap enough to ask on every request.

Two kinds of provider exist:

* **in-memory** providers (``pushdown = False``) hand the whole layer to the ``Collection`` as a GeoDataFrame
  (``snapshot()``); the collection builds its indexes, encoded GeoJSON and tile preparation from that frame once
  per version. Files, the embedded GeoPackage store and small PostGIS tables work this way.
* **pushdown** providers (``pushdown = True``) answer ``items``/``count``/``get``/``tile``/``area_stats`` in the
  database and never load the table. Large PostGIS tables work this way.

``docs/CONTRACTS.md`` ("Providers") documents this interface for anyone adding a backend (GeoParquet, a remote
OGC API...): implement ``Provider``, register a factory in ``kfqmap.providers.PROVIDERS`` and name it in a
layer's ``source``; no router changes are needed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import geopandas as gpd
import numpy as np

#: the fields every feature of a plan layer carries (docs/CONTRACTS.md); a write may not remove them
PROVENANCE_FIELDS = ("id", "name", "source", "placement", "accuracy_m", "illustrative", "schematic")


@dataclass(frozen=True)
class Snapshot:
    """One version of a layer's data as an in-memory provider returns it.

    ``frame`` is in EPSG:4326 with a unique string ``id`` column (the OGC feature id) and the index that column
    names; ``fids`` holds each row's stable integer key in the store (the MVT feature id), aligned with the rows.
    ``etags`` (a provider that keeps history): feature id → the ETag a writer must send in ``If-Match``, read in
    the same transaction as the rows (so a GET can send it without another store read); None when unknown.
    """

    version: str
    frame: gpd.GeoDataFrame
    fids: np.ndarray
    etags: dict[str, str] | None = None


@dataclass(frozen=True)
class WriteOp:
    """One change to one feature. ``feature`` is a GeoJSON Feature mapping in WGS 84 (create/replace) or a JSON
    merge patch ``{"geometry": ..., "properties": {...}}`` (update); ``feature_id`` names the target (not create)."""

    op: Literal["create", "replace", "update", "delete"]
    feature_id: str | None = None
    feature: dict[str, Any] | None = None
    #: the feature's ETag the change was based on (optimistic concurrency): a provider that keeps history checks
    #: it inside the transaction and raises ``PreconditionFailed`` when the feature changed since; None: no check
    if_match: str | None = None


@dataclass(frozen=True)
class ChangeContext:
    """Who makes a change, from where and why: written with every change into the history (``kfqmap.history``).
    ``restored_from`` is the history row a restore brings back."""

    user: str
    address: str | None = None
    note: str | None = None
    restored_from: int | None = None


@dataclass(frozen=True)
class WriteResult:
    """What a committed transaction did: the new version and the ids it touched, in order."""

    version: str
    ids: list[str] = field(default_factory=list)
    #: each touched feature's new ETag (None after a delete, or when the provider keeps no feature versions)
    etags: list[str | None] = field(default_factory=list)
    #: each touched feature as stored after the change (GeoJSON, WGS 84; None after a delete), when known
    features: list[dict | None] = field(default_factory=list)


@runtime_checkable
class Provider(Protocol):
    """A layer's data backend. Every method may raise ``DataSourceError``/``StoreUnavailable``."""

    #: True when ``apply()`` changes the data
    writable: bool
    #: True when queries run in the backend (``items``...), False when ``snapshot()`` gives the whole layer
    pushdown: bool

    def version(self) -> str:
        """A string that changes whenever the layer's data changes (cheap: called at most a few times a second)."""

    def snapshot(self) -> Snapshot:
        """The whole layer at its current version (in-memory providers only)."""

    def apply(self, ops: list[WriteOp], context: ChangeContext | None = None) -> WriteResult:
        """Apply ``ops`` in one transaction (all or nothing) and return the committed version.
        Read-only providers raise ``ReadOnlyLayer``. Providers with ``history = True`` write one history row
        per op (``context`` says who; None: the local user) inside the same transaction."""

    def describe(self) -> str:
        """Where the data lives, for the server log and the admin (never shown to anonymous clients)."""
