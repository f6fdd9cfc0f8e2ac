"""The MVT 2.1 wire format, vectorised: protobuf varints, zigzag, ``Value`` messages, ``Feature`` streams, ``Layer``
and ``Tile`` framing (https://github.com/mapbox/vector-tile-spec/tree/master/2.1).

Why by hand and with numpy: a z16 tile of parcels holds thousands of features and tens of thousands of command
integers; protobuf's Python runtime (what mapbox-vector-tile uses) builds one object per feature and value. Here a
whole tile's varints are written by a handful of numpy calls (``varint_array``), whatever the feature count.
mapbox-vector-tile stays the reference: ``tests/kfqmap/test_tiles_reference.py`` decodes sampled tiles of every plan
layer, z10–16, with it.
"""
from __future__ import annotations

import json
import math
import struct
from typing import Iterable

import numpy as np
import pandas as pd

EXTENT = 4096                 #: MVT grid size
POINT, LINE, POLYGON = 1, 2, 3   #: MVT GeomType numbers (also the layer's per-feature geometry family)


def zigzag(v: np.ndarray) -> np.ndarray:
    v = v.astype(np.int64)
    return ((v << 1) ^ (v >> 63)).astype(np.uint64)


_VARINT_LIMITS = np.array([1 << (7 * k) for k in range(1, 10)], dtype=np.uint64)


def varint_sizes(v: np.ndarray) -> np.ndarray:
    """Bytes of each varint (one binary search per value in the 9 limits: one numpy call, any size)."""
    return np.searchsorted(_VARINT_LIMITS, np.asarray(v, dtype=np.uint64), side="right") + 1


def encode_varints(v: np.ndarray) -> bytes:
    """Protobuf varints of a uint64 array, concatenated (vectorised)."""
    if len(v) == 0:
        return b""
    return varint_array(np.asarray(v, dtype=np.uint64))[0].tobytes()


def varint_array(v: np.ndarray, nb: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 array of the concatenated varints, bytes per value); ``nb``: the sizes, if already known."""
    if nb is None:
        nb = varint_sizes(v)
    pos = np.cumsum(nb) - nb
    out = np.empty(int(pos[-1] + nb[-1]), dtype=np.uint8)
    out[pos] = ((v & np.uint64(0x7F)) | ((nb > 1).astype(np.uint64) << np.uint64(7))).astype(np.uint8)
    idx = np.flatnonzero(nb > 1)
    k = 1
    while len(idx):
        vv = v[idx] >> np.uint64(7 * k)
        more = nb[idx] > k + 1
        out[pos[idx] + k] = ((vv & np.uint64(0x7F)) | (more.astype(np.uint64) << np.uint64(7))).astype(np.uint8)
        idx = idx[more]
        k += 1
    return out, nb


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_bytes(field: int, payload: bytes) -> bytes:
    return varint((field << 3) | 2) + varint(len(payload)) + payload


def value_message(v) -> bytes | None:
    """One MVT ``Value`` message (without the layer's field header); None for null values."""
    if v is None:
        return None
    if isinstance(v, (bool, np.bool_)):
        return b"\x38" + (b"\x01" if v else b"\x00")
    if isinstance(v, (int, np.integer)):
        v = int(v)
        if v >= 0:
            return b"\x28" + varint(v)                                 # uint_value
        return b"\x30" + varint(((v << 1) ^ (v >> 63)) & 0xFFFFFFFFFFFFFFFF)  # sint_value
    if isinstance(v, (float, np.floating)):
        if math.isnan(v):
            return None
        if float(v).is_integer() and abs(v) < 2**53:
            return value_message(int(v))
        return b"\x19" + struct.pack("<d", float(v))                  # double_value
    if isinstance(v, (list, dict, tuple)):
        v = json.dumps(v, ensure_ascii=False)
    elif isinstance(v, (pd.Timestamp,)) or hasattr(v, "isoformat"):
        v = v.isoformat()
    elif pd.isna(v) if not isinstance(v, str) else False:
        return None
    raw = str(v).encode("utf-8")
    return b"\x0a" + varint(len(raw)) + raw                           # string_value


def _concat_items(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Per item, the concatenation of its segment in each part (each part: uint8 buffer, lengths per item)."""
    total = np.zeros(len(parts[0][1]), dtype=np.int64)
    for _, ln in parts:
        total += ln
    start = np.cumsum(total) - total
    out = np.empty(int(total.sum()), dtype=np.uint8)
    offset = np.zeros(len(total), dtype=np.int64)
    for buf, ln in parts:
        dest = np.repeat(start + offset - (np.cumsum(ln) - ln), ln) + np.arange(int(ln.sum()))
        out[dest] = buf
        offset += ln
    return out, total


def _const(byte: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full(n, byte, dtype=np.uint8), np.ones(n, dtype=np.int64)


def value_entries(uniques: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Layer ``values`` entries (field 4 + length + Value message) for an array of distinct values, vectorised
    for strings, integers, floats and booleans (else one by one). Returns (buffer, lengths, kept mask)."""
    n = len(uniques)
    keep = np.ones(n, dtype=bool)
    msgs = None
    if n == 0:
        return np.zeros(0, np.uint8), np.zeros(0, np.int64), keep
    kind = uniques.dtype.kind
    if kind == "b":
        msgs = _concat_items([_const(0x38, n), (uniques.astype(np.uint8), np.ones(n, dtype=np.int64))])
    elif kind in "iu":
        v = uniques.astype(np.int64)
        if (v >= 0).all():
            msgs = _concat_items([_const(0x28, n), varint_array(v.astype(np.uint64))])
        else:
            msgs = _concat_items([_const(0x30, n), varint_array(zigzag(v))])
    elif kind == "f":
        v = uniques.astype(np.float64)
        keep = np.isfinite(v)
        v = v[keep]
        m = len(v)
        if m and (v == np.round(v)).all() and np.abs(v).max() < 2**53:
            iv = v.astype(np.int64)
            msgs = (_concat_items([_const(0x28, m), varint_array(iv.astype(np.uint64))]) if (iv >= 0).all()
                    else _concat_items([_const(0x30, m), varint_array(zigzag(iv))]))
        else:
            msgs = _concat_items([_const(0x19, m), (v.astype("<f8").view(np.uint8), np.full(m, 8, dtype=np.int64))])
    elif all(isinstance(u, str) for u in uniques):
        raw = [u.encode("utf-8") for u in uniques]
        ln = np.fromiter((len(r) for r in raw), dtype=np.int64, count=n)
        msgs = _concat_items([_const(0x0A, n), varint_array(ln.astype(np.uint64)),
                              (np.frombuffer(b"".join(raw), dtype=np.uint8), ln)])
    if msgs is None:                       # mixed or unusual values: one by one
        chunks = []
        for i, u in enumerate(uniques):
            m = value_message(u)
            if m is None:
                keep[i] = False
            else:
                chunks.append(field_bytes(4, m))
        ln = np.fromiter((len(c) for c in chunks), dtype=np.int64, count=len(chunks))
        return np.frombuffer(b"".join(chunks), dtype=np.uint8), ln, keep
    mbuf, mlen = msgs
    k = len(mlen)
    return (*_concat_items([_const(0x22, k), varint_array(mlen.astype(np.uint64)), (mbuf, mlen)]), keep)


def field_type(series: pd.Series) -> str:
    """TileJSON vector_layers field type: Number, Boolean or String."""
    if pd.api.types.is_bool_dtype(series):
        return "Boolean"
    if pd.api.types.is_numeric_dtype(series):
        return "Number"
    sample = series.dropna()
    if len(sample) and all(isinstance(v, (bool, np.bool_)) for v in sample.iloc[:50]):
        return "Boolean"
    if len(sample) and all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
                           for v in sample.iloc[:50]):
        return "Number"
    return "String"




def feature_stream(fids, types, tags, tag_owner, geom, gown, nfeat):
    """The varint values of ``nfeat`` Feature messages (each with its layer field header), each feature's first
    position in that stream, and the byte size of every value (so the stream's varints need not be sized twice).
    ``tags``/``geom`` are grouped by owner (0..nfeat-1)."""
    gnb = varint_sizes(geom)
    tnb = varint_sizes(tags) if len(tags) else np.zeros(0, np.int64)
    geomlen = np.bincount(gown, weights=gnb, minlength=nfeat).astype(np.int64)
    tagslen = np.bincount(tag_owner, weights=tnb, minlength=nfeat).astype(np.int64)
    ng = np.bincount(gown, minlength=nfeat)
    nt = np.bincount(tag_owner, minlength=nfeat)
    # sizes of the fid, tags-length and geometry-length varints in one call
    sz = varint_sizes(np.concatenate([np.asarray(fids, dtype=np.uint64), tagslen.astype(np.uint64),
                                       geomlen.astype(np.uint64)]))
    fnb, tlnb, glnb = sz[:nfeat], sz[nfeat:2 * nfeat], sz[2 * nfeat:]
    featlen = 1 + fnb + 1 + tlnb + tagslen + 2 + 1 + glnb + geomlen
    count = 10 + nt + ng
    fstart = np.cumsum(count) - count
    total = int(count.sum())
    stream = np.empty(total, dtype=np.uint64)
    nb = np.ones(total, dtype=np.int64)            # field headers and the geometry type: one byte each
    stream[fstart] = 0x12
    stream[fstart + 1] = featlen.astype(np.uint64)
    nb[fstart + 1] = varint_sizes(featlen)
    stream[fstart + 2] = 0x08
    stream[fstart + 3] = fids
    nb[fstart + 3] = fnb
    stream[fstart + 4] = 0x12
    stream[fstart + 5] = tagslen.astype(np.uint64)
    nb[fstart + 5] = tlnb
    if len(tags):
        trank = np.arange(len(tags)) - np.repeat(np.cumsum(nt) - nt, nt)
        tpos = fstart[tag_owner] + 6 + trank
        stream[tpos] = tags
        nb[tpos] = tnb
    mid = fstart + 6 + nt
    stream[mid] = 0x18
    stream[mid + 1] = types.astype(np.uint64)
    stream[mid + 2] = 0x22
    stream[mid + 3] = geomlen.astype(np.uint64)
    nb[mid + 3] = glnb
    grank = np.arange(len(geom)) - np.repeat(np.cumsum(ng) - ng, ng)
    gpos = mid[gown] + 4 + grank
    stream[gpos] = geom
    nb[gpos] = gnb
    return stream, fstart, nb


def layer_bytes(name: str, features: bytes, keys: bytes, values: bytes, extent: int) -> bytes:
    """A ``Layer`` message: version 2, name, the encoded features, their keys and values, extent."""
    raw = name.encode("utf-8")
    return b"\x78\x02" + b"\x0a" + varint(len(raw)) + raw + features + keys + values + b"\x28" + varint(extent)


def tile_message(layers: Iterable[bytes]) -> bytes:
    """A ``Tile`` message from encoded ``Layer`` messages (empty ones left out)."""
    return b"".join(field_bytes(3, lb) for lb in layers if lb)
