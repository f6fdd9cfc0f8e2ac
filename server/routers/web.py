"""The planners' web viewer: ``web/index.html`` for browsers, its static files, and MapLibre GL JS from npm.

Routes (none in the OpenAPI document):

- ``viewer_response(request)`` — called by the landing route ``/`` when the client Accepts text/html;
- ``/web`` and ``/web/`` — the same viewer page (handy for links);
- ``/web/{path}`` — files under ``web/`` (app JS, CSS, images); ``node_modules``, dot-files, ``package.json``,
  ``package-lock.json`` and paths with control characters are not served (404);
- ``/web/config.json`` — run-time options for the viewer (online basemap keys; all off by default);
- ``/web/catalog.json`` — the catalog's ``Layer`` records (group, 示意/示例 flags, accuracy, shared style) for the
  layer panel and legend;
- ``/vendor/maplibre-gl/{path}`` — ``web/node_modules/maplibre-gl/dist`` (installed by ``make install-web``);
- ``/vendor/proj4/{path}`` — ``web/node_modules/proj4/dist`` (the coordinate readout: CGCS2000 / EPSG:4549).

Nothing here reads ``geodata/``; everything is served from the repository's ``web/`` directory, so the viewer
works with the network unplugged.
"""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic_settings import BaseSettings, SettingsConfigDict

WEB_DIR = Path(__file__).resolve().parents[2] / "web"
MAPLIBRE_DIST = WEB_DIR / "node_modules" / "maplibre-gl" / "dist"
PROJ4_DIST = WEB_DIR / "node_modules" / "proj4" / "dist"

_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".pbf": "application/x-protobuf",
}
_NO_CACHE = {"Cache-Control": "no-cache"}
#: files under web/ that belong to the build, not to the viewer: never served
_PRIVATE_NAMES = {"package.json", "package-lock.json", "npm-shrinkwrap.json", "node_modules", "readme.md"}


class WebSettings(BaseSettings):
    """Optional online basemaps for the viewer. Off by default; nothing is requested unless a user switches one on.

    ``KFQMAP_TIANDITU_KEY`` — a Tianditu (天地图) browser key; users may also type one in the viewer.
    ``KFQMAP_ONLINE_BASEMAPS=false`` hides the online basemap switches altogether (air-gapped deployments).
    """

    model_config = SettingsConfigDict(env_prefix="KFQMAP_")

    tianditu_key: str = ""
    online_basemaps: bool = True


router = APIRouter(include_in_schema=False)


def viewer_response(request: Request) -> Response:
    """The viewer page (``web/index.html``). The landing route ``/`` returns this to browsers."""
    index = WEB_DIR / "index.html"
    if not index.is_file():
        raise HTTPException(status_code=404, detail="web/index.html is missing")
    return FileResponse(index, media_type=_MEDIA_TYPES[".html"], headers=_NO_CACHE)


def _safe_file(base: Path, relative: str) -> Path:
    """``base/relative`` if it is a regular file inside ``base``; otherwise 404 (no traversal, no dot-files)."""
    if not relative.isprintable() or len(relative) > 512:     # NUL and other control characters: no such file
        raise HTTPException(status_code=404, detail="not found")
    parts = [p for p in relative.split("/") if p not in ("", ".")]
    if any(p == ".." or p.startswith(".") or p.lower() in _PRIVATE_NAMES for p in parts):
        raise HTTPException(status_code=404, detail="not found")
    target = base.joinpath(*parts).resolve() if parts else base.resolve()
    root = base.resolve()
    if root not in target.parents and target != root:
        raise HTTPException(status_code=404, detail="not found")
    if not target.is_file():
        raise HTTPException(status_code=404, detail=f"not found: {relative}")
    return target


def _file(path: Path, *, cache: bool) -> FileResponse:
    media_type = _MEDIA_TYPES.get(path.suffix.lower())
    headers = {"Cache-Control": "public, max-age=86400"} if cache else _NO_CACHE
    return FileResponse(path, media_type=media_type, headers=headers)


@router.get("/web")
@router.get("/web/")
def viewer(request: Request) -> Response:
    return viewer_response(request)


@router.get("/web/config.json")
def viewer_config(request: Request) -> JSONResponse:
    settings = request.app.state.web_settings
    return JSONResponse(
        {"tianditu_key": settings.tianditu_key, "online_basemaps": settings.online_basemaps},
        headers=_NO_CACHE,
    )


def _catalog(request: Request):
    catalog = getattr(request.app.state, "catalog", None)
    if catalog is None:
        from kfqmap.catalog import load_catalog
        catalog = load_catalog()
        request.app.state.catalog = catalog
    return catalog


@router.get("/web/catalog.json")
def viewer_catalog(request: Request) -> JSONResponse:
    """The layer records the viewer's panel and legend need (no features; those come from tiles and the API).
    Where a layer's data lives (``file``: a server path or a database connection string) is not published."""
    catalog = _catalog(request)
    return JSONResponse({"layers": [layer.model_dump(mode="json", exclude={"file"}) for layer in catalog.layers]},
                        headers=_NO_CACHE)


@router.get("/web/{path:path}")
def web_static(path: str) -> Response:
    if path.split("/", 1)[0] == "node_modules":
        raise HTTPException(status_code=404, detail="not found")
    return _file(_safe_file(WEB_DIR, path), cache=False)


@router.get("/vendor/maplibre-gl/{path:path}")
def maplibre_static(path: str) -> Response:
    if not MAPLIBRE_DIST.is_dir():
        raise HTTPException(status_code=404, detail="maplibre-gl is not installed: run `make install-web` (cd web && npm ci)")
    return _file(_safe_file(MAPLIBRE_DIST, path), cache=True)


@router.get("/vendor/proj4/{path:path}")
def proj4_static(path: str) -> Response:
    if not PROJ4_DIST.is_dir():
        raise HTTPException(status_code=404, detail="proj4 is not installed: run `make install-web` (cd web && npm ci)")
    return _file(_safe_file(PROJ4_DIST, path), cache=True)
