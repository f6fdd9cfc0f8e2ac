"""``LayerSource``: one layer prepared for tiling, once — projected geometry, bounds, STRtree, the MVT value table,
feature ids, and each feature's minimum zoom (thinning); per zoom, on first use, simplified geometry and a tile
index. Encoding is in ``encode.py`` (one tile), ``batch.py`` (many tiles) and ``pre.py`` (pre-encoded geometry).

Feature dropping at low zooms (tippecanoe-like, ``--drop-densest-as-needed`` in spirit): working down from z15, a
zoom keeps every feature of the zoom above unless some tile would hold more than ``FEATURE_BUDGET`` features
(counted by centroid); then the layer is **thinned on a grid** of ``DROP_GRID`` × ``DROP_GRID`` cells per tile,
keeping in each cell the feature with the largest area (length for lines). The kept sets are nested (a feature
visible at z is visible at every zoom above), so tiles agree across their edges. The small plan layers never reach
the budget and are never thinned. Measured (``bench/profile_inproc.py -n 50000``, 2 shared cores): preparing
50,000 parcels takes 1.3 s; the first tile of z14 / z16, which builds that zoom's tile index and pre-encoded
geometry, ~0.2–0.3 s (~0.4 s and ~12 MB per zoom for 200,000 parcels, bench/README.md).
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from . import batch, encode, pre
from .geometry import BUFFER, DETAIL_ZOOM, ragged_polygons
from .mvt import EXTENT, LINE, POINT, POLYGON, field_bytes, field_type, value_entries
from .tilemath import ORIGIN, covered_tiles, lonlat_to_mercator, matrix_width, mercator_to_lonlat, tile_span

FEATURE_BUDGET = 2500         #: thinning starts at a zoom where a tile would hold more features than this
DROP_GRID = 48                #: thinning keeps one feature per (tile / DROP_GRID)² cell


@dataclass
class _Values:
    buf: np.ndarray      # uint8: every value as a layer field-4 entry, concatenated
    start: np.ndarray    # int64 offsets into buf
    length: np.ndarray   # int64


class LayerSource:
    """One layer prepared for tiling: 3857 geometry, bounds, STRtree, value table, feature ids and minimum zooms.

    ``frame``: a GeoDataFrame in EPSG:4326 (rows without geometry are left out of the tiles). ``fids``: each
    row's MVT feature id (uint64, aligned with the frame's rows; default the row number + 1) — pass the layer's
    stable ids so that a feature keeps its id across edits. ``detailed``: simplify below z16 (default: when the
    layer averages more than 12 vertices per feature).

    ``fast_paths`` (class attribute, default True) is the one switch for the encoder's fast paths: the per-zoom
    tile index (z ≥ ``encode.TILE_INDEX_MIN_ZOOM``), unclipped polygons taken from the ragged arrays without shapely, and
    pre-encoded geometry for one-ring polygon layers. Every one gives the general path's bytes; set it False on a
    source (or on the class) to encode through the general path only — for tests and for finding a bug.
    Measured (``bench/profile_inproc.py -n 50000 --tiles-only``, in-process p50 per tile, 2 shared cores), with /
    without: z10 7.8 / 26.7 ms, z12 9.9 / 32.4 ms, z14 1.9 / 12.5 ms, z16 0.66 / 2.5 ms.
    """

    fast_paths: bool = True

    def __init__(self, name: str, frame, *, detailed: bool | None = None, fids=None):
        self.name = name
        self._frame = frame                                 # the catalog's cached frame (attributes on demand)
        geoms4326 = np.asarray(frame.geometry.values, dtype=object)
        present = ~(shapely.is_missing(geoms4326) | shapely.is_empty(geoms4326))
        self.rows = np.flatnonzero(present)                 # row positions in the frame
        geoms = shapely.transform(geoms4326[present], lambda c: np.column_stack(lonlat_to_mercator(c[:, 0], c[:, 1])))
        self.geoms = geoms
        self.n = len(geoms)
        self.bounds = shapely.bounds(geoms) if self.n else np.zeros((0, 4))
        self.tree = shapely.STRtree(geoms)
        tid = shapely.get_type_id(geoms)
        self.family = np.select([np.isin(tid, (0, 4)), np.isin(tid, (1, 2, 5))], [POINT, LINE], POLYGON).astype(np.int8)
        ncoords = shapely.get_num_coordinates(geoms)
        polys = np.flatnonzero(np.isin(tid, (3, 6)))
        self._rag = ragged_polygons(geoms[polys]) if len(polys) else None
        self._rag_simple = bool(self._rag is not None and len(self._rag.ring_off) == len(self._rag.geom_off))
        self._rag_index = np.full(self.n, -1, dtype=np.int64)
        self._rag_index[polys] = np.arange(len(polys))
        self._simple: dict[tuple[int, int], np.ndarray] = {}
        self._tile_idx: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray] | None] = {}
        self._pre: dict[tuple[int, int], pre.PreGeom] = {}
        self._fid_nb: np.ndarray | None = None
        self._all_valid = False
        self.detailed = bool(detailed if detailed is not None else (self.n and ncoords.mean() > 12))
        if fids is None:
            self.fids = (self.rows + 1).astype(np.uint64)   # MVT feature id = row number (1-based)
        else:
            fids = np.asarray(fids)
            if fids.shape != (len(frame),):
                raise ValueError(f"fids: {fids.shape[0] if fids.ndim else 0} ids for {len(frame)} rows of '{name}'")
            if len(fids) and (fids.dtype.kind not in "iu" or (fids < 0).any()):
                raise ValueError(f"fids of '{name}' must be non-negative integers (MVT feature ids are uint64)")
            self.fids = fids.astype(np.uint64)[self.rows]
        self._prepare_properties(frame.iloc[self.rows])
        self.priority = np.where(self.family == POLYGON, shapely.area(geoms), shapely.length(geoms)) \
            if self.n else np.zeros(0)
        self.minzoom = self._minzooms()
        self.zoom_levels = np.unique(self.minzoom)
        if self.n:
            b = self.bounds
            lon0, lat0 = mercator_to_lonlat(b[:, 0].min(), b[:, 1].min())
            lon1, lat1 = mercator_to_lonlat(b[:, 2].max(), b[:, 3].max())
            self.lonlat_bounds = (float(lon0), float(lat0), float(lon1), float(lat1))
        else:
            self.lonlat_bounds = (-180.0, -85.0511, 180.0, 85.0511)

    def column(self, name: str) -> np.ndarray:
        """Values of one attribute, aligned with ``self.geoms`` (None where the layer lacks the column)."""
        if name not in self._frame.columns:
            return np.full(self.n, None, dtype=object)
        return self._frame[name].to_numpy(dtype=object)[self.rows]

    # ------------------------------------------------------------------ properties
    def _prepare_properties(self, frame) -> None:
        cols = [c for c in frame.columns if c != frame.geometry.name]
        self.keys = cols
        self.key_bytes = [field_bytes(3, c.encode("utf-8")) for c in cols]
        self.fields = {c: field_type(frame[c]) for c in cols}
        vidx = np.full((len(frame), len(cols)), -1, dtype=np.int64)
        bufs: list[np.ndarray] = []
        lens: list[np.ndarray] = []
        offset = 0
        for k, col in enumerate(cols):
            series = frame[col]
            values = series.to_numpy()
            if series.dtype == object or not isinstance(values, np.ndarray):
                values = series.to_numpy(dtype=object)
                # nested values (``figures``) become JSON strings: MVT holds no nested values
                values = np.array([json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict, tuple)) else v
                                   for v in values], dtype=object)
            codes, uniques = pd.factorize(values, use_na_sentinel=True)
            uniques = np.asarray(uniques)
            buf, ln, keep = value_entries(uniques)
            remap = np.full(len(uniques) + 1, -1, dtype=np.int64)
            remap[np.flatnonzero(keep)] = offset + np.arange(int(keep.sum()))
            offset += int(keep.sum())
            bufs.append(buf)
            lens.append(ln)
            vidx[:, k] = remap[codes]                       # codes == -1 → remap[-1] == -1
        self.vidx = vidx
        lengths = np.concatenate(lens) if lens else np.zeros(0, np.int64)
        self.values = _Values(np.concatenate(bufs) if bufs else np.zeros(0, np.uint8),
                              np.cumsum(lengths) - lengths, lengths)

    # ------------------------------------------------------------------ dropping
    def _minzooms(self) -> np.ndarray:
        minzoom = np.zeros(self.n, dtype=np.int8)
        if self.n <= FEATURE_BUDGET:
            return minzoom
        priority = self.priority
        cx = (self.bounds[:, 0] + self.bounds[:, 2]) / 2 + ORIGIN
        cy = ORIGIN - (self.bounds[:, 1] + self.bounds[:, 3]) / 2
        kept = np.arange(self.n)
        minzoom[:] = DETAIL_ZOOM
        for z in range(DETAIL_ZOOM - 1, -1, -1):
            ntiles = matrix_width(z)
            size = tile_span(z)
            tx = np.floor(cx[kept] / size).astype(np.int64)
            ty = np.floor(cy[kept] / size).astype(np.int64)
            _, counts = np.unique(tx * ntiles + ty, return_counts=True)
            if counts.max() > FEATURE_BUDGET:
                g = ntiles * DROP_GRID
                cell = size / DROP_GRID
                key = (np.floor(cx[kept] / cell).astype(np.int64) * g
                       + np.floor(cy[kept] / cell).astype(np.int64))
                order = np.lexsort((-priority[kept], key))
                skey = key[order]
                firsts = np.ones(len(order), dtype=bool)
                firsts[1:] = skey[1:] != skey[:-1]
                kept = np.sort(kept[order[firsts]])
            minzoom[kept] = z
        return minzoom

    def _simplified(self, z: int, extent: int) -> np.ndarray:
        """The layer simplified with a tolerance of one tile unit at zoom ``z`` (cached per zoom)."""
        key = (z, extent)
        cached = self._simple.get(key)
        if cached is None:
            tol = tile_span(z) / extent
            cached = shapely.simplify(self.geoms, tol, preserve_topology=True)
            if len(self._simple) < 32:
                self._simple[key] = cached
        return cached

    def tile_index(self, z: int, extent: int = EXTENT, buffer: int = BUFFER) -> tuple[np.ndarray, np.ndarray] | None:
        """Zoom ``z``'s tile → candidates index (built once per zoom, vectorised): every (tile key ``x·2^z + y``,
        feature) pair where the feature's bounds reach the tile plus its buffer and the feature is shown at ``z``,
        sorted by tile then feature; a tile's candidates are one slice (no STRtree query, filter or sort).
        None (the STRtree is used) when features span too many tiles at this zoom or 8 zooms are indexed."""
        key = (z, extent, buffer)
        if key in self._tile_idx:
            return self._tile_idx[key]
        feats = np.arange(self.n) if z >= DETAIL_ZOOM else np.flatnonzero(self.minzoom <= z)
        size = tile_span(z)
        pad = size * buffer / extent
        cnt, expand = covered_tiles(self.bounds[feats], z, pad)
        result = None
        if int(cnt.sum()) <= 4 * max(len(feats), 1) and len(self._tile_idx) < 8:
            owner, pkey = expand()
            pfeat = feats[owner]
            order = np.lexsort((pfeat, pkey))
            result = (pkey[order], pfeat[order])
            if self.fast_paths and self._rag_simple and not (self.detailed and z < DETAIL_ZOOM):
                self._pre[(z, extent)] = pre.pre_geometry(self._rag, z, extent)
        self._tile_idx[key] = result
        return result

    # ------------------------------------------------------------------ encoding (encode.py, batch.py, pre.py)
    def batchable(self, z: int | None = None) -> bool:
        """Polygon layers without simplification (at ``z``) can encode many tiles of a zoom in one pass."""
        simplified = self.detailed and (z is None or z < DETAIL_ZOOM)
        return bool(self.n and self._rag is not None and not simplified and (self._rag_index >= 0).all())

    def encode(self, z: int, x: int, y: int, *, feature_zoom: int | None = None, limit: int | None = None,
               extent: int = EXTENT, buffer: int = BUFFER) -> tuple[bytes, int]:
        """This layer's MVT ``Layer`` message for tile z/x/y (b"" if empty) and its feature count.

        ``feature_zoom`` picks the feature set of another zoom (lower = fewer features); default ``z``.
        ``limit`` keeps at most that many candidates, largest first (the size guard's last resort).
        """
        return encode.encode_layer(self, z, x, y, feature_zoom=feature_zoom, limit=limit, extent=extent,
                                   buffer=buffer)

    def encode_many(self, z: int, tiles: np.ndarray, *, extent: int = EXTENT,
                    buffer: int = BUFFER) -> tuple[dict[tuple[int, int], tuple[bytes, int]], set[tuple[int, int]]]:
        """Many tiles of zoom ``z`` (k×2 array of x, y) in one pass (``batch.encode_many``)."""
        return batch.encode_many(self, z, tiles, extent=extent, buffer=buffer)

    def _encode_pre(self, pre_geom: pre.PreGeom, cand: np.ndarray, x: int, y: int, b, extent: int,
                    others=None) -> tuple[bytes, int] | None:
        """A tile from the zoom's pre-encoded geometry, or None to use the ordinary path (``pre.encode_pre``)."""
        return pre.encode_pre(self, pre_geom, cand, x, y, b, extent, others)
