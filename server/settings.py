"""Server settings, read when the app is created (never at import time). Prefix ``KFQMAP_``."""
from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from kfqmap.settings import CatalogSettings

#: largest request body accepted (POST /query/geometry, POST /export): 2 MB
MAX_BODY_BYTES = 2 * 1024 * 1024


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
    #: when the server starts (lifespan), read every layer and build its index and GeoJSON cache in a
    #: background thread, so the first requests are as fast as the rest (``KFQMAP_API_WARM_UP=false`` to skip)
    warm_up: bool = True
    #: origins allowed to call the API from a browser page elsewhere (CORS; "*" = any; "" = off, the default)
    cors_origins: str = ""
    catalog: CatalogSettings = Field(default_factory=CatalogSettings)
