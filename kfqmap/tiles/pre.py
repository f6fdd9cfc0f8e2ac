"""Pre-encoded geometry for layers of one-ring polygons (parcels): each zoom's polygons encoded once, reused by every
tile of that zoom.

Why: inside a tile only the first MoveTo point of an unclipped polygon depends on the tile; the rest of its command
stream (LineTo deltas, ClosePath) is the same in every tile of the zoom. ``pre_geometry`` encodes those tails once
per zoom with the tile index (~0.4 s and ~12 MB per zoom for 200,000 parcels), and ``encode_pre`` builds a tile as
its features' heads (id, tags, lengths, first point) around the pre-encoded tails, with clipped features encoded the
ordinary way. Same bytes as the ordinary path (points whose rounding could differ are checked per tile, with a
fallback to the ordinary path); what it saves is in ``LayerSource``'s docstring.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .encode import layer_message, tile_tags
from .geometry import Ragged, command_stream, polygon_runs, quantise
from .mvt import POLYGON, varint_array, varint_sizes, zigzag
from .tilemath import ORIGIN, TileBounds, tile_span

# ``LayerSource`` (kfqmap.tiles.prepare) is named in annotations as text only: prepare imports this module


class PreGeom(NamedTuple):
    """One zoom's geometry of every one-ring polygon of a layer's ragged arrays, encoded once (``pre_geometry``)."""

    scale: float         # pixels per metre at this zoom; global pixel = rint((x + ORIGIN)·scale), rint((ORIGIN − y)·scale)
    x0: np.ndarray       # per polygon: its first emitted point on the global grid
    y0: np.ndarray
    start: np.ndarray    # per polygon: offset of its encoded tail in ``buf``
    length: np.ndarray   # per polygon: bytes of the tail; -1 when the ring collapses at this zoom (no geometry)
    buf: np.ndarray      # uint8: LineTo command, zigzag deltas and ClosePath of every polygon, as varints
    safe: np.ndarray     # per polygon: no coordinate near a rounding tie, so no tile can quantise it differently


def pre_geometry(rag: Ragged, z: int, extent: int) -> PreGeom:
    """Encode the rings of a one-ring-per-geometry ragged array once for zoom ``z``.

    Inside a tile, a point's quantised position is its position on the zoom's global pixel grid minus the tile's
    offset (``x·extent``, ``y·extent``), up to float rounding: ``LayerSource._encode_pre`` checks that equality
    for every point of a tile and falls back to the ordinary path when it does not hold. Given it, everything
    the encoder derives from a ring — repeated points dropped, orientation, degenerate rings, zigzag deltas —
    is the same in every tile (the ring is translated by whole pixels; here each ring is taken relative to its
    own first point, so the integers stay small and the shoelace sums exact as in a tile), and only the first
    MoveTo point depends on the tile.

    That equality can only fail for a coordinate whose global pixel position lies within float error of a
    rounding tie (x.5): the tile path's error (tile edge and width rounded in metres, then scaled) and this
    one's (``c + ORIGIN`` rounded, then scaled) are each of the order of 1e-12·2^z px (the two differed by at
    most 6e-8 px at z16 and 7e-6 px at z22 over the 200,000 bench parcels). A polygon none of whose coordinates
    lies within ``2^z·1e-10`` px of a tie (~60× that) is marked ``safe`` and its points need no per-tile
    check; tiles holding any other polygon check every point.
    """
    size = tile_span(z)
    s = extent / size
    c = rag.coords
    fx = (c[:, 0] + ORIGIN) * s
    fy = (ORIGIN - c[:, 1]) * s
    gx = np.rint(fx).astype(np.int64)
    gy = np.rint(fy).astype(np.int64)
    margin = (1 << z) * 1e-10
    near = (np.abs(fx - np.floor(fx) - 0.5) < margin) | (np.abs(fy - np.floor(fy) - 0.5) < margin)
    nr = len(rag.ring_off) - 1
    pt_ring = np.repeat(np.arange(nr), np.diff(rag.ring_off))
    safe = np.bincount(pt_ring[near], minlength=nr) == 0
    ring_len = np.diff(rag.ring_off)
    first = np.minimum(rag.ring_off[:-1], max(len(c) - 1, 0))
    tx = np.repeat(gx[first], ring_len) if len(c) else gx
    ty = np.repeat(gy[first], ring_len) if len(c) else gy
    px, py, rl, ro = polygon_runs(rag, np.arange(nr), None, extent, xy=(gx - tx, gy - ty), simple=True)
    x0 = np.zeros(nr, dtype=np.int64)
    y0 = np.zeros(nr, dtype=np.int64)
    start = np.zeros(nr, dtype=np.int64)
    length = np.full(nr, -1, dtype=np.int64)
    if len(rl) == 0:
        return PreGeom(s, x0, y0, start, length, np.zeros(0, np.uint8), safe)
    pfirst = np.cumsum(rl) - rl
    x0[ro] = px[pfirst] + gx[first[ro]]
    y0[ro] = py[pfirst] + gy[first[ro]]
    geom, _ = command_stream(px, py, rl, ro, POLYGON)
    run_total = 2 * rl + 3
    run_start = np.cumsum(run_total) - run_total
    tail = np.ones(len(geom), dtype=bool)
    tail[run_start] = tail[run_start + 1] = tail[run_start + 2] = False     # MoveTo and its (tile-dependent) point
    buf, nb = varint_array(geom[tail])
    bpos = np.concatenate(([0], np.cumsum(nb)))
    tstart = run_start - 3 * np.arange(len(rl))                             # each run's first tail value
    start[ro] = bpos[tstart]
    length[ro] = bpos[tstart + 2 * rl] - bpos[tstart]
    return PreGeom(s, x0, y0, start, length, buf, safe)


def encode_pre(src: LayerSource, pre: PreGeom, cand: np.ndarray, x: int, y: int, b: TileBounds, extent: int,
               others: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> tuple[bytes, int] | None:
    """The Layer message of a tile from the zoom's pre-encoded geometry (``pre_geometry``), where only the first
    MoveTo point of each polygon depends on the tile.

    ``cand``: the tile's candidates (sorted); all are unclipped one-ring polygons unless ``others`` is given:
    ``(positions in cand, command integers, their owners as positions in cand, ascending)`` of the candidates
    encoded the ordinary way (the clipped ones). Unless every pre-encoded polygon is ``safe`` (no coordinate
    near a rounding tie), every point is quantised against this tile as ``encode`` does and compared with its
    pre-quantised position moved by the tile's offset; on any difference None is returned and the caller
    encodes the tile the ordinary way, so the bytes are always the ordinary path's bytes."""
    ox, oy = x * extent, y * extent
    if others is None:
        pc = cand
    else:
        opos, ogeom, oown = others
        is_pre = np.ones(len(cand), dtype=bool)
        is_pre[opos] = False
        pc = cand[is_pre]
    ri = src._rag_index[pc]
    if not pre.safe[ri].all():
        ring_off = src._rag.ring_off
        s0 = ring_off[ri]
        npt = ring_off[ri + 1] - s0
        off = np.cumsum(npt) - npt
        pts = np.arange(int(off[-1] + npt[-1])) - np.repeat(off - s0, npt)
        c = src._rag.coords[pts]
        lx, ly = quantise(c, b, extent)
        gx = np.rint((c[:, 0] + ORIGIN) * pre.scale).astype(np.int64)      # as in pre_geometry
        gy = np.rint((ORIGIN - c[:, 1]) * pre.scale).astype(np.int64)
        if not (np.array_equal(lx, gx - ox) and np.array_equal(ly, gy - oy)):
            return None
    tlen = pre.length[ri]                             # -1: the ring collapses at this zoom (no geometry)
    if others is None:
        ispre = None
        has = tlen >= 0
        if not has.all():
            cand, ri, tlen = cand[has], ri[has], tlen[has]
            if len(cand) == 0:
                return b"", 0
    else:
        # merge: pre-encoded features and ordinarily encoded ones (their whole geometry is the "tail")
        gnb = varint_sizes(ogeom)
        gbytes = varint_array(ogeom, gnb)[0] if len(ogeom) else np.zeros(0, np.uint8)
        glen = np.bincount(oown, weights=gnb, minlength=len(cand)).astype(np.int64)
        tl_all = np.where(glen > 0, glen, -1)
        tl_all[is_pre] = tlen
        ri_all = np.zeros(len(cand), dtype=np.int64)
        ri_all[is_pre] = ri
        has = tl_all >= 0
        cand, ispre, tlen, ri = cand[has], is_pre[has], tl_all[has], ri_all[has]
        if len(cand) == 0:
            return b"", 0
    nfeat = len(cand)
    zx = zigzag(pre.x0[ri] - ox)
    zy = zigzag(pre.y0[ri] - oy)
    if src._fid_nb is None:
        src._fid_nb = varint_sizes(src.fids)
        src._all_valid = bool(len(src.keys)) and bool((src.vidx >= 0).all())
    fids = src.fids[cand]
    fnb = src._fid_nb[cand]
    sz = varint_sizes(np.concatenate([zx, zy]))
    zxnb, zynb = sz[:nfeat], sz[nfeat:]
    movelen = 1 + zxnb + zynb                          # MoveTo(1) x y, ahead of the pre-encoded tail
    if ispre is not None:
        movelen = np.where(ispre, movelen, 0)
    geomlen = movelen + tlen
    if src._all_valid:
        # every feature has every key: one row of varints per feature, columns filled whole
        K = len(src.keys)
        gvals = src.vidx[cand].ravel()
        srt = np.sort(gvals)
        used_vals = srt[np.concatenate(([True], srt[1:] != srt[:-1]))]
        vloc = np.searchsorted(used_vals, gvals).astype(np.uint64)
        used_keys = np.arange(K)
        vnb = varint_sizes(vloc).reshape(nfeat, K)
        knb = varint_sizes(used_keys)
        tagslen = vnb.sum(axis=1) + int(knb.sum())
        sz = varint_sizes(np.concatenate([tagslen, geomlen]).astype(np.uint64))
        tlnb, glnb = sz[:nfeat], sz[nfeat:]
        featlen = 1 + fnb + 1 + tlnb + tagslen + 2 + 1 + glnb + geomlen
        flnb = varint_sizes(featlen)
        # a row: 0x12 len 0x08 id 0x12 tagslen (key value)… 0x18 3 0x22 geomlen MoveTo(1) x y
        m = 6 + 2 * K
        row = np.zeros(m + 7, dtype=np.uint64)
        row[[0, 2, 4, m, m + 1, m + 2, m + 4]] = (0x12, 0x08, 0x12, 0x18, POLYGON, 0x22, 9)
        row[6:m:2] = used_keys
        rnb = np.ones(m + 7, dtype=np.int64)
        rnb[6:m:2] = knb
        S = np.empty((nfeat, m + 7), dtype=np.uint64)
        S[:] = row
        NB = np.empty((nfeat, m + 7), dtype=np.int64)
        NB[:] = rnb
        S[:, 7:m:2] = vloc.reshape(nfeat, K)
        NB[:, 7:m:2] = vnb
        for c, v, n_ in ((1, featlen, flnb), (3, fids, fnb), (5, tagslen, tlnb), (m + 3, geomlen, glnb),
                         (m + 5, zx, zxnb), (m + 6, zy, zynb)):
            S[:, c] = v
            NB[:, c] = n_
        if ispre is not None:
            S[:, m + 1] = src.family[cand]           # the ordinarily encoded ones may be lines or points
        if ispre is None or ispre.all():
            stream, nb = S.ravel(), NB.ravel()
        else:
            sel = np.ones(S.shape, dtype=bool)
            sel[~ispre, m + 4:] = False
            stream, nb = S[sel], NB[sel]
    else:
        tags, tag_owner, used_vals, used_keys = tile_tags(src, cand)
        nt = np.bincount(tag_owner, minlength=nfeat) if len(tags) else np.zeros(nfeat, np.int64)
        tnb = varint_sizes(tags) if len(tags) else np.zeros(0, np.int64)
        tagslen = np.bincount(tag_owner, weights=tnb, minlength=nfeat).astype(np.int64) if len(tags) else nt
        sz = varint_sizes(np.concatenate([tagslen, geomlen]).astype(np.uint64))
        tlnb, glnb = sz[:nfeat], sz[nfeat:]
        featlen = 1 + fnb + 1 + tlnb + tagslen + 2 + 1 + glnb + geomlen
        flnb = varint_sizes(featlen)
        # head of each feature as varints: 0x12 len 0x08 id 0x12 tagslen tags… 0x18 3 0x22 geomlen MoveTo(1) x y
        count = 10 + nt + (3 if ispre is None else 3 * ispre)
        fstart = np.cumsum(count) - count
        stream = np.empty(int(fstart[-1] + count[-1]), dtype=np.uint64)
        nb = np.ones(len(stream), dtype=np.int64)
        stream[fstart] = 0x12
        stream[fstart + 1] = featlen
        nb[fstart + 1] = flnb
        stream[fstart + 2] = 0x08
        stream[fstart + 3] = fids
        nb[fstart + 3] = fnb
        stream[fstart + 4] = 0x12
        stream[fstart + 5] = tagslen
        nb[fstart + 5] = tlnb
        if len(tags):
            tpos = np.arange(len(tags)) + np.repeat(fstart + 6 - (np.cumsum(nt) - nt), nt)
            stream[tpos] = tags
            nb[tpos] = tnb
        mid = fstart + 6 + nt
        stream[mid] = 0x18
        stream[mid + 1] = POLYGON if ispre is None else src.family[cand].astype(np.uint64)
        stream[mid + 2] = 0x22
        stream[mid + 3] = geomlen
        nb[mid + 3] = glnb
        mp = mid if ispre is None else mid[ispre]
        stream[mp + 4] = 9                                 # MoveTo, count 1
        stream[mp + 5] = zx if ispre is None else zx[ispre]
        nb[mp + 5] = zxnb if ispre is None else zxnb[ispre]
        stream[mp + 6] = zy if ispre is None else zy[ispre]
        nb[mp + 6] = zynb if ispre is None else zynb[ispre]
    head = varint_array(stream, nb)[0]
    total = 1 + flnb + featlen                           # bytes of each feature, head + tail
    hlen = total - tlen
    bstart = np.cumsum(total) - total
    out = np.empty(int(bstart[-1] + total[-1]), dtype=np.uint8)
    hoff = np.cumsum(hlen) - hlen
    out[np.arange(len(head)) + np.repeat(bstart - hoff, hlen)] = head
    if ispre is None:
        toff = np.cumsum(tlen) - tlen
        rank = np.arange(int(toff[-1] + tlen[-1])) - np.repeat(toff, tlen)
        out[rank + np.repeat(bstart + hlen, tlen)] = pre.buf[rank + np.repeat(pre.start[ri], tlen)]
    else:
        for part in (ispre, ~ispre):
            tl, ts = tlen[part], (bstart + hlen)[part]
            if not len(tl):
                continue
            toff = np.cumsum(tl) - tl
            rank = np.arange(int(toff[-1] + tl[-1])) - np.repeat(toff, tl)
            dest = rank + np.repeat(ts, tl)
            out[dest] = pre.buf[rank + np.repeat(pre.start[ri[part]], tl)] if part is ispre else gbytes
    return layer_message(src, out.tobytes(), used_vals, used_keys, extent), nfeat
