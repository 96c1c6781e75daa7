"""Records that cannot be read (issue 9 §5, issue 11 §1): counted, never a conclusion, and the
card says so where it changes one."""

from __future__ import annotations

from typing import Any

from cards.builders import build_cards
from cards.catalogue import catalogue_from
from cards.model import to_wire
from hooks.findings import Assessment, FindingStatus
from hooks.patient_view.knee_spasm import knee_spasm_review
from tests.builders import (
    iso,
    knowledge,
    make_call,
    make_complaint,
    make_med_request,
    make_observation,
    make_patient,
)

ADULT = make_patient(birth_date="1950-05-05")
FUROSEMIDE = make_med_request("4603", "furosemide 40 MG Oral Tablet", authored=iso(200))


def assess(*resources: dict[str, Any], complaint: dict[str, Any] | None = None) -> Assessment:
    return knee_spasm_review(make_call([ADULT, complaint or make_complaint(), *resources]))


def wire(assessment: Assessment) -> list[dict[str, Any]]:
    built = build_cards(assessment, catalogue_from(knowledge()), patient_id="p1")
    return [to_wire(issued.card) for issued in built]


def test_a_newer_result_that_cannot_be_read_is_named_on_the_card() -> None:
    older = make_observation("2823-3", 3.1, when=iso(5), resource_id="older")
    newer = make_observation("2823-3", 4.0, when=iso(1), resource_id="newer")
    newer["valueQuantity"]["value"] = "4,0"

    [card] = wire(assess(older, newer))

    assert card["summary"].startswith("Potassium 3.1 mmol/L")
    assert "A newer potassium result (Observation/newer) could not be read" in card["detail"]


def test_a_lab_code_that_cannot_be_read_makes_absence_inconclusive() -> None:
    mystery = make_observation("2823-3", 3.9, when=iso(1))
    mystery["code"] = {"coding": 7}  # could have been the potassium the drug rule asks for

    [a1] = [f for f in assess(FUROSEMIDE, mystery).findings if f.rule_id == "A1"]

    assert a1.status is FindingStatus.NO_CONCLUSION
    assert "incomplete" in a1.caveats[0]


def test_a_cited_result_that_is_not_valid_fhir_concludes_nothing() -> None:
    low = make_observation("2823-3", 2.4, when=iso(1), resource_id="low")
    low["referenceRange"] = [{"text": 5}]  # readable value, but the resource is not FHIR R4

    assessment = assess(low)

    [b1] = [f for f in assessment.findings if f.rule_id == "B1"]
    assert b1.status is FindingStatus.NO_CONCLUSION
    assert b1.orders == ()
    assert "(Observation/low) is not valid FHIR R4" in b1.caveats[0]
    assert [c["source"]["topic"]["code"] for c in wire(assessment)] == []  # no critical card


def test_a_complaint_read_from_an_invalid_record_is_no_complaint() -> None:
    complaint = make_complaint()
    complaint["bodySite"] = [{"text": 5}]

    assert assess(FUROSEMIDE, complaint=complaint) == Assessment()


def test_an_invalid_record_that_is_not_cited_does_not_stop_the_others() -> None:
    other = make_observation("2823-3", 4.1, when=iso(400), resource_id="old")
    other["referenceRange"] = [{"text": 5}]
    low = make_observation("2823-3", 3.1, when=iso(1), resource_id="low")

    [b1] = [f for f in assess(other, low).findings if f.rule_id == "B1"]

    assert b1.status is FindingStatus.CONCLUSIVE
