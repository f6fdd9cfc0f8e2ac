"""``kfqmap serve``: the map server (FastAPI + uvicorn) on the embedded geodata.

The one module under ``kfqmap/`` allowed to reach into ``server/`` (imported lazily, when the command runs).

The app (catalog, settings, extra layers) is built *before* the address is announced: a start-up error (a
corrupt ``catalog.json``, an extra layer that is not a vector file, a malformed ``KFQMAP_EXTRA_LAYERS``) prints
one line to stderr and exits with status 2, and nothing is announced. uvicorn runs httptools (llhttp) with
bounded request heads (``server.http_protocol.BoundedHttpTools``: at most ``MAX_HEAD_BYTES`` of request line +
headers, else 431) so oversized headers are refused before the app.
"""
from __future__ import annotations

import sys

import click


from kfqmap.deploy import MAX_HEAD_BYTES   # largest request line + headers a worker accepts (larger → 431)
#: addresses that open the server to the network (a warning is printed)
_EXPOSED = ("0.0.0.0", "::", "[::]", "")


def _uvicorn_limits() -> dict:
    return {"http": "server.http_protocol:BoundedHttpTools", "timeout_keep_alive": 5,
            "limit_concurrency": 1000, "server_header": False}


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
    对外开放时请设置 KFQMAP_API_PUBLIC_URL 或 KFQMAP_API_TRUSTED_HOSTS，并在前面放置提供 HTTPS 的反向代理。
    """
    import uvicorn

    from server.app import create_app
    from server.settings import APISettings

    try:
        settings = APISettings()
        app = create_app(settings)     # loads and checks the catalog; workers > 1 build their own copy
    except Exception as exc:  # noqa: BLE001 - any start-up failure: one line, status 2, nothing announced
        message = getattr(exc, "message", None) or " ".join(str(exc).split()) or type(exc).__name__
        click.echo(f"错误：无法启动服务（{type(exc).__name__}）：{message[:500]}", err=True)
        sys.exit(2)
    if host in _EXPOSED:
        click.echo(f"警告：--host {host or '0.0.0.0'} 使服务对网络上的所有人开放（匿名可读，除非 KFQMAP_ANONYMOUS=none；"
                   "无 HTTPS，登录密码与令牌以明文传输）。请只在可信网络中使用，"
                   "设置 KFQMAP_API_PUBLIC_URL 或 KFQMAP_API_TRUSTED_HOSTS，并在前面放置提供 HTTPS 的反向代理"
                   "（见 README）。", err=True)
    click.echo(f"KFQMap 服务：http://{host}:{port}/  （接口定义 /api，图层集合 /collections；Ctrl+C 退出）", err=True)
    if workers > 1:
        del app
        uvicorn.run("server.app:create_app", factory=True, host=host, port=port, workers=workers,
                    log_level=log_level, **_uvicorn_limits())
    else:
        uvicorn.run(app, host=host, port=port, log_level=log_level, **_uvicorn_limits())
