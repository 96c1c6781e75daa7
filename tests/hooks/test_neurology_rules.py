"""Family C rules: red flags and neurological conditions from active diagnoses."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from hooks.fhirdata import ResourceSet
from hooks.findings import Severity
from tests.builders import (
    by_rule,
    findings_for,
    iso,
    make_condition,
    make_med_request,
    make_observation,
    make_symptom,
    rule_ids,
)

FASCICULATION = make_condition("R25.3", "icd10cm")
WEAKNESS = make_condition("M62.81", "icd10cm", recorded="2020-01-01")
ATROPHY = make_condition("88092000", recorded="2020-01-01")
ALS = make_condition("G12.21", "icd10cm", display="Amyotrophic lateral sclerosis")


FOCAL = make_condition("713514005", display="Muscle weakness of limb", recorded="2020-01-01")


@pytest.mark.parametrize("deficit", [FOCAL, ATROPHY])
def test_c1_fasciculations_with_focal_weakness_or_atrophy_is_critical(
    deficit: dict[str, Any],
) -> None:
    [finding] = by_rule(findings_for(FASCICULATION, deficit), "C1")
    assert (finding.template, finding.severity) == ("C1", Severity.CRITICAL)
    assert finding.orders == ("neurology_referral", "ck")


@pytest.mark.parametrize(
    "general",
    [WEAKNESS, make_condition("R53.1", "icd10cm", display="Weakness", recorded="2020-01-01")],
)
def test_c1_with_generalised_weakness_only_is_an_urgent_not_emergency_referral(
    general: dict[str, Any],
) -> None:
    [finding] = by_rule(findings_for(FASCICULATION, general), "C1")
    assert (finding.template, finding.severity, finding.priority) == (
        "C1-general",
        Severity.WARNING,
        "urgent",
    )
    assert "neurology_referral" in finding.orders


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
        ("C4", make_condition("698754002"), Severity.INFO),  # Synthea: chronic SCI paralysis
        ("C10", make_condition("399957001"), Severity.INFO),
        ("C10", make_condition("I73.9", "icd10cm"), Severity.INFO),
        ("C13", make_condition("K70.30", "icd10cm", display="Alcoholic cirrhosis"), Severity.INFO),
        ("C13", make_condition("19943007"), Severity.INFO),
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


def test_c9_is_disabled_until_it_has_a_verified_source() -> None:
    assert findings_for(make_condition("G25.82", "icd10cm")) == []


def test_c4_on_baclofen_and_tizanidine_reviews_treatment_instead_of_suggesting_it() -> None:
    ms = make_condition("24700007", display="Multiple sclerosis")
    baclofen = make_med_request(text="baclofen 10 MG Oral Tablet")
    tizanidine = make_med_request(text="tizanidine 4 MG Oral Tablet")
    [finding] = by_rule(findings_for(ms, baclofen, tizanidine), "C4")
    assert finding.template == "C4-treated"
    assert finding.items["drug"] == ("baclofen", "tizanidine")
    assert finding.orders == ("physiotherapy_referral",)


def test_c7_hypothyroidism_orders_a_tsh_and_never_a_pth() -> None:
    [finding] = findings_for(make_condition("40930008", display="Hypothyroidism"))
    assert finding.orders == ("tsh",)


def test_c7_hypoparathyroidism_orders_calcium_and_albumin() -> None:
    [finding] = findings_for(make_condition("E20.9", "icd10cm"))
    assert finding.orders == ("calcium_albumin",)


def test_c7_draws_no_conclusion_from_a_missing_tsh_when_labs_may_be_incomplete() -> None:
    from hooks.findings import FindingStatus
    from hooks.patient_view.knee_spasm import knee_spasm_review
    from tests.builders import make_call, make_complaint, make_patient

    call = make_call([make_patient(), make_complaint(), make_condition("40930008")])
    values = dict(call.data.values)
    values["Observation"] = replace(values["Condition"], resources=(), complete=False)
    incomplete = replace(call, data=ResourceSet(values))
    [finding] = [f for f in knee_spasm_review(incomplete).findings if f.rule_id == "C7"]
    assert finding.status is FindingStatus.NO_CONCLUSION
    assert "may be incomplete" in finding.caveats[0]


@pytest.mark.parametrize(("recorded", "fires"), [(iso(90), True), (iso(91), False), (None, True)])
def test_c11_guillain_barre_recent_or_undated_is_critical(
    recorded: str | None, fires: bool
) -> None:
    gbs = make_condition("G61.0", "icd10cm", display="Guillain-Barre syndrome", recorded=recorded)
    findings = findings_for(gbs, WEAKNESS)
    assert ("C11" in rule_ids(findings)) is fires
    assert "C8" not in rule_ids(findings)  # never a routine neuropathy card
    if fires:
        assert by_rule(findings, "C11")[0].severity is Severity.CRITICAL


@pytest.mark.parametrize(("gbs_recorded", "c2_fires"), [(iso(90), False), (iso(91), True)])
def test_c2_weakness_card_yields_to_a_recent_guillain_barre(
    gbs_recorded: str, c2_fires: bool
) -> None:
    gbs = make_condition(
        "G61.0", "icd10cm", display="Guillain-Barre syndrome", recorded=gbs_recorded
    )
    findings = findings_for(gbs, make_condition("M62.81", "icd10cm", recorded=iso(3)))
    assert ("C2" in rule_ids(findings)) is c2_fires


@pytest.mark.parametrize(("recorded", "template"), [(iso(5), "C11"), (None, "C11-undated")])
def test_c11_names_the_recorded_date_or_says_undated(recorded: str | None, template: str) -> None:
    gbs = make_condition("G61.0", "icd10cm", display="Guillain-Barre syndrome", recorded=recorded)
    [finding] = by_rule(findings_for(gbs, WEAKNESS), "C11")
    assert finding.template == template
    assert finding.values.get("date") == (recorded[:10] if recorded else None)


RIGHT_LEG_SWELLING = make_condition(
    "R22.41", "icd10cm", display="Localized swelling, right lower limb", recorded=iso(2)
)


def test_c12_one_leg_swollen_with_a_risk_factor_is_a_critical_possible_dvt() -> None:
    pill = make_med_request(text="ethinyl estradiol 0.03 MG / levonorgestrel 0.15 MG Oral Tablet")
    [finding] = by_rule(findings_for(RIGHT_LEG_SWELLING, pill), "C12")
    assert (finding.template, finding.severity) == ("C12", Severity.CRITICAL)
    assert finding.orders == ("d_dimer",)


@pytest.mark.parametrize(
    "risk",
    [
        make_condition("C50.911", "icd10cm", display="Breast cancer"),
        make_condition("Z34.02", "icd10cm", display="Normal first pregnancy, second trimester"),
        make_condition("Z86.718", "icd10cm", recorded="2010-01-01"),
    ],
)
def test_c12_cancer_pregnancy_or_a_previous_dvt_are_risk_factors(risk: dict[str, Any]) -> None:
    [finding] = by_rule(findings_for(RIGHT_LEG_SWELLING, risk), "C12")
    assert finding.severity is Severity.CRITICAL


def test_c12_without_a_risk_factor_is_a_warning_and_skin_cancer_is_not_one() -> None:
    skin = make_condition("C44.91", "icd10cm", display="Basal cell carcinoma of skin")
    [finding] = by_rule(findings_for(RIGHT_LEG_SWELLING, skin), "C12")
    assert (finding.template, finding.severity) == ("C12-no-risk", Severity.WARNING)


@pytest.mark.parametrize(
    ("swelling", "fires"),
    [
        (make_condition("449707004", body_site={"text": "Left lower leg"}, recorded=iso(2)), True),
        (
            make_condition(
                "449707004",
                body_site={"coding": [{"system": "http://snomed.info/sct", "code": "24028007"}]},
                recorded=iso(2),
            ),
            True,
        ),
        (make_condition("449707004", recorded=iso(2)), False),  # no side: not one leg
        (make_condition("R22.43", "icd10cm", recorded=iso(2)), False),  # both legs
        (make_condition("R22.41", "icd10cm", recorded=iso(31)), False),  # not recent
    ],
)
def test_c12_needs_recent_swelling_of_one_leg(swelling: dict[str, Any], fires: bool) -> None:
    assert ("C12" in rule_ids(findings_for(swelling))) is fires


def test_c12_a_dvt_from_years_ago_never_says_exclude_dvt() -> None:
    old = make_condition("I82.401", "icd10cm", recorded="2012-01-01")
    assert findings_for(old) == []


def test_c12_a_recent_dvt_is_named_as_known() -> None:
    recent = make_condition("I82.401", "icd10cm", recorded=iso(20))
    [finding] = by_rule(findings_for(recent), "C12")
    assert (finding.template, finding.severity) == ("C12-known", Severity.WARNING)
