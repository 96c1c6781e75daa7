from __future__ import annotations

from datetime import date

import orjson
from flask import Flask

from bench.workloads import SERVICE_ID, Workload, build_workloads, sent_resources
from cds_service.memory_fhir import MemoryFhir

FHIR = "http://127.0.0.1:9/fhir"
TEMPLATES = {
    "patient": "Patient/{{context.patientId}}",
    "labs": "Observation?patient={{context.patientId}}&code=http://loinc.org|2823-3&_count=2",
    "notes": "DocumentReference?patient={{context.patientId}}",
}


def by_name(templates: dict[str, str]) -> dict[str, Workload]:
    return {w.name: w for w in build_workloads(templates, FHIR, 5, date(2026, 3, 1))}


def test_prefetch_answers_every_template_and_nothing_else() -> None:
    small = orjson.loads(by_name(TEMPLATES)["small"].body)

    assert set(small["prefetch"]) == set(TEMPLATES)
    assert small["prefetch"]["patient"]["resourceType"] == "Patient"
    assert small["prefetch"]["notes"]["entry"] == []


def test_a_templates_count_does_not_leave_a_next_link_to_a_server_we_do_not_name() -> None:
    typical = by_name(TEMPLATES)["typical"]
    labs = orjson.loads(typical.body)["prefetch"]["labs"]

    assert "link" not in labs
    assert len(labs["entry"]) == 15  # every potassium result: 15 monthly panels, not _count=2
    assert typical.sent == 16


def test_fallback_sends_no_prefetch_and_names_the_fhir_server() -> None:
    fallback = by_name(TEMPLATES)["fallback"]
    body = orjson.loads(fallback.body)

    assert "prefetch" not in body
    assert body["fhirServer"] == FHIR
    assert body["context"]["patientId"] == fallback.patient_id
    assert fallback.fallback


def test_sent_resources_counts_bundle_entries_and_single_resources() -> None:
    fhir = MemoryFhir([{"resourceType": "Patient", "id": "p"}])
    prefetch = {
        "a": {"resourceType": "Bundle", "entry": [{}, {}]},
        "b": fhir.get("Patient/p", base="urn:x"),
        "c": None,
    }

    assert sent_resources(prefetch) == 3


def test_every_workload_is_a_valid_call_to_the_real_service(app: Flask) -> None:
    templates = app.extensions["cds"].pipeline.templates[SERVICE_ID]
    client = app.test_client()

    for workload in by_name(templates).values():
        if workload.fallback:
            continue  # needs the bench FHIR server; the smoke test covers it
        response = client.post(
            f"/cds-services/{SERVICE_ID}", data=workload.body, content_type="application/json"
        )
        assert response.status_code == 200, (workload.name, response.get_data(as_text=True))
