"""ResourceSet: lazy, selective, projected validation of prefetch data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient

from hooks.fhirdata import KeyStatus, PrefetchValue, ResourceSet
from hooks.patient_view.facts.complaint import ENCOUNTER_FIELDS, SYMPTOM_FIELDS
from hooks.patient_view.facts.conditions import CONDITION_FIELDS
from hooks.patient_view.facts.labs import LAB_FIELDS
from hooks.patient_view.facts.medications import REQUEST_FIELDS
from hooks.patient_view.facts.patient import PATIENT_FIELDS
from tests.conftest import require_or_skip

SYNTHEA = Path(__file__).resolve().parents[2].parent / "shared" / "fhir" / "synthea"
SAMPLE = "Parker_Casper_6d0c6969-6843-47e1-9921-d9bf11b1df31.json"


def resource_set(*resources: dict[str, Any]) -> ResourceSet:
    return ResourceSet({"k": PrefetchValue(KeyStatus.PREFETCHED, tuple(resources))})


def test_select_validates_only_the_listed_fields() -> None:
    broken_narrative = {
        "resourceType": "Patient",
        "id": "p1",
        "birthDate": "1950-01-02",
        "text": {"status": "not-a-status", "div": 42},
    }
    data = resource_set(broken_narrative)

    assert data.select(Patient) == []
    assert data.invalid == ["Patient/p1"]
    projected = data.select(Patient, fields=PATIENT_FIELDS)
    assert [str(p.birthDate) for p in projected] == ["1950-01-02"]


def test_select_drops_fields_that_were_not_asked_for() -> None:
    data = resource_set({"resourceType": "Patient", "id": "p1", "active": True})

    (patient,) = data.select(Patient, fields=PATIENT_FIELDS)

    assert patient.active is None


def test_where_filters_on_raw_json_before_validation() -> None:
    data = resource_set(
        {"resourceType": "Patient", "id": "keep"}, {"resourceType": "Patient", "id": "skip"}
    )

    chosen = data.select(Patient, where=lambda raw: raw["id"] == "keep")

    assert [p.id for p in chosen] == ["keep"]


def test_resources_are_deduplicated_by_id_across_keys() -> None:
    patient = {"resourceType": "Patient", "id": "p1"}
    data = ResourceSet(
        {
            "a": PrefetchValue(KeyStatus.PREFETCHED, (patient,)),
            "b": PrefetchValue(KeyStatus.FETCHED, (patient,)),
        }
    )

    assert len(data.select(Patient)) == 1


PROJECTIONS = [
    (Patient, PATIENT_FIELDS),
    (Condition, CONDITION_FIELDS),
    (Observation, LAB_FIELDS),
    (Observation, SYMPTOM_FIELDS),
    (Encounter, ENCOUNTER_FIELDS),
    (MedicationRequest, REQUEST_FIELDS),
]


@pytest.mark.parametrize(("model", "fields"), PROJECTIONS)
def test_every_projection_keeps_what_r4_requires(model: Any, fields: tuple[str, ...]) -> None:
    """A projection that dropped a required element would silently discard every resource."""
    if not (SYNTHEA / SAMPLE).exists():
        require_or_skip("shared Synthea data not present")
    bundle = json.loads((SYNTHEA / SAMPLE).read_text())
    kind = model.get_resource_type()
    resources = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]
    data = resource_set(*resources)

    chosen = data.select(model, fields=fields)

    assert resources
    assert data.invalid == []
    assert len(chosen) == len(resources)


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
