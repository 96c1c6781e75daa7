"""ResourceSet: resources by type and id, projected validation, unreadable counts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.patient import Patient

from hooks.citations import Citations
from hooks.fhirdata import KeyStatus, PrefetchValue, ResourceSet
from hooks.findings import ResourceRef
from hooks.patient_view.facts import PROJECTIONS
from hooks.patient_view.facts.patient import PATIENT_FIELDS
from tests.conftest import require_or_skip

SYNTHEA = Path(__file__).resolve().parents[2].parent / "shared" / "fhir" / "synthea"
SAMPLE = "Parker_Casper_6d0c6969-6843-47e1-9921-d9bf11b1df31.json"


def resource_set(*resources: dict[str, Any]) -> ResourceSet:
    return ResourceSet({"k": PrefetchValue(KeyStatus.PREFETCHED, tuple(resources))})


def test_parse_validates_only_the_listed_fields_and_counts_a_failure() -> None:
    broken_narrative = {
        "resourceType": "Patient",
        "id": "p1",
        "birthDate": "1950-01-02",
        "text": {"status": "not-a-status", "div": 42},
    }
    data = resource_set(broken_narrative)

    assert data.parse(Patient, broken_narrative) is None
    assert data.invalid == ["Patient/p1"]
    projected = data.parse(Patient, broken_narrative, PATIENT_FIELDS)
    assert projected is not None
    assert str(projected.birthDate) == "1950-01-02"


def test_parse_drops_fields_that_were_not_asked_for() -> None:
    raw = {"resourceType": "Patient", "id": "p1", "active": True}

    patient = resource_set(raw).parse(Patient, raw, PATIENT_FIELDS)

    assert patient is not None
    assert patient.active is None


def test_resources_are_deduplicated_by_id_across_keys_and_found_by_id() -> None:
    patient = {"resourceType": "Patient", "id": "p1"}
    data = ResourceSet(
        {
            "a": PrefetchValue(KeyStatus.PREFETCHED, (patient,)),
            "b": PrefetchValue(KeyStatus.FETCHED, (dict(patient),)),
        }
    )

    assert len(list(data.raw("Patient"))) == 1
    assert data.find("Patient", "p1") == patient
    assert data.find("Patient", "p2") is None
    assert data.find("Condition", "p1") is None


# Synthea writes no Medication or MedicationStatement: valid ones with every projected element.
NOT_IN_SYNTHEA: dict[str, dict[str, Any]] = {
    "Medication": {
        "resourceType": "Medication",
        "id": "m1",
        "code": {
            "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "4603"}]
        },
        "form": {"text": "tablet"},
        "ingredient": [{"itemCodeableConcept": {"text": "furosemide"}}],
    },
    "MedicationStatement": {
        "resourceType": "MedicationStatement",
        "id": "s1",
        "status": "active",
        "subject": {"reference": "Patient/p1"},
        "medicationReference": {"reference": "Medication/m1"},
        "effectivePeriod": {"start": "2021-01-01"},
        "dateAsserted": "2021-01-02",
        "dosage": [{"text": "1 daily", "route": {"text": "oral"}}],
    },
    "ServiceRequest": {
        "resourceType": "ServiceRequest",
        "id": "sr1",
        "status": "active",
        "intent": "order",
        "code": {"coding": [{"system": "http://loinc.org", "code": "19123-9"}]},
        "subject": {"reference": "Patient/p1"},
        "authoredOn": "2021-03-28T09:00:00Z",
        "requester": {"reference": "Practitioner/x"},
    },
}


@pytest.mark.parametrize("kind", sorted(PROJECTIONS))
def test_every_projection_keeps_what_r4_requires(kind: str) -> None:
    """A projection that dropped a required element would make every cited record invalid."""
    if not (SYNTHEA / SAMPLE).exists():
        require_or_skip("shared Synthea data not present")
    bundle = json.loads((SYNTHEA / SAMPLE).read_text())
    resources = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]
    resources = resources or [NOT_IN_SYNTHEA[kind]]
    data = resource_set(*resources)
    citations = Citations(data, PROJECTIONS)

    assert all(citations.valid(ResourceRef(kind, r["id"])) for r in resources)
    assert data.invalid == []


def test_a_key_is_complete_only_when_its_data_is_whole_and_available() -> None:
    data = ResourceSet(
        {
            "sent": PrefetchValue(KeyStatus.PREFETCHED, ()),
            "paged": PrefetchValue(KeyStatus.FETCHED, (), complete=False),
            "none": PrefetchValue(KeyStatus.NULL),
            "gone": PrefetchValue(KeyStatus.UNAVAILABLE),
        }
    )

    assert data.complete("sent")
    assert data.complete("none")  # the client said no data exists: that is whole
    assert not data.complete("paged")
    assert not data.complete("gone")
    assert not data.complete("never-declared")


def test_a_type_is_incomplete_when_an_incomplete_key_holds_it_or_holds_nothing() -> None:
    lab = {"resourceType": "Observation", "id": "o1"}
    paged = ResourceSet(
        {
            "labs": PrefetchValue(KeyStatus.FETCHED, (lab,), complete=False),
            "meds": PrefetchValue(KeyStatus.PREFETCHED, ()),
        }
    )
    assert not paged.complete_type("Observation")
    assert paged.complete_type("MedicationRequest")

    empty = ResourceSet({"labs": PrefetchValue(KeyStatus.FETCHED, (), complete=False)})
    assert not empty.complete_type("MedicationRequest")
    assert ResourceSet({"labs": PrefetchValue(KeyStatus.FETCHED, (lab,))}).complete_type(
        "Observation"
    )
