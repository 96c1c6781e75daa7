"""The shipped knowledge says what the reference (with its errata) says: factors, thresholds,
windows and rule switches, typed here independently of the YAML.
"""

from __future__ import annotations

import pytest

from tests.builders import knowledge


@pytest.mark.parametrize(
    ("analyte", "unit", "factor"),
    [
        # Reference §3.2 (computed from molar masses), expressed as "canonical = value x factor".
        ("potassium", "meq/L", 1.0),
        ("sodium", "meq/L", 1.0),
        ("magnesium", "mg/dL", 0.4114),
        ("magnesium", "meq/L", 0.5),
        ("calcium_total", "mmol/L", 4.008),
        ("calcium_total", "meq/L", 2.004),
        ("calcium_ionized", "mg/dL", 0.2495),
        ("albumin", "g/L", 0.1),
        ("vitamin_d_25oh", "nmol/L", 0.4006),
        ("vitamin_d_25oh", "ug/L", 1.0),
        ("ck", "ukat/L", 60.0),
        ("tsh", "u[IU]/mL", 1.0),
        ("creatinine", "umol/L", 0.01131),
        ("phosphate", "mmol/L", 3.097),
    ],
)
def test_conversion_factor_matches_the_reference(analyte: str, unit: str, factor: float) -> None:
    assert knowledge().analyte(analyte).conversions[unit] == pytest.approx(factor)


@pytest.mark.parametrize(
    ("analyte", "name", "unit", "value"),
    [
        ("potassium", "low", "mmol/L", 3.5),
        ("potassium", "critical_low", "mmol/L", 2.5),
        ("magnesium", "low", "mmol/L", 0.70),
        ("magnesium", "low", "mg/dL", 1.7),
        ("magnesium", "critical_low", "mg/dL", 1.2),
        ("calcium_total", "low", "mg/dL", 8.5),
        ("calcium_total", "critical_low", "mg/dL", 7.5),
        ("sodium", "low", "mmol/L", 135),
        ("sodium", "critical_low", "mmol/L", 125),
        ("vitamin_d_25oh", "low", "ng/mL", 20),
        ("vitamin_d_25oh", "severe_low", "nmol/L", 30),
        ("tsh", "high", "m[IU]/L", 4.5),
        ("egfr", "low", "mL/min/{1.73_m2}", 60),
    ],
)
def test_default_threshold_matches_the_reference(
    analyte: str, name: str, unit: str, value: float
) -> None:
    assert knowledge().analyte(analyte).thresholds[name].values[unit] == value


def test_ck_grading_is_one_scale_everywhere() -> None:
    kb = knowledge()
    for rule_id in ("A3", "B6"):
        parameters = kb.rule(rule_id).parameters
        assert (parameters["warning_x_uln"], parameters["critical_x_uln"]) == (5, 10)


def test_albumin_correction_is_0_8_per_g_dl_below_4_within_one_day() -> None:
    correction = knowledge().labs.calcium_correction
    assert (correction.coefficient, correction.reference_albumin, correction.max_days_apart) == (
        0.8,
        4.0,
        1,
    )


def test_blanket_lab_rule_b0_is_shipped_disabled_and_every_other_rule_enabled() -> None:
    kb = knowledge()
    assert {rule.id for rule in kb.rules if not rule.enabled} == {"B0"}


def test_the_whole_catalogue_is_present() -> None:
    expected = (
        {f"A{n}" for n in range(1, 13)}
        | {"A1b", "B3b"}
        | {f"B{n}" for n in range(9)}
        | {f"C{n}" for n in range(1, 11)}
    )
    assert {rule.id for rule in knowledge().rules} == expected


def test_garrison_is_cited_only_for_diuretics_statins_and_labas() -> None:
    citing = {rule.id for rule in knowledge().rules if "GAR" in rule.sources}
    assert citing == {"A1", "A1b", "A3", "A4"}
