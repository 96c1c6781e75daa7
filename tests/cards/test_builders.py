"""build_cards: one card per family, summary, indicator, detail, suggestions, links, extension."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fhir.resources.R4B.servicerequest import ServiceRequest

from cards.builders import IssuedCard, build_cards
from cards.catalogue import CardCatalogue
from cards.model import Card, CdsResponse, to_wire
from hooks.findings import (
    Assessment,
    CodeRef,
    Evidence,
    Family,
    Finding,
    FindingStatus,
    Prompt,
    ResourceRef,
    Severity,
    evidence_fingerprint,
)
from hooks.knowledge.cards import CardsFile
from hooks.knowledge.schema import SourceDef

WHEN = datetime(2021, 3, 1, 10, tzinfo=UTC)


def _test(system: str, code: str, display: str) -> dict[str, str]:
    return {"system": system, "code": code, "display": display, "flag": "V"}


CARDS = CardsFile.model_validate(
    {
        "schema_version": 1,
        "extension_key": "org.example.findings",
        "topic_system": "urn:test:family",
        "families": {
            "medications": {
                "order": 1,
                "label": "Meds source",
                "url": "https://example.org/meds",
                "topic": {"code": "medications", "display": "Medications"},
            },
            "labs": {
                "order": 2,
                "label": "Labs source",
                "topic": {"code": "labs", "display": "Labs"},
            },
            "neurology": {
                "order": 3,
                "label": "Neuro source",
                "url": "https://example.org/neuro",
                "topic": {"code": "neurology", "display": "Neurology"},
            },
        },
        "lists": {
            "one": "{first}",
            "two": "{first} and {second}",
            "more_one": "{first} and 1 other",
            "more": "{first} and {n} others",
            "all": "{init} and {last}",
        },
        "templates": {
            "drug": {"summary": "Cramps on {drug}: check it."},
            "lab": {
                "summary": "Potassium {value} {unit} ({date}) is low.",
                "note": "A fixed note.",
            },
            "advice": {
                "summary": "Stretch your calves nightly.",
                "note": "Handout: nocturnal leg cramps.",
            },
            "dx": {
                "summary": "Condition {dx} on file, which matters a great deal to this patient "
                "and deserves a careful look before anything else."
            },
        },
        "orders": {
            "bmp": {
                "label": "Order BMP",
                "recommended": True,
                "tests": [_test("http://loinc.org", "51990-0", "BMP")],
            },
            "ref": {
                "label": "Refer",
                "recommended": False,
                "tests": [_test("http://snomed.info/sct", "308474002", "Referral to neurologist")],
            },
            "pair": {
                "label": "Order Ca and albumin",
                "recommended": True,
                "tests": [
                    _test("http://loinc.org", "17861-6", "Calcium"),
                    _test("http://loinc.org", "1751-7", "Albumin"),
                ],
            },
        },
        "orders_on_file": {"statuses": ["active"], "within_days": 30},
        "override_reasons": {
            "system": "urn:test:override",
            "reasons": [
                {"code": "a", "display": "Already addressed", "snooze_days": 30},
                {"code": "b", "display": "Patient declined", "snooze_days": 90},
            ],
        },
        "detail": {
            "prompts": {"knee": "Complaint at the knee", "general": "Complaint, no site"},
            "findings_heading": "Findings",
            "no_conclusion_heading": "Could not conclude",
            "references_heading": "References",
            "threshold_label": "threshold",
            "reported_label": "reported as",
            "sources_label": "Sources",
            "ungraded_status": "not graded",
            "management_heading": "Management",
        },
    }
)
CATALOGUE = CardCatalogue(
    knowledge_version="7.0.0",
    cards=CARDS,
    citations={
        "SRC": SourceDef(
            short="Source 2012",
            citation="Author A. A paper. 2012.",
            url="https://example.org/src",
            flag="V",
        ),
        "THR": SourceDef(short="Threshold source", citation="A summary.", flag="V"),
    },
)
KNEE = Prompt(heading="knee")


def finding(
    rule: str = "A1",
    family: Family = Family.MEDICATIONS,
    severity: Severity = Severity.INFO,
    template: str = "drug",
    **kwargs: Any,
) -> Finding:
    defaults: dict[str, Any] = {
        "items": {"drug": ("furosemide",)},
        "sources": ("SRC",),
    }
    defaults.update(kwargs)
    return Finding(
        rule_id=rule,
        rule_version="1.0.0",
        family=family,
        severity=severity,
        template=template,
        **defaults,
    )


def uuids() -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"uuid-{next(counter)}"


def wire(card: Card) -> dict[str, Any]:
    """The card as the client receives it."""
    return to_wire(card)


def issue(*findings: Finding, prompt: Prompt | None = KNEE) -> list[IssuedCard]:
    """The cards with their provenance."""
    assessment = Assessment(tuple(findings), prompt)
    return build_cards(assessment, CATALOGUE, patient_id="p9", uuid_factory=uuids())


def build(*findings: Finding, prompt: Prompt | None = KNEE) -> list[Card]:
    return [issued.card for issued in issue(*findings, prompt=prompt)]


def test_no_findings_no_cards() -> None:
    assert build() == []


def test_one_card_per_family_in_catalogue_order() -> None:
    cards = build(finding("C4", Family.NEUROLOGY), finding("A1"), finding("A3"))
    assert [c.source.label for c in cards] == ["Meds source", "Neuro source"]


def test_indicator_and_summary_come_from_the_most_severe_finding() -> None:
    lab = finding(
        "A1b",
        severity=Severity.CRITICAL,
        template="lab",
        values={"value": "2.4", "unit": "mmol/L", "date": "2021-03-01"},
    )
    [card] = build(finding("A1"), lab)
    assert card.indicator == "critical"
    assert card.summary == "Potassium 2.4 mmol/L (2021-03-01) is low."


@pytest.mark.parametrize(
    ("drugs", "summary"),
    [
        (("furosemide",), "Cramps on furosemide: check it."),
        (("furosemide", "hctz"), "Cramps on furosemide and hctz: check it."),
        (("a", "b", "c"), "Cramps on a, b and c: check it."),
    ],
)
def test_drug_lists_are_joined_and_truncated(drugs: tuple[str, ...], summary: str) -> None:
    [card] = build(finding(items={"drug": drugs}))
    assert card.summary == summary


def test_two_long_drug_names_fall_back_to_and_1_other_under_140_chars() -> None:
    [card] = build(finding(items={"drug": ("x" * 60, "y" * 60)}))
    assert card.summary == f"Cramps on {'x' * 60} and 1 other: check it."


def test_three_long_drug_names_fall_back_to_and_2_others_under_140_chars() -> None:
    [card] = build(finding(items={"drug": ("x" * 45, "y" * 45, "z" * 45)}))
    assert card.summary == f"Cramps on {'x' * 45} and 2 others: check it."


def test_a_long_dx_falls_back_to_its_short_form_then_is_cut() -> None:
    long_dx = "Acute embolism and thrombosis of unspecified deep veins of distal lower extremity"
    values = {"dx": long_dx, "dx_short": "DVT"}
    [card] = build(finding("C10", Family.NEUROLOGY, template="dx", values=values))
    assert card.summary.startswith("Condition DVT on file, which matters")
    [cut] = build(finding("C10", Family.NEUROLOGY, template="dx", values={"dx": long_dx}))
    assert len(cut.summary) == 139
    assert cut.summary.endswith("…")


def test_a_family_with_only_no_conclusion_findings_makes_no_card() -> None:
    unusable = finding(
        "B8", Family.LABS, status=FindingStatus.NO_CONCLUSION, caveats=("eGFR unit unknown.",)
    )
    assert build(unusable) == []


def test_no_conclusion_findings_are_listed_on_a_card_that_exists() -> None:
    lab = finding("B1", Family.LABS, template="lab", values={"value": "3", "unit": "mmol/L"})
    unusable = finding(
        "B8", Family.LABS, status=FindingStatus.NO_CONCLUSION, caveats=("eGFR unit unknown.",)
    )
    [card] = build(lab, unusable)
    assert "Could not conclude\n\n- eGFR unit unknown." in wire(card)["detail"]


def test_an_ungraded_value_makes_an_info_card_marked_not_graded() -> None:
    values = {"value": "3", "unit": "mmol/L", "date": "2021-03-01"}
    ungraded = finding(
        "B1", Family.LABS, template="lab", status=FindingStatus.UNGRADED, values=values
    )
    [card] = build(ungraded)
    assert card.indicator == "info"
    assert "(info, not graded)" in wire(card)["detail"]


def test_detail_lists_evidence_with_both_units_date_reference_threshold_and_citation() -> None:
    evidence = Evidence(
        label="Potassium",
        ref=ResourceRef("Observation", "k1"),
        value="3.2 mmol/L",
        original="3.2 mEq/L",
        when=WHEN,
        threshold="< 3.5 mmol/L (adult default)",
        citation="THR",
        note="latest",
    )
    lab = finding(
        "B1",
        Family.LABS,
        template="lab",
        evidence=(evidence,),
        caveats=("A caveat.",),
        values={"value": "3.2", "unit": "mEq/L"},
    )
    detail = wire(build(lab)[0])["detail"]
    # "<" is escaped: GFM shows it, and never parses a tag.
    assert (
        "   - Potassium: 3.2 mmol/L (reported as 3.2 mEq/L), 2021-03-01 — `Observation/k1`; "
        "threshold \\< 3.5 mmol/L (adult default) [Threshold source]; latest"
    ) in detail
    assert "   - A caveat." in detail
    assert "   - A fixed note." in detail
    assert "   - Sources: Source 2012" in detail
    assert "- **Source 2012**: Author A. A paper. 2012. <https://example.org/src>" in detail


def test_detail_opens_with_the_prompt_heading_and_its_records() -> None:
    complaint = (Evidence(label="Cramp", ref=ResourceRef("Condition", "c1"), when=WHEN),)
    [knee] = build(finding(), prompt=Prompt("knee", complaint))
    assert wire(knee)["detail"].startswith(
        "Complaint at the knee\n- Cramp, 2021-03-01 — `Condition/c1`"
    )
    [general] = build(finding(), prompt=Prompt("general"))
    assert wire(general)["detail"].startswith("Complaint, no site\n\nFindings")
    [bare] = build(finding(), prompt=None)
    assert wire(bare)["detail"].startswith("Findings")


def test_each_card_comes_with_the_findings_it_shows() -> None:
    no_k = finding("A2", status=FindingStatus.NO_CONCLUSION, caveats=("Unit unknown.",))
    advice = finding("M1", Family.NEUROLOGY, template="advice", status=FindingStatus.ADVICE)
    issued = issue(finding("A3"), no_k, finding("B1", Family.LABS, template="lab"), advice)
    meds, labs = issued
    assert [f.rule_id for f in meds.findings] == ["A3", "A2", "M1"]
    assert meds.rule_ids == ("A3", "M1")  # a no-conclusion finding did not make the card
    assert labs.rule_ids == ("B1",)
    assert meds.uuid == meds.card.uuid


def test_record_text_cannot_inject_markdown() -> None:
    [card] = build(finding(evidence=(Evidence(label="**bold** [link](http://x)"),)))
    assert r"\*\*bold\*\* \[link\](http://x)" in wire(card)["detail"]


def test_suggestions_are_draft_proposed_service_requests_for_the_patient() -> None:
    [card] = build(finding(severity=Severity.WARNING, orders=("bmp", "pair")))
    payload = wire(card)
    assert payload["selectionBehavior"] == "any"
    bmp, pair = payload["suggestions"]
    assert (bmp["label"], bmp["uuid"], bmp["isRecommended"]) == ("Order BMP", "uuid-1", True)
    request = ServiceRequest.model_validate(bmp["actions"][0]["resource"])
    assert (request.status, request.intent) == ("draft", "proposal")
    assert request.code is not None
    assert request.code.coding is not None
    assert request.code.coding[0].code == "51990-0"
    assert request.subject.reference == "Patient/p9"
    codes = [a["resource"]["code"]["coding"][0]["code"] for a in pair["actions"]]
    assert codes == ["17861-6", "1751-7"]
    assert payload["uuid"] == "uuid-3"


def test_neurology_referral_is_a_snomed_coded_service_request() -> None:
    [card] = build(finding("C1", Family.NEUROLOGY, Severity.CRITICAL, orders=("ref",)))
    [suggestion] = wire(card)["suggestions"]
    coding = suggestion["actions"][0]["resource"]["code"]["coding"][0]
    assert (coding["system"], coding["code"]) == ("http://snomed.info/sct", "308474002")
    assert suggestion["isRecommended"] is False


def test_an_info_finding_never_marks_its_orders_recommended() -> None:
    [card] = build(finding(severity=Severity.INFO, orders=("bmp",)))
    [suggestion] = wire(card)["suggestions"]
    assert suggestion["isRecommended"] is False


def test_critical_orders_are_stat_and_name_the_finding_as_their_reason() -> None:
    hypokalaemia = CodeRef("http://snomed.info/sct", "43339004", "Hypokalemia")
    lab = finding(
        "B1",
        Family.LABS,
        Severity.CRITICAL,
        template="lab",
        values={"value": "2.3", "unit": "mmol/L", "date": "2021-03-01"},
        orders=("bmp",),
        reason=hypokalaemia,
    )
    [suggestion] = wire(build(lab)[0])["suggestions"]
    request = ServiceRequest.model_validate(suggestion["actions"][0]["resource"])
    assert request.priority == "stat"
    [reason] = request.reasonCode or []
    assert reason.text == "Potassium 2.3 mmol/L (2021-03-01) is low."
    assert [(c.system, c.code) for c in reason.coding or []] == [
        ("http://snomed.info/sct", "43339004")
    ]


def test_a_non_critical_finding_keeps_its_own_priority_and_a_text_reason() -> None:
    urgent = finding("C1", Family.NEUROLOGY, Severity.WARNING, orders=("ref",), priority="urgent")
    routine = finding(severity=Severity.WARNING, orders=("bmp",))
    meds, neuro = build(routine, urgent)
    [referral] = wire(neuro)["suggestions"]
    assert referral["actions"][0]["resource"]["priority"] == "urgent"
    assert referral["actions"][0]["resource"]["reasonCode"] == [
        {"text": "Cramps on furosemide: check it."}
    ]
    [bmp] = wire(meds)["suggestions"]
    assert "priority" not in bmp["actions"][0]["resource"]


def test_a_shared_order_goes_to_the_card_of_the_most_severe_finding_that_asks() -> None:
    meds, labs = build(
        finding(orders=("bmp",)),
        finding("B1", Family.LABS, Severity.CRITICAL, template="lab", orders=("bmp",)),
    )
    assert "suggestions" not in wire(meds)
    [bmp] = wire(labs)["suggestions"]
    assert bmp["actions"][0]["resource"]["priority"] == "stat"


def advice() -> Finding:
    return finding("M1", status=FindingStatus.ADVICE, template="advice", sources=("SRC",))


def test_advice_never_makes_a_card_on_its_own() -> None:
    assert build(advice()) == []


def test_advice_rides_on_the_first_card_that_is_not_critical() -> None:
    critical = finding(severity=Severity.CRITICAL)
    neuro = finding("C5", Family.NEUROLOGY)
    meds, neurology = build(critical, neuro, advice())
    assert "Management" not in wire(meds)["detail"]
    detail = wire(neurology)["detail"]
    assert (
        "Management\n\n- Stretch your calves nightly.\n- Handout: nocturnal leg cramps." in detail
    )
    assert {"label": "Source 2012", "url": "https://example.org/src", "type": "absolute"} in wire(
        neurology
    )["links"]


def test_suggestions_are_not_repeated_on_a_second_card() -> None:
    meds, labs = build(
        finding(orders=("bmp",)), finding("B1", Family.LABS, template="lab", orders=("bmp", "pair"))
    )
    assert [s["label"] for s in wire(meds)["suggestions"]] == ["Order BMP"]
    assert [s["label"] for s in wire(labs)["suggestions"]] == ["Order Ca and albumin"]


def test_a_card_without_orders_has_no_suggestions_or_selection_behaviour() -> None:
    payload = wire(build(finding(orders=()))[0])
    assert "suggestions" not in payload
    assert "selectionBehavior" not in payload


def test_source_carries_label_url_and_the_family_topic() -> None:
    source = wire(build(finding())[0])["source"]
    assert source == {
        "label": "Meds source",
        "url": "https://example.org/meds",
        "topic": {"system": "urn:test:family", "code": "medications", "display": "Medications"},
    }


def test_links_are_absolute_and_only_for_sources_with_a_url() -> None:
    evidence = Evidence(label="K", threshold="< 3.5", citation="THR")
    [card] = build(finding(sources=("SRC", "SRC"), evidence=(evidence,)))
    assert wire(card)["links"] == [
        {"label": "Source 2012", "url": "https://example.org/src", "type": "absolute"}
    ]


def test_override_reasons_have_codes_and_displays() -> None:
    assert wire(build(finding())[0])["overrideReasons"] == [
        {"system": "urn:test:override", "code": "a", "display": "Already addressed"},
        {"system": "urn:test:override", "code": "b", "display": "Patient declined"},
    ]


def test_extension_carries_machine_readable_findings_under_a_reverse_domain_key() -> None:
    lab = finding(
        "A1b",
        template="lab",
        subject=("potassium", "k1"),
        evidence=(Evidence(label="K", ref=ResourceRef("Observation", "k1")),),
    )
    [card] = build(lab)
    assert card.extension == {
        "org.example.findings": {
            "knowledgeVersion": "7.0.0",
            "findings": [
                {
                    "ruleId": "A1b",
                    "ruleVersion": "1.0.0",
                    "severity": "info",
                    "status": "conclusive",
                    "template": "lab",
                    "evidence": ["Observation/k1"],
                    "fingerprint": evidence_fingerprint(lab),
                    "sources": ["SRC"],
                    "subject": {"analyte": "potassium", "observation": "Observation/k1"},
                }
            ],
        }
    }


def test_extension_names_the_rule_states_the_findings_were_made_under() -> None:
    assessment = Assessment((finding(),), KNEE)
    [issued] = build_cards(assessment, CATALOGUE, patient_id="p9", rule_states="0123abcd")

    provenance = wire(issued.card)["extension"]["org.example.findings"]
    assert (provenance["knowledgeVersion"], provenance["ruleStates"]) == ("7.0.0", "0123abcd")


def test_each_suggestion_names_the_order_and_the_finding_it_is_for() -> None:
    info = finding("A1", orders=("bmp",))
    warning = finding("A3", severity=Severity.WARNING, orders=("bmp", "ref"))

    [issued] = issue(info, warning)

    suggestions = issued.card.suggestions or []
    assert [(s.uuid, s.order, s.finding.rule_id) for s in issued.suggested] == [
        (suggestions[0].uuid, "bmp", "A3"),  # the most severe finding asking for it
        (suggestions[1].uuid, "ref", "A3"),
    ]


def test_a_whole_response_serialises_with_cards_kept() -> None:
    response = to_wire(CdsResponse(cards=build(finding())))
    assert response["cards"][0]["summary"] == "Cramps on furosemide: check it."
