"""The one rule for a CQL2 filter over one or several layers, shared by items, exports and queries.

``state`` is anything with the layer (``.layer``) and its frame (``.frame``): a collection's ``LayerState`` or a
query's ``LayerIndex``.
"""
from __future__ import annotations

import numpy as np

from .errors import InvalidFilter

#: names a filter may use for the geometry of any spatial layer
GEOMETRY_NAMES = frozenset({"geometry", "geom", "the_geom", "shape"})


def filter_mask(state, compiled, *, strict: bool) -> np.ndarray:
    """Which features of ``state`` pass a compiled CQL2 filter — the one rule items, exports and queries share.

    **A property the layer lacks:** when one layer is asked for (``strict``), a filter naming a property that
    layer does not have is a 400 (``InvalidFilter``) naming it and listing the layer's queryables; when several
    layers are asked for (an export of ``cores,parks``, a query over every layer), a layer that lacks one of the
    filter's properties contributes no features, and ``check_filter_usable`` makes the request a 400 only when
    no selected layer has them all.
    """
    missing = missing_properties(state, compiled)
    if missing:
        if strict:
            raise InvalidFilter(f"图层 {state.layer.id} 没有属性 {', '.join(missing)}；可用属性："
                                f"{', '.join(c for c in state.frame.columns if c != state.frame.geometry.name)}",
                                parameter="filter")
        return np.zeros(len(state.frame), dtype=bool)
    return np.asarray(compiled.mask(state.frame, metric_geoms=metric_geometries(state)), dtype=bool)


def metric_geometries(state):
    """A callable giving ``state``'s geometries in EPSG:4549 from its cached copy (S_DWITHIN in metres), if any."""
    if hasattr(state, "metric_geometries"):          # a collection's LayerState
        return state.metric_geometries
    if hasattr(state, "geoms_4549"):                 # a query LayerIndex
        return lambda: state.geoms_4549
    return None


def missing_properties(state, compiled) -> list[str]:
    names = getattr(state, "property_names", None)       # a pushdown state has no frame, only its columns
    columns = set(names) if names is not None else set(state.frame.columns)
    return [p for p in (getattr(compiled, "properties", ()) or ()) if p not in columns and p not in GEOMETRY_NAMES]


def check_filter_usable(states, compiled) -> None:
    """A multi-layer request whose filter names a property that no selected layer has in full is a 400."""
    if compiled is None or not getattr(compiled, "properties", None):
        return
    if all(missing_properties(s, compiled) for s in states):
        raise InvalidFilter(f"过滤条件中的属性不在所选图层中：{sorted(set(compiled.properties) - GEOMETRY_NAMES)}",
                            parameter="filter")
