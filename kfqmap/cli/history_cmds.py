"""``kfqmap history LAYER FEATURE_ID`` and ``kfqmap audit``: the change history kept in the embedded store."""
from __future__ import annotations

import json
from pathlib import Path

import click

from .. import audit as audit_report
from .. import history
from ..providers.gpkg import GeoPackageStore
from ..settings import CatalogSettings


def open_store() -> GeoPackageStore:
    return GeoPackageStore.open(CatalogSettings().store_path())


@click.command("history")
@click.argument("layer_id")
@click.argument("feature_id")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def history_cmd(layer_id: str, feature_id: str, fmt: str):
    """一个要素的修改历史（最新在前）：时间（北京时间）、用户、操作、修改内容、修改说明。"""
    changes = open_store().history(lambda conn: history.feature_history(conn, layer_id, feature_id))
    if fmt == "json":
        click.echo(json.dumps([c.as_json() for c in changes], ensure_ascii=False, indent=2))
        return
    if not changes:
        click.echo(f"要素 {layer_id}/{feature_id} 没有修改记录", err=True)
    for row in audit_report.rows(changes):
        click.echo("\t".join(str(v) for v in (row[0], row[1], row[3], row[6], row[7], row[8])))


@click.command("audit")
@click.option("--from", "start", default=None, help="起始时间（含），如 2026-06-01 或 2026-06-01T08:00:00Z；无时区按北京时间")
@click.option("--to", "end", default=None, help="截止时间（不含）")
@click.option("--user", default=None, help="只看此用户")
@click.option("--layer", default=None, help="只看此图层")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="写入 .xlsx 文件（不给则输出到屏幕）")
def audit_cmd(start, end, user, layer, out):
    """审计：时间段内的全部修改（谁、何时、改了什么、为什么），可导出 Excel。"""
    start_utc = history.parse_time(start, parameter="--from")
    end_utc = history.parse_time(end, parameter="--to")
    changes = open_store().history(lambda conn: history.audit(conn, user=user, layer=layer, start=start_utc,
                                                              end=end_utc, limit=1_000_000))
    if out is not None:
        audit_report.write_xlsx(changes, out)
        click.echo(f"已写入 {len(changes)} 条修改记录到 {out}", err=True)
        return
    click.echo("\t".join(audit_report.HEADERS))
    for row in audit_report.rows(changes):
        click.echo("\t".join(str(v) for v in row))
