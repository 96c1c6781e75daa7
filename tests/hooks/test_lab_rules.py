"""Family B rules: thresholds at and around each limit, ranges, children, units, staleness."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from hooks.findings import FindingStatus, Severity
from tests.builders import (
    by_rule,
    findings_for,
    iso,
    knowledge,
    make_condition,
    make_med_request,
    make_observation,
    make_patient,
    rule_ids,
)

CHILD = make_patient(birth_date="2012-06-01")


def _obs(loinc: str, value: float, unit: str, days: float = 5, **kwargs: object) -> dict[str, Any]:
    return make_observation(loinc, value, unit, when=iso(days), **kwargs)  # type: ignore[arg-type]


# --- B1 potassium ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "severity"),
    [
        (3.5, None),
        (3.49, Severity.WARNING),
        (2.5, Severity.WARNING),
        (2.49, Severity.CRITICAL),
    ],
)
def test_b1_potassium_adult_defaults(value: float, severity: Severity | None) -> None:
    findings = by_rule(findings_for(_obs("2823-3", value, "mmol/L")), "B1")
    assert [f.severity for f in findings] == ([severity] if severity else [])


def test_b1_meq_per_l_is_the_same_scale() -> None:
    [finding] = findings_for(_obs("2823-3", 3.2, "mEq/L", code=None))
    assert finding.rule_id == "B1"
    assert finding.values["unit"] == "mEq/L"
    assert finding.evidence[0].value == "3.2 mmol/L"
    assert finding.evidence[0].original == "3.2 mEq/L"


@pytest.mark.parametrize(("value", "low", "fires"), [(3.55, 3.6, True), (3.4, 3.2, False)])
def test_b1_laboratory_range_overrides_the_default(value: float, low: float, fires: bool) -> None:
    assert ("B1" in rule_ids(findings_for(_obs("2823-3", value, "mmol/L", low=low)))) is fires


@pytest.mark.parametrize(("days", "fires"), [(365, True), (365.001, False)])
def test_b1_result_older_than_a_year_gives_no_conclusion(days: float, fires: bool) -> None:
    assert bool(findings_for(_obs("2823-3", 3.0, "mmol/L", days=days))) is fires


def test_b1_unconvertible_unit_is_listed_never_carded() -> None:
    [finding] = findings_for(_obs("2823-3", 3.0, "mg/dL"))
    assert finding.status is FindingStatus.NO_CONCLUSION
    assert "cannot be converted" in finding.caveats[0]


def test_b1_child_without_range_is_shown_ungraded_not_judged() -> None:
    [finding] = findings_for(_obs("2823-3", 3.0, "mmol/L"), patient=CHILD)
    assert (finding.template, finding.status, finding.severity) == (
        "ungraded",
        FindingStatus.UNGRADED,
        Severity.INFO,
    )
    assert "not applied" in (finding.evidence[0].threshold or "")


def test_b1_child_with_a_laboratory_range_is_graded() -> None:
    [finding] = findings_for(_obs("2823-3", 3.3, "mmol/L", low=3.4), patient=CHILD)
    assert (finding.rule_id, finding.severity, finding.status) == (
        "B1",
        Severity.WARNING,
        FindingStatus.CONCLUSIVE,
    )


def test_b1_child_normal_by_adult_standards_says_nothing() -> None:
    assert findings_for(_obs("2823-3", 4.0, "mmol/L"), patient=CHILD) == []


def test_b1_child_critical_value_with_range_is_not_escalated_by_adult_limits() -> None:
    [finding] = findings_for(_obs("2823-3", 2.0, "mmol/L", low=3.4), patient=CHILD)
    assert finding.severity is Severity.WARNING


# --- B2 magnesium ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("loinc", "value", "unit", "severity"),
    [
        ("19123-9", 1.7, "mg/dL", None),
        ("19123-9", 1.69, "mg/dL", Severity.WARNING),
        ("19123-9", 1.2, "mg/dL", Severity.WARNING),
        ("19123-9", 1.19, "mg/dL", Severity.CRITICAL),
        ("2601-3", 0.70, "mmol/L", None),
        ("2601-3", 0.69, "mmol/L", Severity.WARNING),
        ("2601-3", 0.49, "mmol/L", Severity.CRITICAL),
        ("2601-3", 1.39, "meq/L", Severity.WARNING),
        ("2601-3", 1.5, "mg/dL", Severity.WARNING),  # mg/dL sent under the moles code (erratum 6)
    ],
)
def test_b2_magnesium_cut_offs_per_unit(
    loinc: str, value: float, unit: str, severity: Severity | None
) -> None:
    findings = by_rule(findings_for(_obs(loinc, value, unit)), "B2")
    assert [f.severity for f in findings] == ([severity] if severity else [])


def test_b2_names_a_current_ppi_as_possible_contributor() -> None:
    findings = findings_for(
        _obs("19123-9", 1.5, "mg/dL"), make_med_request("7646", authored=iso(30))
    )
    [finding] = by_rule(findings, "B2")
    assert any(
        e.label == "omeprazole" and "possible contributor" in (e.note or "")
        for e in finding.evidence
    )


# --- B3 / B3b calcium ------------------------------------------------------------------------


def _albumin(value: float, unit: str = "g/dL", days: float = 5) -> dict[str, Any]:
    return _obs("1751-7", value, unit, days)


@pytest.mark.parametrize(
    ("calcium", "albumin", "template", "value"),
    [
        (8.0, 3.0, None, None),  # corrected 8.8: normal
        (8.0, 3.8, "B3", "8.16"),  # corrected 8.16: low
        (8.2, 4.2, "B3-measured", "8.2"),  # albumin not low: no correction
        (8.4, 4.0, "B3-measured", "8.4"),  # exactly 4.0: no correction
    ],
)
def test_b3_total_calcium_is_corrected_only_for_low_albumin(
    calcium: float, albumin: float, template: str | None, value: str | None
) -> None:
    findings = findings_for(_obs("17861-6", calcium, "mg/dL"), _albumin(albumin))
    if template is None:
        assert findings == []
        return
    [finding] = findings
    assert (finding.template, finding.values["value"]) == (template, value)


def test_b3_corrected_value_in_si_units() -> None:
    # 2.0 mmol/L = 8.016 mg/dL; albumin 30 g/L = 3.0 g/dL; corrected 8.816: normal.
    assert findings_for(_obs("2000-8", 2.0, "mmol/L"), _albumin(30, "g/L")) == []
    # 1.9 mmol/L = 7.615 mg/dL; albumin 38 g/L; corrected 7.775: low, not critical.
    [finding] = findings_for(_obs("2000-8", 1.9, "mmol/L"), _albumin(38, "g/L"))
    assert (finding.template, finding.severity) == ("B3", Severity.WARNING)


@pytest.mark.parametrize(
    ("calcium", "severity"), [(7.5, Severity.CRITICAL), (7.51, Severity.WARNING)]
)
def test_b3_critical_at_or_below_7_5(calcium: float, severity: Severity) -> None:
    [finding] = findings_for(_obs("49765-1", calcium, "mg/dL"), _albumin(4.4))
    assert finding.severity is severity


@pytest.mark.parametrize(("albumin_days", "rule"), [(6, "B3"), (6.0001, "B3b"), (4, "B3")])
def test_b3_albumin_must_be_within_one_day(albumin_days: float, rule: str) -> None:
    findings = findings_for(_obs("17861-6", 8.0, "mg/dL", days=5), _albumin(3.8, days=albumin_days))
    assert rule_ids(findings) == {rule}


def test_b3b_low_total_without_albumin_is_info_suggesting_albumin() -> None:
    [finding] = findings_for(_obs("17861-6", 8.2, "mg/dL"))
    assert (finding.rule_id, finding.severity) == ("B3b", Severity.INFO)
    assert finding.orders == ("albumin", "ionized_calcium")


def test_b3_ionized_calcium_the_same_day_is_preferred() -> None:
    total = _obs("17861-6", 8.2, "mg/dL")
    ionized = _obs("1994-3", 1.20, "mmol/L")
    assert findings_for(total, ionized) == []
    [finding] = findings_for(total, _obs("1994-3", 1.10, "mmol/L"))
    assert finding.template == "B3-ionized"


def test_b3_correction_in_ckd_carries_a_caveat() -> None:
    findings = findings_for(
        _obs("17861-6", 8.0, "mg/dL"), _albumin(3.8), make_condition("N18.3", "icd10cm")
    )
    [finding] = by_rule(findings, "B3")
    assert "unreliable in chronic kidney disease" in finding.caveats[0]


# --- B4 sodium, B5 vitamin D -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "severity"),
    [
        (135, None),
        (134.9, Severity.WARNING),
        (125, Severity.WARNING),
        (124.9, Severity.CRITICAL),
    ],
)
def test_b4_sodium(value: float, severity: Severity | None) -> None:
    findings = by_rule(findings_for(_obs("2947-0", value, "mmol/L")), "B4")
    assert [f.severity for f in findings] == ([severity] if severity else [])


@pytest.mark.parametrize(
    ("value", "unit", "severity"),
    [
        (20, "ng/mL", None),
        (19.9, "ng/mL", Severity.INFO),
        (12, "ng/mL", Severity.INFO),
        (11.9, "ng/mL", Severity.WARNING),
        (50, "nmol/L", None),
        (49, "nmol/L", Severity.INFO),
        (29, "nmol/L", Severity.WARNING),
    ],
)
def test_b5_vitamin_d(value: float, unit: str, severity: Severity | None) -> None:
    findings = findings_for(_obs("62292-8", value, unit))
    assert [f.severity for f in findings] == ([severity] if severity else [])


@pytest.mark.parametrize(("days", "fires"), [(730, True), (730.001, False)])
def test_b5_vitamin_d_stays_current_for_two_years(days: float, fires: bool) -> None:
    assert bool(findings_for(_obs("62292-8", 15, "ng/mL", days=days))) is fires


# --- B6 CK, B7 TSH, B8 eGFR/CKD ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "severity", "n"),
    [
        (200, None, None),
        (201, Severity.INFO, "1"),
        (1000, Severity.INFO, "5"),
        (1001, Severity.WARNING, "5"),
        (2001, Severity.CRITICAL, "10"),
    ],
)
def test_b6_ck_grading_against_the_lab_upper_limit(
    value: float, severity: Severity | None, n: str | None
) -> None:
    findings = findings_for(_obs("2157-6", value, "U/L", high=200))
    assert [(f.severity, f.values["n"]) for f in findings] == ([(severity, n)] if severity else [])


@pytest.mark.parametrize(("days", "fires"), [(90, True), (90.001, False)])
def test_b6_only_a_ck_from_the_last_90_days(days: float, fires: bool) -> None:
    assert bool(findings_for(_obs("2157-6", 5000, "U/L", days=days))) is fires


@pytest.mark.parametrize(
    ("value", "fires"), [(4.5, False), (4.51, True), (0.1, False), (0.09, True)]
)
def test_b7_tsh_defaults(value: float, fires: bool) -> None:
    assert bool(findings_for(_obs("3016-3", value, "m[IU]/L"))) is fires


@pytest.mark.parametrize(("days", "fires"), [(365, True), (365.001, False)])
def test_b7_tsh_from_the_last_year_only(days: float, fires: bool) -> None:
    assert bool(findings_for(_obs("3016-3", 9.0, "m[IU]/L", days=days))) is fires


def test_b7_tsh_with_raised_ck_is_a_warning() -> None:
    findings = findings_for(_obs("3016-3", 9.0, "m[IU]/L"), _obs("2157-6", 400, "U/L", high=200))
    assert by_rule(findings, "B7")[0].severity is Severity.WARNING


@pytest.mark.parametrize(("value", "fires"), [(60, False), (59.9, True)])
def test_b8_egfr_below_60(value: float, fires: bool) -> None:
    assert bool(findings_for(_obs("98979-8", value, "mL/min/{1.73_m2}"))) is fires


def test_b8_egfr_in_ml_per_min_gives_no_conclusion_but_a_ckd_code_still_fires() -> None:
    egfr = _obs("33914-3", 40, "mL/min")
    assert [f.status for f in findings_for(egfr)] == [FindingStatus.NO_CONCLUSION]
    [finding] = findings_for(egfr, make_condition("433144002", display="CKD stage 3"))
    assert (finding.template, finding.values["dx"]) == ("B8-dx", "CKD stage 3")
    assert "cannot be converted" in finding.caveats[0]


# --- B0 ----------------------------------------------------------------------------------------


def test_b0_is_off_in_the_shipped_knowledge() -> None:
    assert findings_for() == []


def _with_b0() -> object:
    kb = knowledge()
    rules = tuple(r.model_copy(update={"enabled": True}) if r.id == "B0" else r for r in kb.rules)
    return replace(kb, rules=rules)


def test_b0_when_enabled_is_info_only_and_only_without_a_drug_trigger() -> None:
    kb = _with_b0()
    [finding] = findings_for(kb=kb)  # type: ignore[arg-type]
    assert (finding.rule_id, finding.severity) == ("B0", Severity.INFO)
    with_diuretic = findings_for(make_med_request("4603"), kb=kb)  # type: ignore[arg-type]
    assert "B0" not in rule_ids(with_diuretic)
