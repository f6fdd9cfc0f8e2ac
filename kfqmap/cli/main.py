"""Entry point of the ``kfqmap`` command.

Each command module registers its commands on ``cli``; user mistakes (any ``KFQMapError``) print one clear
line to stderr and exit with status 2, never a traceback.
"""
from __future__ import annotations

import sys

import click

from ..errors import KFQMapError


class KFQMapGroup(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KFQMapError as exc:
            click.echo(f"错误：{exc.message}", err=True)
            sys.exit(2)


@click.group(cls=KFQMapGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kfqmap")
def cli():
    """KFQMap：昆山开发区“十四五”规划空间格局 GIS 工具（图层、统计、查询、瓦片、导出、服务）。"""


# command modules (each adds its commands to ``cli`` on import)
from . import catalog_cmds  # noqa: E402,F401
from . import serve_cmd  # noqa: E402,F401
from . import export_cmds  # noqa: E402,F401
from . import tiles_cmds  # noqa: E402,F401
from . import analysis_cmds  # noqa: E402,F401
