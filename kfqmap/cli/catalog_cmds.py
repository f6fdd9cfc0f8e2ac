"""``kfqmap layers`` and ``kfqmap show``: the catalog and a layer's features."""
from __future__ import annotations

import json

import click

from ..area import ellipsoidal_area
from ..catalog import load_catalog
from ..units import mu_from_m2


@click.command("layers")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="输出格式")
def layers_cmd(fmt: str):
    """列出图层目录：id、中文名、分组、几何类型、要素数、面状图层总面积（亩）。"""
    catalog = load_catalog()
    rows = []
    for layer in catalog.layers:
        frame = catalog.read(layer.id)
        area_mu = None
        if layer.is_polygonal:
            area_mu = round(float(mu_from_m2(ellipsoidal_area(frame.geometry.values).sum())), 2)
        rows.append({"id": layer.id, "title_zh": layer.title_zh, "title_en": layer.title_en, "group": layer.group,
                     "geometry_type": layer.geometry_type, "features": len(frame), "area_mu": area_mu})
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    header = ("id", "中文名", "分组", "几何类型", "要素数", "面积(亩)")
    table = [(r["id"], r["title_zh"], r["group"], r["geometry_type"], str(r["features"]),
              "" if r["area_mu"] is None else f"{r['area_mu']:,.2f}") for r in rows]
    _print_table(header, table)


@click.command("show")
@click.argument("layer_id")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "geojson"]), default="table", show_default=True)
def show_cmd(layer_id: str, fmt: str):
    """显示一个图层的要素及其属性。"""
    catalog = load_catalog()
    layer = catalog.get(layer_id)
    frame = catalog.read(layer_id)
    if fmt == "geojson":
        click.echo(frame.to_json(ensure_ascii=False, drop_id=True))
        return
    attrs = frame.drop(columns=frame.geometry.name)
    if fmt == "json":
        click.echo(attrs.to_json(orient="records", force_ascii=False, indent=2))
        return
    click.echo(f"{layer.title_zh} ({layer.title_en}) — {layer.group} — 规划章节 {layer.plan_section} — {len(frame)} 个要素")
    if layer.schematic:
        click.echo(f"示意性图层：位置精度约 ±{layer.accuracy_m:g} 米" if layer.accuracy_m else "示意性图层")
    if layer.illustrative:
        click.echo("示例数据（illustrative）：几何与数值不是规划给定的")
    for _, row in attrs.iterrows():
        click.echo("—" * 40)
        for key, value in row.items():
            if value is None or (isinstance(value, float) and value != value):
                continue
            click.echo(f"  {key}: {value}")


def _print_table(header, rows):
    def width(s: str) -> int:
        return sum(2 if ord(c) > 0x2E80 else 1 for c in s)

    cols = list(zip(header, *rows)) if rows else [(h,) for h in header]
    widths = [max(width(str(c)) for c in col) for col in cols]

    def line(cells):
        return "  ".join(str(c) + " " * (w - width(str(c))) for c, w in zip(cells, widths)).rstrip()

    click.echo(line(header))
    click.echo("  ".join("-" * w for w in widths))
    for r in rows:
        click.echo(line(r))
