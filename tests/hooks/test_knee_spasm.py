"""The service declaration: legal prefetch templates from the knowledge, and the handler's gates
(deceased, no complaint) end to end, including Synthea records."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest

from hooks.findings import Assessment, FindingStatus
from hooks.patient_view.knee_spasm import knee_spasm_review
from hooks.registry import check_tokens
from tests.builders import (
    AS_OF,
    assessment_for,
    findings_for,
    knowledge,
    make_call,
    make_complaint,
    make_med_request,
    make_patient,
)
from tests.conftest import require_or_skip

SYNTHEA = Path(__file__).resolve().parents[2] / ".." / "shared" / "fhir" / "synthea"
SEARCH_PARAMS = {"patient", "code", "_count", "_sort"}


def _templates() -> dict[str, str]:
    return knee_spasm_review.templates(knowledge())


def test_prefetch_keys_and_which_are_required() -> None:
    required = {k for k, p in knee_spasm_review.prefetch.items() if p.required}
    assert required == {"patient", "conditions", "medRequests", "labs"}
    optional = {"medStatements", "symptoms", "encounters", "serviceRequests"}
    assert set(knee_spasm_review.prefetch) == required | optional


@pytest.mark.parametrize(
    "key",
    [
        "conditions",
        "medRequests",
        "medStatements",
        "labs",
        "symptoms",
        "encounters",
        "serviceRequests",
    ],
)
def test_search_templates_use_only_the_spec_legal_subset(key: str) -> None:
    resource, _, query = _templates()[key].partition("?")
    assert re.fullmatch(r"[A-Z][A-Za-z]+", resource)
    params = parse_qsl(query, keep_blank_values=True)
    assert {name for name, _ in params} <= SEARCH_PARAMS
    assert dict(params)["patient"] == "{{context.patientId}}"
    assert all(":" not in name for name, _ in params)  # no modifiers, no _include


def test_patient_is_an_instance_read() -> None:
    assert _templates()["patient"] == "Patient/{{context.patientId}}"


def test_tokens_are_ones_the_hook_allows() -> None:
    check_tokens(knee_spasm_review, knowledge())


def test_no_status_filter_on_medications_and_no_category_on_conditions() -> None:
    templates = _templates()
    assert "status" not in templates["medRequests"] + templates["medStatements"]
    assert "category" not in templates["conditions"]


def test_lab_query_lists_exactly_the_codes_the_rules_read() -> None:
    codes = dict(parse_qsl(_templates()["labs"].partition("?")[2]))["code"].split(",")
    loinc = {code.removeprefix("http://loinc.org|") for code in codes}
    assert {
        "49765-1",
        "2947-0",
        "6298-4",
        "2823-3",
        "19123-9",
        "2601-3",
        "1751-7",
        "2157-6",
        "3016-3",
        "62292-8",
        "98979-8",
        "33914-3",
    } <= loinc  # errata 4 and 5 included
    assert {"38483-4", "2160-0"} <= loinc  # creatinine: B9 (acute kidney injury) reads it
    assert "82810-3" in loinc  # pregnancy status: A12, A14 and C12 read it
    assert "61151-7" not in loinc  # M-flagged albumin method code
    assert "1990-1" not in loinc  # M-flagged vitamin D2 code


def test_medication_references_are_declared_for_follow_up() -> None:
    assert {(f.resource_type, f.element, f.target_type) for f in knee_spasm_review.follow} == {
        ("MedicationRequest", "medicationReference", "Medication"),
        ("MedicationStatement", "medicationReference", "Medication"),
    }


def test_no_complaint_means_no_findings_whatever_else_is_true() -> None:
    assert findings_for(make_med_request("9071"), complaint=False) == []


@pytest.mark.parametrize("deceased", [True, "2021-02-21T00:00:00+00:00"])
def test_deceased_patient_gets_nothing(deceased: object) -> None:
    patient = make_patient(deceased=deceased)  # type: ignore[arg-type]
    assert findings_for(make_med_request("9071"), patient=patient) == []


def test_without_a_readable_patient_nothing_is_concluded() -> None:
    call = make_call([make_complaint(), make_med_request("9071")])
    assert knee_spasm_review(call) == Assessment()


def test_the_assessment_names_the_complaint_and_its_site() -> None:
    assessment = assessment_for(make_med_request("9071"))
    assert assessment.prompt is not None
    assert assessment.prompt.heading == "general"
    assert [e.ref.resource_type for e in assessment.prompt.evidence if e.ref] == ["Condition"]
    assert assessment_for(make_med_request("9071"), complaint=False) == Assessment()


def _synthea(name: str) -> tuple[list[dict[str, Any]], str]:
    if not SYNTHEA.is_dir():
        require_or_skip(f"Synthea sample not found at {SYNTHEA}")
    [path] = SYNTHEA.glob(f"{name}_*.json")
    bundle = json.loads(path.read_text(encoding="utf-8"))
    resources = [entry["resource"] for entry in bundle["entry"]]
    patient_id = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    return resources, patient_id


def _run_synthea(name: str, complaint: bool = True) -> set[str]:
    resources, patient_id = _synthea(name)
    if complaint:
        resources.append(make_complaint(text="Cramp in right knee"))
    findings = knee_spasm_review(make_call(resources, AS_OF, patient_id=patient_id)).findings
    return {f.rule_id for f in findings if f.status is FindingStatus.CONCLUSIVE}


def test_synthea_hctz_statin_and_salmeterol_patient_with_a_cramp() -> None:
    # Active 316049 HCTZ ordered in 1950 and 896209 fluticasone/salmeterol in 2002, never renewed:
    # no sign of current use, so neither counts (issue 8 §6). 316672 "Simvistatin" is renewed
    # yearly since 1988 (continuous use) and counts.
    assert _run_synthea("Elsy_Hermiston") == {"A3"}


def test_synthea_patients_have_no_cramp_so_nothing_fires_without_one() -> None:
    assert _run_synthea("Elsy_Hermiston", complaint=False) == set()


def test_synthea_deceased_patient_with_active_orders_gets_nothing() -> None:
    assert _run_synthea("Parker_Casper") == set()


def test_synthea_negative_control_with_a_cramp_gets_no_blanket_labs() -> None:
    assert _run_synthea("Clemente_Kreiger") == set()


def test_synthea_lasix_patient_gets_the_diuretic_finding() -> None:
    assert "A1" in _run_synthea("Tommy_Friesen")
