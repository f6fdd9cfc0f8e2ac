"""``kfqmap indicators …``: indicator actuals (实际值) and their status (监测预警).

* ``template --out 指标填报.xlsx`` — the entry workbook (pre-filled with the values already entered);
* ``load 指标填报.xlsx`` — read it back, validated; any error names sheet/row/column and nothing is loaded;
* ``set ID YEAR VALUE --source …`` — one value;
* ``threshold ID 0.08`` — the bureau's warning threshold for one indicator;
* ``status --year 2023`` — every indicator's status and the warning list (``kfqmap progress`` shows it too).

Who entered a value is the OS user, or ``--by NAME``.
"""
from __future__ import annotations

import getpass
import json
from pathlib import Path

import click

from .. import monitor
from ..actuals import ActualsStore
from ..catalog import load_catalog
from ..indicator_sheet import read_entries, write_template
from .analysis_cmds import _Command
from .catalog_cmds import _print_table


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:          # no login name (a container without $USER and no passwd entry)
        return "unknown"


_BY = click.option("--by", "by", default=None, help="录入人（默认为当前操作系统用户）")


@click.group("indicators")
def indicators_group():
    """指标实际值录入与监测预警：模板、导入、单项录入、预警阈值、状态。"""


@indicators_group.command("template", cls=_Command)
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="输出的 XLSX 文件，如 指标填报.xlsx")
def template_cmd(out):
    """生成指标填报模板（XLSX）：编号、指标、单位、目标、各年份实际值、来源；已录入的值会预先填好。"""
    catalog = load_catalog()
    store = ActualsStore.of(catalog)
    n = write_template(monitor.indicator_rows(catalog), store.read() if store else {}, Path(out))
    click.echo(f"已写出 {out}：{n} 个监测指标，年份列 2021–2025")


@indicators_group.command("load", cls=_Command)
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@_BY
def load_cmd(file, by):
    """导入填好的指标填报模板；全部校验通过才写入（一次事务），任何错误都不导入。"""
    catalog = load_catalog()
    entries = read_entries(Path(file))
    changed = monitor.load_actuals(catalog, entries, by=by or _os_user(), via="xlsx")
    click.echo(f"已导入 {file}：{len([e for e in entries if e.value is not None])} 个数值，其中 {changed} 个有变化")


@indicators_group.command("set", cls=_Command)
@click.argument("indicator_id")
@click.argument("year")
@click.argument("value")
@click.option("--source", default=None, help="数据来源，如“2023年统计公报”")
@_BY
def set_cmd(indicator_id, year, value, source, by):
    """录入一个实际值：kfqmap indicators set t2_07 2023 4.1 --source 统计公报"""
    s = monitor.set_actual(load_catalog(), indicator_id, year, value, source=source, by=by or _os_user(), via="cli")
    click.echo(f"{s.id} {s.name} {s.year} 年 = {s.value_text}{s.unit or ''}；状态：{s.status}（{s.reason}）")


@indicators_group.command("threshold", cls=_Command)
@click.argument("indicator_id")
@click.argument("threshold")
@_BY
def threshold_cmd(indicator_id, threshold, by):
    """设置某指标的预警阈值（偏离规划路径的比例，如 0.05 = 5%）。"""
    t = monitor.set_threshold(load_catalog(), indicator_id, threshold, by=by or _os_user())
    click.echo(f"{indicator_id} 预警阈值 = {t}")


@indicators_group.command("status", cls=_Command)
@click.option("--year", default=None, help="年份（默认今年，限 2021–2025）")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--all", "show_all", is_flag=True, help="也列出不监测的指标（表1 等）")
def status_cmd(year, fmt, show_all):
    """各指标在某年的状态（达标/正常/预警/滞后/超限/无数据/待核定）与预警清单。"""
    report = monitor.indicator_status(load_catalog(), year)
    if fmt == "json":
        click.echo(json.dumps(report.model_dump(mode="json"), ensure_ascii=False, indent=2))
        return
    print_status(report, show_all=show_all)


def print_status(report, *, show_all: bool = False) -> None:
    counts = "，".join(f"{k} {v}" for k, v in report.counts.items() if v)
    click.echo(f"■ 指标监测（{report.year} 年）：{counts}")
    if report.warnings:
        click.echo("■ 预警清单")
        _print_table(["状态", "id", "指标", "实际", "规划路径", "说明"],
                     [[w.status, w.id, w.name, _v(w.value_text, w.unit), _v(_num(w.plan_path), w.unit), w.reason]
                      for w in report.warnings])
    rows = [i for i in report.indicators if show_all or i.monitored]
    click.echo("")
    _print_table(["id", "指标", "单位", "目标", "计量", f"{report.year}实际", "规划路径", "状态"],
                 [[i.id, i.name, i.unit or "", i.target_text or "", i.measure, i.value_text or "",
                   _num(i.plan_path), i.status] for i in rows])
    for n in report.notes:
        click.echo(f"注：{n}")


def _num(v) -> str:
    if v is None:
        return ""
    return f"{v:.6g}" if abs(v) < 1000 else f"{v:,.0f}"


def _v(text, unit) -> str:
    return f"{text}{unit or ''}" if text else ""


__all__ = ["indicators_group", "print_status"]
