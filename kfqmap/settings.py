"""Settings, read when an app or command is created (never at import time). Prefix ``KFQMAP_``."""
from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

GEODATA_DIR = Path(__file__).resolve().parent.parent / "geodata"


class CatalogSettings(BaseSettings):
    """Where the catalog lives, and extra file layers to register beside the plan's layers.

    ``KFQMAP_EXTRA_LAYERS="parcels=/tmp/bench/data/parcels_200000.gpkg;other=/path/x.geojson"`` adds
    layers (group 背景/额外, not part of the plan) — used by the benchmarks.
    """

    model_config = SettingsConfigDict(env_prefix="KFQMAP_")

    geodata_dir: Path = GEODATA_DIR
    extra_layers: str = ""

    def extra_layer_paths(self) -> dict[str, Path]:
        out: dict[str, Path] = {}
        for part in filter(None, (p.strip() for p in self.extra_layers.split(";"))):
            layer_id, _, path = part.partition("=")
            out[layer_id.strip()] = Path(path.strip())
        return out
