"""Area units (kfqmap.units): 亩 = m² × 3/2000, 公顷, km², 万㎡, one rounding rule."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from kfqmap.errors import InvalidParameter
from kfqmap.units import AREA_UNITS, M2_PER_MU, area_unit, convert_area, ha_from_m2, km2_from_m2, m2_from_mu, mu_from_m2, round_area


def test_exact_relations():
    assert M2_PER_MU == 2000 / 3
    assert mu_from_m2(10_000) == 15.0                   # 1 公顷 = 15 亩
    assert m2_from_mu(1500) == 1_000_000.0              # 1 km² = 1500 亩
    assert mu_from_m2(1_000_000) == 1500.0
    assert ha_from_m2(1_000_000) == 100.0
    assert km2_from_m2(2_500_000) == 2.5
    assert convert_area(80_000, "万㎡") == 8.0          # 星巴克产业园 “约8万平方米”
    assert convert_area(800_000, "平方公里") == 0.8      # 核心商业区 “占地0.8平方公里”


@pytest.mark.parametrize("spelling, code", [
    ("亩", "mu"), ("mu", "mu"), ("MU", "mu"), ("公顷", "ha"), ("ha", "ha"), ("km2", "km2"), ("km²", "km2"),
    ("平方公里", "km2"), ("m2", "m2"), ("㎡", "m2"), ("平方米", "m2"), ("万㎡", "wan_m2"), ("万平方米", "wan_m2"),
    (" 亩 ", "mu"),
])
def test_spellings(spelling, code):
    assert area_unit(spelling).code == code


@pytest.mark.parametrize("bad", ["acre", "", "mu2", "亩亩", None])
def test_unknown_unit_is_a_clear_error(bad):
    with pytest.raises(InvalidParameter) as err:
        area_unit(bad)
    assert "亩" in err.value.message and err.value.parameter == "unit"


def test_arrays_and_scalars():
    arr = convert_area(np.array([10_000.0, 20_000.0]), "mu")
    assert isinstance(arr, np.ndarray) and arr.tolist() == [15.0, 30.0]
    assert isinstance(convert_area(10_000, "mu"), float)


def test_rounding_rule_per_unit():
    assert round_area(1234.56789, "mu") == 1234.57
    assert round_area(1234.56789, "m2") == 1234.6
    assert round_area(0.12345678, "km2") == 0.123457
    assert round_area(1.234567, "ha") == 1.2346
    for unit in AREA_UNITS.values():
        assert round_area(1 / 3, unit.code) == round(1 / 3, unit.decimals)


finite_areas = st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False)


@given(finite_areas)
def test_mu_is_m2_times_3_over_2000(m2):
    assert math.isclose(mu_from_m2(m2), m2 * 3 / 2000, rel_tol=1e-12, abs_tol=1e-12)


@given(finite_areas, st.sampled_from(sorted(AREA_UNITS)))
def test_round_trip_every_unit(m2, unit):
    value = convert_area(m2, unit)
    assert math.isclose(value * AREA_UNITS[unit].m2, m2, rel_tol=1e-12, abs_tol=1e-9)


@given(finite_areas, finite_areas)
def test_conversion_is_linear_and_monotonic(a, b):
    assert math.isclose(mu_from_m2(a + b), mu_from_m2(a) + mu_from_m2(b), rel_tol=1e-12, abs_tol=1e-9)
    if a <= b:
        assert mu_from_m2(a) <= mu_from_m2(b)


@given(st.floats(min_value=0, max_value=1e9, allow_nan=False))
def test_mu_ha_km2_chain(m2):
    assert math.isclose(mu_from_m2(m2), ha_from_m2(m2) * 15, rel_tol=1e-12, abs_tol=1e-12)
    assert math.isclose(ha_from_m2(m2), km2_from_m2(m2) * 100, rel_tol=1e-12, abs_tol=1e-12)
