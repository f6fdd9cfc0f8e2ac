"""``kfqmap export``: write selected layers to GIS, CAD, spreadsheet, image or HTML files."""
from __future__ import annotations

from pathlib import Path

import click
from tqdm import tqdm

from ..catalog import load_catalog
from ..errors import InvalidGeometry
from ..export import FORMATS, export_layers, format_for_path, get_format
from .userfile import read_user_file


def _read_within(path: Path):
    """The union of a user file's geometries, in WGS 84 (checked like ``kfqmap stats --file``)."""
    import shapely

    frame = read_user_file(path, None, parameter="within",
                           crs_hint="范围文件需带坐标系定义（如 .prj、GeoPackage 的 SRS）或使用 WGS 84 经纬度")
    geoms = [g for g in frame.geometry.values if g is not None and not g.is_empty]
    if not geoms:
        raise InvalidGeometry(f"范围文件 {path} 中没有几何", parameter="within")
    return shapely.union_all(geoms)


@click.command("export", short_help="导出图层：GIS（GeoJSON/GPKG/SHP/KML/FGB/CSV）、CAD（DXF）、Excel、PNG/PDF、HTML。")
@click.option("--layers", "-l", required=True, help="图层 id，逗号分隔（例如 cores,parks）；all 表示全部图层")
@click.option("--format", "-f", "fmt", default=None,
              help=f"导出格式：{', '.join(FORMATS)}（省略时按 --out 的扩展名判断）")
@click.option("--crs", default=None,
              help="输出坐标系：EPSG:4326、4490、4549、4528、3857 或 GCJ-02（省略时用格式的默认值：DXF/图片为 EPSG:4549，其余 WGS 84）")
@click.option("--out", "-o", "out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="输出文件")
@click.option("--bbox", default=None, help="范围 minx,miny,maxx,maxy（默认 WGS 84 经纬度；与范围相交的要素整体导出）")
@click.option("--bbox-crs", default=None, help="--bbox 的坐标系（默认 WGS 84）")
@click.option("--filter", "filter_", default=None, help="CQL2 文本过滤条件，例如 \"status = '已完成'\"")
@click.option("--within", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="范围文件（GeoJSON/GPKG/SHP…）：只导出与其中几何相交的要素")
@click.option("--title", default=None, help="地图/报表标题（PNG、PDF、XLSX、KML、HTML）")
@click.option("--size", default=None, help="图片尺寸：A4（默认，横向）、A3、A4-portrait、297x210mm、11x8.5in、1600x1200px")
@click.option("--dpi", type=float, default=None, help="图片分辨率（默认 150）；PNG 像素 = 尺寸（英寸）× dpi")
@click.option("--quiet", "-q", is_flag=True, help="不显示进度条")
def export_cmd(layers, fmt, crs, out, bbox, bbox_crs, filter_, within, title, size, dpi, quiet):
    """导出图层：GeoJSON、GeoPackage、Shapefile（zip）、KML、FlatGeobuf、CSV、DXF、XLSX、PNG、PDF、HTML。

    写出过程先写入目标目录中的临时文件，成功后再改名，失败时不留下半成品文件。
    """
    catalog = load_catalog()
    f = get_format(fmt) if fmt else format_for_path(out)
    ids = catalog.ids if layers.strip().lower() == "all" else [p.strip() for p in layers.split(",") if p.strip()]
    geometry = _read_within(within) if within else None
    options = {k: v for k, v in {"title": title, "size": size, "dpi": dpi}.items() if v is not None}
    bar = None

    def progress(advance: int = 1, *, total: int | None = None):
        nonlocal bar
        if quiet:
            return
        if total is not None:
            bar = tqdm(total=total, unit="要素", desc=f"导出 {f.name}", leave=False)
        if bar is not None and advance:
            bar.update(advance)

    try:
        result = export_layers(catalog, ids, f.name, out, crs, bbox=bbox, geometry=geometry, filter=filter_,
                               progress=progress, bbox_crs=bbox_crs, options=options)
    finally:
        if bar is not None:
            bar.close()
    click.echo(f"已导出 {result.features} 个要素（{', '.join(result.layers)}）→ {result.path}"
               f"（{result.format.title_zh}，{result.crs.code}）")
