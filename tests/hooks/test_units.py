"""Unit resolution and conversion (reference §3.2, erratum 6)."""

from __future__ import annotations

import pytest

from hooks.patient_view.facts.units import (
    crosses,
    describe,
    format_number,
    resolve_unit,
    to_canonical,
)
from tests.builders import UCUM, knowledge


@pytest.mark.parametrize(
    ("analyte", "value", "unit", "expected"),
    [
        ("potassium", 3.4, "meq/L", 3.4),
        ("sodium", 134, "meq/L", 134),
        ("magnesium", 1.7, "mg/dL", 0.69938),
        ("magnesium", 1.4, "meq/L", 0.70),
        ("calcium_total", 2.12, "mmol/L", 8.49696),
        ("calcium_total", 4.2, "meq/L", 8.4168),
        ("calcium_ionized", 4.6, "mg/dL", 1.1477),
        ("albumin", 35, "g/L", 3.5),
        ("vitamin_d_25oh", 50, "nmol/L", 20.03),
        ("vitamin_d_25oh", 20, "ug/L", 20),
        ("ck", 1.0, "ukat/L", 60),
        ("ck", 250, "[IU]/L", 250),
        ("tsh", 2.0, "u[IU]/mL", 2.0),
        ("creatinine", 88.4, "umol/L", 0.99980),
        ("phosphate", 1.0, "mmol/L", 3.097),
    ],
)
def test_each_conversion_gives_the_canonical_value(
    analyte: str, value: float, unit: str, expected: float
) -> None:
    assert to_canonical(value, unit, knowledge().analyte(analyte)) == pytest.approx(
        expected, rel=1e-4
    )


@pytest.mark.parametrize(
    ("code", "system", "unit", "expected"),
    [
        ("mmol/L", UCUM, "mmol/L", "mmol/L"),
        (None, None, "mEq/L", "meq/L"),
        (None, None, "MEQ/L", "meq/L"),
        (None, None, "mmol/l", "mmol/L"),
        ("mEq/L", "http://example.org/units", "mEq/L", "meq/L"),
        ("mg", UCUM, "mmol/L", None),
        (None, None, None, None),
        (None, None, "mg", None),
    ],
)
def test_potassium_unit_resolves_by_ucum_code_then_unit_string(
    code: str | None, system: str | None, unit: str | None, expected: str | None
) -> None:
    kb = knowledge()
    assert resolve_unit(code, system, unit, kb.analyte("potassium"), kb) == expected


def test_magnesium_sent_in_mg_dl_under_the_moles_loinc_is_still_mg_dl() -> None:
    kb = knowledge()
    assert resolve_unit("mg/dL", UCUM, "mg/dL", kb.analyte("magnesium"), kb) == "mg/dL"
    assert kb.index.loinc_analyte["2601-3"] == "magnesium"


def test_egfr_in_ml_per_min_resolves_but_is_marked_approximate() -> None:
    kb = knowledge()
    egfr = kb.analyte("egfr")
    assert resolve_unit("mL/min", UCUM, "mL/min", egfr, kb) == "mL/min"
    assert "mL/min" in egfr.approximate_units
    assert resolve_unit(None, None, "mL/min/1.73m2", egfr, kb) == "mL/min/{1.73_m2}"
    assert "mL/min/{1.73_m2}" not in egfr.approximate_units


@pytest.mark.parametrize(
    ("value", "unit", "low"),
    [
        (1.7, "mg/dL", False),
        (1.69, "mg/dL", True),
        (0.70, "mmol/L", False),
        (0.699, "mmol/L", True),
        (1.4, "meq/L", False),
        (1.39, "meq/L", True),
    ],
)
def test_magnesium_threshold_is_compared_in_the_unit_the_source_states(
    value: float, unit: str, low: bool
) -> None:
    analyte = knowledge().analyte("magnesium")
    adult = analyte.thresholds["low"][0]
    assert adult.min_age == 18
    assert crosses(value, unit, adult, analyte) is low


def test_threshold_in_an_unstated_unit_is_compared_after_conversion() -> None:
    analyte = knowledge().analyte("potassium")
    adult = analyte.thresholds["low"][0]
    assert crosses(3.4, "meq/L", adult, analyte)
    assert describe(adult, "meq/L", analyte) == "< 3.5 mmol/L"


@pytest.mark.parametrize(
    ("value", "text"),
    [(3.4, "3.4"), (3.5, "3.5"), (135.0, "135"), (4.833391658, "4.83"), (0.0, "0")],
)
def test_numbers_show_at_most_two_decimals(value: float, text: str) -> None:
    assert format_number(value) == text
