"""``kfqmap compare A B``: what changed between two states of a layer or two layers (对比分析).

A and B are catalog layer ids or vector files (GeoJSON/GPKG/Shapefile; an imported version against the current
layer). One library call (``kfqmap.compare``); a table or JSON.
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from .. import compare as compare_mod
from ..catalog import load_catalog
from ..compare_report import write_xlsx
from .analysis_cmds import _Command
from .catalog_cmds import _print_table
from .userfile import read_user_file

CHANGE_ZH = {"added": "新增", "removed": "删除", "changed": "修改"}


def _frame(catalog, ref: str, crs):
    if ref in catalog.ids:
        return catalog.read(ref)
    if Path(ref).suffix or Path(ref).exists():
        return read_user_file(ref, crs, parameter=ref)
    return catalog.read(ref)            # raises LayerNotFound naming it


@click.command("compare", cls=_Command)
@click.argument("a")
@click.argument("b")
@click.option("--key", default="id", show_default=True, help="匹配要素的属性（两边都有且唯一）")
@click.option("--by", default=None, help="按哪个面图层汇总增减面积，如 parks、cores")
@click.option("--crs", default=None, help="文件的坐标系（文件未声明时），如 EPSG:4549")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--out", "out", default=None, type=click.Path(dir_okay=False), help="另写出 XLSX 对比报告，如 对比.xlsx")
def compare_cmd(a, b, key, by, crs, fmt, out):
    """对比分析：A（之前）与 B（之后）的新增、删除、修改要素及增减面积（亩）。A、B 为图层 id 或矢量文件。"""
    catalog = load_catalog()
    zones = None
    if by is not None:
        layer = catalog.get(by)
        if not layer.is_polygonal:
            raise compare_mod.InvalidParameter(f"汇总图层 {by} 不是面图层", parameter="by")
        zones = catalog.read(by)
    c = compare_mod.compare_frames(_frame(catalog, a, crs), _frame(catalog, b, crs), a_label=a, b_label=b, key=key,
                                   zones=zones, zones_label=by)
    if out:
        write_xlsx(c, Path(out))
    if fmt == "json":
        click.echo(json.dumps(c.model_dump(mode="json"), ensure_ascii=False, indent=2))
        return
    n = c.counts
    click.echo(f"■ {a} → {b}：新增 {n['added']}，删除 {n['removed']}，修改 {n['changed']}，未变 {n['unchanged']}；"
               f"增加 {c.gained_mu:,.2f} 亩，减少 {c.lost_mu:,.2f} 亩，净 {c.net_mu:+,.2f} 亩")
    if c.features:
        _print_table(["变化", "id", "名称", "几何", "属性变化", "A(亩)", "B(亩)", "增加(亩)", "减少(亩)"],
                     [[CHANGE_ZH[f.change], f.id, f.name or "", "变" if f.geometry_changed else "",
                       "；".join(f"{x.name}: {x.a} → {x.b}" for x in f.attributes)[:60],
                       _n(f.area_a_mu), _n(f.area_b_mu), _n(f.gained_mu), _n(f.lost_mu)] for f in c.features])
    if c.by_zone:
        click.echo(f"\n■ 按 {by} 汇总")
        _print_table(["区域", "新增", "删除", "修改", "增加(亩)", "减少(亩)"],
                     [[z.zone_name or z.zone_id, str(z.added), str(z.removed), str(z.changed), _n(z.gained_mu),
                       _n(z.lost_mu)] for z in c.by_zone])
    for note in c.notes:
        click.echo(f"注：{note}")
    if out:
        click.echo(f"已写出对比报告 {out}")


def _n(v) -> str:
    return "" if v is None else f"{v:,.2f}"


__all__ = ["compare_cmd"]
