"""Area and length units: m² ⇄ 亩 / 公顷 / km² / 万㎡, and nothing else.

1 亩 = 2000/3 m²; 1 公顷 = 10 000 m² = 15 亩; 1 km² = 100 公顷 = 1 500 亩; 1 万㎡ = 10 000 m².

>>> mu_from_m2(10_000)
15.0
>>> m2_from_mu(1500)
1000000.0
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InvalidParameter

M2_PER_MU = 2000.0 / 3.0


@dataclass(frozen=True)
class AreaUnit:
    code: str          # canonical ASCII code
    symbol_zh: str     # how the viewer writes it
    name_en: str
    m2: float          # square metres in one unit
    decimals: int      # default rounding for display


AREA_UNITS: dict[str, AreaUnit] = {
    "m2": AreaUnit("m2", "平方米", "square metres", 1.0, 1),
    "wan_m2": AreaUnit("wan_m2", "万平方米", "10,000 square metres", 10_000.0, 4),
    "ha": AreaUnit("ha", "公顷", "hectares", 10_000.0, 4),
    "mu": AreaUnit("mu", "亩", "mu", M2_PER_MU, 2),
    "km2": AreaUnit("km2", "平方公里", "square kilometres", 1_000_000.0, 6),
}

# every spelling a user may type, mapped to the canonical code
_ALIASES = {
    "m2": "m2", "m²": "m2", "㎡": "m2", "sqm": "m2", "平方米": "m2",
    "wan_m2": "wan_m2", "万㎡": "wan_m2", "万m2": "wan_m2", "万平方米": "wan_m2",
    "ha": "ha", "hectare": "ha", "hectares": "ha", "公顷": "ha",
    "mu": "mu", "亩": "mu",
    "km2": "km2", "km²": "km2", "平方公里": "km2", "平方千米": "km2",
}


def area_unit(name: str) -> AreaUnit:
    """Return the unit for any accepted spelling (``亩``, ``mu``, ``ha``, ``公顷``, ``km2``, ``m2``, ``万㎡``)."""
    code = _ALIASES.get(str(name).strip().lower()) or _ALIASES.get(str(name).strip())
    if code is None:
        raise InvalidParameter(
            f"未知的面积单位 '{name}'；可用：亩 (mu)、公顷 (ha)、平方公里 (km2)、平方米 (m2)、万平方米 (wan_m2)",
            parameter="unit",
        )
    return AREA_UNITS[code]


def convert_area(value_m2, unit: str):
    """Square metres → ``unit``; works on scalars and numpy arrays."""
    u = area_unit(unit)
    return np.asarray(value_m2, dtype="float64") / u.m2 if np.ndim(value_m2) else float(value_m2) / u.m2


def mu_from_m2(m2):
    """Square metres → 亩 (× 3/2000)."""
    return convert_area(m2, "mu")


def m2_from_mu(mu):
    """亩 → square metres (× 2000/3)."""
    return np.asarray(mu, dtype="float64") * M2_PER_MU if np.ndim(mu) else float(mu) * M2_PER_MU


def ha_from_m2(m2):
    return convert_area(m2, "ha")


def km2_from_m2(m2):
    return convert_area(m2, "km2")


def round_area(value: float, unit: str) -> float:
    """Round a value already in ``unit`` to that unit's display precision (one rule everywhere)."""
    return round(float(value), area_unit(unit).decimals)
