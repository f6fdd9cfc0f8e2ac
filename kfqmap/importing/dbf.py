"""The text encoding of a Shapefile's DBF when no ``.cpg`` says it: UTF-8 or GBK/GB18030, decided from the bytes.

Rule: the ``.cpg`` wins when present; otherwise the DBF's record bytes are tried as strict UTF-8 — Chinese
GBK text is almost never valid UTF-8 (its lead bytes 0x81–0xFE are followed by 0x40–0xFE, which UTF-8 rejects
after two or three characters), so if they decode, the file is UTF-8; if not and they decode as GB18030 (a
superset of GBK and GB2312), it is GB18030; pure ASCII is reported as such. The choice is reported and
``--encoding`` overrides it.
"""
from __future__ import annotations

import struct

#: how .cpg contents name encodings → the Python codec name pyogrio/GDAL accept
_CPG_ALIASES = {"utf-8": "UTF-8", "utf8": "UTF-8", "65001": "UTF-8", "gbk": "GBK", "936": "GBK", "cp936": "GBK",
                "gb2312": "GBK", "gb18030": "GB18030", "54936": "GB18030", "ansi 936": "GBK"}


def cpg_encoding(text: str) -> str:
    """The encoding a ``.cpg`` names, normalised (unknown names are passed through)."""
    value = text.strip().lower()
    return _CPG_ALIASES.get(value, text.strip())


def detect_dbf_encoding(data: bytes) -> tuple[str, str]:
    """(encoding, reason) for the DBF ``data`` (the whole file's bytes)."""
    if len(data) < 32:
        return "UTF-8", "DBF 过短，按 UTF-8 读取"
    header_len, record_len = struct.unpack("<HH", data[8:12])
    records = data[header_len:]
    if not records or all(b < 0x80 for b in records):
        return "UTF-8", "属性中只有 ASCII 字符（编码无影响）"
    try:
        records.decode("utf-8")
        return "UTF-8", "自动检测：属性字节是合法的 UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        records.decode("gb18030")
        return "GB18030", "自动检测：属性字节不是 UTF-8，按 GBK/GB18030 解码成功"
    except UnicodeDecodeError:
        return "UTF-8", "自动检测失败（既不是 UTF-8 也不是 GBK）：请用 --encoding 指定"
