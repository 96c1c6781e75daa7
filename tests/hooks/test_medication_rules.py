"""Family A rules, through the whole service: thresholds, windows, routes and conflicts."""

from __future__ import annotations

from typing import Any

import pytest

from hooks.findings import Family, Severity
from hooks.knowledge.schema import RuleState
from tests.builders import (
    by_rule,
    findings_for,
    iso,
    knowledge,
    make_condition,
    make_med_request,
    make_med_statement,
    make_observation,
    make_patient,
    rule_ids,
)

HCTZ = make_med_request("316049", "Hydrochlorothiazide 25 MG", authored=iso(400))


def _k(value: float, days: float = 5, **kwargs: object) -> dict[str, Any]:
    return make_observation("6298-4", value, when=iso(days), **kwargs)  # type: ignore[arg-type]


def _mg(value: float, unit: str = "mg/dL", days: float = 5, **kwargs: object) -> dict[str, Any]:
    return make_observation("19123-9", value, unit, when=iso(days), **kwargs)  # type: ignore[arg-type]


# --- A1 / A1b --------------------------------------------------------------------------------


def test_a1_diuretic_with_no_k_or_mg_suggests_bmp_and_magnesium() -> None:
    [finding] = findings_for(HCTZ)
    assert finding.rule_id == "A1"
    assert finding.severity is Severity.INFO
    assert finding.items == {"drug": ("hydrochlorothiazide",), "analyte": ("K", "Mg")}
    assert finding.orders == ("bmp", "magnesium")


@pytest.mark.parametrize(("days", "missing"), [(90, ("Mg",)), (90.0001, ("K", "Mg"))])
def test_a1_potassium_counts_only_within_90_days(days: float, missing: tuple[str, ...]) -> None:
    [finding] = by_rule(findings_for(HCTZ, _k(4.2, days)), "A1")
    assert finding.items["analyte"] == missing


def test_a1_silent_when_both_k_and_mg_are_recent_and_normal() -> None:
    assert findings_for(HCTZ, _k(4.2), _mg(2.0)) == []


def test_a1_counts_a_k_with_an_unconvertible_unit_as_missing_and_says_why() -> None:
    [finding] = by_rule(findings_for(HCTZ, _k(4.2, unit="mg"), _mg(2.0)), "A1")
    assert finding.items["analyte"] == ("K",)
    assert "cannot be converted" in finding.caveats[0]


def test_a1_ignores_a_stopped_diuretic() -> None:
    stopped = make_med_request("316049", status="stopped", authored=iso(20))
    assert findings_for(stopped) == []


@pytest.mark.parametrize(
    ("value", "severity"),
    [
        (3.4, Severity.WARNING),
        (2.8, Severity.WARNING),
        (2.79, Severity.CRITICAL),  # Kost's critical limit: the laboratory sent no flag
        (2.49, Severity.CRITICAL),
    ],
)
def test_a1b_low_k_after_diuretic_start_is_one_finding_naming_both(
    value: float, severity: Severity
) -> None:
    findings = findings_for(HCTZ, _k(value), _mg(2.0))
    assert rule_ids(findings) == {"A1b"}  # B1 is superseded for the same Observation
    [finding] = findings
    assert finding.severity is severity
    assert finding.family is Family.MEDICATIONS
    assert finding.items["drug"] == ("hydrochlorothiazide",)
    assert finding.values["value"] == f"{value:g}"


def test_a1b_k_of_exactly_3_5_is_not_low() -> None:
    assert findings_for(HCTZ, _k(3.5), _mg(2.0)) == []


def test_a1b_low_k_taken_before_the_diuretic_started_is_left_to_b1() -> None:
    new_drug = make_med_request("316049", authored=iso(2))
    findings = findings_for(new_drug, _k(3.2, days=5), _mg(2.0))
    assert rule_ids(findings) == {"B1"}


@pytest.mark.parametrize(
    ("value", "unit", "low"),
    [
        (1.6, "mg/dL", True),
        (1.7, "mg/dL", False),
        (0.69, "mmol/L", True),
        (0.70, "mmol/L", False),
    ],
)
def test_a1b_magnesium_cut_off_in_the_reported_unit(value: float, unit: str, low: bool) -> None:
    findings = findings_for(HCTZ, _k(4.2), _mg(value, unit))
    assert ("A1b" in rule_ids(findings)) is low


def test_a1b_lab_range_overrides_the_default() -> None:
    findings = findings_for(HCTZ, _k(3.55, low=3.6), _mg(2.0))
    [finding] = by_rule(findings, "A1b")
    assert "laboratory range" in (finding.evidence[0].threshold or "")


# --- A2 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("days", "fires"), [(366, True), (365, False)])
def test_a2_ppi_first_recorded_over_a_year_ago(days: int, fires: bool) -> None:
    ppi = make_med_request("7646", authored=iso(days))
    assert ("A2" in rule_ids(findings_for(ppi))) is fires


def test_a2_dates_use_from_the_start_of_continuous_use_across_yearly_renewals() -> None:
    renewals = [
        make_med_request("7646", status="stopped", authored=iso(days)) for days in (760, 395)
    ]
    current = make_med_request("7646", authored=iso(30))
    [finding] = by_rule(findings_for(*renewals, current), "A2")
    assert finding.evidence[0].when is not None
    assert finding.evidence[0].when.isoformat() == iso(760)


def test_a2_a_restart_after_a_long_gap_is_a_new_course() -> None:
    old = make_med_request("7646", status="stopped", authored=iso(800))
    restart = make_med_request("7646", authored=iso(30))
    assert "A2" not in rule_ids(findings_for(old, restart))


def test_a2_without_a_start_date_fires_and_says_so() -> None:
    [finding] = by_rule(findings_for(make_med_request("7646", authored=None)), "A2")
    assert "no start date" in finding.caveats[0]


def test_a2_silent_with_a_magnesium_in_the_last_year() -> None:
    ppi = make_med_request("7646", authored=iso(800))
    assert "A2" not in rule_ids(findings_for(ppi, _mg(2.0, days=300)))


# --- A3 --------------------------------------------------------------------------------------


def test_a3_statin_suggests_ck_and_tsh() -> None:
    [finding] = findings_for(make_med_request("316672", "Simvistatin 10 MG"))
    assert (finding.rule_id, finding.template, finding.severity) == ("A3", "A3", Severity.INFO)
    assert finding.items["drug"] == ("simvastatin",)
    assert finding.orders == ("ck", "tsh")


def test_a3_with_a_recent_tsh_orders_only_ck() -> None:
    tsh = make_observation("3016-3", 2.0, "m[IU]/L", when=iso(100))
    [finding] = by_rule(findings_for(make_med_request("83367"), tsh), "A3")
    assert finding.orders == ("ck",)


@pytest.mark.parametrize(
    ("ck", "template", "severity"),
    [
        (201, "A3-ck", Severity.INFO),
        (1000, "A3-ck", Severity.INFO),
        (1001, "A3-ck", Severity.WARNING),
        (2000, "A3-ck", Severity.WARNING),
        (2001, "A3-critical", Severity.CRITICAL),
    ],
)
def test_a3_ck_graded_against_the_lab_upper_limit(
    ck: float, template: str, severity: Severity
) -> None:
    observation = make_observation("2157-6", ck, "U/L", when=iso(3), high=200)
    findings = findings_for(make_med_request("83367"), observation)
    assert rule_ids(findings) == {"A3"}  # B6 superseded for this CK
    [finding] = findings
    assert (finding.template, finding.severity) == (template, severity)


def test_a3_above_ten_times_says_stop_now_and_keeps_the_rhabdomyolysis_work_up() -> None:
    observation = make_observation("2157-6", 12000, "U/L", when=iso(3), high=200)
    [finding] = findings_for(make_med_request("83367"), observation)
    assert finding.template == "A3-critical"
    # B6's orders move to the statin finding that supersedes it (issue 8 §4).
    assert set(finding.orders) == {"bmp", "urinalysis", "ck"}
    assert finding.reason is not None
    assert finding.reason.code == "240131006"  # rhabdomyolysis


def test_a3_a_normal_ck_says_look_elsewhere_and_orders_no_ck() -> None:
    observation = make_observation("2157-6", 200, "U/L", when=iso(3), high=200)
    [finding] = findings_for(make_med_request("83367"), observation)
    assert (finding.template, finding.severity) == ("A3-normal", Severity.INFO)
    assert "ck" not in finding.orders


@pytest.mark.parametrize(
    ("sex", "ck", "severity"),
    [
        (None, 3080, Severity.WARNING),  # sex unknown: the men's limit, 308 U/L
        (None, 3081, Severity.CRITICAL),
        ("male", 3081, Severity.CRITICAL),
        ("female", 1920, Severity.WARNING),  # women: 192 U/L
        ("female", 1921, Severity.CRITICAL),
    ],
)
def test_a3_without_a_range_uses_the_sex_specific_default_limit(
    sex: str | None, ck: float, severity: Severity
) -> None:
    patient = make_patient()
    if sex:
        patient["gender"] = sex
    observation = make_observation("2157-6", ck, "U/L", when=iso(3))
    [finding] = findings_for(make_med_request("83367"), observation, patient=patient)
    assert finding.severity is severity
    assert finding.values["n"] == "10"  # one decimal: 10.0 and 10.003 both read "10"


@pytest.mark.parametrize(("days", "template"), [(90, "A3-ck"), (90.001, "A3-stale")])
def test_a3_a_ck_older_than_90_days_only_asks_for_a_recheck(days: float, template: str) -> None:
    observation = make_observation("2157-6", 900, "U/L", when=iso(days), high=200)
    [finding] = by_rule(findings_for(make_med_request("83367"), observation), "A3")
    assert finding.template == template
    if template == "A3-stale":
        assert (finding.severity, finding.orders) == (Severity.INFO, ("ck",))


def test_a3_new_weakness_without_a_ck_says_stop_until_evaluated() -> None:
    weakness = make_condition("26544005")
    [finding] = by_rule(findings_for(make_med_request("83367"), weakness), "A3")
    assert (finding.template, finding.severity) == ("A3-weak", Severity.WARNING)
    assert finding.orders == ("ck", "bmp", "urinalysis")


def test_a3_old_weakness_is_not_new() -> None:
    weakness = make_condition("26544005", recorded=iso(31))
    [finding] = by_rule(findings_for(make_med_request("83367"), weakness), "A3")
    assert finding.template == "A3"


def test_a3_dates_a_renewed_statin_from_its_first_order_and_says_year_one_has_passed() -> None:
    renewals = [
        make_med_request("316672", "Simvistatin 10 MG", status="stopped", authored=iso(days))
        for days in (365 * 3, 365 * 2, 365)
    ]
    current = make_med_request("316672", "Simvistatin 10 MG", authored=iso(2))
    [finding] = by_rule(findings_for(*renewals, current), "A3")
    assert finding.evidence[0].when is not None
    assert finding.evidence[0].when.isoformat() == iso(365 * 3)
    assert any("first year" in caveat for caveat in finding.caveats)
    assert any("atypical" in caveat for caveat in finding.caveats)


# --- A4 --------------------------------------------------------------------------------------


def test_a4_laba_cites_garrison_and_saba_cites_labelling_without_tests() -> None:
    laba = make_med_request("896209")
    saba = make_med_request("745679")
    findings = findings_for(laba, saba)
    assert {(f.rule_id, f.sources, f.orders) for f in findings} == {
        ("A4", ("GAR",), ("bmp",)),
        ("A4s", ("VENTOLIN-PI",), ()),
    }


def test_a4s_inhaled_beta_agonist_counts_as_systemic() -> None:
    inhaler = make_med_request(text="albuterol 90 MCG/ACTUAT Metered Dose Inhaler")
    assert "A4s" in rule_ids(findings_for(inhaler))


def test_a4s_a_child_with_an_inhaler_gets_no_lab_order_and_no_adult_laba_evidence() -> None:
    child = make_patient(birth_date="2013-01-01")
    findings = findings_for(make_med_request("745679"), make_med_request("896209"), patient=child)
    assert rule_ids(findings) == {"A4s"}
    assert all(f.orders == () for f in findings)


def test_a4_recent_potassium_drops_the_bmp_order() -> None:
    [finding] = by_rule(findings_for(make_med_request("896209"), _k(4.0)), "A4")
    assert finding.orders == ()


def test_an_inhaler_ordered_decades_ago_and_never_renewed_is_not_current_exposure() -> None:
    old = make_med_request("745679", authored="1981-07-12T00:11:58+00:00")
    assert findings_for(old) == []


@pytest.mark.parametrize(("days", "current"), [(400, True), (400.01, False)])
def test_an_active_order_counts_only_with_a_sign_of_use_in_400_days(
    days: float, current: bool
) -> None:
    assert bool(findings_for(make_med_request("9071", authored=iso(days)))) is current


def test_an_order_dated_before_the_patient_was_born_is_ignored() -> None:
    quinine = make_med_request("9071", authored="1995-01-01T00:00:00+00:00")
    assert findings_for(quinine, patient=make_patient(birth_date="2009-03-01")) == []


# --- A5, A6 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_kwargs",
    [
        {"text": "Naproxen sodium 220 MG Oral Tablet"},
        {"rxnorm": "310197"},
        {"text": "Evista 60 MG"},
        {"rxnorm": "32915"},
        {"text": "Venofer 20 MG/ML Injection"},
    ],
)
def test_a5_afp_2012_drugs(request_kwargs: dict[str, Any]) -> None:
    [finding] = findings_for(make_med_request(**request_kwargs))
    assert (finding.rule_id, finding.sources) == ("A5", ("AFP",))


def test_a5_estradiol_contraceptive_patch_is_not_conjugated_estrogens() -> None:
    patch = make_med_request(
        "1534809",
        "168 HR Ethinyl Estradiol 0.00146 MG/HR / norelgestromin 0.00625 MG/HR Transdermal System",
    )
    assert findings_for(patch) == []


@pytest.mark.parametrize(("days", "fires"), [(14, True), (13.9, False)])
def test_a6_systemic_steroid_for_at_least_14_days(days: float, fires: bool) -> None:
    prednisone = make_med_request("312617", authored=iso(days))
    assert ("A6" in rule_ids(findings_for(prednisone))) is fires


def test_a6_fludrocortisone_counts_from_day_one() -> None:
    assert "A6" in rule_ids(
        findings_for(make_med_request(text="fludrocortisone 0.1 MG", authored=iso(1)))
    )


@pytest.mark.parametrize(
    "text", ["prednisolone acetate 1 % Ophthalmic Suspension", "hydrocortisone 1 % Topical Cream"]
)
def test_a6_local_steroids_do_not_fire(text: str) -> None:
    assert findings_for(make_med_request(text=text, authored=iso(60))) == []


def test_a6_steroid_with_local_forms_and_no_route_says_so_at_info() -> None:
    [finding] = findings_for(make_med_request(text="hydrocortisone 10 MG", authored=iso(60)))
    assert finding.severity is Severity.INFO
    assert "applies only if it is taken systemically" in finding.caveats[0]


def test_a6_stopped_prednisone_like_synthea_does_not_fire() -> None:
    assert findings_for(make_med_request("312617", status="stopped", authored=iso(60))) == []


# --- A7 --------------------------------------------------------------------------------------


def test_a7_oral_tacrolimus_without_magnesium_is_a_warning() -> None:
    [finding] = findings_for(make_med_request("42316", route="Oral"))
    assert (finding.rule_id, finding.severity) == ("A7", Severity.WARNING)
    assert finding.orders == ("magnesium", "bmp", "ionized_calcium")


def test_a7_topical_tacrolimus_does_not_fire() -> None:
    assert findings_for(make_med_request(text="tacrolimus 0.1 % Topical Ointment")) == []


def test_a7_tacrolimus_without_route_is_said_not_warned() -> None:
    [finding] = findings_for(make_med_request("42316"))
    assert finding.severity is Severity.INFO
    assert finding.caveats


@pytest.mark.parametrize(("days", "fires"), [(180, True), (180.001, False)])
def test_a7_completed_cisplatin_within_six_months(days: float, fires: bool) -> None:
    course = make_med_statement(
        "2555", status="completed", start=iso(200), end=iso(days), route="Intravenous"
    )
    assert ("A7" in rule_ids(findings_for(course))) is fires


def test_a7_silent_with_a_recent_magnesium() -> None:
    assert findings_for(make_med_request("42316", route="Oral"), _mg(2.0)) == []


# --- A8-A12 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_kwargs", "fires"),
    [
        ({"rxnorm": "42351"}, True),
        ({"rxnorm": "52105"}, True),
        ({"text": "Lithium carbonate 300 MG"}, True),
        ({"text": "lithium orotate 5 MG"}, False),
    ],
)
def test_a8_lithium_but_not_the_orotate_supplement(
    request_kwargs: dict[str, Any], fires: bool
) -> None:
    assert ("A8" in rule_ids(findings_for(make_med_request(**request_kwargs)))) is fires


def test_a9_methylphenidate_from_its_vsac_product_code() -> None:
    [finding] = findings_for(make_med_request("1091392"))
    assert (finding.rule_id, finding.items["drug"]) == ("A9", ("methylphenidate",))


def _knee_pain() -> dict[str, Any]:
    return make_condition("M25.561", "icd10cm")


@pytest.mark.parametrize(
    ("days", "knee", "fires"),
    [
        (30, True, True),
        (30.001, True, False),
        (5, False, False),
    ],
)
def test_a10_fluoroquinolone_within_30_days_with_knee_context(
    days: float, knee: bool, fires: bool
) -> None:
    course = make_med_request("2551", status="completed", authored=iso(days), route="Oral")
    extra = [_knee_pain()] if knee else []
    findings = findings_for(course, *extra)
    assert ("A10" in rule_ids(findings)) is fires
    if fires:
        assert by_rule(findings, "A10")[0].severity is Severity.WARNING


def test_a10_ciprofloxacin_without_a_route_is_said_not_warned() -> None:
    [finding] = findings_for(make_med_request("2551", authored=iso(3)), _knee_pain())
    assert (finding.rule_id, finding.severity) == ("A10", Severity.INFO)
    assert "applies only if it is taken systemically" in finding.caveats[0]


def test_a10_ciprofloxacin_ear_drops_do_not_fire() -> None:
    drops = make_med_request(text="ciprofloxacin 0.2 % Otic Solution", authored=iso(3))
    assert findings_for(drops, _knee_pain()) == []


def test_a11_is_disabled_until_it_has_a_verified_source() -> None:
    assert knowledge().rule("A11").state is RuleState.OFF
    assert findings_for(make_med_request(text="Alendronic acid 10 MG Oral Tablet")) == []


def test_alendronate_with_a_normal_calcium_on_file_asks_for_nothing() -> None:
    calcium = make_observation("17861-6", 9.4, "mg/dL", when=iso(20))
    assert findings_for(make_med_request(text="alendronate 70 MG"), calcium) == []


def test_a12_quinine_is_a_warning_without_an_automatic_action() -> None:
    [finding] = findings_for(make_med_request("9071"))
    assert (finding.rule_id, finding.severity, finding.orders) == ("A12", Severity.WARNING, ())


def test_drug_lists_name_each_ingredient_once() -> None:
    findings = findings_for(
        make_med_request("316049"), make_med_request("310798"), make_med_request("4603")
    )
    [finding] = by_rule(findings, "A1")
    assert finding.items["drug"] == ("hydrochlorothiazide", "furosemide")


# --- A13 statin interactions, A14 NSAIDs in pregnancy --------------------------------------------


@pytest.mark.parametrize(
    ("partner", "limit", "strength", "severity"),
    [
        ("verapamil 80 MG Oral Tablet", "10", 10, None),
        ("verapamil 80 MG Oral Tablet", "10", 20, Severity.WARNING),
        ("amiodarone 200 MG Oral Tablet", "20", 20, None),
        ("ranolazine 500 MG Extended Release Oral Tablet", "20", 40, Severity.WARNING),
    ],
)
def test_a13_simvastatin_dose_limits(
    partner: str, limit: str, strength: int, severity: Severity | None
) -> None:
    simvastatin = make_med_request(text=f"simvastatin {strength} MG Oral Tablet", authored=iso(30))
    findings = by_rule(findings_for(simvastatin, make_med_request(text=partner)), "A13")
    assert [f.severity for f in findings] == ([severity] if severity else [])
    if severity:
        assert (findings[0].template, findings[0].values["value"]) == ("A13-dose", limit)


def test_a13_a_strength_that_cannot_be_read_is_said_not_guessed() -> None:
    simvastatin = make_med_request("36567", "simvastatin", authored=iso(30))
    [finding] = by_rule(findings_for(simvastatin, make_med_request(text="diltiazem 120 MG")), "A13")
    assert finding.severity is Severity.INFO
    assert "strength could not be read" in finding.caveats[-1]


def test_a13_gemfibrozil_with_simvastatin_is_contraindicated_with_atorvastatin_a_caution() -> None:
    gemfibrozil = make_med_request(text="gemfibrozil 600 MG Oral Tablet")
    simvastatin = make_med_request(text="simvastatin 20 MG Oral Tablet")
    [contra] = by_rule(findings_for(simvastatin, gemfibrozil), "A13")
    assert (contra.template, contra.severity) == ("A13", Severity.WARNING)
    atorvastatin = make_med_request("83367")
    [caution] = by_rule(findings_for(atorvastatin, gemfibrozil), "A13")
    assert (caution.template, caution.severity) == ("A13-fibrate", Severity.INFO)


@pytest.mark.parametrize(
    ("coded", "days_ago", "fires"),
    [("Z3A.20", 1, True), ("Z3A.19", 1, False), ("Z3A.18", 14, True), ("Z3A.17", 14, False)],
)
def test_a14_nsaid_from_20_weeks_counting_the_weeks_since_the_code(
    coded: str, days_ago: float, fires: bool
) -> None:
    weeks = make_condition(coded, "icd10cm", recorded=iso(days_ago))
    naproxen = make_med_request(text="naproxen 500 MG Oral Tablet")
    assert ("A14" in rule_ids(findings_for(weeks, naproxen))) is fires


def test_a14_eye_drop_nsaids_are_exempt() -> None:
    weeks = make_condition("Z3A.30", "icd10cm", recorded=iso(1))
    drops = make_med_request(text="ketorolac 0.5 % Ophthalmic Solution")
    assert "A14" not in rule_ids(findings_for(weeks, drops))


def test_a14_a_not_pregnant_status_after_the_code_ends_the_pregnancy() -> None:
    weeks = make_condition("Z3A.30", "icd10cm", recorded=iso(100))
    status = make_observation("82810-3", None, when=iso(5))
    status["valueCodeableConcept"] = {
        "coding": [{"system": "http://loinc.org", "code": "LA26683-5", "display": "Not pregnant"}]
    }
    naproxen = make_med_request(text="naproxen 500 MG Oral Tablet")
    assert "A14" not in rule_ids(findings_for(weeks, status, naproxen))
