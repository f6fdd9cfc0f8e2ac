"""Non-OGC JSON endpoints (placeholder until kfqmap.area / kfqmap.query land)."""
from fastapi import APIRouter

router = APIRouter(tags=["stats"])
