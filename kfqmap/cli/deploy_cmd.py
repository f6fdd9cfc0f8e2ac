"""``kfqmap deploy nginx``: write the nginx configuration that fronts the KFQMap workers (``kfqmap.deploy``)."""
from __future__ import annotations

import click


@click.group("deploy", short_help="生成部署文件（nginx 反向代理与瓦片缓存配置）。")
def deploy_group():
    """生成部署文件：nginx 负载均衡、瓦片缓存、TLS 与请求限制（见 docs/deploy.md）。"""


@deploy_group.command("nginx", short_help="生成 nginx.conf：多个工作进程的负载均衡、瓦片缓存与 TLS。")
@click.option("--upstream", "upstreams", multiple=True, metavar="HOST:PORT",
              help="工作进程地址（可重复；unix:/路径 亦可）。不给时按 --workers/--first-port 生成")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 256),
              help="本机工作进程数（每个一个端口：kfqmap serve --port 起始端口+i）")
@click.option("--first-port", default=8001, show_default=True, type=click.IntRange(1, 65535),
              help="本机第一个工作进程的端口")
@click.option("--listen", default="80", show_default=True, help="nginx 监听（端口或 地址:端口）")
@click.option("--server-name", default="_", show_default=True, help="域名（server_name）")
@click.option("--cache-dir", default="/var/cache/nginx-kfqmap", show_default=True, help="瓦片缓存目录")
@click.option("--cache-max-size", default="2g", show_default=True, help="瓦片缓存上限（nginx 写法，如 2g）")
@click.option("--runtime-dir", default="/var/lib/nginx", show_default=True,
              help="nginx 的临时文件目录（Debian 软件包已创建）")
@click.option("--pid-file", default="/run/nginx.pid", show_default=True, help="pid 文件（Debian 的 nginx.service 用此路径）")
@click.option("--log-dir", default="/var/log/nginx", show_default=True, help="日志目录")
@click.option("--tile-valid", default=1, show_default=True, type=click.IntRange(1, 3600),
              help="瓦片在 nginx 缓存中免验证的秒数；之后按 ETag 向工作进程验证（编辑在此时间 + 0.25 秒内可见）")
@click.option("--tls-cert", default=None, help="TLS 证书（PEM）；与 --tls-key 一起给出时启用 HTTPS")
@click.option("--tls-key", default=None, help="TLS 私钥（PEM）")
@click.option("--sticky", default="", show_default=True, metavar="ip|cookie:NAME",
              help="同一客户端（按地址或会话 Cookie）总由同一工作进程应答，保存后立即读到自己的修改；默认按最少连接分配")
@click.option("--pmtiles-dir", default=None, help="由 nginx 直接提供的预生成瓦片包目录（kfqmap tiles seed 的输出），路径 /pmtiles/")
@click.option("--user", default="www-data", show_default=True, help="nginx 工作进程的系统用户（'' 表示不写 user 行）")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), default=None, help="写入文件（默认打印）")
def nginx_cmd(upstreams, workers, first_port, listen, server_name, cache_dir, cache_max_size, runtime_dir, pid_file,
              log_dir, tile_valid, tls_cert, tls_key, sticky, pmtiles_dir, user, out):
    """生成 nginx.conf：对多个 kfqmap serve 工作进程做负载均衡；缓存矢量/PNG 瓦片并按 ETag 重新验证（编辑后瓦片
    及时更新）；MVT 的 gzip 原样透传；请求大小与超时与应用一致；可选 TLS（HTTPS）与 HSTS。

    例：kfqmap deploy nginx --workers 4 --first-port 8001 --server-name map.example.cn \\
    --tls-cert /etc/ssl/certs/map.pem --tls-key /etc/ssl/private/map.key --out /etc/nginx/nginx.conf
    """
    from ..deploy import NginxOptions, render_nginx

    if not upstreams:
        if first_port + workers - 1 > 65535:
            raise click.BadParameter("端口超出 65535", param_hint="--first-port")
        upstreams = [f"127.0.0.1:{first_port + i}" for i in range(workers)]
    text = render_nginx(NginxOptions(
        upstreams=list(upstreams), listen=listen, server_name=server_name, cache_dir=cache_dir,
        cache_max_size=cache_max_size, runtime_dir=runtime_dir, pid_file=pid_file, log_dir=log_dir, tile_valid_s=tile_valid,
        tls_cert=tls_cert, tls_key=tls_key, sticky=sticky, pmtiles_dir=pmtiles_dir, user=user or None))
    if out is None:
        click.echo(text, nl=False)
        return
    from ..export import atomic_path

    with atomic_path(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    click.echo(f"已写入 {out}（检查：nginx -t -c {out}）", err=True)
