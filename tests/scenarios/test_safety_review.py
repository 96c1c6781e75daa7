"""The clinical safety review (issue 8), patient by patient, as the clinician sees the cards.

Each test builds the patient the review describes and asserts the card: family, indicator, the
key words of its summary, its orders and their priority; and the near miss that must not fire.
"""

from __future__ import annotations

from typing import Any

import pytest

from cards.builders import build_cards
from cards.catalogue import catalogue_from
from cards.model import to_wire
from hooks.findings import Assessment, FindingStatus
from hooks.patient_view.knee_spasm import knee_spasm_review
from tests.builders import (
    concept,
    iso,
    knowledge,
    make_call,
    make_complaint,
    make_condition,
    make_med_request,
    make_observation,
    make_patient,
)

Card = dict[str, Any]
ADULT = make_patient(birth_date="1950-05-05")


def cards(*resources: dict[str, Any], patient: dict[str, Any] | None = None) -> list[Card]:
    """The cards of a patient with a knee cramp complaint, as the EHR receives them."""
    call = make_call([patient or ADULT, make_complaint(), *resources])
    built = build_cards(knee_spasm_review(call), catalogue_from(knowledge()), patient_id="p1")
    return [to_wire(issued.card) for issued in built]


def by_family(found: list[Card]) -> dict[str, Card]:
    return {card["source"]["topic"]["code"]: card for card in found}


def rules(card: Card) -> list[str]:
    return [f["ruleId"] for f in card["extension"]["org.kneespasmcds.findings"]["findings"]]


def orders(card: Card) -> dict[str, str | None]:
    """Ordered code -> ServiceRequest priority (None when routine)."""
    return {
        action["resource"]["code"]["coding"][0]["code"]: action["resource"].get("priority")
        for suggestion in card.get("suggestions", [])
        for action in suggestion["actions"]
    }


def lab(loinc: str, value: float, unit: str, days: float = 2, **kwargs: Any) -> dict[str, Any]:
    return make_observation(loinc, value, unit, when=iso(days), **kwargs)


def drug(rxnorm: str | None, text: str, days: float = 120) -> dict[str, Any]:
    return make_med_request(rxnorm, text, text=text, authored=iso(days))


SPIRONOLACTONE = drug("9997", "spironolactone 25 MG Oral Tablet")
LISINOPRIL = drug("29046", "lisinopril 10 MG Oral Tablet")
HCTZ = drug("316049", "Hydrochlorothiazide 25 MG")
FUROSEMIDE = drug("315971", "Lasix 40mg")
DIGOXIN = drug("3407", "digoxin 0.125 MG Oral Tablet")
ECG = "268400002"


# --- §1 silence on high values --------------------------------------------------------------------


def test_potassium_6_4_on_spironolactone_and_lisinopril_with_egfr_28_is_critical() -> None:
    found = by_family(
        cards(
            SPIRONOLACTONE,
            LISINOPRIL,
            lab("2823-3", 6.4, "mmol/L"),
            lab("98979-8", 28, "mL/min/{1.73_m2}"),
        )
    )
    card = found["labs"]
    assert card["indicator"] == "critical"
    assert "dangerously high" in card["summary"]
    assert "ECG" in card["summary"]
    assert orders(card)[ECG] == "stat"
    assert "spironolactone" in card["detail"]
    assert "lisinopril" in card["detail"]
    [reason] = next(
        a["resource"]["reasonCode"]
        for s in card["suggestions"]
        for a in s["actions"]
        if a["resource"]["code"]["coding"][0]["code"] == ECG
    )
    assert reason["coding"][0]["code"] == "14140009"  # hyperkalaemia
    assert "Replete" not in card["detail"]  # CKD line kept
    assert "empiric" in card["detail"]


def test_potassium_5_4_is_no_high_potassium_card() -> None:
    assert cards(lab("2823-3", 5.4, "mmol/L")) == []


def test_calcium_12_8_on_hydrochlorothiazide_names_the_thiazide_and_asks_for_pth() -> None:
    card = by_family(cards(HCTZ, lab("17861-6", 12.8, "mg/dL")))["labs"]
    assert card["indicator"] == "warning"
    assert "12.8" in card["summary"]
    assert "hydrochlorothiazide" in card["summary"]
    assert "2731-8" in orders(card)  # PTH


def test_calcium_10_4_is_normal() -> None:
    assert "labs" not in by_family(cards(HCTZ, lab("17861-6", 10.4, "mg/dL")))


@pytest.mark.parametrize(("value", "indicator"), [(158, "warning"), (159, "critical"), (145, None)])
def test_sodium_158_is_no_longer_silent(value: float, indicator: str | None) -> None:
    found = by_family(cards(lab("2951-2", value, "mmol/L")))
    assert (found["labs"]["indicator"] if "labs" in found else None) == indicator


@pytest.mark.parametrize(("value", "indicator"), [(4.2, "warning"), (5.0, "critical"), (2.6, None)])
def test_magnesium_4_2_mg_dl_is_no_longer_silent(value: float, indicator: str | None) -> None:
    found = by_family(cards(lab("19123-9", value, "mg/dL")))
    assert (found["labs"]["indicator"] if "labs" in found else None) == indicator


def test_calcium_14_5_on_lithium_measured_three_days_ago_is_not_asked_for_again() -> None:
    lithium = drug("42351", "lithium carbonate 300 MG Oral Capsule")
    found = by_family(cards(lithium, lab("17861-6", 14.5, "mg/dL", days=3)))
    assert found["labs"]["indicator"] == "critical"
    assert "severely high" in found["labs"]["summary"]
    medication = found["medications"]
    assert medication["summary"].endswith("Not on file recently: lithium, TSH, Na and creatinine.")
    assert "17861-6" not in orders(medication)
    assert orders(found["labs"])["17861-6"] == "stat"  # the critical value's own stat repeat
    assert "Calcium: 14.5 mg/dL" in medication["detail"]
    assert "recent result on file: not reordered" in medication["detail"]


# --- §2 repletion on stale or unsafe results ------------------------------------------------------


def test_a_potassium_of_2_9_from_eleven_months_ago_says_recheck_with_its_age() -> None:
    card = by_family(cards(lab("2823-3", 2.9, "mmol/L", days=335)))["labs"]
    assert card["indicator"] == "info"
    assert "11 months ago" in card["summary"]
    assert "Recheck" in card["summary"]
    assert "Replete" not in card["summary"]


def test_a_dialysis_patient_is_never_told_to_replete() -> None:
    dialysis = make_condition("Z99.2", "icd10cm", display="Dependence on renal dialysis")
    card = by_family(cards(dialysis, lab("2823-3", 3.1, "mmol/L")))["labs"]
    assert "do not replace empirically" in card["summary"]
    assert "nephrology" in card["summary"]


def test_on_potassium_chloride_spironolactone_and_an_ace_inhibitor_it_says_what_to_do() -> None:
    kcl = drug(None, "potassium chloride 20 MEQ Extended Release Oral Tablet")
    found = cards(
        kcl,
        SPIRONOLACTONE,
        LISINOPRIL,
        lab("2823-3", 3.2, "mmol/L"),
        lab("98979-8", 35, "mL/min/{1.73_m2}"),
    )
    card = by_family(found)["labs"]
    assert "do not replace empirically" in card["summary"]
    assert "already on potassium chloride" in card["detail"]


def test_vitamin_d_8_from_22_months_ago_on_ergocalciferol_since_gives_no_repletion_advice() -> None:
    vitamin_d = lab("62292-8", 8, "ng/mL", days=670)
    first = make_med_request(
        text="ergocalciferol 1.25 MG Oral Capsule", status="stopped", authored=iso(600)
    )
    renewal = drug(None, "ergocalciferol 1.25 MG Oral Capsule", days=240)
    card = by_family(cards(vitamin_d, first, renewal))["labs"]
    assert card["indicator"] == "info"
    assert "no repletion advice" in card["summary"]
    assert "Consider repletion" not in card["summary"]


# --- §3 emergencies -------------------------------------------------------------------------------


def test_potassium_2_7_and_magnesium_1_5_on_two_diuretics_and_digoxin_is_critical() -> None:
    found = cards(
        FUROSEMIDE, HCTZ, DIGOXIN, lab("2823-3", 2.7, "mmol/L"), lab("19123-9", 1.5, "mg/dL")
    )
    card = by_family(found)["medications"]
    assert card["indicator"] == "critical"
    assert "ECG" in card["summary"]
    assert "same-day" in card["summary"]
    assert orders(card)[ECG] == "stat"
    assert "will not correct until magnesium is replaced" in card["detail"]
    assert "digoxin" in card["detail"]
    assert "raises the urgency" in card["detail"]


def test_a_child_of_eight_with_potassium_2_3_and_no_laboratory_range_is_critical() -> None:
    child = make_patient(birth_date="2012-06-01")
    card = by_family(cards(lab("2823-3", 2.3, "mmol/L"), patient=child))["labs"]
    assert card["indicator"] == "critical"
    assert "critically low" in card["summary"]


def test_an_unknown_age_is_worded_as_unknown_not_as_paediatric() -> None:
    card = by_family(cards(lab("2823-3", 2.3, "mmol/L"), patient=make_patient(birth_date=None)))[
        "labs"
    ]
    assert "age unknown" in card["detail"]
    assert "paediatric" not in card["summary"] + card["detail"]


def test_guillain_barre_with_weakness_is_critical_not_a_b12_card() -> None:
    gbs = make_condition("G61.0", "icd10cm", display="Guillain-Barre syndrome", recorded=iso(5))
    weakness = make_condition("M62.81", "icd10cm", display="Muscle weakness", recorded=iso(5))
    card = by_family(cards(gbs, weakness))["neurology"]
    assert card["indicator"] == "critical"
    assert "emergency" in card["summary"]
    assert "C8" not in rules(card)
    assert "2132-9" not in orders(card)  # no B12


# --- §4 rhabdomyolysis and statin safety ----------------------------------------------------------


def test_atorvastatin_with_ck_12000_rising_creatinine_and_potassium_5_9() -> None:
    found = by_family(
        cards(
            drug("83367", "atorvastatin 40 MG Oral Tablet"),
            lab("2157-6", 12000, "U/L", high=200),
            lab("2160-0", 0.9, "mg/dL", days=6),
            lab("2160-0", 2.4, "mg/dL", days=1),
            lab("2823-3", 5.9, "mmol/L", days=1),
        )
    )
    statin = found["medications"]
    assert statin["indicator"] == "critical"
    assert "stop the statin now; assess for rhabdomyolysis today" in statin["summary"]
    assert {"2157-6", "24356-8", "51990-0"} <= set(orders(statin) | orders(found["labs"]))
    assert set(orders(statin).values()) == {"stat"}
    labs = found["labs"]
    assert labs["indicator"] == "critical"
    assert {"B9", "B1h"} <= set(rules(labs))


@pytest.mark.parametrize(
    ("partner", "strength", "fires"),
    [
        ("amlodipine 5 MG Oral Tablet", 40, True),
        ("amlodipine 5 MG Oral Tablet", 20, False),
        ("diltiazem 120 MG Oral Capsule", 20, True),
        ("clarithromycin 500 MG Oral Tablet", 10, True),
    ],
)
def test_simvastatin_interactions_and_dose_limits(partner: str, strength: int, fires: bool) -> None:
    simvastatin = drug("36567", f"simvastatin {strength} MG Oral Tablet")
    found = cards(simvastatin, drug(None, partner))
    medication = by_family(found).get("medications")
    assert medication is not None
    assert ("A13" in rules(medication)) is fires


def test_a_statin_since_1988_is_dated_from_1988_not_its_latest_renewal() -> None:
    renewals = [
        make_med_request("316672", "Simvistatin 10 MG", status="stopped", authored=f"{year}-04-05")
        for year in range(1988, 2021)
    ]
    current = make_med_request("316672", "Simvistatin 10 MG", authored="2021-03-28")
    card = by_family(cards(*renewals, current))["medications"]
    assert "in continuous use since 1988-04-05" in card["detail"]
    assert "atypical" in card["summary"]
    assert "first year" in card["detail"]


def test_a_normal_ck_warns_against_stopping_the_statin_without_evaluation() -> None:
    card = by_family(
        cards(drug("83367", "atorvastatin 40 MG"), lab("2157-6", 150, "U/L", high=200))
    )["medications"]
    assert "statin myopathy unlikely" in card["summary"]
    assert "before stopping" in card["summary"]


# --- §5 dangerous conditions ----------------------------------------------------------------------

SWOLLEN = make_condition("R22.41", "icd10cm", display="Swelling, right lower limb", recorded=iso(2))


def test_calf_spasm_with_one_swollen_leg_on_the_pill_is_a_possible_dvt_today() -> None:
    pill = drug(None, "ethinyl estradiol 0.03 MG / levonorgestrel 0.15 MG Oral Tablet")
    card = by_family(cards(SWOLLEN, pill))["neurology"]
    assert card["indicator"] == "critical"
    assert "Possible DVT" in card["summary"]
    assert "Wells" in card["summary"]
    assert orders(card) == {"48065-7": "stat"}


def test_swelling_of_both_legs_or_an_old_dvt_is_not_a_dvt_alert() -> None:
    both = make_condition("R22.43", "icd10cm", recorded=iso(2))
    old = make_condition("I82.401", "icd10cm", recorded="2015-01-01")
    assert cards(both, old) == []


def test_nsaid_at_26_weeks_of_pregnancy_is_a_warning() -> None:
    weeks = make_condition("Z3A.24", "icd10cm", display="24 weeks gestation", recorded=iso(14))
    card = by_family(cards(weeks, drug(None, "ibuprofen 400 MG Oral Tablet")))["medications"]
    assert card["indicator"] == "warning"
    assert "26 weeks of pregnancy" in card["summary"]


def test_nsaid_at_18_weeks_is_not_yet_an_alert() -> None:
    weeks = make_condition("Z3A.18", "icd10cm", recorded=iso(1))
    assert cards(weeks, drug(None, "ibuprofen 400 MG Oral Tablet")) == []


def test_pregnancy_from_the_status_observation_and_quinine() -> None:
    status = make_observation("82810-3", None, when=iso(10))
    status["valueCodeableConcept"] = concept("LA15173-0", "loinc", "Pregnant")
    card = by_family(cards(status, drug("9071", "quinine sulfate 324 MG")))["medications"]
    assert "in pregnancy" in card["summary"]


def test_cirrhosis_is_named_as_a_cramp_association() -> None:
    cirrhosis = make_condition("K74.60", "icd10cm", display="Unspecified cirrhosis of liver")
    card = by_family(cards(cirrhosis))["neurology"]
    assert (card["indicator"], rules(card)) == ("info", ["C13", "M1"])


def test_hyponatraemia_mentions_thiazides_only_when_one_is_prescribed() -> None:
    plain = by_family(cards(lab("2951-2", 130, "mmol/L")))["labs"]
    assert "thiazide" not in plain["summary"].lower()
    named = by_family(cards(HCTZ, lab("2951-2", 130, "mmol/L")))["labs"]
    assert "hydrochlorothiazide" in named["summary"]


def test_fasciculation_with_generalised_weakness_is_an_urgent_referral_not_an_emergency() -> None:
    fasciculation = make_condition("R25.3", "icd10cm", display="Fasciculation")
    weakness = make_condition("M62.81", "icd10cm", display="Muscle weakness (generalized)")
    card = by_family(cards(fasciculation, weakness))["neurology"]
    assert card["indicator"] == "warning"
    assert orders(card)["308474002"] == "urgent"


# --- §6 claims and noise --------------------------------------------------------------------------


def test_potassium_3_3_is_a_possible_contributor_not_the_likely_cause() -> None:
    card = by_family(cards(FUROSEMIDE, lab("2823-3", 3.3, "mmol/L")))["medications"]
    assert "possible contributor" in card["summary"]
    assert "likely cause" not in card["summary"]


def test_a_cramp_entry_from_2012_does_not_fire_on_every_chart_open() -> None:
    old = make_condition("55300003", recorded="2012-06-01")
    call = make_call([ADULT, old, drug("83367", "atorvastatin 40 MG")])
    assert knee_spasm_review(call) == Assessment()


def test_text_only_eyelid_twitching_gives_no_statin_card() -> None:
    eyelid = make_condition(None, text="Eyelid twitching")
    call = make_call([ADULT, eyelid, drug("83367", "atorvastatin 40 MG")])
    assert knee_spasm_review(call) == Assessment()


def test_no_labs_for_an_inhaler_from_1950_and_no_pth_for_plain_hypothyroidism() -> None:
    albuterol = make_med_request("745679", authored="1950-06-01T00:00:00+00:00")
    hypothyroid = make_condition("40930008", display="Hypothyroidism")
    found = cards(albuterol, hypothyroid)
    assert [rules(card) for card in found] == [["C7", "M1"]]
    assert orders(found[0]) == {"3016-3": None}  # TSH only, not recommended on an info card
    assert found[0]["suggestions"][0]["isRecommended"] is False


def test_only_info_and_advice_never_mark_orders_recommended() -> None:
    for card in cards(drug("83367", "atorvastatin 40 MG")):
        assert all(not s["isRecommended"] for s in card.get("suggestions", []))


# --- §7 holdout findings ------------------------------------------------------------------------


def test_oxaliplatin_is_a_magnesium_wasting_drug() -> None:
    card = by_family(cards(drug("32592", "oxaliplatin 100 MG Injection")))["medications"]
    assert "oxaliplatin" in card["summary"]


def test_a_childs_albuterol_inhaler_gets_no_lab_orders_and_no_adult_citation() -> None:
    child = make_patient(birth_date="2013-01-01")
    found = cards(make_med_request("745679"), patient=child)
    assert [rules(card) for card in found] == [["A4s"]]
    assert "suggestions" not in found[0]
    assert "AFP" not in found[0]["detail"]
    assert "Garrison" not in found[0]["detail"]


# --- §8 citations ---------------------------------------------------------------------------------


def test_no_card_cites_an_unverified_source_and_cramp_cards_carry_the_handout() -> None:
    found = cards(drug("83367", "atorvastatin 40 MG"), HCTZ, lab("2823-3", 3.2, "mmol/L"))
    text = " ".join(card["detail"] for card in found)
    assert "unverified" not in text.lower()
    links = [link["url"] for card in found for link in card.get("links", [])]
    assert "https://www.aafp.org/afp/2012/0815/p350-s1.html" in links
    assert "stretching" in text


def test_advice_is_never_a_card_of_its_own() -> None:
    call = make_call([ADULT, make_complaint()])
    assessment = knee_spasm_review(call)
    assert [f.status for f in assessment.findings] == [FindingStatus.ADVICE]
    assert build_cards(assessment, catalogue_from(knowledge()), patient_id="p1") == []
