"""``kfqmap compare A B``: 对比分析 of two layers, or of a layer and a file (an imported or surveyed version)."""
from __future__ import annotations

import json
from pathlib import Path

import click

from ..catalog import load_catalog
from ..errors import InvalidParameter
from .analysis_cmds import _Command, _fmt, _print_table
from .userfile import read_user_file


def _side(catalog, spec: str, crs: str | None, parameter: str):
    from ..compare import Side, parse_side

    path = Path(spec)
    if path.suffix and path.exists():
        frame = read_user_file(path, crs, parameter=parameter)
        if "id" not in frame.columns:
            frame.insert(0, "id", [str(i + 1) for i in range(len(frame))])
        return Side(f"文件 {path.name}", frame, None)
    return parse_side(catalog, spec, parameter=parameter)


@click.command("compare", cls=_Command)
@click.argument("a")
@click.argument("b")
@click.option("--match", type=click.Choice(["key", "overlap"]), default="key", show_default=True,
              help="配对方式：key 按字段值（同一图层的两个状态），overlap 按重叠面积（两个不同图层）")
@click.option("--key", default="id", show_default=True, help="match=key 时的配对字段（如 id、name、parcel_id）")
@click.option("--unit", default="mu", show_default=True, help="面积单位：亩|mu|ha|公顷|km2|m2")
@click.option("--crs", help="文件的坐标系（文件没有声明时）")
@click.option("--out", "out", metavar="FILE", help="写出报告：.xlsx（对比报告）、.geojson（差异要素）或 .json")
@click.option("--all", "show_all", is_flag=True, help="也列出未变化的要素")
def compare_cmd(a, b, match, key, unit, crs, out, show_all):
    """对比分析：A（之前/规划）与 B（之后/现状）的新增、删除、变化要素及增减面积，按园区/核心区汇总。

    \b
    A、B 可以是图层 id 或文件（GeoJSON/GPKG/Shapefile）。
    例：kfqmap compare renewal_sites 更新地块_现状.gpkg --key name --out 对比.xlsx
        kfqmap compare renewal_sites low_efficiency_land --match overlap
    """
    from ..compare import compare
    from ..compare_xlsx import write_report

    catalog = load_catalog()
    result = compare(catalog, _side(catalog, a, crs, "a"), _side(catalog, b, crs, "b"), match=match, key=key,
                     unit=unit)
    if out:
        path = Path(out)
        suffix = path.suffix.lower()
        if suffix == ".xlsx":
            write_report(result, path)
        elif suffix in (".geojson", ".json"):
            data = result.to_geojson() if suffix == ".geojson" else result.to_dict(unchanged=show_all)
            part = path.with_name(f".{path.name}.part")
            part.write_text(json.dumps(data, ensure_ascii=False, default=str), encoding="utf-8")
            part.replace(path)
        else:
            raise InvalidParameter(f"不支持的报告格式 {suffix or '（无扩展名）'}：请用 .xlsx、.geojson 或 .json",
                                   parameter="out")
    data = result.to_dict(unchanged=show_all)
    s, sym = data["summary"], data["unit"]["symbol_zh"]
    click.echo(f"对比：{result.a} → {result.b}（{'按字段 ' + result.key + ' ' if result.match == 'key' else '按重叠面积'}配对）")
    names = {"added": "新增", "removed": "删除", "changed": "变化", "unchanged": "未变"}
    rows = [[names[r["change"]], r["id_a"] or "", r["id_b"] or "", r["name"] or "", "、".join(r["fields"]) +
             ("（几何）" if r["geometry_changed"] else ""), _fmt(r["gained"]), _fmt(r["lost"]),
             "占位/示例" if r["placeholder"] else ""] for r in data["changes"]]
    if rows:
        _print_table(["类型", "A id", "B id", "名称", "变化", f"增加({sym})", f"减少({sym})", "注"], rows)
    click.echo(f"新增 {s['added']}，删除 {s['removed']}，变化 {s['changed']}，未变 {s['unchanged']}；"
               f"增加 {_fmt(s['gained'])} {sym}，减少 {_fmt(s['lost'])} {sym}，净变化 {_fmt(s['net'])} {sym}")
    for z in data["zones"]:
        click.echo(f"  {z['zone_name']}（{z['layer']}）：增加 {_fmt(z['gained'])}，减少 {_fmt(z['lost'])} {sym}"
                   + ("（分区范围为占位）" if z["placeholder"] else ""))
    if s["placeholder_changes"]:
        click.echo(f"注：{s['placeholder_changes']} 处差异涉及占位/示例要素，不代表实测变化。")
    if out:
        click.echo(f"已写出：{out}")
