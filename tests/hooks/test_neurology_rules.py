"""Family C rules: red flags and neurological conditions from active diagnoses."""

from __future__ import annotations

from typing import Any

import pytest

from hooks.findings import Severity
from tests.builders import (
    by_rule,
    findings_for,
    iso,
    make_condition,
    make_observation,
    make_symptom,
    rule_ids,
)

FASCICULATION = make_condition("R25.3", "icd10cm")
WEAKNESS = make_condition("M62.81", "icd10cm", recorded="2020-01-01")
ATROPHY = make_condition("88092000", recorded="2020-01-01")
ALS = make_condition("G12.21", "icd10cm", display="Amyotrophic lateral sclerosis")


@pytest.mark.parametrize("deficit", [WEAKNESS, ATROPHY])
def test_c1_fasciculations_with_weakness_or_atrophy_is_critical(deficit: dict[str, Any]) -> None:
    [finding] = by_rule(findings_for(FASCICULATION, deficit), "C1")
    assert finding.severity is Severity.CRITICAL
    assert finding.orders == ("neurology_referral", "ck")


def test_c1_fasciculation_from_a_symptom_observation_counts() -> None:
    assert "C1" in rule_ids(findings_for(make_symptom("82470000"), ATROPHY))


def test_c1_needs_both_fasciculation_and_a_deficit() -> None:
    assert "C1" not in rule_ids(findings_for(FASCICULATION))
    assert "C1" not in rule_ids(findings_for(ATROPHY))


def test_c1_and_c2_stay_silent_for_known_motor_neuron_disease() -> None:
    new_weakness = make_condition("26544005", recorded=iso(3))
    assert rule_ids(findings_for(FASCICULATION, new_weakness, ALS)) == {"C3"}


@pytest.mark.parametrize(("days", "fires"), [(30, True), (30.001, False)])
def test_c2_new_weakness_within_30_days(days: float, fires: bool) -> None:
    weakness = make_condition("26544005", recorded=iso(days))
    assert ("C2" in rule_ids(findings_for(weakness))) is fires


def test_c2_weakness_recorded_twice_more_than_30_days_apart_is_progressive() -> None:
    first = make_condition("R53.1", "icd10cm", clinical="resolved", recorded="2020-01-01")
    second = make_condition("R53.1", "icd10cm", recorded="2020-03-01")
    assert "C2" in rule_ids(findings_for(first, second))


def test_c2_two_weakness_records_within_30_days_are_not_progressive() -> None:
    first = make_condition("R53.1", "icd10cm", recorded="2020-01-01")
    second = make_condition("R53.1", "icd10cm", recorded="2020-01-20")
    assert "C2" not in rule_ids(findings_for(first, second))


@pytest.mark.parametrize(
    ("rule", "condition", "severity"),
    [
        ("C3", ALS, Severity.INFO),
        ("C4", make_condition("24700007", display="Multiple sclerosis"), Severity.INFO),
        ("C4", make_condition("G35.A", "icd10cm"), Severity.INFO),  # FY2026 child of G35
        ("C4", make_condition("G81.10", "icd10cm"), Severity.INFO),  # spastic hemiplegia
        ("C5", make_condition("M48.062", "icd10cm"), Severity.INFO),  # FY2018 child of M48.06
        ("C8", make_condition("E11.42", "icd10cm"), Severity.INFO),
        ("C8", make_condition("368581000119106"), Severity.INFO),  # Synthea's diabetic neuropathy
        ("C9", make_condition("G25.82", "icd10cm"), Severity.INFO),
        ("C9", make_condition("69896004", display="Rheumatoid arthritis"), Severity.INFO),
        ("C10", make_condition("I82.401", "icd10cm"), Severity.WARNING),
        ("C10", make_condition("399957001"), Severity.WARNING),
    ],
)
def test_diagnosis_rules(rule: str, condition: dict[str, Any], severity: Severity) -> None:
    [finding] = by_rule(findings_for(condition), rule)
    assert finding.severity is severity


@pytest.mark.parametrize(
    "condition",
    [
        make_condition("G81.00", "icd10cm"),  # flaccid hemiplegia is not spasticity
        make_condition("230690007"),  # stroke without spasticity
        make_condition("G83.4", "icd10cm", recorded="2019-01-01"),  # old cauda equina: not C4
    ],
)
def test_c4_not_for_flaccid_or_uncomplicated_conditions(condition: dict[str, Any]) -> None:
    assert "C4" not in rule_ids(findings_for(condition))


def test_c4_names_the_diagnosis_in_dx() -> None:
    [finding] = findings_for(make_condition("24700007", display="Multiple sclerosis"))
    assert finding.values["dx"] == "Multiple sclerosis"
    assert finding.values["dx_short"] == "spastic neurological condition"


@pytest.mark.parametrize(("recorded", "fires"), [(iso(30), True), (iso(31), False), (None, True)])
def test_c6_cauda_equina_new_or_undated_is_critical(recorded: str | None, fires: bool) -> None:
    findings = findings_for(make_condition("G83.4", "icd10cm", recorded=recorded))
    assert ("C6" in rule_ids(findings)) is fires
    if fires:
        assert by_rule(findings, "C6")[0].severity is Severity.CRITICAL


def test_c7_hypothyroidism_without_tsh_in_a_year() -> None:
    [finding] = findings_for(make_condition("40930008", display="Hypothyroidism"))
    assert (finding.rule_id, finding.items["analyte"]) == ("C7", ("TSH",))


@pytest.mark.parametrize(("days", "fires"), [(365, False), (365.001, True)])
def test_c7_tsh_counts_within_a_year(days: float, fires: bool) -> None:
    tsh = make_observation("3016-3", 2.0, "m[IU]/L", when=iso(days))
    assert ("C7" in rule_ids(findings_for(make_condition("40930008"), tsh))) is fires


def test_c7_hypoparathyroidism_needs_a_calcium() -> None:
    [finding] = findings_for(make_condition("E20.9", "icd10cm"))
    assert finding.items["analyte"] == ("Ca",)


def test_c10_resolved_dvt_does_not_fire() -> None:
    assert findings_for(make_condition("404223003", clinical="resolved")) == []
