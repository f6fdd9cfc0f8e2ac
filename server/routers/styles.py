"""The one map style: ``/styles/plan.json`` (MapLibre style JSON built by ``kfqmap.style.plan_style``).

The style has no ``glyphs`` entry on purpose: MapLibre GL JS ≥ 5.11 then draws labels with the local
Noto Sans CJK font named in ``text-font``. Its vector source points at the absolute TileJSON URL, built from
``KFQMAP_API_PUBLIC_URL`` when set (then the style is publicly cacheable), else from the request's Host header
(then ``Cache-Control: private`` and ``Vary: Host``).
"""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from kfqmap.errors import LayerNotFound
from kfqmap.style import plan_style

from ..responses import JSONResponse

router = APIRouter(tags=["Styles（样式）"])

STYLES = ("plan",)
CONFORMS_TO: list[str] = []


class StyleResponse(JSONResponse):
    media_type = "application/vnd.mapbox.style+json"


def links(request: Request) -> list[dict]:
    return []


@router.get("/styles/{style_id}.json", name="style", summary="MapLibre 样式（规划图）", response_class=StyleResponse)
def style(request: Request, style_id: Annotated[str, Path(max_length=64, description="样式 id：plan")]):
    if style_id not in STYLES:
        raise LayerNotFound(f"没有样式 '{style_id}'；可用：{', '.join(STYLES)}", parameter="styleId")
    base = str(request.base_url).rstrip("/")
    doc = plan_style(request.app.state.catalog, base)
    # its links are absolute: built from the configured public URL they may be cached by anyone; built from the
    # request's Host header they hold for that client only
    public = bool(request.app.state.settings.public_url)
    headers = {"Cache-Control": "public, max-age=300" if public else "private, max-age=300"}
    if not public:
        headers["Vary"] = "Host"
    return StyleResponse(doc, headers=headers)
