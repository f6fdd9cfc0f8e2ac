"""One layer's MVT ``Layer`` message for one tile: candidates, clipping, command streams, tags, values.

The steps (``encode_layer``): the tile's candidates come from the zoom's tile index (or the STRtree), features
below their minimum zoom are skipped, geometry is simplified (one tile unit, below z16, detailed layers only),
features reaching more than ``LOOSE_CLIP`` of a tile beyond its edge are clipped to the tile plus ``BUFFER`` (and
made valid on the grid, ``geometry.valid_on_grid``), the rest are sent whole (renderers clip at the tile edge;
clipping them buys nothing). With ``LayerSource.fast_paths`` on, unclipped polygons skip shapely altogether
(``geometry.take_ragged``) and one-ring polygon layers use the zoom's pre-encoded geometry (``pre.py``); every fast
path gives the general path's bytes (``tests/kfqmap/test_tiles.py``, ``test_tiles_pre.py``).
"""
from __future__ import annotations


import numpy as np
import shapely

from .geometry import (BUFFER, DETAIL_ZOOM, LOOSE_CLIP, clean, command_stream, concat_ragged, line_runs, polygon_runs,
                       quantise, ragged_polygons, take_ragged, valid_on_grid)
from .mvt import EXTENT, LINE, POINT, POLYGON, feature_stream, layer_bytes, varint_array
from .tilemath import TileBounds, tile_bounds

# ``LayerSource`` (kfqmap.tiles.prepare) is named in annotations as text only: prepare imports this module

TILE_INDEX_MIN_ZOOM = 13      #: from this zoom on, a layer keeps a tile → candidates index per zoom (built once)



def encode_layer(src: LayerSource, z: int, x: int, y: int, *, feature_zoom: int | None = None,
                 limit: int | None = None, extent: int = EXTENT, buffer: int = BUFFER) -> tuple[bytes, int]:
    """This layer's MVT ``Layer`` message for tile z/x/y (b"" if empty) and its feature count.

    ``feature_zoom`` picks the feature set of another zoom (lower = fewer features); default ``z``.
    ``limit`` keeps at most that many candidates, largest first (the size guard's last resort).
    """
    if src.n == 0:
        return b"", 0
    b = tile_bounds(z, x, y)
    pad = (b.right - b.left) * buffer / extent
    box = (b.left - pad, b.bottom - pad, b.right + pad, b.top + pad)
    fast_paths = src.fast_paths
    idx = (src.tile_index(z, extent, buffer) if fast_paths and feature_zoom is None and limit is None
           and z >= TILE_INDEX_MIN_ZOOM else None)
    if idx is not None:
        # the zoom's candidates of this tile: already filtered by minimum zoom and sorted
        keys, feats = idx
        lo, hi = keys.searchsorted(np.array([(x << z) + y, (x << z) + y + 1], dtype=np.int64))
        cand = feats[lo:hi]
    else:
        cand = src.tree.query(shapely.box(*box))
        if len(cand) == 0:
            return b"", 0
        fz = z if feature_zoom is None else feature_zoom
        if fz < DETAIL_ZOOM:
            cand = cand[src.minzoom[cand] <= fz]
        if limit is not None and len(cand) > limit:
            cand = cand[np.argsort(-src.priority[cand], kind="stable")[:limit]]
        cand = np.sort(cand)
    if len(cand) == 0:
        return b"", 0
    simplify = src.detailed and z < DETAIL_ZOOM
    bb = src.bounds[cand]
    # features that stay within LOOSE_CLIP of the tile are sent whole (renderers clip at the tile edge);
    # anything larger is clipped to the tile plus the buffer
    loose = (b.right - b.left) * LOOSE_CLIP
    inside = ((bb[:, 0] >= b.left - loose) & (bb[:, 1] >= b.bottom - loose)
              & (bb[:, 2] <= b.right + loose) & (bb[:, 3] <= b.top + loose))
    fast = None
    if fast_paths and not simplify and src._rag is not None:
        fast = inside & (src._rag_index[cand] >= 0)
        pre = src._pre.get((z, extent)) if idx is not None else None
        if pre is not None and fast.any():
            # the zoom's geometry is pre-encoded: unclipped polygons come from it, the others are clipped here
            others = None
            if not fast.all():
                opos = np.flatnonzero(~fast)
                oc, geom, gown = streams(src, cand[opos], inside[opos], None, src.geoms[cand[opos]], b, box,
                                         extent, buffer)
                others = (opos, geom, opos[np.searchsorted(cand[opos], oc)][gown] if len(gown) else gown)
            res = src._encode_pre(pre, cand, x, y, b, extent, others)
            if res is not None:
                return res
        if fast.all():
            # the common high-zoom case: every candidate is an unclipped polygon of the layer's ragged
            # arrays, so no object array, no shapely call, no clip; owners come out in order (no re-sort)
            rag = take_ragged(src._rag, src._rag_index[cand], src._rag_simple)
            px, py, rl, ro = polygon_runs(rag, np.arange(len(cand)), b, extent, simple=src._rag_simple)
            geom, gown = command_stream(px, py, rl, ro, POLYGON)
            return layer_from_streams(src, cand, geom, gown, extent)
        geoms = np.empty(len(cand), dtype=object)
        geoms[~fast] = src.geoms[cand[~fast]]
    elif simplify:
        geoms = src._simplified(z, extent)[cand]
    else:
        geoms = src.geoms[cand]
    cand, geom, gown = streams(src, cand, inside, fast, geoms, b, box, extent, buffer)
    return layer_from_streams(src, cand, geom, gown, extent)


def streams(src: LayerSource, cand: np.ndarray, inside: np.ndarray, fast: np.ndarray | None, geoms: np.ndarray,
             b: TileBounds, box: tuple, extent: int, buffer: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Command integers of ``cand`` (``geoms``: their geometries, None where ``fast``: taken from the ragged
    arrays): features beyond ``inside`` clipped to ``box``, emptied ones dropped. Returns (the candidates
    left, command integers, their owners as positions in those candidates, ascending)."""
    if not inside.all():
        geoms = geoms.copy()
        out = ~inside
        geoms[out] = shapely.clip_by_rect(geoms[out], *box)
        out &= src.family[cand] == POLYGON
        if out.any():
            geoms[out] = valid_on_grid(geoms[out], b, extent, buffer)
        keep = clean(geoms, src.family[cand], fast)
        geoms, cand, inside = geoms[keep], cand[keep], inside[keep]
        fast = fast[keep] if fast is not None else None
        if len(cand) == 0:
            return cand, np.zeros(0, np.uint64), np.zeros(0, np.int64)
    fam = src.family[cand]
    parts, owners = [], []
    local = np.arange(len(cand))
    for kind in (POLYGON, LINE, POINT):
        m = fam == kind
        if not m.any():
            continue
        if kind == POLYGON:
            if fast is not None:
                # unclipped, unsimplified polygons come straight from the layer's ragged arrays
                fm = m & fast
                sm = m & ~fast
                rag = take_ragged(src._rag, src._rag_index[cand[fm]], src._rag_simple)
                rag = concat_ragged(rag, ragged_polygons(geoms[sm]))
                own = np.concatenate([local[fm], local[sm]])
            else:
                rag, own = ragged_polygons(geoms[m]), local[m]
            px, py, rl, ro = polygon_runs(rag, own, b, extent)
        elif kind == LINE:
            px, py, rl, ro = line_runs(geoms[m], local[m], b, extent)
        else:
            coords, gi = shapely.get_coordinates(geoms[m], return_index=True)
            px, py = quantise(coords, b, extent)
            lim = (px >= -buffer) & (px <= extent + buffer) & (py >= -buffer) & (py <= extent + buffer)
            px, py, gi = px[lim], py[lim], gi[lim]
            ro_all = local[m][gi]
            if len(ro_all):
                chg = np.ones(len(ro_all), dtype=bool)
                chg[1:] = ro_all[1:] != ro_all[:-1]
                ro = ro_all[chg]
                rl = np.diff(np.append(np.flatnonzero(chg), len(ro_all)))
            else:
                ro, rl = ro_all, np.zeros(0, np.int64)
        s, o = command_stream(px, py, rl, ro, kind)
        parts.append(s)
        owners.append(o)
    geom = np.concatenate(parts)
    gown = np.concatenate(owners)
    if len(gown) > 1 and (np.diff(gown) < 0).any():
        order = np.argsort(gown, kind="stable")
        geom, gown = geom[order], gown[order]
    return cand, geom, gown


def tile_tags(src: LayerSource, feats: np.ndarray):
    """Tags of ``feats`` (key and value numbers local to the tile, grouped by feature), their owners (local
    feature numbers), and the global value and key numbers the tile uses (sorted)."""
    V = src.vidx[feats]
    valid = V >= 0
    rows, cols = np.nonzero(valid)
    gvals = V[rows, cols]
    srt = np.sort(gvals)
    used_vals = srt[np.concatenate(([True], srt[1:] != srt[:-1]))] if len(srt) else srt
    vlocal = np.searchsorted(used_vals, gvals)
    used_keys = np.flatnonzero(valid.any(axis=0))
    if len(used_keys) == len(src.keys):
        kl = cols
    else:
        klocal = np.full(len(src.keys), -1, dtype=np.int64)
        klocal[used_keys] = np.arange(len(used_keys))
        kl = klocal[cols]
    tags = np.empty(2 * len(rows), dtype=np.uint64)
    tags[0::2] = kl
    tags[1::2] = vlocal
    return tags, np.repeat(rows, 2), used_vals, used_keys

def layer_message(src: LayerSource, features: bytes, used_vals: np.ndarray, used_keys: np.ndarray,
                  extent: int) -> bytes:
    """The Layer message around encoded features: version, name, features, the used keys and values, extent."""
    vals = src.values
    if len(used_vals):
        L = vals.length[used_vals]
        S = vals.start[used_vals]
        gather = np.repeat(S - (np.cumsum(L) - L), L) + np.arange(int(L.sum()))
        values = vals.buf[gather].tobytes()
    else:
        values = b""
    keys = b"".join(src.key_bytes[k] for k in used_keys)
    return layer_bytes(src.name, features, keys, values, extent)


def layer_from_streams(src: LayerSource, cand: np.ndarray, geom: np.ndarray, gown: np.ndarray,
                       extent: int) -> tuple[bytes, int]:
    """The Layer message from the command stream ``geom`` of the candidates ``cand`` (``gown``: local owner of
    each command integer, ascending): features without geometry left are dropped; tags, keys, values."""
    if len(geom) == 0:
        return b"", 0
    # local feature numbers that kept some geometry (gown is sorted: runs, not np.unique's hash)
    present = gown[np.concatenate(([True], gown[1:] != gown[:-1]))]
    nfeat = len(present)
    remap = np.full(len(cand), -1, dtype=np.int64)
    remap[present] = np.arange(nfeat)
    gown = remap[gown]
    feats = cand[present]
    types = src.family[feats].astype(np.uint64)   # POINT/LINE/POLYGON are MVT's GeomType numbers

    tags, tag_owner, used_vals, used_keys = tile_tags(src, feats)
    stream, _, snb = feature_stream(src.fids[feats], types, tags, tag_owner, geom, gown, nfeat)
    features = varint_array(stream, snb)[0].tobytes()
    return layer_message(src, features, used_vals, used_keys, extent), nfeat


