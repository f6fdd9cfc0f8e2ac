"""Entry point of the ``kfqmap`` command.

The command modules define plain click commands; this module registers them on ``cli`` (``commands()``), so
no module here imports ``cli`` and nothing is registered by import side effect. User mistakes (any
``KFQMapError``) print one clear line to stderr and exit with status 2, never a traceback.
"""
from __future__ import annotations

import sys

import click

from ..errors import KFQMapError
from .accounts_cmds import tokens_group, users_group
from .analysis_cmds import progress_cmd, query_cmd, stats_cmd
from .catalog_cmds import layers_cmd, show_cmd
from .compare_cmd import compare_cmd
from .deploy_cmd import deploy_group
from .export_cmds import export_cmd
from .history_cmds import audit_cmd, history_cmd
from .import_cmd import import_cmd
from .indicator_cmds import indicators_group
from .serve_cmd import serve_cmd
from .tiles_cmds import tiles_group


class KFQMapGroup(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KFQMapError as exc:
            click.echo(f"错误：{exc.message}", err=True)
            sys.exit(2)


def commands() -> list[click.Command]:
    """Every top-level command of ``kfqmap`` (``--help`` lists them by name)."""
    return [layers_cmd, show_cmd, serve_cmd, export_cmd, tiles_group, stats_cmd, query_cmd, progress_cmd,
            indicators_group, compare_cmd, import_cmd, deploy_group, users_group, tokens_group, history_cmd,
            audit_cmd]


@click.group(cls=KFQMapGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kfqmap")
def cli():
    """KFQMap：昆山开发区“十四五”规划空间格局 GIS 工具（图层、统计、查询、瓦片、导出、服务）。"""


for _command in commands():
    cli.add_command(_command)


if __name__ == "__main__":   # python -m kfqmap.cli.main
    cli()
