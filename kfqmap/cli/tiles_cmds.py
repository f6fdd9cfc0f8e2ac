"""``kfqmap tiles seed``: pre-render a tileset into PMTiles or MBTiles (with a progress bar)."""
from __future__ import annotations

import click
from tqdm import tqdm

from ..catalog import load_catalog
from ..tiles import PLAN_TILESET, TileEngine, parse_zooms
from ..tileseed import seed


@click.group("tiles")
def tiles_group():
    """矢量瓦片：预生成（seed）。"""


@tiles_group.command("seed")
@click.option("--zooms", default="10-16", show_default=True, help="缩放级别：10-16、12 或 10,12,14（0–22）")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="输出文件：.pmtiles（PMTiles v3）或 .mbtiles（MBTiles 1.3）")
@click.option("--tileset", "--collection", "tileset", default=PLAN_TILESET, show_default=True,
              help="瓦片集：plan（全部规划图层）或某个图层 id（含 KFQMAP_EXTRA_LAYERS 载入的额外图层，如 parcels）")
@click.option("--processes", type=int, default=None, help="并行进程数（默认 min(2, CPU 数)）；大型 PostGIS 图层为并行数据库连接数（默认 CPU 数）")
@click.option("--quiet", is_flag=True, help="不显示进度条")
def seed_cmd(zooms: str, out: str, tileset: str, processes: int | None, quiet: bool):
    """预生成瓦片集中所有含数据的瓦片（gzip MVT），写入一个 PMTiles 或 MBTiles 文件。"""
    zoom_list = parse_zooms(zooms)
    engine = TileEngine(load_catalog())
    bar = tqdm(total=0, unit="瓦片", disable=quiet, desc=f"{tileset} z{zoom_list[0]}-{zoom_list[-1]}")

    def on_total(n):
        bar.total = n
        bar.refresh()

    stats = seed(engine, tileset, zoom_list, out, processes=processes, progress=bar.update, on_total=on_total)
    bar.close()
    per_zoom = ", ".join(f"z{z}:{n}" for z, n in stats.per_zoom.items())
    click.echo(f"写入 {stats.path}：{stats.tiles} 个瓦片（{per_zoom}），{stats.bytes / 1e6:.1f} MB（gzip），"
               f"最大瓦片 {stats.max_tile_bytes / 1e3:.0f} KB（未压缩），用时 {stats.seconds:.1f} 秒")
