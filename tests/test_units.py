"""Tests of neurosim.units: quantities at the boundary."""
import math

import pytest
from hypothesis import given, strategies as st

from neurosim.errors import NeurosimValueError, UnitError
from neurosim.units import (
    convert, from_internal, parse_interval, parse_quantity, parse_unit, split_quantity,
    format_duration,
)


@pytest.mark.parametrize("text, expect, value", [
    ("10 mg", "mass", 10.0),
    ("500 ug", "mass", 0.5),
    ("500 µg", "mass", 0.5),
    ("1 g", "mass", 1000.0),
    ("25 mcg", "mass", 0.025),
    ("2 weeks", "time", 336.0),
    ("30 min", "time", 0.5),
    ("3 d", "time", 72.0),
    ("90 s", "time", 0.025),
    ("1 mg/L", "concentration", 1.0),
    ("19 ng/mL", "concentration", 0.019),
    ("1 ug/mL", "concentration", 1.0),
    ("88.6 L/h", "clearance", 88.6),
    ("1.5 L/min", "clearance", 90.0),
    ("0.182 L/d", "clearance", 0.182 / 24.0),
    ("0.003 1/min", "rate_constant", 0.18),
    ("0.003 min^-1", "rate_constant", 0.18),
    ("25 ug/h", "dose_rate", 0.025),
    ("15.3 ng/mL", "concentration", 0.0153),
    ("66 nM", "molar_concentration", 66.0),
    ("4.2 g/dL", "concentration", 42000.0),
    ("35 %", "dimensionless", 0.35),
    ("10mg", "mass", 10.0),
])
def test_parse_quantity_converts_to_internal_units(text, expect, value):
    # Reference: the unit definitions (1 mg = 1000 ug, 1 h = 60 min, 1 L = 1000 mL ...).
    assert parse_quantity(text, expect) == pytest.approx(value, rel=1e-12)


def test_per_kg_units_need_and_use_body_weight():
    # Mazoit 1987 normal CL 33.5 mL/min/kg in a 70-kg adult: 33.5e-3 * 60 * 70 L/h.
    assert parse_quantity("33.5 mL/min/kg", "clearance", body_weight=70) == pytest.approx(140.7)
    assert parse_quantity("0.25 L/kg", "volume", body_weight="80 kg") == pytest.approx(20.0)
    assert parse_quantity("0.1 mg/kg", "mass", body_weight=70) == pytest.approx(7.0)
    with pytest.raises(UnitError, match="per kilogram of body weight"):
        parse_quantity("33.5 mL/min/kg", "clearance", name="morphine cl")


def test_molar_and_mass_concentrations_convert_with_molar_mass():
    # 66 nmol/L morphine (285.34 g/mol) = 18.8 ng/mL (Klepstad 2000 reports ~19 ng/mL).
    c = parse_quantity("66 nM", "concentration", molar_mass=285.34)
    assert c == pytest.approx(66e-9 * 285.34 * 1e3, rel=1e-12)
    back = parse_quantity(f"{c} mg/L", "molar_concentration", molar_mass=285.34)
    assert back == pytest.approx(66.0, rel=1e-12)
    with pytest.raises(UnitError, match="molar mass"):
        parse_quantity("66 nM", "concentration")


def test_wrong_dimension_names_quantity_unit_and_allowed_units():
    with pytest.raises(UnitError) as e:
        parse_quantity("10 mL", "mass", name="treatments[0].dose")
    msg = str(e.value)
    assert "treatments[0].dose" in msg and "'mL'" in msg and "mg" in msg and "volume" in msg


def test_unknown_unit_suggests_a_close_one():
    with pytest.raises(UnitError, match="Did you mean 'mg'"):
        parse_quantity("10 mgg", "mass", name="dose")


def test_missing_unit_and_negative_values_are_errors():
    with pytest.raises(UnitError, match="no unit"):
        parse_quantity("10", "mass", name="dose")
    with pytest.raises(UnitError, match="no unit"):
        parse_quantity(10, "mass", name="dose")
    with pytest.raises(NeurosimValueError, match=">= 0"):
        parse_quantity("-5 mg", "mass", name="dose", minimum=0.0)
    assert parse_quantity(0.5, "dimensionless") == 0.5


def test_quantity_tables_as_in_the_drug_library():
    assert parse_quantity({"value": 33.5, "unit": "mL/min/kg"}, "clearance",
                          body_weight=70) == pytest.approx(140.7)
    with pytest.raises(UnitError, match="'value'"):
        parse_quantity({"unit": "mg"}, "mass")


@pytest.mark.parametrize("token, hours", [
    ("q4h", 4.0), ("q12h", 12.0), ("q8w", 8 * 168.0), ("q3d", 72.0), ("q30min", 0.5),
    ("qd", 24.0), ("daily", 24.0), ("bid", 12.0), ("tid", 8.0), ("qid", 6.0),
    ("weekly", 168.0), ("12 h", 12.0), ("Q6H", 6.0),
])
def test_parse_interval(token, hours):
    assert parse_interval(token) == pytest.approx(hours)


def test_bad_interval_explains_the_forms():
    with pytest.raises(UnitError, match="q<number><unit>"):
        parse_interval("every so often")
    with pytest.raises(UnitError):
        parse_interval("q4mg")


def test_from_internal_inverts_convert():
    assert from_internal(140.7, "mL/min", "clearance") == pytest.approx(2345.0)
    assert from_internal(0.019, "ng/mL", "concentration") == pytest.approx(19.0)


@given(st.floats(min_value=1e-6, max_value=1e6),
       st.sampled_from([("mg", "mass"), ("ug", "mass"), ("mL/min", "clearance"),
                        ("ng/mL", "concentration"), ("d", "time"), ("ug/h", "dose_rate")]))
def test_round_trip_through_internal_units(x, unit_dim):
    unit, dim = unit_dim
    assert from_internal(convert(x, unit, dim), unit, dim) == pytest.approx(x, rel=1e-12)


def test_parse_unit_compound_and_powers():
    u = parse_unit("mL/min/kg")
    assert u.dims == (-1, 1, -1, 0)
    assert parse_unit("L*h^-1").dims == (0, 1, -1, 0)
    assert split_quantity("1e-3 mg/L") == (1e-3, "mg/L")
    assert format_duration(72.0) == "3 d" and format_duration(0.5) == "30 min"
    assert math.isclose(parse_unit("h^-1").factor, 1.0)
