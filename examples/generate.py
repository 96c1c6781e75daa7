"""Regenerate the example patient-view requests from the resources below.

    .venv/bin/python examples/generate.py

Each request's prefetch answers the service's own templates, so the examples follow template
changes; tests/scenarios/test_examples.py checks the cards each one produces.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cds_service.memory_fhir import MemoryFhir, build_request
from cds_service.offline import offline_pipeline

HERE = Path(__file__).resolve().parent
PATIENT = "example-patient"
SUBJECT = {"reference": f"Patient/{PATIENT}"}
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
ACTIVE = {
    "coding": [
        {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
    ]
}


def patient(birth: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": PATIENT, "birthDate": birth, "gender": "female"}


def complaint() -> dict[str, Any]:
    condition: dict[str, Any] = json.loads((HERE / "knee-cramp-condition.json").read_text())
    condition.update(subject=SUBJECT, onsetDateTime="2026-11-10", recordedDate="2026-11-19")
    return condition


def condition(rid: str, code: str, display: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": rid,
        "subject": SUBJECT,
        "clinicalStatus": ACTIVE,
        "code": {"coding": [{"system": ICD10, "code": code, "display": display}], "text": display},
        "recordedDate": "2026-11-19",
    }


def medication(rid: str, rxcui: str, display: str, authored: str) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": "active",
        "intent": "order",
        "subject": SUBJECT,
        "medicationCodeableConcept": {
            "coding": [{"system": RXNORM, "code": rxcui, "display": display}],
            "text": display,
        },
        "authoredOn": authored,
        "dosageInstruction": [{"text": "1 tablet by mouth daily", "route": {"text": "oral"}}],
    }


def lab(rid: str, loinc: str, display: str, value: float, unit: str, when: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                    }
                ]
            }
        ],
        "subject": SUBJECT,
        "code": {"coding": [{"system": LOINC, "code": loinc, "display": display}], "text": display},
        "effectiveDateTime": when,
        "valueQuantity": {
            "value": value,
            "unit": unit,
            "system": "http://unitsofmeasure.org",
            "code": unit,
        },
    }


EXAMPLES: dict[str, list[dict[str, Any]]] = {
    "low-potassium-on-furosemide": [
        patient("1951-02-14"),
        complaint(),
        medication("furosemide", "313988", "Furosemide 40 MG Oral Tablet", "2026-06-01"),
        lab(
            "k",
            "2823-3",
            "Potassium [Moles/volume] in Serum or Plasma",
            3.1,
            "mmol/L",
            "2026-11-18T08:10:00Z",
        ),
        lab(
            "na",
            "2951-2",
            "Sodium [Moles/volume] in Serum or Plasma",
            138,
            "mmol/L",
            "2026-11-18T08:10:00Z",
        ),
    ],
    "statin-with-knee-cramps": [
        patient("1962-07-30"),
        complaint(),
        medication("atorvastatin", "617312", "Atorvastatin 40 MG Oral Tablet", "2026-08-01"),
    ],
    "fasciculations-with-weakness": [
        patient("1969-03-03"),
        complaint(),
        condition("fasciculation", "R25.3", "Fasciculation"),
        condition("weakness", "M62.81", "Muscle weakness (generalized)"),
        condition("atrophy", "M62.561", "Muscle wasting and atrophy, right lower leg"),
    ],
}


def build_all() -> dict[str, dict[str, Any]]:
    """Every example request, by file stem."""
    pipeline = offline_pipeline(datetime(2026, 11, 21, tzinfo=UTC))
    templates = pipeline.templates["knee-spasm-review"]
    requests = {}
    for name, resources in EXAMPLES.items():
        request = build_request(MemoryFhir(resources), templates, PATIENT)
        request["hookInstance"] = f"example-{name}"
        requests[name] = request
    return requests


def main() -> None:
    for name, request in build_all().items():
        (HERE / f"{name}.json").write_text(json.dumps(request, indent=1) + "\n")


if __name__ == "__main__":
    main()
