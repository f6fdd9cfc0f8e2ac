"""DXF drawings (AutoCAD 2000–2018, through ezdxf) → features. DWG is refused with a clear message.

Rules (documented in docs/import.md):

* closed LWPOLYLINE / POLYLINE, CIRCLE and full ELLIPSE → polygons; each HATCH → one polygon from its boundary
  paths, combined even-odd (how a hatch is filled: an island inside the outer boundary is a hole);
* open LWPOLYLINE / POLYLINE, LINE, ARC, SPLINE → lines (arcs and bulges flattened to 0.01 drawing units);
* INSERT (a block reference) → a point at its insertion point, with the block name in ``block`` and its
  attributes (ATTRIB tag → value) as columns; POINT → a point. Blocks are not exploded.
* every feature gets its CAD layer in ``cad_layer`` and the entity type in ``cad_type``;
* a TEXT/MTEXT whose insertion point lies inside a polygon names that polygon (``name``); when polygons are
  nested the smallest one containing the point takes it; when several texts fall in one polygon the tallest
  text is the name and the others are kept, "、"-joined, in ``labels``. Texts inside no polygon are counted in
  the report and not imported.
* text encoding: ezdxf decodes by ``$DWGCODEPAGE`` (e.g. ANSI_936 = GBK) for R2000/R2004 files and UTF-8 for
  R2007 (AC1021) and later; the report says which.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from ..errors import InvalidParameter
from .source import Source

FLATTEN = 0.01          # max chord distance when arcs, bulges and splines become straight segments (drawing units)

_LINE_TYPES = ("LINE", "ARC", "SPLINE", "LWPOLYLINE", "POLYLINE", "ELLIPSE", "CIRCLE")


def _path_points(path) -> np.ndarray:
    return np.array([(v.x, v.y) for v in path.flattening(FLATTEN)], dtype="float64")


def _is_closed(entity, pts: np.ndarray) -> bool:
    kind = entity.dxftype()
    if kind == "CIRCLE":
        return True
    if kind == "ELLIPSE":
        return abs((entity.dxf.end_param - entity.dxf.start_param) % (2 * np.pi)) < 1e-9
    if kind == "LWPOLYLINE":
        return bool(entity.closed) or (len(pts) > 3 and np.allclose(pts[0], pts[-1]))
    if kind == "POLYLINE":
        return bool(entity.is_closed) or (len(pts) > 3 and np.allclose(pts[0], pts[-1]))
    return False


def _hatch_polygon(entity):
    from ezdxf import path as ezpath

    geom = None
    for p in ezpath.from_hatch(entity):
        pts = _path_points(p)
        if len(pts) < 3:
            continue
        ring = shapely.make_valid(shapely.Polygon(pts))
        geom = ring if geom is None else shapely.symmetric_difference(geom, ring)
    return geom


def read_dxf(path: Path) -> Source:
    if path.suffix.lower() == ".dwg":
        raise InvalidParameter("DWG 是 AutoCAD 的私有格式，KFQMap 没有可用的免费 DWG 读取器：请在 AutoCAD（另存为 → "
                               "AutoCAD 2018 DXF）或免费的 ODA File Converter 中另存为 DXF 后再导入（DWG is not "
                               "supported: save the drawing as DXF）", parameter="file")
    import ezdxf
    from ezdxf import path as ezpath

    try:
        doc = ezdxf.readfile(path)
    except Exception as exc:             # ezdxf raises many kinds on damaged files; each is the user's file
        raise InvalidParameter(f"无法读取 DXF {path.name}：{exc.__class__.__name__} {str(exc)[:120]}"
                               "（文件不完整或不是 DXF？）", parameter="file") from None
    codepage = doc.header.get("$DWGCODEPAGE", "ANSI_1252")
    if doc.dxfversion >= "AC1021":
        enc, origin = "UTF-8", f"DXF {doc.dxfversion}（R2007 及以后总是 UTF-8）"
    else:
        enc, origin = doc.encoding, f"DXF {doc.dxfversion} 的 $DWGCODEPAGE = {codepage}"
    rows: list[dict] = []
    texts: list[tuple[float, float, str, float]] = []
    skipped: Counter = Counter()
    for e in doc.modelspace():
        kind = e.dxftype()
        layer = e.dxf.get("layer", "0")
        try:
            if kind in ("TEXT", "MTEXT"):
                text = (e.dxf.text if kind == "TEXT" else e.plain_text()).strip()
                height = float(e.dxf.get("height", 0) if kind == "TEXT" else e.dxf.get("char_height", 0))
                if text:
                    p = e.dxf.insert
                    texts.append((float(p.x), float(p.y), text, height))
                continue
            if kind == "HATCH":
                geom = _hatch_polygon(e)
                if geom is not None and not geom.is_empty:
                    rows.append({"cad_layer": layer, "cad_type": kind, "geometry": geom})
                else:
                    skipped["HATCH（无边界）"] += 1
                continue
            if kind == "POINT":
                p = e.dxf.location
                rows.append({"cad_layer": layer, "cad_type": kind, "geometry": shapely.Point(p.x, p.y)})
                continue
            if kind == "INSERT":
                p = e.dxf.insert
                row = {"cad_layer": layer, "cad_type": kind, "block": e.dxf.name,
                       "geometry": shapely.Point(p.x, p.y)}
                for attrib in e.attribs:
                    row[str(attrib.dxf.tag)] = attrib.dxf.text
                rows.append(row)
                continue
            if kind in _LINE_TYPES:
                if kind == "POLYLINE" and (e.is_poly_face_mesh or e.is_polygon_mesh):
                    skipped["POLYLINE（网格）"] += 1
                    continue
                pts = _path_points(ezpath.make_path(e))
                if len(pts) < 2:
                    skipped[f"{kind}（点数不足）"] += 1
                    continue
                if _is_closed(e, pts) and len(pts) >= 3:
                    geom = shapely.Polygon(pts)
                else:
                    geom = shapely.LineString(pts)
                rows.append({"cad_layer": layer, "cad_type": kind, "geometry": geom})
                continue
        except Exception:          # one odd entity must not stop the drawing; it is counted
            skipped[f"{kind}（无法解析）"] += 1
            continue
        skipped[kind] += 1
    if not rows:
        raise InvalidParameter(f"DXF {path.name} 的模型空间中没有可导入的图形（多段线、填充、直线、点或图块）",
                               parameter="file")
    frame = gpd.GeoDataFrame(rows, geometry="geometry")
    unused = _name_polygons(frame, texts)
    source = Source(frame=frame, label=path.name, encoding=enc, encoding_origin=origin,
                    skipped={k: v for k, v in skipped.items()})
    source.notes.append(f"DXF：{len(texts)} 个文字，{len(texts) - unused} 个落在面内作为名称")
    if unused:
        source.notes.append(f"{unused} 个文字不在任何面内，未导入")
    return source


def _name_polygons(frame: gpd.GeoDataFrame, texts: list[tuple[float, float, str, float]]) -> int:
    """Set ``name``/``labels`` of polygons from the texts inside them (rule in the module doc); the number of texts
    inside no polygon."""
    frame["name"] = None
    frame["labels"] = None
    geoms = frame.geometry.values
    polygonal = np.flatnonzero(np.isin(shapely.get_type_id(geoms), (3, 6)))
    if not len(polygonal) or not texts:
        return len(texts)
    polys = geoms[polygonal]
    areas = shapely.area(polys)
    points = shapely.points([(x, y) for x, y, _, _ in texts])
    tree = shapely.STRtree(polys)
    text_idx, poly_idx = tree.query(points, predicate="covered_by")     # pairs: text inside polygon
    best: dict[int, int] = {}
    for t, p in zip(text_idx.tolist(), poly_idx.tolist()):             # nested polygons: the smallest wins
        if t not in best or areas[p] < areas[best[t]]:
            best[t] = p
    found: dict[int, list[tuple[float, int, str]]] = {}
    for order, (x, y, text, height) in enumerate(texts):
        if order in best:
            found.setdefault(int(polygonal[best[order]]), []).append((-height, order, text))
    unused = len(texts) - len(best)
    for row, items in found.items():
        items.sort()
        frame.iat[row, frame.columns.get_loc("name")] = items[0][2]
        if len(items) > 1:
            frame.iat[row, frame.columns.get_loc("labels")] = "、".join(t for _, _, t in items[1:])
    return unused
