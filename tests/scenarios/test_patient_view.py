"""Full patient-view requests over HTTP, with the cards a clinician should see."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from cds_service.memory_fhir import MemoryFhir, build_request
from tests.builders import (
    AS_OF,
    PATIENT_ID,
    make_complaint,
    make_condition,
    make_med_request,
    make_observation,
    make_patient,
)
from tests.cds_service.support import walk_empty
from tests.conftest import make_app

URL = "/cds-services/knee-spasm-review"
FUROSEMIDE = ("315971", "Lasix 40mg")
SIMVASTATIN = ("316672", "Simvistatin 10 MG")
LOINC = "http://loinc.org"


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    return make_app(tmp_path, CLOCK=AS_OF.isoformat())


def call(app: Flask, resources: list[dict[str, Any]]) -> dict[str, Any]:
    templates = app.extensions["cds"].pipeline.templates["knee-spasm-review"]
    request = build_request(MemoryFhir(resources), templates, PATIENT_ID)
    response = app.test_client().post(URL, json=request)
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    assert [path for path in walk_empty(body) if path != "$.cards"] == []
    return body


def by_topic(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {card["source"]["topic"]["code"]: card for card in body["cards"]}


def ordered_loinc(card: dict[str, Any]) -> set[str]:
    return {
        coding["code"]
        for suggestion in card.get("suggestions", [])
        for action in suggestion["actions"]
        for coding in action["resource"]["code"]["coding"]
    }


def rule_ids(card: dict[str, Any]) -> list[str]:
    ext = card["extension"]["org.kneespasmcds.findings"]
    return [f["ruleId"] for f in ext["findings"]]


def test_low_potassium_on_furosemide_gives_one_warning_naming_both(app: Flask) -> None:
    potassium = make_observation("2823-3", 3.1, "mmol/L", when="2021-03-15T08:00:00+00:00")
    body = call(
        app,
        [make_patient(), make_complaint(), make_med_request(*FUROSEMIDE), potassium],
    )

    cards = by_topic(body)
    card = cards["medications"]
    assert card["indicator"] == "warning"
    for expected in ("furosemide", "3.1", "mmol/L", "2021-03-15"):
        assert expected in card["summary"]
    # Conflict handling: the low K is one finding that names the drug, not a second card.
    assert "labs" not in cards
    assert f"Observation/{potassium['id']}" in card["detail"]
    assert {"19123-9"} <= ordered_loinc(card)
    assert all(s["isRecommended"] for s in card["suggestions"])
    assert card["selectionBehavior"] == "any"


def test_critical_potassium_on_furosemide_is_critical(app: Flask) -> None:
    potassium = make_observation("2823-3", 2.4, "mmol/L", when="2021-03-15T08:00:00+00:00")
    body = call(app, [make_patient(), make_complaint(), make_med_request(*FUROSEMIDE), potassium])

    assert [c["indicator"] for c in body["cards"]] == ["critical"]


def test_statin_with_knee_cramps_suggests_ck_and_tsh(app: Flask) -> None:
    body = call(app, [make_patient(), make_complaint(), make_med_request(*SIMVASTATIN)])

    card = by_topic(body)["medications"]
    assert card["indicator"] == "info"
    assert "simvastatin" in card["summary"].lower()
    assert ordered_loinc(card) == {"2157-6", "3016-3"}
    assert rule_ids(card) == ["A3", "M1"]  # M1: stretching advice rides on the card
    assert "stretching" in card["detail"]


def test_statin_with_ck_over_ten_times_the_limit_is_critical(app: Flask) -> None:
    ck = make_observation("2157-6", 2500, "U/L", when="2021-03-28T08:00:00+00:00", low=30, high=200)
    body = call(app, [make_patient(), make_complaint(), make_med_request(*SIMVASTATIN), ck])

    indicators = {topic: card["indicator"] for topic, card in by_topic(body).items()}
    assert "critical" in indicators.values()
    assert "2500" in " ".join(card["summary"] for card in body["cards"])


def test_fasciculations_with_atrophy_is_a_critical_neurology_referral(app: Flask) -> None:
    fasciculation = make_condition("R25.3", "icd10cm", display="Fasciculation")
    atrophy = make_condition("M62.561", "icd10cm", display="Muscle wasting, right lower leg")
    body = call(app, [make_patient(), fasciculation, atrophy])

    card = by_topic(body)["neurology"]
    assert card["indicator"] == "critical"
    codes = {
        (coding["system"], coding["code"])
        for suggestion in card["suggestions"]
        for action in suggestion["actions"]
        for coding in action["resource"]["code"]["coding"]
    }
    assert ("http://snomed.info/sct", "308474002") in codes
    assert (LOINC, "2157-6") in codes


def test_no_complaint_means_no_cards_even_with_low_potassium_on_a_diuretic(app: Flask) -> None:
    potassium = make_observation("2823-3", 2.9, "mmol/L", when="2021-03-15T08:00:00+00:00")
    body = call(app, [make_patient(), make_med_request(*FUROSEMIDE), potassium])

    assert body == {"cards": []}


def test_a_deceased_patient_gets_no_cards(app: Flask) -> None:
    body = call(
        app,
        [make_patient(deceased="2021-02-01"), make_complaint(), make_med_request(*FUROSEMIDE)],
    )

    assert body == {"cards": []}


def test_an_entered_in_error_potassium_is_ignored(app: Flask) -> None:
    wrong = make_observation(
        "2823-3", 2.1, "mmol/L", when="2021-03-15T08:00:00+00:00", status="entered-in-error"
    )
    body = call(app, [make_patient(), make_complaint(), make_med_request(*FUROSEMIDE), wrong])

    assert "critical" not in {c["indicator"] for c in body["cards"]}
    assert "2.1" not in " ".join(c["summary"] for c in body["cards"])


def test_an_unconvertible_unit_draws_no_conclusion_and_says_so(app: Flask) -> None:
    odd = make_observation("2823-3", 3.0, "mg/dL", when="2021-03-15T08:00:00+00:00")
    body = call(app, [make_patient(), make_complaint(), make_med_request(*FUROSEMIDE), odd])

    card = by_topic(body)["medications"]
    assert card["indicator"] == "info"
    assert "mg/dL" in card["detail"]
    assert "warning" not in {c["indicator"] for c in body["cards"]}


def test_a_stale_potassium_on_a_diuretic_asks_for_a_new_one(app: Flask) -> None:
    old = make_observation("2823-3", 3.2, "mmol/L", when="2020-06-01T08:00:00+00:00")
    body = call(app, [make_patient(), make_complaint(), make_med_request(*FUROSEMIDE), old])

    cards = by_topic(body)
    # The K predates the furosemide order: not attributed to it, so the lab card shows it.
    assert cards["labs"]["indicator"] == "info"
    assert rule_ids(cards["labs"]) == ["B1"]
    assert "10 months ago), too old to act on" in cards["labs"]["summary"]
    assert "Replete" not in cards["labs"]["summary"]
    assert cards["medications"]["indicator"] == "info"
    assert "51990-0" in ordered_loinc(cards["labs"]) | ordered_loinc(cards["medications"])


def test_cards_can_be_fed_back_and_join_to_the_ledger(app: Flask) -> None:
    body = call(app, [make_patient(), make_complaint(), make_med_request(*SIMVASTATIN)])
    card = body["cards"][0]
    feedback = {
        "feedback": [
            {
                "card": card["uuid"],
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}],
                "outcomeTimestamp": "2021-04-01T10:00:00Z",
            }
        ]
    }

    response = app.test_client().post(f"{URL}/feedback", json=feedback)

    assert response.get_json() == {"stored": 1}


def test_suggestions_are_not_repeated_across_cards(app: Flask) -> None:
    # A statin (CK, TSH) and a thyroid disorder with no TSH (C7) both want a TSH.
    hypothyroid = make_condition("40930008", "snomed", display="Hypothyroidism")
    body = call(
        app, [make_patient(), make_complaint(), make_med_request(*SIMVASTATIN), hypothyroid]
    )

    ordered = [
        coding["code"]
        for card in body["cards"]
        for suggestion in card.get("suggestions", [])
        for action in suggestion["actions"]
        for coding in action["resource"]["code"]["coding"]
    ]
    assert len(body["cards"]) == 2
    assert ordered.count("3016-3") == 1
