"""Real files for the import tests, made by the tools planners' files come from: ogr2ogr (Shapefile with a GBK DBF
and no .cpg, GeoPackage in EPSG:4528, KML from a GCJ-02 source), ezdxf (DXF in EPSG:4549; DXF in local
coordinates with control points of known residual) and openpyxl (XLSX with 经度/纬度).

The parcels are defined once, in EPSG:4549 metres (``PARCELS``); tests compute what to expect from them
independently (pyproj), never through kfqmap.
"""
from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import numpy as np
from pyproj import Geod, Transformer

#: name → ring in EPSG:4549 (easting, northing), around 120.95°E 31.33°N (昆山开发区)
PARCELS = {
    "新园区甲": [(590000, 3468000), (590200, 3468000), (590200, 3468200), (590000, 3468200)],
    "新园区乙": [(590500, 3468000), (590800, 3468000), (590800, 3468150), (590500, 3468150)],
    "科创园丙": [(591000, 3468400), (591250, 3468380), (591300, 3468600), (591120, 3468700), (590980, 3468560)],
}
STATUS = {"新园区甲": "已完成", "新园区乙": "实施中", "科创园丙": "未启动"}
YEAR = {"新园区甲": 2022, "新园区乙": 2024, "科创园丙": 2025}
GEOD = Geod(a=6378137.0, f=1 / 298.257222101)          # CGCS2000 ellipsoid
TO_WGS84 = Transformer.from_crs("EPSG:4549", "EPSG:4326", always_xy=True)


def ring_lonlat(ring) -> list[tuple[float, float]]:
    xs, ys = TO_WGS84.transform([p[0] for p in ring], [p[1] for p in ring])
    return list(zip(xs, ys))


def pyproj_area_m2(ring_4549) -> float:
    """Ellipsoidal area of a 4549 ring, computed with pyproj only."""
    lons, lats = zip(*ring_lonlat(ring_4549))
    return abs(GEOD.polygon_area_perimeter(lons, lats)[0])


def _closed(ring):
    return [list(p) for p in ring] + [list(ring[0])]


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=60)


def parcels_geojson_4549(path: Path) -> Path:
    """The parcels as GeoJSON with a declared EPSG:4549 crs (the ogr2ogr input)."""
    fc = {"type": "FeatureCollection", "name": "parcels",
          "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4549"}},
          "features": [{"type": "Feature", "properties": {"名称": n, "编号": f"DK-{i + 1:02d}", "状态": STATUS[n],
                                                           "年份": YEAR[n], "备注": "测试地块"},
                        "geometry": {"type": "Polygon", "coordinates": [_closed(r)]}}
                       for i, (n, r) in enumerate(PARCELS.items())]}
    path.write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    return path


def shapefile_gbk_zip(tmp: Path) -> Path:
    """ogr2ogr: Shapefile in EPSG:4549, DBF in GBK, the .cpg removed; zipped (.shp .shx .dbf .prj)."""
    src = parcels_geojson_4549(tmp / "src.geojson")
    out = tmp / "shp"
    out.mkdir()
    _run("ogr2ogr", "-f", "ESRI Shapefile", str(out / "地块.shp"), str(src), "-lco", "ENCODING=GBK", "-nln", "地块")
    (out / "地块.cpg").unlink(missing_ok=True)
    target = tmp / "parcels_gbk.zip"
    with zipfile.ZipFile(target, "w") as zf:
        for p in sorted(out.iterdir()):
            zf.write(p, p.name)
    return target


def shapefile_loose(tmp: Path) -> Path:
    src = parcels_geojson_4549(tmp / "src_loose.geojson")
    out = tmp / "loose"
    out.mkdir()
    _run("ogr2ogr", "-f", "ESRI Shapefile", str(out / "parcels.shp"), str(src), "-lco", "ENCODING=GBK")
    (out / "parcels.cpg").unlink(missing_ok=True)
    return out / "parcels.shp"


def gpkg_4528(tmp: Path) -> Path:
    """ogr2ogr: a GeoPackage in EPSG:4528 (zone-prefixed Gauss-Krüger) with two tables, parcels and parcels_copy."""
    src = parcels_geojson_4549(tmp / "src_gpkg.geojson")
    target = tmp / "plan_4528.gpkg"
    _run("ogr2ogr", "-f", "GPKG", str(target), str(src), "-t_srs", "EPSG:4528", "-nln", "parcels")
    _run("ogr2ogr", "-f", "GPKG", "-update", str(target), str(src), "-t_srs", "EPSG:4528", "-nln", "parcels_copy")
    return target


def kml_from_gcj02(tmp: Path) -> tuple[Path, dict[str, list[tuple[float, float]]]]:
    """ogr2ogr (LIBKML): a KML whose coordinates are GCJ-02 (as a survey app on AMap records them), two folders.
    Returns the file and each parcel's true WGS 84 ring."""
    from tests.kfqmap.gcj02 import wgs84_to_gcj02   # the published forward formula, written out independently

    truth = {n: ring_lonlat(r) for n, r in PARCELS.items()}
    folders = {"一期": ["新园区甲", "新园区乙"], "二期": ["科创园丙"]}
    gpkg = tmp / "gcj.gpkg"
    for i, (folder, names) in enumerate(folders.items()):
        fc = {"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"name": n},
             "geometry": {"type": "Polygon", "coordinates": [_closed([wgs84_to_gcj02(*p) for p in truth[n]])]}}
            for n in names]}
        src = tmp / f"gcj_{i}.geojson"
        src.write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
        _run("ogr2ogr", "-f", "GPKG", *(["-update"] if i else []), str(gpkg), str(src), "-nln", folder)
    target = tmp / "survey_gcj02.kml"
    _run("ogr2ogr", "-f", "LIBKML", str(target), str(gpkg))
    return target, truth


def dxf_4549(tmp: Path, *, with_closed: bool = True) -> Path:
    """ezdxf: R2004 DXF ($DWGCODEPAGE ANSI_936, GBK) in EPSG:4549 metres: two closed LWPOLYLINEs (甲, 乙) and a
    HATCH (丙) each with a Chinese TEXT inside, an open polyline (a road), a block INSERT and a stray text."""
    import ezdxf

    doc = ezdxf.new("R2004")
    doc.encoding = "gbk"
    msp = doc.modelspace()
    names = list(PARCELS)
    if with_closed:
        for n in names[:2]:
            msp.add_lwpolyline(PARCELS[n], close=True, dxfattribs={"layer": "用地红线"})
        hatch = msp.add_hatch(dxfattribs={"layer": "填充"})
        hatch.paths.add_polyline_path(PARCELS[names[2]], is_closed=True)
        for n in names:
            xs, ys = zip(*PARCELS[n])
            msp.add_text(n, dxfattribs={"layer": "文字", "height": 8, "insert": (np.mean(xs), np.mean(ys))})
        msp.add_text("小字注记", dxfattribs={"layer": "文字", "height": 2,
                                           "insert": (PARCELS[names[0]][0][0] + 20, PARCELS[names[0]][0][1] + 20)})
    msp.add_lwpolyline([(589900, 3467900), (591400, 3467900), (591400, 3468800)], dxfattribs={"layer": "道路"})
    msp.add_text("图外文字", dxfattribs={"layer": "文字", "height": 5, "insert": (589000, 3467000)})
    target = tmp / ("plan_4549.dxf" if with_closed else "lines_only.dxf")
    doc.saveas(target)
    return target


# the control-point drawing: local coordinates are a similarity of EPSG:4549 (2 drawing units a metre, rotated by
# −30°, origin at 590000/3468000), so that the true 4549 coordinate of every drawing point is known exactly
LOCAL_ORIGIN = np.array([590000.0, 3468000.0])
LOCAL_ROTATION = np.radians(30.0)
LOCAL_SCALE = 2.0            # drawing units per metre


def to_local(e, n):
    c, s = np.cos(-LOCAL_ROTATION), np.sin(-LOCAL_ROTATION)
    dx, dy = np.asarray(e) - LOCAL_ORIGIN[0], np.asarray(n) - LOCAL_ORIGIN[1]
    return LOCAL_SCALE * (c * dx - s * dy), LOCAL_SCALE * (s * dx + c * dy)


def dxf_local_with_control(tmp: Path, residual_m: float) -> tuple[Path, Path]:
    """ezdxf: the parcels in local drawing coordinates; and a CSV of 4 control points at the corners of a square
    (±a) whose known coordinates are off by ±residual_m in a pattern a least-squares fit cannot absorb, so that
    the fitted transform is the true one and every residual is exactly residual_m."""
    import ezdxf

    doc = ezdxf.new("R2018")
    msp = doc.modelspace()
    for n, ring in PARCELS.items():
        xs, ys = to_local([p[0] for p in ring], [p[1] for p in ring])
        msp.add_lwpolyline(list(zip(xs, ys)), close=True, dxfattribs={"layer": "红线"})
        msp.add_text(n, dxfattribs={"height": 10, "insert": (float(np.mean(xs)), float(np.mean(ys)))})
    dxf = tmp / "local_drawing.dxf"
    doc.saveas(dxf)
    a = 500.0
    centre = np.array([590600.0, 3468300.0])
    corners = [(-a, -a), (a, -a), (a, a), (-a, a)]
    errors = [(residual_m, 0), (-residual_m, 0), (residual_m, 0), (-residual_m, 0)]
    lines = ["name,src_x,src_y,dst_x,dst_y"]
    for i, ((cx, cy), (ex, ey)) in enumerate(zip(corners, errors)):
        e, n = centre[0] + cx, centre[1] + cy
        sx, sy = to_local(e, n)
        lines.append(f"K{i + 1},{float(sx):.6f},{float(sy):.6f},{e + ex:.6f},{n + ey:.6f}")
    csv = tmp / "控制点.csv"
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return dxf, csv


def xlsx_points(tmp: Path) -> tuple[Path, dict[str, tuple[float, float]]]:
    """openpyxl: a sheet of project points with 经度/纬度 columns (WGS 84)."""
    from openpyxl import Workbook

    points = {"测试项目一": (120.96, 31.34), "测试项目二": (121.01, 31.37), "测试项目三": (120.99, 31.31)}
    wb = Workbook()
    ws = wb.active
    ws.append(["项目名称", "经度", "纬度", "投资（亿元）"])
    for i, (n, (lon, lat)) in enumerate(points.items()):
        ws.append([n, lon, lat, 10.5 * (i + 1)])
    target = tmp / "项目.xlsx"
    wb.save(target)
    return target, points


class _GbkName(zipfile.ZipInfo):
    """A zip member whose name is stored in GBK without the UTF-8 flag, as zip tools on Chinese Windows write it."""

    def _encodeFilenameFlags(self):   # noqa: N802 (zipfile's own name)
        return self.filename.encode("gbk"), self.flag_bits & ~0x800


def shapefile_gbk_names_zip(tmp: Path) -> Path:
    """The GBK Shapefile of ``shapefile_gbk_zip`` zipped with GBK member names (地块.shp …), no UTF-8 flag."""
    shapefile_gbk_zip(tmp)                      # writes tmp/shp/地块.*
    target = tmp / "windows.zip"
    with zipfile.ZipFile(target, "w") as zf:
        for p in sorted((tmp / "shp").iterdir()):
            zf.writestr(_GbkName(f"资料/{p.name}"), p.read_bytes())
    return target
