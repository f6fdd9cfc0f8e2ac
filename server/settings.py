"""Server settings, read when the app is created (never at import time). Prefix ``KFQMAP_``."""
from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from kfqmap.settings import CatalogSettings

#: largest request body accepted (POST /query/geometry, POST /export): 2 MB
MAX_BODY_BYTES = 2 * 1024 * 1024
#: largest upload to POST /imports (a zipped Shapefile, a DXF drawing): 100 MB
IMPORT_MAX_BYTES = 100 * 1024 * 1024


class AuthSettings(BaseSettings):
    """Accounts and sessions (``server/auth.py``, ``kfqmap/accounts.py``). Prefix ``KFQMAP_``.

    ``KFQMAP_ANONYMOUS=read`` (default): anyone may read, as a public 公示 map; ``none``: every request needs a
    session or a token (a closed intranet system), except the login itself and the viewer's static files."""

    model_config = SettingsConfigDict(env_prefix="KFQMAP_")

    anonymous: Literal["read", "none"] = "read"
    #: a browser session's lifetime (hours since login)
    session_hours: float = Field(12.0, gt=0)
    #: failed logins of one user name from one address allowed within ``login_window_s`` before 429
    login_max_failures: int = Field(5, ge=1)
    login_window_s: int = Field(900, ge=1)


class APISettings(BaseSettings):
    """How the HTTP API presents itself and what it accepts.

    ``catalog`` says where the layers come from (``CatalogSettings``: ``KFQMAP_GEODATA_DIR``,
    ``KFQMAP_EXTRA_LAYERS``); tests point it at ``tests/fixtures/mini_geodata``.
    """

    model_config = SettingsConfigDict(env_prefix="KFQMAP_API_")

    title: str = "KFQMap 昆山开发区“十四五”规划空间格局"
    description: str = ("昆山经济技术开发区“十四五”规划空间格局（两轴三带、两核多园、一带四园、更新地块、低效用地）的"
                        "OGC API – Features 服务、统计与查询接口。")
    max_body_bytes: int = MAX_BODY_BYTES
    #: largest upload to ``POST /imports`` (bytes; ``KFQMAP_API_IMPORT_MAX_BYTES``): 100 MB; beyond → 413
    import_max_bytes: int = IMPORT_MAX_BYTES
    #: when the server starts (lifespan), read every layer and build its index and GeoJSON cache in a
    #: background thread, so the first requests are as fast as the rest (``KFQMAP_API_WARM_UP=false`` to skip)
    warm_up: bool = True
    #: origins allowed to call the API from a browser page elsewhere (CORS; "*" = any; "" = off, the default)
    cors_origins: str = ""
    #: absolute base URL the server is reached at from outside (``https://map.example.cn/kfqmap``): links are
    #: built from it instead of the request's Host header. Empty: links follow the Host header (see trusted_hosts)
    public_url: str = ""
    #: comma-separated host names the server answers to (``map.example.cn,10.0.0.5``); other Host headers get a
    #: 400. "*" (the default) accepts any, so a LAN address works out of the box
    trusted_hosts: str = "*"
    #: longest request target (path + query) accepted, bytes; longer → 414 problem+json. A CQL2 filter may be
    #: 20,000 characters, percent-encoded up to three times that
    max_url_bytes: int = 65_536
    #: seconds a request may work before it is answered 504 problem+json (its work is abandoned); exports have
    #: their own limit below
    request_timeout_s: float = 60.0
    #: seconds an export (file or map image) may take; a map image's render process is killed at this limit
    export_timeout_s: float = 120.0
    #: exports running at once; more wait in a queue of ``export_queue``; beyond that 503 with Retry-After
    export_concurrency: int = Field(2, ge=1)
    #: draw map images (PNG/PDF) in a child process that exits, so their memory goes back (false: in the
    #: server process, as before; only for comparison in bench/bench_exports.py)
    export_isolate: bool = True
    export_queue: int = Field(4, ge=0)
    catalog: CatalogSettings = Field(default_factory=CatalogSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
