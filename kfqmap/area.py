"""Ellipsoidal (CGCS2000) and Gauss-Krüger (EPSG:4549) areas.

NOTE: first version (skeleton). The analysis issue replaces the per-geometry Geod loop with a vectorised
equal-area projection; keep the signatures.
"""
from __future__ import annotations

import numpy as np
from pyproj import Geod

# CGCS2000 ellipsoid: a = 6378137 m, f = 1/298.257222101 (GRS80 to well below 1 m²)
CGCS2000_GEOD = Geod(a=6378137.0, f=1 / 298.257222101)


def ellipsoidal_area(geoms) -> np.ndarray:
    """Area in m² of each lon/lat geometry on the CGCS2000 ellipsoid (0 for points and lines)."""
    return np.array([abs(CGCS2000_GEOD.geometry_area_perimeter(g)[0]) if g is not None and not g.is_empty else 0.0
                     for g in np.asarray(geoms, dtype=object)], dtype="float64")
