"""``kfqmap serve``: the map server (FastAPI + uvicorn) on the embedded geodata.

The one module under ``kfqmap/`` allowed to reach into ``server/`` (imported lazily, when the command runs).
"""
from __future__ import annotations

import click


@click.command("serve", short_help="启动地图服务：OGC API Features、瓦片、统计、查询、导出与网页地图。")
@click.option("--host", default="127.0.0.1", show_default=True, help="监听地址（0.0.0.0 对局域网开放）")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="端口")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="工作进程数（>1 时每个进程各自加载图层）")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]), help="日志级别")
def serve_cmd(host: str, port: int, workers: int, log_level: str):
    """启动地图服务：OGC API Features、瓦片、统计、查询、导出与网页地图（浏览器打开 http://HOST:PORT/）。

    图层目录来自 KFQMAP_GEODATA_DIR（默认内置 geodata），额外图层见 KFQMAP_EXTRA_LAYERS。
    """
    import uvicorn

    from server.app import create_app
    from server.settings import APISettings

    click.echo(f"KFQMap 服务：http://{host}:{port}/  （接口定义 /api，图层集合 /collections；Ctrl+C 退出）", err=True)
    if workers > 1:
        uvicorn.run("server.app:create_app", factory=True, host=host, port=port, workers=workers,
                    log_level=log_level)
    else:
        uvicorn.run(create_app(APISettings()), host=host, port=port, log_level=log_level)
