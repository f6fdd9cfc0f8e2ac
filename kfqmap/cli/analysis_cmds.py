"""``kfqmap stats``, ``kfqmap query`` and ``kfqmap progress``: area statistics, spatial queries, plan progress.

Each command parses its options, calls one library function (``kfqmap.stats`` / ``kfqmap.query``) and prints
the result as a table, JSON, CSV or GeoJSON. Mistakes in the options print one line (``错误：…``) and exit 2.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import click

from .. import query as query_mod
from .. import stats as stats_mod
from ..catalog import load_catalog
from ..errors import InvalidParameter
from ..units import area_unit
from .catalog_cmds import _print_table


class _Command(click.Command):
    """A command whose usage errors (bad option value, missing argument) become one ``错误：…`` line."""

    def parse_args(self, ctx, args):
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            raise InvalidParameter(f"参数有误：{exc.format_message()}（用 kfqmap {self.name} -h 查看用法）") from None


def _dump(model) -> str:
    data = model.model_dump(mode="json") if hasattr(model, "model_dump") else model
    return json.dumps(data, ensure_ascii=False, indent=2)


def _csv(header, rows) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().rstrip("\n")


def _fmt(v, decimals=2) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:,.{decimals}f}"
    return str(v)


def _attr(v) -> str:
    """An attribute value as written: integral floats (years in a column with gaps) without ".0" or separators."""
    if v is None or (isinstance(v, float) and v != v):
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _num(v) -> str:
    """An indicator value: 2 decimals for large numbers, 4 significant digits for small ones."""
    if v is None:
        return ""
    return f"{v:,.2f}" if abs(v) >= 10 else f"{v:.4g}"


# ------------------------------------------------------------------------------------------------ stats
@click.command("stats", cls=_Command)
@click.argument("layer_id", required=False)
@click.option("--by", "by", metavar="OTHER_LAYER", help="按另一面状图层统计：LAYER 落在 OTHER_LAYER 每个要素中的面积与占比")
@click.option("--unit", default="mu", show_default=True, help="面积单位：亩|mu|ha|公顷|km2|m2|万㎡")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.option("--file", "file", metavar="PATH", help="统计自己的文件（可导入的任何格式：GeoJSON/GPKG/Shapefile/KML/CSV/XLSX/DXF…，不导入）而不是目录中的图层")
@click.option("--crs", help="--file 的坐标系（EPSG:4326|EPSG:4490|EPSG:4549|EPSG:4528|EPSG:3857|gcj02|bd09）")
@click.option("--groups", is_flag=True, help="按规划结构分组统计（两轴三带/两核多园/一带四园/更新地块/低效用地）")
@click.option("--summary", is_flag=True, help="只输出合计，不列每个要素（大图层用）")
def stats_cmd(layer_id, by, unit, fmt, file, crs, groups, summary):
    """面积统计：每个要素、图层合计、分组、叠加（--by）。面积为 CGCS2000 椭球面积，旁列 EPSG:4549 投影面积。

    \b
    例：kfqmap stats parks --unit 公顷
        kfqmap stats low_efficiency_land --by parks
        kfqmap stats --groups
        kfqmap stats --file 地块.geojson --crs gcj02
    """
    u = area_unit(unit)
    if file and (layer_id or by or groups):
        raise InvalidParameter("--file 不能与图层、--by 或 --groups 同时使用", parameter="file")
    if crs and not file:
        raise InvalidParameter("--crs 只用于 --file（目录中的图层都是 WGS 84）", parameter="crs")
    if file:
        from ..importing import read_for_stats       # every importable format (DXF, CSV/XLSX, KML …), nothing imported

        frame = read_for_stats(file, crs=crs)
        _print_layer_stats(stats_mod.frame_stats(frame, u.code, layer_id=Path(file).stem, features=not summary), fmt)
        return
    catalog = load_catalog()
    if groups or not layer_id:
        if by:
            raise InvalidParameter("--by 需要指定图层，如 kfqmap stats low_efficiency_land --by parks", parameter="by")
        _print_group_stats(stats_mod.group_stats(catalog, u.code), fmt)
        return
    if by:
        _print_overlay(stats_mod.overlay_stats(catalog, layer_id, by, u.code), fmt)
        return
    _print_layer_stats(stats_mod.layer_stats(catalog, layer_id, u.code, features=not summary), fmt)


def _print_layer_stats(s, fmt):
    sym = s.unit.symbol_zh
    prop_keys = sorted({k for f in s.features for k in f.properties})
    if fmt == "json":
        click.echo(_dump(s))
        return
    header = ["id", "名称", f"面积({sym})", "椭球面积(m²)", "投影面积4549(m²)", "长度/周长(m)"] + prop_keys
    rows = [[f.id, f.name or "", _fmt(f.area, s.unit.decimals) if fmt == "table" else f.area, f.area_m2, f.gk_area_m2,
             f.length_m] + [f.properties.get(k) for k in prop_keys] for f in s.features]
    if fmt == "csv":
        if not rows:   # --summary: one row of totals
            header = ["layer_id", "count", f"面积({sym})", "椭球面积(m²)", "投影面积4549(m²)", "长度(m)"]
            rows = [[s.layer_id, s.count, s.area, s.area_m2, s.gk_area_m2, s.length_m]]
        click.echo(_csv(header, [["" if v is None else v for v in r] for r in rows]))
        return
    click.echo(f"{s.title_zh}（{s.layer_id}，{s.group}，{s.geometry_type}）— {s.count} 个要素")
    if rows:
        n_measures = 6          # id, 名称, 面积, 椭球面积, 投影面积, 长度: formatted; attributes shown as written
        _print_table(header, [[_fmt(v, 1) if isinstance(v, float) else ("" if v is None else str(v)) for v in r[:n_measures]]
                              + [_attr(v) for v in r[n_measures:]] for r in rows])
    if s.area_m2 is not None:
        click.echo(f"合计：{_fmt(s.area, s.unit.decimals)} {sym}（椭球面积 {_fmt(s.area_m2, 1)} m²；"
                   f"EPSG:4549 投影面积 {_fmt(s.gk_area_m2, 1)} m²，相差 {s.gk_minus_ellipsoidal_pct:+.4f}%）")
        if s.union_area is not None and s.union_area_m2 < s.area_m2 * (1 - 1e-6):
            click.echo(f"去重覆盖面积：{_fmt(s.union_area, s.unit.decimals)} {sym}")
    if s.length_m is not None:
        click.echo(f"线长合计：{_fmt(s.length_m / 1000, 3)} km（CGCS2000 椭球测地线）")
    for n in s.notes:
        click.echo(f"注：{n}")


def _print_group_stats(groups, fmt):
    if fmt == "json":
        click.echo(json.dumps([g.model_dump(mode="json") for g in groups], ensure_ascii=False, indent=2))
        return
    sym = groups[0].unit.symbol_zh if groups else ""
    header = ["分组", "图层", "名称", "要素数", f"面积({sym})", "线长(km)"]
    rows = []
    for g in groups:
        for s in g.layers:
            rows.append([g.group, s.layer_id, s.title_zh, s.count, s.area, None if s.length_m is None else s.length_m / 1000])
        rows.append([g.group, "（合计去重）", "", g.count, g.union_area, None if g.length_m is None else g.length_m / 1000])
    if fmt == "csv":
        click.echo(_csv(header, [["" if v is None else v for v in r] for r in rows]))
        return
    _print_table(header, [[_fmt(v, 2) if isinstance(v, float) else ("" if v is None else str(v)) for v in r] for r in rows])
    for g in groups:
        for n in g.notes:
            click.echo(f"注（{g.group}）：{n}")


def _print_overlay(o, fmt):
    if fmt == "json":
        click.echo(_dump(o))
        return
    sym = o.unit.symbol_zh
    header = ["id", f"{o.b_title_zh}", f"面积({sym})", f"其中{o.a_title_zh}({sym})", "占比(%)", "要素数"]
    rows = [[r.id, r.name or "", r.area, r.inside, r.percent, r.count] for r in o.rows]
    if fmt == "csv":
        click.echo(_csv(header, rows))
        return
    click.echo(f"{o.a_title_zh}（{o.a}）落在 {o.b_title_zh}（{o.b}）各要素中的面积")
    _print_table(header, [[_fmt(v, o.unit.decimals) if isinstance(v, float) else str(v) for v in r] for r in rows])
    click.echo(f"{o.a_title_zh}合计 {_fmt(o.a_area, o.unit.decimals)} {sym}：在 {o.b_title_zh} 内 {_fmt(o.inside, o.unit.decimals)} {sym}，"
               f"在外 {_fmt(o.outside, o.unit.decimals)} {sym}")
    for n in o.notes:
        click.echo(f"注：{n}")


# ------------------------------------------------------------------------------------------------ query
def _parse_lonlat(text: str):
    parts = [p.strip() for p in str(text).replace("，", ",").split(",")]
    if len(parts) != 2:
        raise InvalidParameter(f"--point 应为 “经度,纬度”（如 121.0,31.37），收到 '{text}'", parameter="point")
    try:
        return float(parts[0]), float(parts[1])
    except ValueError:
        raise InvalidParameter(f"--point 的坐标不是数字：'{text}'", parameter="point") from None


def _float_opt(text, name):
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        raise InvalidParameter(f"{name} 应为数字（米），收到 '{text}'", parameter=name.lstrip("-")) from None


@click.command("query", cls=_Command)
@click.option("--point", metavar="LON,LAT", help="这里有什么：点（经度,纬度；其他坐标系用 --crs）")
@click.option("--crs", help="--point / --within 的坐标系（默认 WGS 84；EPSG:4490|4549|4528|3857|gcj02|bd09）")
@click.option("--tolerance", metavar="M", help="--point 的容差（米），默认 0：只返回包含该点的面")
@click.option("--within", "within", metavar="FILE", help="在这个 GeoJSON 几何里（或与之相交）的要素，附相交面积")
@click.option("--predicate", type=click.Choice(["intersects", "within", "contains"]), default="intersects",
              show_default=True, help="--within 的空间关系（要素 与 几何）")
@click.option("--near", "near_layer", metavar="LAYER", help="距离 LAYER 的要素 --distance 米以内的要素")
@click.option("--near-filter", help="只用 --near 图层中满足此 CQL2 条件的要素（如 name = '昆山南站'）")
@click.option("--distance", metavar="M", help="--near 的距离（米，EPSG:4549 中量算）")
@click.option("--nearest", "k", metavar="K", help="与 --point 最近的 K 个要素（需 --layer）")
@click.option("--layer", "layers", multiple=True, metavar="LAYER", help="只查这些图层（可重复或用逗号分隔）")
@click.option("--filter", "filter_", metavar="CQL2", help="属性/空间过滤（CQL2 文本），如 \"status = '已完成' AND year <= 2023\"")
@click.option("--format", "fmt", type=click.Choice(["table", "geojson", "csv", "json"]), default="table", show_default=True)
def query_cmd(point, crs, tolerance, within, predicate, near_layer, near_filter, distance, k, layers, filter_, fmt):
    """空间查询：点查询、范围查询、缓冲（距离）查询、最近查询，可叠加 CQL2 过滤。

    \b
    例：kfqmap query --point 121.048,31.375 --tolerance 50
        kfqmap query --point 121.0,31.37 --crs gcj02
        kfqmap query --within 范围.geojson --layer low_efficiency_land
        kfqmap query --near s1_stations --distance 500 --layer renewal_sites
        kfqmap query --layer low_efficiency_land --filter "status = '已完成' AND year <= 2023"
    """
    layer_list = [p.strip() for v in layers for p in v.split(",") if p.strip()] or None
    modes = [m for m, on in (("--point", point and not k), ("--within", within), ("--near", near_layer),
                             ("--nearest", k)) if on]
    if len(modes) > 1:
        raise InvalidParameter(f"一次只能用一种查询：{' / '.join(modes)}", parameter="query")
    if distance is not None and not near_layer:
        raise InvalidParameter("--distance 只用于 --near", parameter="distance")
    catalog = load_catalog()
    with_geometry = fmt == "geojson"
    if k:
        if not point or not layer_list or len(layer_list) != 1:
            raise InvalidParameter("--nearest K 需要 --point 和一个 --layer", parameter="nearest")
        lon, lat = _parse_lonlat(point)
        try:
            kk = int(k)
        except ValueError:
            raise InvalidParameter(f"--nearest 应为整数，收到 '{k}'", parameter="nearest") from None
        result = query_mod.nearest(catalog, lon, lat, layer_list[0], kk, crs=crs, filter=filter_,
                                   with_geometry=with_geometry)
    elif point:
        lon, lat = _parse_lonlat(point)
        result = query_mod.at_point(catalog, lon, lat, crs=crs, tolerance=_float_opt(tolerance, "--tolerance") or 0.0,
                                    layers=layer_list, filter=filter_, with_geometry=with_geometry)
    elif within:
        p = Path(within)
        if not p.exists():
            raise InvalidParameter(f"文件不存在：{within}", parameter="within")
        result = query_mod.in_geometry(catalog, p.read_text(encoding="utf-8-sig"), crs=crs, predicate=predicate,
                                       layers=layer_list, filter=filter_, with_geometry=with_geometry)
    elif near_layer:
        if distance is None:
            raise InvalidParameter("--near 需要 --distance（米）", parameter="distance")
        result = query_mod.near(catalog, layer_list, near_layer, _float_opt(distance, "--distance"), filter=filter_,
                                near_filter=near_filter, with_geometry=with_geometry)
    elif filter_:
        if not layer_list:
            raise InvalidParameter("只用 --filter 时需要 --layer", parameter="layer")
        result = query_mod.select(catalog, layer_list, filter_, with_geometry=with_geometry)
    else:
        raise InvalidParameter("请指定查询：--point、--within、--near、--nearest 或 --layer + --filter", parameter="query")
    _print_query(result, fmt)


def _print_query(result, fmt):
    if fmt == "json":
        click.echo(_dump(result))
        return
    if fmt == "geojson":
        click.echo(json.dumps(result.to_geojson(), ensure_ascii=False))
        return
    cols = [("layer_id", "图层"), ("id", "id"), ("name", "名称")]
    for key, title in (("distance_m", "距离(m)"), ("intersection_m2", "相交面积(m²)"), ("intersection_mu", "相交面积(亩)"),
                       ("share_of_feature", "占要素比例"), ("near_name", "最近的")):
        if any(getattr(h, key) is not None for h in result.hits):
            cols.append((key, title))
    rows = [[getattr(h, key) for key, _ in cols] for h in result.hits]
    if fmt == "csv":
        click.echo(_csv([c for c, _ in cols], [["" if v is None else v for v in r] for r in rows]))
        return
    if not result.hits:
        click.echo("没有找到要素。")
        if result.note:
            click.echo("注：" + result.note)
        return
    _print_table([t for _, t in cols], [[_fmt(v, 2) if isinstance(v, float) else ("" if v is None else str(v)) for v in r]
                                        for r in rows])
    click.echo(f"共 {result.count} 个要素：" + "，".join(f"{k} {v}" for k, v in result.layers.items() if v))


# ------------------------------------------------------------------------------------------------ progress
@click.command("progress", cls=_Command)
@click.option("--year", help="按哪一年的进度（默认今年，限规划期 2021–2025）")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--all-indicators", is_flag=True, help="列出全部指标（默认只列有 2020 值与目标值的）")
def progress_cmd(year, fmt, all_indicators):
    """规划目标与数据进度：5000 亩低效用地再利用（按状态、年份、园区），指标按实际值判定的状态与规划路径。"""
    if year is not None:
        try:
            year = int(year)
        except ValueError:
            raise InvalidParameter(f"--year 应为年份（如 2023），收到 '{year}'", parameter="year") from None
    p = stats_mod.progress(load_catalog(), year)
    if fmt == "json":
        click.echo(_dump(p))
        return
    land = p.land
    if land is not None:
        example = "【示例数据：地块、状态、年份均为示例，不是规划内容】" if land.illustrative else ""
        click.echo(f"■ 低效用地再利用（{land.period[0]}–{land.period[1]}，目标 {land.target_mu:,.0f} 亩）— 截至 {land.year} 年"
                   f"{example}")
        flag = "达到" if land.on_track else "落后于"
        click.echo(f"  {'（示例）' if land.illustrative else ''}"
                   f"已完成 {land.achieved_mu:,.2f} 亩（{land.percent:.2f}%），剩余 {land.remaining_mu:,.2f} 亩；"
                   f"按规划路径（匀速）应完成 {land.planned_mu:,.0f} 亩，{flag}规划路径")
        click.echo(f"  实施中 {land.in_progress_mu:,.2f} 亩，未启动 {land.not_started_mu:,.2f} 亩；已识别地块合计 {land.identified_mu:,.2f} 亩"
                   f"（图斑椭球面积 {land.polygon_area_mu:,.2f} 亩）")
        _print_table(["状态", "地块数", "面积(亩)", "占目标(%)"],
                     [[s.status, str(s.count), f"{s.area_mu:,.2f}", f"{s.share_of_target:.2f}"] for s in land.by_status])
        click.echo("")
        _print_table(["年份", "地块数", "当年完成(亩)", "累计完成(亩)", "规划路径累计(亩)", "实施中(亩)"],
                     [[str(y.year) if y.year else "（无年份）", str(y.count), f"{y.completed_mu:,.2f}",
                       f"{y.cumulative_completed_mu:,.2f}", _fmt(y.planned_cumulative_mu, 0), f"{y.in_progress_mu:,.2f}"]
                      for y in land.by_year])
        if land.by_park:
            click.echo("")
            _print_table(["园区", "地块数", "面积(亩)", "已完成(亩)"],
                         [[b["park"], str(b["count"]), f"{b['area_mu']:,.2f}", f"{b['achieved_mu']:,.2f}"] for b in land.by_park])
        for n in land.notes:
            click.echo(f"  注：{n}")
    rows = [i for i in p.indicators if all_indicators or i.kind == "trajectory" or i.actual is not None]
    if rows:
        click.echo("")
        counts = {}
        for i in p.indicators:
            counts[i.status] = counts.get(i.status, 0) + 1
        click.echo(f"■ 指标：{p.year} 年状态（按录入的实际值判定；规划路径是规划的节奏，不是完成情况）— "
                   + "，".join(f"{k} {v}" for k, v in counts.items()))
        _print_table(["id", "指标", "单位", "2020", "目标", "目标年", f"{p.year}实际", f"{p.year}规划路径", "状态", "属性"],
                     [[i.id, i.name, i.unit or "", _fmt(i.value_2020_text or i.value_2020),
                       i.target_text or ((i.target_qualifier or "") + _num(i.target)), _fmt(i.target_year),
                       i.actual_text or "", _num(i.plan_path), i.status,
                       i.attribute or ({"floor_area": "建筑面积（仅数字）", "pv_area": "光伏面积（仅数字）"}.get(i.kind, ""))]
                      for i in rows])
        warn = [i for i in p.indicators if i.status in ("超限", "滞后", "预警")]
        if warn:
            click.echo("■ 预警清单")
            for i in warn:
                click.echo(f"  [{i.status}] {i.id} {i.name}：{i.status_reason}")
    if p.figures:
        click.echo("")
        click.echo("■ 规划给出的面积数字（用地面积与图斑比较；建筑面积只列数字）")
        kind_zh = {"land_area": "用地面积", "floor_area": "建筑面积", "demolition_floor_area": "拆除建筑面积",
                   "pv_area": "光伏面积"}
        _print_table(["图层", "要素", "类型", "规划数字", "折合(m²)", "图斑面积(m²)", "图斑/规划"],
                     [[f.layer_id, f.name or f.feature_id, kind_zh.get(f.kind, f.kind), f"{_fmt(f.value)} {f.unit or ''}",
                       _fmt(f.value_m2, 0), _fmt(f.drawn_area_m2, 0), _fmt(f.drawn_over_stated, 3)] for f in p.figures])
    for n in p.notes:
        click.echo(f"注：{n}")


__all__ = ["stats_cmd", "query_cmd", "progress_cmd"]
