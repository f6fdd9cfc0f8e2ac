"""Response classes, one per media type the server writes."""
from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import HTMLResponse, Response

__all__ = ["JSONResponse", "GeoJSONResponse", "ProblemResponse", "OpenAPIResponse", "SchemaResponse",
           "MVTResponse", "PNGResponse", "HTMLResponse", "MEDIA_GEOJSON", "MEDIA_JSON", "MEDIA_OPENAPI"]

MEDIA_JSON = "application/json"
MEDIA_GEOJSON = "application/geo+json"
MEDIA_PROBLEM = "application/problem+json"
MEDIA_OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
MEDIA_SCHEMA = "application/schema+json"
MEDIA_HTML = "text/html"

_OPTS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


class JSONResponse(Response):
    """JSON through orjson (UTF-8, Chinese unescaped). ``content`` may be already-encoded bytes."""

    media_type = MEDIA_JSON

    def render(self, content: Any) -> bytes:
        if isinstance(content, (bytes, bytearray)):
            return bytes(content)
        if hasattr(content, "model_dump"):
            content = content.model_dump(mode="json", by_alias=True)
        return orjson.dumps(content, option=_OPTS, default=_default)


def _default(value: Any) -> Any:
    """pydantic models (also inside lists/dicts) → JSON-ready dicts."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", by_alias=True)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class GeoJSONResponse(JSONResponse):
    media_type = MEDIA_GEOJSON


class ProblemResponse(JSONResponse):
    """RFC 9457 problem details."""

    media_type = MEDIA_PROBLEM


class OpenAPIResponse(JSONResponse):
    media_type = MEDIA_OPENAPI


class SchemaResponse(JSONResponse):
    """JSON Schema documents (queryables)."""

    media_type = MEDIA_SCHEMA


class MVTResponse(Response):
    media_type = "application/vnd.mapbox-vector-tile"


class PNGResponse(Response):
    media_type = "image/png"
