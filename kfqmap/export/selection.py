"""What an export writes: the selected features of each layer (``LayerSelection``, ``Selection``) and ``to_crs``.

Kept apart from the package's ``__init__`` (which selects features and picks a writer module) so that the writer
modules can import these without importing the package that loads them.
"""
from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import pandas as pd
from shapely.geometry.base import BaseGeometry

from ..catalog import Catalog
from ..crs import CRSInfo, parse_crs, transform_frame
from ..models import Layer


@dataclass
class LayerSelection:
    layer: Layer
    frame: gpd.GeoDataFrame        # EPSG:4326, the selected features (a copy; writers may modify it)
    complete: bool = True          # True when no bbox/geometry/filter removed anything from the layer


@dataclass
class Selection:
    catalog: Catalog
    items: list[LayerSelection]
    bbox: tuple[float, float, float, float] | None = None   # lon/lat
    geometry: BaseGeometry | None = None                    # lon/lat
    filter: str | None = None

    @property
    def feature_count(self) -> int:
        return sum(len(item.frame) for item in self.items)

    @property
    def filtered(self) -> bool:
        return self.bbox is not None or self.geometry is not None or bool(self.filter)

    def combined(self, crs: CRSInfo | str | None = None) -> gpd.GeoDataFrame:
        """All selected features in one frame (``src_layer`` = layer id, ``layer_zh`` = Chinese title, first), optionally transformed."""
        frames = []
        for item in self.items:
            f = item.frame.copy()
            f.insert(0, "layer_zh", item.layer.title_zh)
            f.insert(0, "src_layer", item.layer.id)
            frames.append(f)
        out = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry=frames[0].geometry.name, crs=4326)
        return to_crs(out, crs) if crs is not None else out


def to_crs(frame: gpd.GeoDataFrame, crs: CRSInfo | str) -> gpd.GeoDataFrame:
    """A copy of a lon/lat frame in ``crs`` (GCJ-02 frames carry no pyproj CRS; ``attrs['kfqmap_crs']`` says so)."""
    info = parse_crs(crs)
    if info.code == "EPSG:4326":
        return frame.copy()
    if info.code == "EPSG:4490":
        out = frame.copy()
        return out.set_crs(4490, allow_override=True)
    if frame.geometry.isna().all():     # tables: nothing to transform, only the label
        out = frame.copy()
        return out.set_crs(info.epsg, allow_override=True) if info.epsg else out.set_crs(None, allow_override=True)
    return transform_frame(frame, info)
