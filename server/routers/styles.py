"""The one map style: ``/styles/plan.json`` (MapLibre style JSON built by ``kfqmap.style.plan_style``).

The style has no ``glyphs`` entry on purpose: MapLibre GL JS ≥ 5.11 then draws labels with the local
Noto Sans CJK font named in ``text-font``. Its vector source points at the absolute TileJSON URL.
"""
from __future__ import annotations

from fastapi import APIRouter, Request

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
def style(request: Request, style_id: str):
    if style_id not in STYLES:
        raise LayerNotFound(f"没有样式 '{style_id}'；可用：{', '.join(STYLES)}", parameter="styleId")
    base = str(request.base_url).rstrip("/")
    doc = plan_style(request.app.state.catalog, base)
    return StyleResponse(doc, headers={"Cache-Control": "public, max-age=300"})
