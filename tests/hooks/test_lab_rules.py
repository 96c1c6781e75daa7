"""Family B rules: every threshold and window edge, both sides; flags, ranges, ages, units.

Grading order (labs.yaml): the laboratory's interpretation code, then its range, then the
default for the patient's age band; critical limits, recency and replacement safety on top.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from hooks.findings import FindingStatus, Severity
from hooks.knowledge.schema import RuleState
from tests.builders import (
    by_rule,
    concept,
    findings_for,
    iso,
    knowledge,
    make_condition,
    make_med_request,
    make_observation,
    make_patient,
    rule_ids,
)

CHILD = make_patient(birth_date="2012-06-01")  # 8 years old on 2021-04-01
INFANT = make_patient(birth_date="2020-10-01")
NO_AGE = make_patient(birth_date=None)
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"


def _obs(loinc: str, value: float, unit: str, days: float = 5, **kwargs: Any) -> dict[str, Any]:
    return make_observation(loinc, value, unit, when=iso(days), **kwargs)


def _flagged(
    observation: dict[str, Any], code: str, system: str = INTERPRETATION
) -> dict[str, Any]:
    return {**observation, "interpretation": [concept(code, system)]}


def _k(value: float, days: float = 5, **kwargs: Any) -> dict[str, Any]:
    return _obs("2823-3", value, "mmol/L", days, **kwargs)


def _severities(findings: list[Any], rule: str) -> list[Severity]:
    return [f.severity for f in by_rule(findings, rule)]


# --- B1 potassium, low ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "severity"),
    [
        (3.5, None),
        (3.49, Severity.WARNING),
        (2.8, Severity.WARNING),
        (2.79, Severity.CRITICAL),  # Kost's critical limit: the laboratory sent no flag
        (2.49, Severity.CRITICAL),
    ],
)
def test_b1_potassium_adult_defaults(value: float, severity: Severity | None) -> None:
    assert _severities(findings_for(_k(value)), "B1") == ([severity] if severity else [])


@pytest.mark.parametrize(
    ("value", "flag", "severity"),
    [
        (2.7, "L", Severity.WARNING),  # the lab's own call replaces Kost's fallback
        (3.6, "L", Severity.WARNING),  # and its "low" wins over the default
        (3.0, "N", None),
        (2.9, "LL", Severity.CRITICAL),
        (2.4, "L", Severity.CRITICAL),  # below 2.5 is always critical (StatPearls)
        (2.3, "N", Severity.CRITICAL),  # an always-critical value is never reassured away
        (3.2, "AA", Severity.CRITICAL),
    ],
)
def test_b1_the_laboratory_flag_comes_before_any_default(
    value: float, flag: str, severity: Severity | None
) -> None:
    findings = findings_for(_flagged(_k(value), flag))
    assert _severities(findings, "B1") == ([severity] if severity else [])


def test_b1_legacy_v2_interpretation_system_is_accepted() -> None:
    legacy = _flagged(_k(3.0), "LL", "http://hl7.org/fhir/v2/0078")
    assert _severities(findings_for(legacy), "B1") == [Severity.CRITICAL]


def test_b1_meq_per_l_is_the_same_scale() -> None:
    [finding] = findings_for(_obs("2823-3", 3.2, "mEq/L", code=None))
    assert finding.rule_id == "B1"
    assert finding.values["unit"] == "mEq/L"
    assert finding.evidence[0].value == "3.2 mmol/L"
    assert finding.evidence[0].original == "3.2 mEq/L"


@pytest.mark.parametrize(("value", "low", "fires"), [(3.55, 3.6, True), (3.4, 3.2, False)])
def test_b1_laboratory_range_overrides_the_default(value: float, low: float, fires: bool) -> None:
    assert ("B1" in rule_ids(findings_for(_k(value, low=low)))) is fires


@pytest.mark.parametrize(
    ("days", "template", "severity"),
    [(90, "B1", Severity.WARNING), (90.001, "B1-stale", Severity.INFO)],
)
def test_b1_only_a_result_from_the_last_90_days_is_acted_on(
    days: float, template: str, severity: Severity
) -> None:
    [finding] = findings_for(_k(2.9, days))
    assert (finding.template, finding.severity) == (template, severity)


def test_b1_eleven_month_old_low_potassium_says_recheck_with_its_age_never_replete() -> None:
    [finding] = findings_for(_k(2.9, 335))
    assert (finding.template, finding.severity) == ("B1-stale", Severity.INFO)
    assert finding.values["age"] == "11 months"
    assert finding.orders == ("bmp",)  # the recheck only


@pytest.mark.parametrize(("days", "shown"), [(365, True), (365.001, False)])
def test_b1_results_older_than_a_year_are_not_shown(days: float, shown: bool) -> None:
    assert bool(findings_for(_k(3.0, days))) is shown


def test_b1_unconvertible_unit_is_listed_never_carded() -> None:
    [finding] = findings_for(_obs("2823-3", 3.0, "mg/dL"))
    assert finding.status is FindingStatus.NO_CONCLUSION
    assert "cannot be converted" in finding.caveats[0]


def test_b1_a_newer_unusable_result_is_named_beside_the_usable_one() -> None:
    usable = _k(3.1, 10)
    newer = _obs("2823-3", 3.0, "mg/dL", 2)
    [finding] = findings_for(usable, newer)
    assert finding.subject == ("potassium", usable["id"])
    assert any("cannot be converted" in caveat for caveat in finding.caveats)


def test_b1_the_latest_usable_result_wins_at_the_same_time() -> None:
    when = iso(3)
    unusable = make_observation("2823-3", 2.0, "mg/dL", when=when)
    usable = make_observation("2823-3", 3.1, "mmol/L", when=when)
    [finding] = findings_for(unusable, usable)
    assert finding.subject == ("potassium", usable["id"])


# --- children and unknown ages -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "severity"),
    [
        (4.0, None),
        (3.5, None),
        (3.4, Severity.WARNING),  # the 1-16 y default (PedSAP)
        (2.8, Severity.WARNING),
        (2.3, Severity.CRITICAL),  # Kost 1991: children's critical limit, no range needed
    ],
)
def test_b1_a_child_of_eight_is_graded_by_age_band_and_childrens_critical_limits(
    value: float, severity: Severity | None
) -> None:
    findings = findings_for(_k(value), patient=CHILD)
    assert _severities(findings, "B1") == ([severity] if severity else [])


def test_b1_a_childs_critical_value_is_critical_with_a_laboratory_range_too() -> None:
    [finding] = findings_for(_k(2.3, low=3.4), patient=CHILD)
    assert (finding.template, finding.severity) == ("B1-critical", Severity.CRITICAL)


@pytest.mark.parametrize(("patient", "reason"), [(INFANT, "under 1 year"), (NO_AGE, "age unknown")])
def test_b1_an_infant_or_an_unknown_age_is_shown_ungraded_and_says_why(
    patient: dict[str, Any], reason: str
) -> None:
    [finding] = findings_for(_k(3.0), patient=patient)
    assert (finding.template, finding.status, finding.severity) == (
        "ungraded",
        FindingStatus.UNGRADED,
        Severity.INFO,
    )
    assert reason in (finding.evidence[0].threshold or "")
    assert "paediatric" not in (finding.evidence[0].threshold or "")


# --- escalation and replacement safety -----------------------------------------------------------

DIGOXIN = make_med_request("3407", "digoxin 0.125 MG Oral Tablet", route="oral")


@pytest.mark.parametrize(
    ("value", "context", "severity"),
    [
        (3.0, DIGOXIN, Severity.WARNING),  # escalation needs K < 3.0
        (2.95, DIGOXIN, Severity.CRITICAL),
        (2.95, make_condition("I50.9", "icd10cm", display="Heart failure"), Severity.CRITICAL),
        (2.95, make_condition("49436004", display="Atrial fibrillation"), Severity.CRITICAL),
        (2.95, make_med_request("2556", "citalopram 20 MG"), Severity.CRITICAL),
        (2.95, make_condition("26544005", recorded=iso(10)), Severity.CRITICAL),
        (2.95, make_condition("26544005", recorded=iso(40)), Severity.WARNING),  # not new
    ],
)
def test_b1_escalates_with_digoxin_qt_drugs_heart_disease_or_new_weakness(
    value: float, context: dict[str, Any], severity: Severity
) -> None:
    [finding] = by_rule(findings_for(_k(value), context), "B1")
    assert finding.severity is severity
    if severity is Severity.CRITICAL:
        assert finding.template == "B1-critical"
        assert "ecg" in finding.orders
        assert any(e.note and "raises the urgency" in e.note for e in finding.evidence)


def test_b1_a_low_magnesium_too_says_potassium_will_not_correct_until_magnesium_does() -> None:
    findings = findings_for(_k(3.1), _obs("19123-9", 1.4, "mg/dL"))
    [potassium] = by_rule(findings, "B1")
    assert any("will not correct until magnesium" in c for c in potassium.caveats)
    assert "magnesium" not in potassium.orders  # a recent magnesium is on file


@pytest.mark.parametrize(
    ("context", "reason"),
    [
        ([make_condition("N18.4", "icd10cm", display="CKD stage 4")], "CKD stage 4-5"),
        ([make_condition("Z99.2", "icd10cm", display="Dependence on dialysis")], "CKD stage 4-5"),
        ([_obs("98979-8", 25, "mL/min/{1.73_m2}")], "eGFR below 30"),
        ([make_med_request(text="potassium chloride 20 MEQ Oral Tablet")], "already on"),
        (
            [
                make_med_request("9997", "spironolactone 25 MG", authored=iso(200)),
                make_med_request("29046", "lisinopril 10 MG", authored=iso(200)),
            ],
            "on spironolactone, lisinopril",
        ),
    ],
)
def test_b1_never_advises_replacement_where_it_is_unsafe(
    context: list[dict[str, Any]], reason: str
) -> None:
    [finding] = by_rule(findings_for(_k(3.1, 2), *context), "B1")
    assert (finding.template, finding.severity) == ("B1-caution", Severity.WARNING)
    assert reason in finding.values["reason"]


def test_b1_unsafe_and_critical_is_critical_and_says_so() -> None:
    ckd = make_condition("N18.5", "icd10cm", display="CKD stage 5")
    [finding] = by_rule(findings_for(_k(2.3, 2), ckd), "B1")
    assert (finding.template, finding.severity) == ("B1-critical-caution", Severity.CRITICAL)


@pytest.mark.parametrize(("days", "template"), [(7, "B1"), (7.001, "B1-first")])
def test_b1_on_a_ras_inhibitor_needs_a_result_from_the_last_week(
    days: float, template: str
) -> None:
    lisinopril = make_med_request("29046", "lisinopril 10 MG", authored=iso(200))
    [finding] = by_rule(findings_for(_k(3.1, days), lisinopril), "B1")
    assert finding.template == template


def test_b1_a_result_taken_before_a_potassium_altering_drug_started_says_recheck_first() -> None:
    spironolactone = make_med_request("9997", "spironolactone 25 MG", authored=iso(2))
    [finding] = by_rule(findings_for(_k(3.1, 5), spironolactone), "B1")
    assert finding.template == "B1-first"
    assert "taken before spironolactone was started" in finding.values["reason"]


# --- B1h potassium, high -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "severity"),
    [
        (5.49, None),
        (5.5, Severity.WARNING),
        (5.99, Severity.WARNING),
        (6.0, Severity.CRITICAL),  # UKKA: urgent ECG at >= 6.0
        (6.4, Severity.CRITICAL),
    ],
)
def test_b1h_high_potassium_adults(value: float, severity: Severity | None) -> None:
    assert _severities(findings_for(_k(value)), "B1h") == ([severity] if severity else [])


def test_b1h_hh_flag_is_critical_below_six() -> None:
    assert _severities(findings_for(_flagged(_k(5.8), "HH")), "B1h") == [Severity.CRITICAL]


def test_b1h_names_the_drugs_to_withhold() -> None:
    drugs = [
        make_med_request("9997", "spironolactone 25 MG", authored=iso(200)),
        make_med_request("29046", "lisinopril 10 MG", authored=iso(200)),
    ]
    [finding] = by_rule(findings_for(_k(5.7), *drugs), "B1h")
    assert finding.template == "B1h-drug"
    assert finding.items["drug"] == ("spironolactone", "lisinopril")


def test_b1h_critical_orders_an_ecg_stat_worthy() -> None:
    [finding] = by_rule(findings_for(_k(6.4)), "B1h")
    assert finding.template == "B1h-critical"
    assert "ecg" in finding.orders
    assert finding.reason is not None
    assert finding.reason.code == "14140009"  # hyperkalaemia


@pytest.mark.parametrize(
    ("value", "severity"), [(5.1, None), (5.2, Severity.WARNING), (6.41, Severity.CRITICAL)]
)
def test_b1h_children_by_age_band(value: float, severity: Severity | None) -> None:
    findings = findings_for(_k(value), patient=CHILD)
    assert _severities(findings, "B1h") == ([severity] if severity else [])


# --- B2 magnesium ---------------------------------------------------------------------------------


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
    findings = findings_for(_obs(loinc, value, unit))
    assert _severities(findings, "B2") == ([severity] if severity else [])


def test_b2_on_a_ppi_says_consider_stopping_or_switching_it() -> None:
    omeprazole = make_med_request("7646", authored=iso(30))
    [finding] = by_rule(findings_for(_obs("19123-9", 1.5, "mg/dL"), omeprazole), "B2")
    assert finding.template == "B2-ppi"
    assert finding.items["drug"] == ("omeprazole",)


def test_b2_any_low_magnesium_with_digoxin_is_critical() -> None:
    [finding] = by_rule(findings_for(_obs("19123-9", 1.6, "mg/dL"), DIGOXIN), "B2")
    assert (finding.template, finding.severity) == ("B2-critical", Severity.CRITICAL)


def test_b2_an_active_magnesium_supplement_means_no_empiric_replacement() -> None:
    supplement = make_med_request(text="magnesium oxide 400 MG Oral Tablet")
    [finding] = by_rule(findings_for(_obs("19123-9", 1.5, "mg/dL", 2), supplement), "B2")
    assert finding.template == "B2-caution"


# --- B2h magnesium, high -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "severity"),
    [
        (1.10, "mmol/L", None),
        (1.11, "mmol/L", Severity.WARNING),
        (2.02, "mmol/L", Severity.WARNING),
        (2.03, "mmol/L", Severity.CRITICAL),  # Kost: no laboratory flag
        (4.2, "mg/dL", Severity.WARNING),  # the review's silent 4.2 mg/dL
        (4.9, "mg/dL", Severity.WARNING),
        (4.91, "mg/dL", Severity.CRITICAL),
    ],
)
def test_b2h_high_magnesium(value: float, unit: str, severity: Severity | None) -> None:
    findings = findings_for(_obs("2601-3", value, unit))
    assert _severities(findings, "B2h") == ([severity] if severity else [])


def test_b2h_names_a_magnesium_supplement() -> None:
    supplement = make_med_request(text="magnesium oxide 400 MG Oral Tablet")
    [finding] = by_rule(findings_for(_obs("19123-9", 4.2, "mg/dL"), supplement), "B2h")
    assert (finding.template, finding.items["drug"]) == ("B2h-drug", ("magnesium oxide",))


# --- B3 / B3b / B3h calcium ----------------------------------------------------------------------


def _albumin(value: float, unit: str = "g/dL", days: float = 5) -> dict[str, Any]:
    return _obs("1751-7", value, unit, days)


@pytest.mark.parametrize(
    ("calcium", "albumin", "label", "value"),
    [
        (8.0, 3.0, None, None),  # corrected 8.8: normal
        (8.0, 3.8, "Albumin-corrected calcium", "8.16"),  # corrected 8.16: low
        (8.2, 4.2, "Calcium", "8.2"),  # albumin not low: no correction
        (8.4, 4.0, "Calcium", "8.4"),  # exactly 4.0: no correction
    ],
)
def test_b3_total_calcium_is_corrected_only_for_low_albumin(
    calcium: float, albumin: float, label: str | None, value: str | None
) -> None:
    findings = findings_for(_obs("17861-6", calcium, "mg/dL"), _albumin(albumin))
    if label is None:
        assert findings == []
        return
    [finding] = findings
    assert (finding.template, finding.items["analyte"], finding.values["value"]) == (
        "B3",
        (label,),
        value,
    )


def test_b3_corrected_value_in_si_units() -> None:
    # 2.0 mmol/L = 8.016 mg/dL; albumin 30 g/L = 3.0 g/dL; corrected 8.816: normal.
    assert findings_for(_obs("2000-8", 2.0, "mmol/L"), _albumin(30, "g/L")) == []
    # 1.9 mmol/L = 7.615 mg/dL; albumin 38 g/L; corrected 7.775: low, not critical.
    [finding] = findings_for(_obs("2000-8", 1.9, "mmol/L"), _albumin(38, "g/L"))
    assert (finding.template, finding.severity) == ("B3", Severity.WARNING)


@pytest.mark.parametrize(
    ("calcium", "severity"), [(6.6, Severity.WARNING), (6.59, Severity.CRITICAL)]
)
def test_b3_critical_below_kost_without_a_flag(calcium: float, severity: Severity) -> None:
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


def test_b3b_a_critical_total_is_critical_even_without_albumin() -> None:
    [finding] = findings_for(_obs("17861-6", 6.0, "mg/dL"))
    assert (finding.template, finding.severity) == ("B3b-critical", Severity.CRITICAL)


@pytest.mark.parametrize(
    ("ionized", "severity"),
    [(1.16, None), (1.15, Severity.WARNING), (0.8, Severity.WARNING), (0.79, Severity.CRITICAL)],
)
def test_b3_ionized_calcium_the_same_day_is_preferred(
    ionized: float, severity: Severity | None
) -> None:
    findings = findings_for(_obs("17861-6", 8.2, "mg/dL"), _obs("1994-3", ionized, "mmol/L"))
    assert _severities(findings, "B3") == ([severity] if severity else [])
    if severity:
        assert by_rule(findings, "B3")[0].items["analyte"] == ("Ionized calcium",)


def test_b3_correction_in_ckd_carries_a_caveat() -> None:
    findings = findings_for(
        _obs("17861-6", 8.0, "mg/dL"), _albumin(3.8), make_condition("N18.3", "icd10cm")
    )
    [finding] = by_rule(findings, "B3")
    assert "unreliable in chronic kidney disease" in finding.caveats[0]


@pytest.mark.parametrize(
    ("calcium", "severity"),
    [
        (10.4, None),
        (10.41, Severity.WARNING),
        (12.8, Severity.WARNING),
        (12.9, Severity.WARNING),
        (12.91, Severity.CRITICAL),  # Kost, no laboratory flag
        (14.5, Severity.CRITICAL),
    ],
)
def test_b3h_high_calcium_adults(calcium: float, severity: Severity | None) -> None:
    findings = findings_for(_obs("17861-6", calcium, "mg/dL"))
    assert _severities(findings, "B3h") == ([severity] if severity else [])


def test_b3h_severe_is_critical_whatever_the_laboratory_flag() -> None:
    flagged = _flagged(_obs("17861-6", 14.0, "mg/dL"), "H")
    assert _severities(findings_for(flagged), "B3h") == [Severity.CRITICAL]


def test_b3h_names_thiazide_and_asks_for_pth() -> None:
    hctz = make_med_request("316049", "Hydrochlorothiazide 25 MG", authored=iso(100))
    [finding] = by_rule(findings_for(_obs("17861-6", 12.8, "mg/dL"), hctz), "B3h")
    assert (finding.template, finding.items["drug"]) == ("B3h-drug", ("hydrochlorothiazide",))
    assert "pth" in finding.orders


def test_b3h_lithium_with_a_severe_calcium_from_three_days_ago_is_critical() -> None:
    lithium = make_med_request("42351", "lithium carbonate 300 MG", authored=iso(100))
    [finding] = by_rule(findings_for(_obs("17861-6", 14.5, "mg/dL", 3), lithium), "B3h")
    assert (finding.template, finding.severity) == ("B3h-critical", Severity.CRITICAL)


@pytest.mark.parametrize(("ionized", "fires"), [(1.30, False), (1.31, True)])
def test_b3h_ionized(ionized: float, fires: bool) -> None:
    assert ("B3h" in rule_ids(findings_for(_obs("1994-3", ionized, "mmol/L")))) is fires


# --- B4 / B4h sodium -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "severity"),
    [
        (135, None),
        (134.9, Severity.WARNING),
        (125, Severity.WARNING),
        (124.9, Severity.CRITICAL),  # profound (Spasovski 2014)
    ],
)
def test_b4_sodium(value: float, severity: Severity | None) -> None:
    findings = findings_for(_obs("2947-0", value, "mmol/L"))
    assert _severities(findings, "B4") == ([severity] if severity else [])


def test_b4_names_a_thiazide_only_when_one_is_prescribed() -> None:
    [plain] = by_rule(findings_for(_obs("2947-0", 130, "mmol/L")), "B4")
    assert plain.template == "B4"
    hctz = make_med_request("316049", "Hydrochlorothiazide 25 MG", authored=iso(100))
    [named] = by_rule(findings_for(_obs("2947-0", 130, "mmol/L"), hctz), "B4")
    assert (named.template, named.items["drug"]) == ("B4-drug", ("hydrochlorothiazide",))


@pytest.mark.parametrize(
    ("value", "severity"),
    [
        (145, None),
        (145.1, Severity.WARNING),
        (158, Severity.WARNING),
        (158.1, Severity.CRITICAL),
    ],
)
def test_b4h_high_sodium(value: float, severity: Severity | None) -> None:
    findings = findings_for(_obs("2947-0", value, "mmol/L"))
    assert _severities(findings, "B4h") == ([severity] if severity else [])


def test_b4h_a_child_above_kost_1991_is_critical() -> None:
    findings = findings_for(_obs("2947-0", 156.1, "mmol/L"), patient=CHILD)
    assert _severities(findings, "B4h") == [Severity.CRITICAL]


# --- B5 vitamin D ---------------------------------------------------------------------------------


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


@pytest.mark.parametrize(
    ("days", "template"), [(365, "B5"), (365.001, "B5-stale"), (730, "B5-stale"), (730.001, None)]
)
def test_b5_repletion_only_on_a_result_from_the_last_year(
    days: float, template: str | None
) -> None:
    findings = findings_for(_obs("62292-8", 8, "ng/mL", days=days))
    assert [f.template for f in findings] == ([template] if template else [])


def test_b5_with_vitamin_d_treatment_started_after_the_result_gives_no_repletion_advice() -> None:
    result = _obs("62292-8", 8, "ng/mL", days=600)
    ergocalciferol = make_med_request(text="ergocalciferol 1.25 MG Oral Capsule", authored=iso(200))
    [finding] = findings_for(result, ergocalciferol)
    assert (finding.template, finding.severity, finding.orders) == (
        "B5-predates",
        Severity.INFO,
        (),
    )


def test_b5_low_during_current_treatment_reviews_the_treatment() -> None:
    result = _obs("62292-8", 15, "ng/mL", days=10)
    cholecalciferol = make_med_request(text="cholecalciferol 50 MCG Oral Tablet", authored=iso(200))
    [finding] = findings_for(result, cholecalciferol)
    assert (finding.template, finding.severity) == ("B5-treated", Severity.INFO)


# --- B6 CK ----------------------------------------------------------------------------------------


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


def test_b6_critical_assesses_rhabdomyolysis_today() -> None:
    [finding] = findings_for(_obs("2157-6", 12000, "U/L", high=200))
    assert finding.template == "B6-critical"
    assert finding.orders == ("ck", "bmp", "urinalysis")


@pytest.mark.parametrize(
    ("days", "template", "severity"),
    [(90, "B6-critical", Severity.CRITICAL), (90.001, "B6-stale", Severity.INFO)],
)
def test_b6_only_a_ck_from_the_last_90_days_is_acted_on(
    days: float, template: str, severity: Severity
) -> None:
    [finding] = findings_for(_obs("2157-6", 5000, "U/L", days=days))
    assert (finding.template, finding.severity) == (template, severity)


# --- B7 TSH, B8 eGFR/CKD, B9 AKI -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "fires"), [(4.5, False), (4.51, True), (0.1, False), (0.09, True)]
)
def test_b7_tsh_defaults(value: float, fires: bool) -> None:
    assert bool(findings_for(_obs("3016-3", value, "m[IU]/L"))) is fires


@pytest.mark.parametrize(("days", "template"), [(365, "B7"), (365.001, None)])
def test_b7_tsh_from_the_last_year_only(days: float, template: str | None) -> None:
    findings = findings_for(_obs("3016-3", 9.0, "m[IU]/L", days=days))
    assert [f.template for f in findings] == ([template] if template else [])


def test_b7_tsh_with_raised_ck_is_a_warning() -> None:
    findings = findings_for(_obs("3016-3", 9.0, "m[IU]/L"), _obs("2157-6", 400, "U/L", high=200))
    assert by_rule(findings, "B7")[0].severity is Severity.WARNING


@pytest.mark.parametrize(("value", "fires"), [(60, False), (59.9, True)])
def test_b8_egfr_below_60(value: float, fires: bool) -> None:
    assert bool(findings_for(_obs("98979-8", value, "mL/min/{1.73_m2}"))) is fires


def test_b8_an_egfr_in_ml_per_min_is_read_as_approximate_and_never_vanishes() -> None:
    [finding] = findings_for(_obs("33914-3", 9.85, "mL/min"))
    assert (finding.rule_id, finding.values["value"]) == ("B8", "9.85")
    assert "approximate" in (finding.evidence[0].note or "")


def test_b8_an_indexed_egfr_wins_over_a_per_minute_one_at_the_same_time() -> None:
    when = iso(10)
    per_minute = make_observation("33914-3", 80, "mL/min", when=when)
    indexed = make_observation("33914-3", 37.2, "mL/min/{1.73_m2}", when=when)
    [finding] = findings_for(per_minute, indexed)
    assert (finding.rule_id, finding.values["value"]) == ("B8", "37.2")


def _creatinine(value: float, days: float) -> dict[str, Any]:
    return _obs("2160-0", value, "mg/dL", days)


@pytest.mark.parametrize(
    ("earlier", "latest", "severity"),
    [
        ((1.0, 5), 1.49, None),
        ((1.0, 5), 1.5, Severity.WARNING),  # 1.5x within 7 days: stage 1
        ((0.9, 5), 2.4, Severity.CRITICAL),  # 2.7x: stage 2-3
        ((1.0, 1), 1.3, Severity.WARNING),  # +0.3 mg/dL within 48 h
        ((1.0, 1), 1.29, None),
        ((1.0, 2.1), 1.3, None),  # +0.3 but not within 48 h, and < 1.5x
        ((3.5, 5), 4.0, None),  # >= 4.0 mg/dL alone is not a rise
    ],
)
def test_b9_acute_kidney_injury_by_kdigo(
    earlier: tuple[float, float], latest: float, severity: Severity | None
) -> None:
    findings = findings_for(_creatinine(earlier[0], earlier[1] + 0.5), _creatinine(latest, 0.5))
    assert _severities(findings, "B9") == ([severity] if severity else [])


def test_b9_needs_a_recent_creatinine() -> None:
    findings = findings_for(_creatinine(0.9, 25), _creatinine(2.4, 15))
    assert "B9" not in rule_ids(findings)


# --- B0 -------------------------------------------------------------------------------------------


def test_b0_is_off_in_the_shipped_knowledge() -> None:
    assert findings_for() == []


def _with_b0() -> object:
    kb = knowledge()
    rules = tuple(
        r.model_copy(update={"state": RuleState.ON}) if r.id == "B0" else r for r in kb.rules
    )
    return replace(kb, rules=rules)


def test_b0_when_enabled_is_info_only_and_only_without_a_drug_trigger() -> None:
    kb = _with_b0()
    [finding] = findings_for(kb=kb)  # type: ignore[arg-type]
    assert (finding.rule_id, finding.severity) == ("B0", Severity.INFO)
    with_diuretic = findings_for(make_med_request("4603"), kb=kb)  # type: ignore[arg-type]
    assert "B0" not in rule_ids(with_diuretic)
