"""Deployment files: the nginx configuration that fronts several ``kfqmap serve`` workers.

``render_nginx(NginxOptions(...))`` returns the text of an ``nginx.conf`` (``kfqmap deploy nginx`` prints or
writes it; ``deploy/nginx.conf`` in the repository is its output for the defaults). What it sets up, and why:

* **load balancing** over the workers (``upstream``, ``least_conn``, kept-alive connections, a failed worker
  skipped for ``fail_timeout``; idempotent requests retried once on another worker when one dies mid-request);
  ``sticky`` keeps a client on one worker (by address or session cookie, consistent hashing);
* **the tile cache** (``proxy_cache``) for ``/tiles/…`` and ``/collections/{id}/tiles/…``: keyed by host + URL,
  kept ``tile_valid_s`` seconds, then *revalidated* with the worker's ETag (``proxy_cache_revalidate``: the
  worker answers 304 when the tile is unchanged). The worker's ETag includes the layer's data version, so an
  edited layer's tiles are fetched anew: an edit shows through nginx within ``tile_valid_s`` + the version poll
  (0.25 s) — 1 s + 0.25 s with the defaults. ``proxy_cache_lock`` lets one request build a cold tile while
  the others for the same tile wait for it; stale tiles are served when every worker is down;
* **gzip passthrough for MVT**: nginx always asks the workers for gzip, caches that one variant (the ``Vary``
  header is ignored for the cache key, so clients with different ``Accept-Encoding`` lists share it), sends it
  as is to clients that accept gzip and unzips it (``gunzip``) for the rest; MVT is never gzipped twice
  (``gzip_types`` lists JSON and text only);
* **limits matching the app** (``AppLimits``, the same ``KFQMAP_API_*`` settings the server reads): body size
  (413), request line + headers (``large_client_header_buffers``; the app's URL and header limits), read
  time-outs a little above the app's own (the app answers 504 problem+json first), exports longer;
* **TLS termination** (``tls_cert``/``tls_key``: HTTPS on 443 with HTTP/2, port 80 redirects, HSTS); without
  them the TLS lines are written commented out, as an example;
* **security headers**: the app sends them on every response (nginx keeps them, in its cache too); nginx adds
  HSTS on HTTPS, hides its version, and answers its own errors (413, 502, 504) as problem+json in Chinese.

No geometry, no HTTP framework: plain text from options.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

#: request line + headers the workers accept (``kfqmap.cli.serve_cmd.MAX_HEAD_BYTES``)
MAX_HEAD_BYTES = 96 * 1024


class AppLimits(BaseSettings):
    """The app's request limits, read from the same ``KFQMAP_API_*`` variables as ``server.settings.APISettings``
    (a test keeps the defaults equal), so nginx refuses what the app would refuse and waits as long as it works."""

    model_config = SettingsConfigDict(env_prefix="KFQMAP_API_", extra="ignore")

    max_body_bytes: int = 2 * 1024 * 1024
    max_url_bytes: int = 65_536
    request_timeout_s: float = 60.0
    export_timeout_s: float = 120.0
    export_queue: int = 4
    export_concurrency: int = 2


@dataclass
class NginxOptions:
    """What ``render_nginx`` needs; every field has the value ``deploy/nginx.conf`` was rendered with."""

    upstreams: list[str] = field(default_factory=lambda: ["127.0.0.1:8000"])
    listen: str = "80"
    server_name: str = "_"
    cache_dir: str = "/var/cache/nginx-kfqmap"
    cache_max_size: str = "2g"
    #: where nginx keeps request bodies and responses being buffered (Debian's package makes /var/lib/nginx/*)
    runtime_dir: str = "/var/lib/nginx"
    #: Debian's nginx.service expects /run/nginx.pid
    pid_file: str = "/run/nginx.pid"
    log_dir: str = "/var/log/nginx"
    tile_valid_s: int = 1
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_listen: str = "443"
    #: the ``user`` line (``None``: none, nginx's default ``nobody`` when started as root; tests run nginx as
    #: the user they run as)
    user: str | None = "www-data"
    worker_processes: str = "auto"
    #: how a client is matched to a worker: ``""`` (least connections), ``"ip"`` or ``"cookie:NAME"`` (the same
    #: worker for the same address / session cookie, consistent hashing: a user's reads then follow their writes
    #: at once, see docs/deploy.md "read-your-writes")
    sticky: str = ""
    #: a folder of pre-rendered archives (``kfqmap tiles seed --out DIR/x.pmtiles``) that nginx serves itself at
    #: ``/pmtiles/`` with byte ranges (what PMTiles clients ask for); ``None``: not served
    pmtiles_dir: str | None = None
    limits: AppLimits = field(default_factory=AppLimits)

    def __post_init__(self):
        from .errors import InvalidParameter

        if not self.upstreams:
            raise InvalidParameter("至少需要一个 KFQMap 工作进程地址（--upstream 主机:端口）", parameter="upstream")
        for value in self.upstreams:
            if not value or any(c in value for c in " ;{}\n'\""):
                raise InvalidParameter(f"--upstream 工作进程地址 '{value}' 无效：写成 主机:端口 或 unix:/路径",
                                       parameter="upstream")
        for name in ("listen", "server_name", "cache_dir", "runtime_dir", "pid_file", "log_dir", "tls_cert", "tls_key",
                     "tls_listen", "user", "cache_max_size", "worker_processes", "pmtiles_dir"):
            value = getattr(self, name)
            if value is not None and (not str(value).strip() or any(c in str(value) for c in ";{}\n'\"")):
                raise InvalidParameter(f"--{name.replace('_', '-')} 的值 '{value}' 不能为空，也不能含有 ; {{ }} 引号或换行",
                                       parameter=name)
        if self.sticky not in ("", "ip") and not re.fullmatch(r"cookie:[A-Za-z0-9_]+", self.sticky):
            raise InvalidParameter(f"--sticky '{self.sticky}' 无效：写成 ip 或 cookie:名称（字母、数字、下划线）",
                                   parameter="sticky")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise InvalidParameter("TLS 需要同时给出证书和私钥（--tls-cert 与 --tls-key）", parameter="tls-key")
        if not 1 <= int(self.tile_valid_s) <= 3600:
            raise InvalidParameter("--tile-valid 瓦片缓存有效期应在 1–3600 秒之间", parameter="tile-valid")


_PROBLEMS = {
    413: ("RequestTooLarge", "请求体过大（request body too large）"),
    502: ("WorkerUnavailable", "地图服务的工作进程暂时无法访问，请稍后重试（bad gateway）"),
    504: ("Timeout", "地图服务响应超时，请缩小范围后重试（gateway timeout）"),
}


#: what the workers are told about the request (keep-alive to them: an empty Connection header)
_PROXY_HEADERS = [("Connection", '""'), ("Host", "$http_host"), ("X-Forwarded-For", "$proxy_add_x_forwarded_for"),
                  ("X-Forwarded-Proto", "$scheme"), ("X-Real-IP", "$remote_addr")]


def _seconds(value: float) -> str:
    return f"{int(round(value))}s"


def render_nginx(opts: NginxOptions | None = None) -> str:
    """The ``nginx.conf`` text for ``opts`` (see the module docstring for what each part does)."""
    o = opts or NginxOptions()
    lim = o.limits
    body_kb = -(-lim.max_body_bytes // 1024)
    head_kb = -(-max(MAX_HEAD_BYTES, lim.max_url_bytes + 1024) // 1024)
    read_timeout = _seconds(lim.request_timeout_s + 5)
    # an export may wait for a slot behind the running and queued ones, then work export_timeout_s
    waits = 1 + lim.export_queue // max(1, lim.export_concurrency)
    export_timeout = _seconds(lim.export_timeout_s * (waits + 1) + 5)
    tls = o.tls_cert is not None
    hsts = '        add_header Strict-Transport-Security "max-age=31536000" always;\n' if tls else ""
    rt, logs = o.runtime_dir.rstrip("/"), o.log_dir.rstrip("/")
    balance = ("least_conn" if not o.sticky else "hash $binary_remote_addr consistent" if o.sticky == "ip"
               else f"hash $cookie_{o.sticky.split(':', 1)[1]} consistent")
    upstream_lines = "".join(f"        server {u} max_fails=2 fail_timeout=5s;\n" for u in o.upstreams)
    problems = "".join(
        f"        location = /_kfqmap_problem/{code} {{\n            internal;\n"
        f"            default_type application/problem+json;\n"
        f"            return {code} '{{\"type\": \"about:blank\", \"title\": \"{title}\", \"status\": {code}, "
        f"\"detail\": \"{detail}\"}}';\n        }}\n" for code, (title, detail) in _PROBLEMS.items())
    error_pages = "".join(f"        error_page {code} /_kfqmap_problem/{code};\n" for code in _PROBLEMS)
    if tls:
        listen = (f"        listen {o.tls_listen} ssl;\n        http2 on;\n" if _nginx_has_http2_directive() else
                  f"        listen {o.tls_listen} ssl http2;\n")
        listen += (f"        ssl_certificate {o.tls_cert};\n        ssl_certificate_key {o.tls_key};\n"
                   "        ssl_protocols TLSv1.2 TLSv1.3;\n        ssl_session_cache shared:kfqmap_tls:10m;\n"
                   "        ssl_session_timeout 1d;\n")
        redirect = (f"    server {{\n        listen {o.listen};\n        server_name {o.server_name};\n"
                    "        return 301 https://$host$request_uri;\n    }\n\n")
    else:
        listen = (f"        listen {o.listen};\n"
                  "        # HTTPS (kfqmap deploy nginx --tls-cert … --tls-key …):\n"
                  "        # listen 443 ssl http2;\n"
                  "        # ssl_certificate     /etc/ssl/certs/map.example.cn.pem;\n"
                  "        # ssl_certificate_key /etc/ssl/private/map.example.cn.key;\n"
                  "        # ssl_protocols TLSv1.2 TLSv1.3;\n"
                  "        # add_header Strict-Transport-Security \"max-age=31536000\" always;\n")
        redirect = ""
    user = f"user {o.user};\n" if o.user else ""
    pmtiles = "" if not o.pmtiles_dir else (
        "        # pre-rendered archives (kfqmap tiles seed): static files, byte ranges, revalidated by ETag\n"
        "        location /pmtiles/ {\n"
        f"            alias {o.pmtiles_dir.rstrip('/')}/;\n"
        "            types { application/vnd.pmtiles pmtiles; application/vnd.mapbox-vector-tile mvt; }\n"
        "            default_type application/octet-stream;\n"
        "            add_header Cache-Control \"public, no-cache\" always;\n"
        "            add_header Access-Control-Allow-Origin * always;\n"
        "            add_header Access-Control-Expose-Headers \"ETag, Content-Range\" always;\n"
        "            add_header X-Content-Type-Options nosniff always;\n"
        f"{hsts.replace('        add_header', '            add_header')}"
        "        }\n\n")
    headers = "".join(f"        proxy_set_header {name} {value};\n" for name, value in _PROXY_HEADERS)
    return f"""# KFQMap behind nginx: generated by `kfqmap deploy nginx` (see docs/deploy.md); change the command's options
# rather than this file. Workers: {', '.join(o.upstreams)}. Tiles cached {o.tile_valid_s} s, then revalidated by ETag.
{user}worker_processes {o.worker_processes};
pid {o.pid_file};
error_log {logs}/kfqmap-error.log warn;

events {{
    worker_connections 4096;
}}

http {{
    default_type application/octet-stream;
    log_format kfqmap '$remote_addr [$time_local] "$request" $status $body_bytes_sent $request_time '
                      'upstream=$upstream_addr cache=$upstream_cache_status';
    access_log {logs}/kfqmap-access.log kfqmap;
    client_body_temp_path {rt}/body;
    proxy_temp_path {rt}/proxy;
    fastcgi_temp_path {rt}/fastcgi;
    uwsgi_temp_path {rt}/uwsgi;
    scgi_temp_path {rt}/scgi;

    server_tokens off;
    sendfile on;
    tcp_nodelay on;
    keepalive_timeout 65s;

    # the app's limits (KFQMAP_API_MAX_BODY_BYTES, _MAX_URL_BYTES, request line + headers of the workers)
    client_max_body_size {body_kb}k;
    client_body_buffer_size 256k;
    client_header_buffer_size 4k;
    large_client_header_buffers 4 {head_kb}k;
    client_header_timeout 15s;
    client_body_timeout 30s;

    # JSON and text are compressed here; MVT is not listed: the workers send it gzipped already (passthrough)
    gzip on;
    gzip_proxied any;
    gzip_min_length 1024;
    gzip_comp_level 4;
    gzip_vary on;
    gzip_types application/json application/geo+json application/problem+json application/schema+json
               application/vnd.oai.openapi+json text/plain text/css application/javascript text/csv;

    upstream kfqmap_workers {{
        {balance};
{upstream_lines}        keepalive 32;
    }}

    proxy_cache_path {o.cache_dir} levels=1:2 keys_zone=kfqmap_tiles:64m max_size={o.cache_max_size} inactive=7d
                     use_temp_path=off;

{redirect}    server {{
{listen}        server_name {o.server_name};

        proxy_http_version 1.1;
{headers}        proxy_connect_timeout 5s;
        proxy_send_timeout {read_timeout};
        proxy_read_timeout {read_timeout};            # the app answers 504 itself after KFQMAP_API_REQUEST_TIMEOUT_S
        proxy_next_upstream error timeout http_502;    # a dead worker: the next one (GET/HEAD only)
        proxy_next_upstream_tries 2;

{error_pages}
        # vector and PNG tiles: cached by URL, revalidated by the workers' ETag (which carries the data version)
        location ~ ^/(tiles|collections/[^/]+/tiles)/ {{
            proxy_pass http://kfqmap_workers;
            proxy_cache kfqmap_tiles;
            proxy_cache_key $scheme$host$request_uri;
            proxy_cache_valid 200 204 {o.tile_valid_s}s;
            proxy_cache_revalidate on;
            proxy_cache_lock on;
            proxy_cache_lock_timeout 30s;
            proxy_cache_use_stale error timeout http_502 http_503 http_504;
            proxy_ignore_headers Cache-Control Expires Vary;
            # a location with its own proxy_set_header inherits none of the server's: all of them again
{headers.replace("        ", "            ")}            proxy_set_header Accept-Encoding "gzip";
            gunzip on;
            add_header X-Cache-Status $upstream_cache_status always;
{hsts}        }}

        # exports: streamed, not buffered; they may wait in the app's queue, then work KFQMAP_API_EXPORT_TIMEOUT_S
        location /export {{
            proxy_pass http://kfqmap_workers;
            proxy_buffering off;
            proxy_read_timeout {export_timeout};
            proxy_send_timeout {export_timeout};
{hsts}        }}

{pmtiles}        location / {{
            proxy_pass http://kfqmap_workers;
{hsts}        }}

{problems}    }}
}}
"""


def _nginx_has_http2_directive() -> bool:
    """nginx ≥ 1.25.1 wants ``http2 on;``; Debian 12's 1.22 wants ``listen … ssl http2``. Asked of the nginx
    on this machine (the one that will read the file); without one, the older form."""
    import re
    import shutil
    import subprocess

    exe = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if exe is None:
        return False
    try:
        out = subprocess.run([exe, "-v"], capture_output=True, text=True, timeout=10).stderr
    except (OSError, subprocess.SubprocessError):
        return False
    m = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", out)
    return bool(m) and tuple(map(int, m.groups())) >= (1, 25, 1)


__all__ = ["AppLimits", "NginxOptions", "render_nginx", "MAX_HEAD_BYTES"]
