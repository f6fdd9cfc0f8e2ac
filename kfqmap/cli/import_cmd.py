"""``kfqmap import``: bring a planner's GIS/CAD file into the embedded store (or only check it), and undo an import."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..errors import InvalidParameter


@click.command("import")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--layer", "layer", metavar="ID", help="导入到已有图层（如 parks、low_efficiency_land）")
@click.option("--new-layer", metavar="ID", help="新建图层（小写字母/数字/下划线）")
@click.option("--title", help="新图层的中文名")
@click.option("--group", default="额外", show_default=True, help="新图层的分组（两轴三带/两核多园/一带四园/更新地块/低效用地/背景/额外）")
@click.option("--mode", type=click.Choice(["append", "replace", "upsert"]), default="append", show_default=True,
              help="append 追加；replace 替换整层（按 --key 或名称匹配旧要素）；upsert 按 --key 更新或追加")
@click.option("--key", metavar="FIELD", help="判断同一要素的字段（replace/upsert）")
@click.option("--crs", help="文件坐标系（EPSG:4326|4490|4549|4528|3857、gcj02、bd09）；也用于确认推测的坐标系")
@click.option("--swap-xy", is_flag=True, help="x/y（东/北）互换后再换算")
@click.option("--encoding", help="文字编码（如 GBK、UTF-8），覆盖自动检测")
@click.option("--table", help="GeoPackage 中要导入的表")
@click.option("--sheet", help="Excel 工作表名")
@click.option("--xy", metavar="X列,Y列", help="CSV/XLSX 的坐标列名（默认识别 经度/纬度、lon/lat、x/y、东坐标/北坐标）")
@click.option("--wkt-column", help="CSV/XLSX 中 WKT 几何所在的列")
@click.option("--control-points", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="控制点 CSV（src_x,src_y,dst_x,dst_y），用于 CAD 局部坐标配准")
@click.option("--control-crs", default="EPSG:4549", show_default=True, help="控制点已知坐标的坐标系")
@click.option("--control-method", type=click.Choice(["similarity", "affine"]), default="similarity", show_default=True,
              help="配准方法：相似变换或仿射变换")
@click.option("--max-rms", type=float, default=1.0, show_default=True, help="配准 RMS 上限（米），超过则拒绝")
@click.option("--geometry", type=click.Choice(["polygon", "line", "point"]), help="混合文件中导入哪类几何（新图层）")
@click.option("--map", "mapping", multiple=True, metavar="源列=目标字段", help="字段对应（可重复）")
@click.option("--drop-unmapped", is_flag=True, help="舍弃目标图层没有的列（默认作为新列保留）")
@click.option("--accuracy", type=float, help="定位精度（米），写入每个要素的 accuracy_m")
@click.option("--illustrative", is_flag=True, help="把导入的要素标为示例（illustrative）")
@click.option("--user", help="记录为导入人（默认当前登录名）")
@click.option("--dry-run", is_flag=True, help="只检查并打印报告，不写入")
@click.option("--undo", "undo", type=int, metavar="ID", help="撤销编号为 ID 的导入，恢复之前的图层")
@click.option("--log", "show_log", is_flag=True, help="列出导入记录")
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出报告")
def import_cmd(file, layer, new_layer, title, group, mode, key, crs, swap_xy, encoding, table, sheet, xy, wkt_column,
               control_points, control_crs, control_method, max_rms, geometry, mapping, drop_unmapped, accuracy,
               illustrative, user, dry_run, undo, show_log, as_json):
    """导入 Shapefile/GPKG/GeoJSON/KML/FlatGeobuf/CSV/XLSX/DXF 到内置数据库（先检查，全部成功才写入）。

    \b
      kfqmap import 地块.zip --layer low_efficiency_land --mode replace --key parcel_id --dry-run
      kfqmap import 园区.dxf --new-layer my_parks --title 园区边界 --group 两核多园 --crs EPSG:4549
      kfqmap import 图纸.dxf --new-layer site --control-points 控制点.csv
      kfqmap import --undo 3
    """
    from ..catalog import load_catalog
    from ..importing import ImportOptions, parse_mapping, run_import, undo_import
    from ..providers.store_imports import import_log

    catalog = load_catalog()
    if show_log:
        entries = import_log(catalog.store) if catalog.store is not None else []
        if as_json:
            click.echo(json.dumps(entries, ensure_ascii=False, indent=1))
            return
        for e in entries:
            state = f"已撤销 {e['undone_at']}" if e["undone_at"] else "有效"
            click.echo(f"{e['import_id']:>4}  {e['imported_at']}  {e['layer_id']:<22} {e['mode']:<8} "
                       f"{e['imported_by'] or '':<10} {e['source']}  {state}")
        return
    if undo is not None:
        entry = undo_import(catalog, undo, user=user)
        click.echo(f"已撤销导入 {undo}：图层 {entry['layer_id']}"
                   + ("（该导入新建的图层已删除）" if entry["created_layer"] else " 已恢复为导入前的版本"))
        return
    if file is None:
        raise InvalidParameter("请给出要导入的文件（或 --undo ID / --log）", parameter="file")
    cols = tuple(c.strip() for c in xy.split(",")) if xy else None
    if cols is not None and len(cols) != 2:
        raise InvalidParameter("--xy 应写成 X列,Y列", parameter="xy")
    opts = ImportOptions(layer=layer, new_layer=new_layer, title=title, group=group, mode=mode, key=key, crs=crs,
                         swap_xy=swap_xy, encoding=encoding, table=table, sheet=sheet, xy=cols, wkt_column=wkt_column,
                         control_points=control_points, control_crs=control_crs, control_method=control_method,
                         max_rms_m=max_rms, geometry=geometry, user_map=parse_mapping(mapping),
                         keep_unmapped=not drop_unmapped, accuracy_m=accuracy, illustrative=illustrative, user=user,
                         dry_run=dry_run)
    if sys.stderr.isatty():         # a progress bar for people; scripts and pipes get the report only
        stages = ["读取文件", "坐标换算", "检查几何", "字段对应", "重叠统计"] + ([] if dry_run else ["写入"])
        with click.progressbar(length=len(stages), label="导入", file=sys.stderr, show_eta=False,
                               item_show_func=lambda s: s or "") as bar:
            report = run_import(catalog, file, opts, lambda stage: bar.update(1, stage))
    else:
        report = run_import(catalog, file, opts)
    click.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=1) if as_json else report.format_text())
    if not report.ok:
        sys.exit(2)
