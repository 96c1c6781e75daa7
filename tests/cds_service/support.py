"""Request builders for protocol tests: a small patient answered through the real templates."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask

from cds_service.memory_fhir import MemoryFhir, build_request

PATIENT_ID = "pat-1"
SERVICE = "knee-spasm-review"
URL = f"/cds-services/{SERVICE}"

PATIENT = {"resourceType": "Patient", "id": PATIENT_ID, "birthDate": "1960-05-01"}
CONDITION = {
    "resourceType": "Condition",
    "id": "cond-1",
    "subject": {"reference": f"Patient/{PATIENT_ID}"},
    "clinicalStatus": {
        "coding": [
            {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
        ]
    },
    "code": {"coding": [{"system": "http://snomed.info/sct", "code": "38341003"}]},
}


def templates(app: Flask) -> dict[str, str]:
    result: dict[str, str] = app.extensions["cds"].pipeline.templates[SERVICE]
    return result


def full_request(app: Flask, resources: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Every prefetch key answered from `resources` (default: a patient and one condition)."""
    fhir = MemoryFhir(resources if resources is not None else [PATIENT, CONDITION])
    return build_request(fhir, templates(app), PATIENT_ID)


def walk_empty(value: Any, path: str = "$") -> list[str]:
    """Paths of null, "", [] or {} anywhere in a JSON document (the spec forbids them)."""
    found: list[str] = []
    if value is None or value == "" or value == [] or value == {}:
        found.append(path)
    if isinstance(value, dict):
        for key, child in value.items():
            found += walk_empty(child, f"{path}.{key}")
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found += walk_empty(child, f"{path}[{i}]")
    return found


def dumps(value: Any) -> str:
    return json.dumps(value)
