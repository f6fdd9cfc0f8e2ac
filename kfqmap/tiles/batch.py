"""Many tiles of one zoom of one polygon layer in a single vectorised pass (``kfqmap tiles seed``).

Why: seeding z10–16 of a parcel layer means tens of thousands of tiles; one ``encode_layer`` call per tile pays its
fixed cost (candidate lookup, a few dozen numpy calls) for each. Here every (feature, tile) pair of the requested
tiles is formed at once, each pair's points quantised against its own tile, and all the tiles' feature streams
written by one ``varint_array`` call; the per-tile work left is slicing bytes. Same decoded features as
``encode_layer`` (``tests/kfqmap/test_tiles.py::test_encode_many_matches_encode``); every key is listed in each
tile.
"""
from __future__ import annotations


import numpy as np
import shapely

from .geometry import (BUFFER, DETAIL_ZOOM, LOOSE_CLIP, clean, command_stream, concat_ragged, polygon_runs,
                       ragged_polygons, take_ragged, valid_on_grid)
from .mvt import EXTENT, POLYGON, feature_stream, layer_bytes, varint_array
from .tilemath import ORIGIN, TileBounds, covered_tiles, matrix_width, tile_span

# ``LayerSource`` (kfqmap.tiles.prepare) is named in annotations as text only: prepare imports this module


def encode_many(src: LayerSource, z: int, tiles: np.ndarray, *, extent: int = EXTENT,
                buffer: int = BUFFER) -> tuple[dict[tuple[int, int], tuple[bytes, int]], set[tuple[int, int]]]:
    """Encode many tiles of zoom ``z`` (k×2 array of x, y) in one pass: the same bytes-for-meaning as
    ``encode`` (every key is listed in each tile). Returns ``({(x, y): (layer bytes, n)}, slow)``;
    ``slow`` (tiles to encode one by one) is empty today and kept for layers this pass cannot handle."""
    out: dict[tuple[int, int], tuple[bytes, int]] = {}
    ntile = matrix_width(z)
    size = tile_span(z)
    pad = size * buffer / extent
    req = np.unique(tiles[:, 0].astype(np.int64) * ntile + tiles[:, 1].astype(np.int64))
    # candidates: the STRtree over the requested tiles' overall extent (plus the buffer)
    rx, ry = req // ntile, req % ntile
    feats = np.sort(src.tree.query(shapely.box(-ORIGIN + rx.min() * size - pad, ORIGIN - (ry.max() + 1) * size - pad,
                                                -ORIGIN + (rx.max() + 1) * size + pad, ORIGIN - ry.min() * size + pad)))
    if z < DETAIL_ZOOM:
        feats = feats[src.minzoom[feats] <= z]
    owner, pkey = covered_tiles(src.bounds[feats], z, pad)[1]()
    pfeat = feats[owner]
    keep = np.isin(pkey, req)
    pkey, pfeat = pkey[keep], pfeat[keep]
    slow: set[tuple[int, int]] = set()
    if len(pkey) == 0:
        return out, slow
    order = np.lexsort((pfeat, pkey))
    pkey, pfeat = pkey[order], pfeat[order]
    npair = len(pkey)
    left = -ORIGIN + (pkey // ntile) * size
    top = ORIGIN - (pkey % ntile) * size
    # features reaching further than LOOSE_CLIP beyond their tile are clipped (per pair), as in encode()
    big = np.flatnonzero((src.bounds[pfeat, 0] < left - LOOSE_CLIP * size)
                         | (src.bounds[pfeat, 2] > left + size + LOOSE_CLIP * size)
                         | (src.bounds[pfeat, 1] < top - size - LOOSE_CLIP * size)
                         | (src.bounds[pfeat, 3] > top + LOOSE_CLIP * size))
    small = np.ones(npair, dtype=bool)
    small[big] = False
    small_idx = np.flatnonzero(small)
    rag = take_ragged(src._rag, src._rag_index[pfeat[small_idx]], src._rag_simple)
    pair_of_geom = small_idx
    if len(big):
        clipped = np.array([shapely.clip_by_rect(src.geoms[pfeat[i]], left[i] - pad, top[i] - size - pad,
                                                 left[i] + size + pad, top[i] + pad) for i in big], dtype=object)
        for k, i in enumerate(big):          # as encode_layer does: valid once quantised to the pair's tile
            tb = TileBounds(left[i], top[i] - size, left[i] + size, top[i])
            clipped[k:k + 1] = valid_on_grid(clipped[k:k + 1], tb, extent, buffer)
        fam = np.full(len(big), POLYGON, dtype=np.int8)
        ok = clean(clipped, fam, None)
        if ok.any():
            rag = concat_ragged(rag, ragged_polygons(clipped[ok]))
            pair_of_geom = np.concatenate([small_idx, big[ok]])
    # geometry: quantise each point against its pair's own tile
    gpts = rag.ring_off[rag.poly_off[rag.geom_off]]
    pt_pair = np.repeat(pair_of_geom, np.diff(gpts))
    scale = extent / size
    X = np.rint((rag.coords[:, 0] - left[pt_pair]) * scale).astype(np.int64)
    Y = np.rint((top[pt_pair] - rag.coords[:, 1]) * scale).astype(np.int64)
    px, py, rl, ro = polygon_runs(rag, pair_of_geom, None, extent, xy=(X, Y))
    geom, gown = command_stream(px, py, rl, ro, POLYGON)
    if len(gown) > 1 and (np.diff(gown) < 0).any():
        o = np.argsort(gown, kind="stable")
        geom, gown = geom[o], gown[o]
    if len(geom) == 0:
        return out, slow
    present = gown[np.concatenate(([True], gown[1:] != gown[:-1]))]     # gown is sorted
    remap = np.full(npair, -1, dtype=np.int64)
    remap[present] = np.arange(len(present))
    gown = remap[gown]
    pkey, pfeat = pkey[present], pfeat[present]
    npair = len(pkey)
    tiles_u, tstart = np.unique(pkey, return_index=True)
    tile_of_pair = np.searchsorted(tiles_u, pkey)
    # tags: every key listed; values local to each tile
    V = src.vidx[pfeat]
    valid = V >= 0
    rows, cols = np.nonzero(valid)
    nv = max(len(src.values.length), 1)
    comp = tile_of_pair[rows] * nv + V[rows, cols]
    ukeys = np.unique(comp)
    utile = ukeys // nv
    ufirst = np.searchsorted(utile, np.arange(len(tiles_u)))
    vlocal = np.searchsorted(ukeys, comp) - ufirst[tile_of_pair[rows]]
    tags = np.empty(2 * len(rows), dtype=np.uint64)
    tags[0::2] = cols
    tags[1::2] = vlocal
    tag_owner = np.repeat(rows, 2)
    types = np.full(npair, POLYGON, dtype=np.uint64)
    stream, fstart, snb = feature_stream(src.fids[pfeat], types, tags, tag_owner, geom, gown, npair)
    fbytes, nb = varint_array(stream, snb)
    bpos = np.concatenate(([0], np.cumsum(nb)))
    tile_bstart = bpos[fstart[tstart]]
    tile_bend = np.append(tile_bstart[1:], bpos[-1])
    # values bytes per tile
    vals = src.values
    g = ukeys % nv
    L = vals.length[g]
    S = vals.start[g]
    vbuf = vals.buf[np.repeat(S - (np.cumsum(L) - L), L) + np.arange(int(L.sum()))]
    vpos = np.concatenate(([0], np.cumsum(L)))
    vstart = vpos[ufirst]
    vend = np.append(vstart[1:], vpos[-1])
    nfeat_tile = np.diff(np.append(tstart, npair))
    keys = b"".join(src.key_bytes)
    fb = fbytes.tobytes()
    vb = vbuf.tobytes()
    for i, k in enumerate(tiles_u):
        layer = layer_bytes(src.name, fb[tile_bstart[i]:tile_bend[i]], keys, vb[vstart[i]:vend[i]], extent)
        out[(int(k // ntile), int(k % ntile))] = (layer, int(nfeat_tile[i]))
    return out, slow

# ------------------------------------------------------------------ encoding
