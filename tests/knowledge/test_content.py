"""The shipped knowledge says what the reference (with its errata) says: factors, thresholds,
windows and rule switches, typed here independently of the YAML.
"""

from __future__ import annotations

import pytest

from hooks.knowledge.schema import RuleState
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


def _limits(analyte: str, name: str, min_age: int = 18) -> list[object]:
    return [t for t in knowledge().analyte(analyte).thresholds[name] if t.min_age == min_age]


@pytest.mark.parametrize(
    ("analyte", "name", "unit", "value"),
    [
        # Reference §3.3 (adults, low side)
        ("potassium", "low", "mmol/L", 3.5),
        ("potassium", "critical_low", "mmol/L", 2.5),
        ("magnesium", "low", "mmol/L", 0.70),
        ("magnesium", "low", "mg/dL", 1.7),
        ("magnesium", "critical_low", "mg/dL", 1.2),
        ("calcium_total", "low", "mg/dL", 8.5),
        ("sodium", "low", "mmol/L", 135),
        ("sodium", "critical_low", "mmol/L", 125),
        ("vitamin_d_25oh", "low", "ng/mL", 20),
        ("vitamin_d_25oh", "severe_low", "nmol/L", 30),
        ("tsh", "high", "m[IU]/L", 4.5),
        ("egfr", "low", "mL/min/{1.73_m2}", 60),
        # Addendum 2 §1.1 (high side) and §1.2 (Kost 1990 fallback critical limits)
        ("potassium", "high", "mmol/L", 5.5),
        ("potassium", "critical_high", "mmol/L", 6.0),
        ("potassium", "critical_low", "mmol/L", 2.8),
        ("calcium_total", "high", "mg/dL", 10.4),
        ("calcium_total", "critical_high", "mg/dL", 12.9),
        ("calcium_total", "critical_high", "mmol/L", 3.5),
        ("calcium_total", "critical_low", "mmol/L", 1.65),
        ("calcium_ionized", "high", "mmol/L", 1.30),
        ("sodium", "high", "mmol/L", 145),
        ("sodium", "critical_high", "mmol/L", 158),
        ("sodium", "critical_low", "mmol/L", 120),
        ("magnesium", "high", "mmol/L", 1.10),
        ("magnesium", "critical_high", "mmol/L", 2.02),
    ],
)
def test_default_threshold_matches_the_reference(
    analyte: str, name: str, unit: str, value: float
) -> None:
    values = [t.values.get(unit) for t in _limits(analyte, name)]  # type: ignore[attr-defined]
    assert value in values


@pytest.mark.parametrize(
    ("analyte", "name", "unit", "value"),
    [
        # Addendum 2 §2: Kost 1991 children's critical limits, applied from 1 year
        ("potassium", "critical_low", "mmol/L", 2.8),
        ("potassium", "critical_high", "mmol/L", 6.4),
        ("sodium", "critical_low", "mmol/L", 121),
        ("sodium", "critical_high", "mmol/L", 156),
        ("calcium_total", "critical_low", "mmol/L", 1.62),
        ("calcium_total", "critical_high", "mmol/L", 3.17),
    ],
)
def test_childrens_critical_limits_match_kost_1991(
    analyte: str, name: str, unit: str, value: float
) -> None:
    [limit] = _limits(analyte, name, min_age=1)
    assert limit.values[unit] == value  # type: ignore[attr-defined]
    assert not limit.without_interpretation  # type: ignore[attr-defined]


def test_no_default_ever_applies_to_an_infant() -> None:
    for analyte in knowledge().labs.analytes.values():
        for limits in analyte.thresholds.values():
            assert all(limit.min_age >= 1 for limit in limits)


def test_repletion_windows_are_those_of_the_addendum() -> None:
    kb = knowledge()
    assert kb.labs.repletion.high_risk_within_days == 7
    assert kb.analyte("potassium").act_within_days == 90
    assert kb.analyte("magnesium").act_within_days == 90


def test_ck_grading_is_one_scale_everywhere() -> None:
    kb = knowledge()
    for rule_id in ("A3", "B6"):
        scale = kb.rule(rule_id).parameters["uln_grading"]
        assert isinstance(scale, dict)
        assert (scale["analyte"], scale["warning_x_uln"], scale["critical_x_uln"]) == ("ck", 5, 10)


def test_albumin_correction_is_0_8_per_g_dl_below_4_within_one_day() -> None:
    correction = knowledge().labs.calcium_correction
    assert (correction.coefficient, correction.reference_albumin, correction.max_days_apart) == (
        0.8,
        4.0,
        1,
    )


def test_disabled_rules_are_the_blanket_lab_rule_and_those_without_a_verified_source() -> None:
    kb = knowledge()
    assert {rule.id for rule in kb.rules if rule.state is RuleState.OFF} == {"B0", "A11", "C9"}


def test_the_whole_catalogue_is_present() -> None:
    expected = (
        {f"A{n}" for n in range(1, 15)}
        | {"A1b", "A4s", "B3b", "B1h", "B2h", "B3h", "B4h", "M1"}
        | {f"B{n}" for n in range(10)}
        | {f"C{n}" for n in range(1, 14)}
    )
    assert {rule.id for rule in knowledge().rules} == expected


def test_garrison_is_cited_only_for_diuretics_statins_and_labas() -> None:
    citing = {rule.id for rule in knowledge().rules if "GAR" in rule.sources}
    assert citing == {"A1", "A1b", "A3", "A4"}


def test_no_enabled_rule_cites_an_unverified_source() -> None:
    kb = knowledge()
    for rule in kb.enabled_rules:
        cited = {*rule.sources, *(k for keys in rule.template_sources.values() for k in keys)}
        assert {kb.sources[key].flag for key in cited} <= {"V", "V*"}, rule.id


def test_every_rule_grades_by_the_policy_and_every_critical_finding_names_a_next_step() -> None:
    kb = knowledge()
    policy = kb.grading_policy
    assert "today" in policy.critical
    assert "this visit" in policy.warning
    assert "awareness" in policy.info.lower()
    critical_templates = [t for t in kb.cards.templates if t.endswith("critical")]
    for key in critical_templates:
        summary = kb.cards.templates[key].summary.lower()
        assert "today" in summary or "now" in summary, key
