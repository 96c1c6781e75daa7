"""Prefetch resolution and fhirServer fallback, against a real HTTP FHIR server on loopback."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from cds_service import create_app
from cds_service.migrate import upgrade
from cds_service.prefetch import render
from hooks.fhirdata import KeyStatus
from hooks.findings import Assessment
from hooks.registry import HookCall, Prefetch, ReferenceFollow, cds_service
from tests.conftest import base_config
from tests.fhir_server import LocalFhirServer

PATIENT = {"resourceType": "Patient", "id": "p1", "birthDate": "1970-01-01"}


def _obs(i: int) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"o{i}",
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "2823-3"}]},
        "effectiveDateTime": f"2021-01-{(i % 28) + 1:02d}T00:00:00Z",
        "valueQuantity": {"value": 4.0, "unit": "mmol/L"},
    }


SEEN: dict[str, HookCall[Any]] = {}


@cds_service(
    id="probe",
    hook="patient-view",
    title="Probe",
    description="Records what it was given, for prefetch tests.",
    prefetch={
        "patient": Prefetch("Patient/{{context.patientId}}"),
        "labs": Prefetch("Observation?patient={{context.patientId}}&code=http://loinc.org|2823-3"),
        "encounter": Prefetch("Encounter/{{context.encounterId}}", required=False),
        "notes": Prefetch("DocumentReference?patient={{context.patientId}}", required=False),
    },
)
def probe(call: HookCall[Any]) -> Assessment:
    SEEN["call"] = call
    return Assessment()


def make(tmp_path: Path, server: LocalFhirServer | None = None, **config: Any) -> Flask:
    allow = [server.base_url] if server else []
    config = {"FHIR_ALLOWLIST": allow, "FHIR_ALLOW_LOOPBACK_HTTP": True, **config}
    settings = base_config(tmp_path, **config)
    app = create_app(settings, services=[probe])
    upgrade(app.extensions["cds"].pipeline.store.engine)
    SEEN.clear()
    return app


def request(server: LocalFhirServer | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/u1", "patientId": "p1"},
    }
    if server is not None:
        body["fhirServer"] = server.base_url
    body.update(extra)
    return body


TOKEN_AUTH = {
    "access_token": "fhir-access-token-123",
    "token_type": "Bearer",
    "expires_in": 300,
    "scope": "user/Patient.read user/Observation.read",
    "subject": "cds-service",
}


def test_missing_keys_are_fetched_with_the_bearer_token(tmp_path: Path) -> None:
    with LocalFhirServer([PATIENT, _obs(1)]) as server:
        app = make(tmp_path, server)
        response = app.test_client().post(
            "/cds-services/probe", json=request(server, fhirAuthorization=TOKEN_AUTH)
        )

    assert response.status_code == 200
    paths = {s.path.split("?")[0] for s in server.seen}
    assert paths == {"/fhir/Patient/p1", "/fhir/Observation", "/fhir/DocumentReference"}
    assert all(s.headers["authorization"] == "Bearer fhir-access-token-123" for s in server.seen)
    call = SEEN["call"]
    assert call.data.status("labs") is KeyStatus.FETCHED
    assert [r["id"] for r in call.data.raw("Observation")] == ["o1"]


def test_without_fhir_authorization_the_open_server_is_called_without_a_token(
    tmp_path: Path,
) -> None:
    with LocalFhirServer([PATIENT]) as server:
        app = make(tmp_path, server)
        app.test_client().post("/cds-services/probe", json=request(server))

    assert server.seen
    assert all("authorization" not in s.headers for s in server.seen)


def test_pagination_is_followed_to_the_last_page(tmp_path: Path) -> None:
    observations = [_obs(i) for i in range(7)]
    with LocalFhirServer([PATIENT, *observations], page_size=3) as server:
        app = make(tmp_path, server)
        response = app.test_client().post("/cds-services/probe", json=request(server))

    assert response.status_code == 200
    assert sorted(r["id"] for r in SEEN["call"].data.raw("Observation")) == sorted(
        o["id"] for o in observations
    )
    assert sum(s.path.startswith("/fhir/Observation") for s in server.seen) == 3


def test_pagination_is_bounded(tmp_path: Path) -> None:
    with LocalFhirServer([PATIENT, *[_obs(i) for i in range(10)]], page_size=2) as server:
        app = make(tmp_path, server, FHIR_MAX_PAGES=2)
        response = app.test_client().post("/cds-services/probe", json=request(server))

    assert response.status_code == 412
    assert sum(s.path.startswith("/fhir/Observation") for s in server.seen) == 2


def test_a_client_bundle_with_a_next_link_is_completed_from_the_server(tmp_path: Path) -> None:
    with LocalFhirServer([PATIENT, *[_obs(i) for i in range(4)]], page_size=2) as server:
        app = make(tmp_path, server)
        first_page = server.memory.get(
            "Observation?patient=p1&code=http://loinc.org|2823-3", server.base_url, 2
        )
        body = request(server, prefetch={"patient": PATIENT, "labs": first_page})
        response = app.test_client().post("/cds-services/probe", json=body)

    assert response.status_code == 200
    assert len(list(SEEN["call"].data.raw("Observation"))) == 4
    observation_calls = [s.path for s in server.seen if s.path.startswith("/fhir/Observation")]
    assert len(observation_calls) == 1
    assert "_offset=2" in observation_calls[0]


def test_a_slow_server_gives_412_within_the_deadline(tmp_path: Path) -> None:
    with LocalFhirServer([PATIENT], delay=2.0) as server:
        app = make(tmp_path, server, PREFETCH_DEADLINE_SECONDS=0.3)
        started = time.monotonic()
        response = app.test_client().post("/cds-services/probe", json=request(server))
        elapsed = time.monotonic() - started

    assert response.status_code == 412
    assert elapsed < 1.5
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_a_server_not_on_the_allowlist_is_never_contacted(tmp_path: Path) -> None:
    with LocalFhirServer([PATIENT]) as allowed, LocalFhirServer([PATIENT]) as other:
        app = make(tmp_path, allowed)
        response = app.test_client().post("/cds-services/probe", json=request(other))

    assert response.status_code == 412
    assert other.seen == []


def test_http_loopback_is_refused_unless_explicitly_allowed(tmp_path: Path) -> None:
    with LocalFhirServer([PATIENT]) as server:
        app = make(tmp_path, server, FHIR_ALLOW_LOOPBACK_HTTP=False)
        response = app.test_client().post("/cds-services/probe", json=request(server))

    assert response.status_code == 412
    assert server.seen == []


def test_a_path_outside_the_allowlisted_base_is_refused(tmp_path: Path) -> None:
    with LocalFhirServer([PATIENT]) as server:
        app = make(tmp_path, server)
        body = request(server)
        body["fhirServer"] = server.origin + "/fhir-other"
        response = app.test_client().post("/cds-services/probe", json=body)

    assert response.status_code == 412
    assert server.seen == []


def test_a_redirect_off_the_server_is_not_followed(tmp_path: Path) -> None:
    with LocalFhirServer([PATIENT]) as target, LocalFhirServer([PATIENT]) as server:
        server.redirect_to = target.base_url + "/Patient/p1"
        app = make(tmp_path, server)
        response = app.test_client().post(
            "/cds-services/probe", json=request(server, fhirAuthorization=TOKEN_AUTH)
        )

    assert response.status_code == 412
    assert target.seen == []


def test_null_prefetch_means_no_data_and_is_not_refetched(tmp_path: Path) -> None:
    with LocalFhirServer([PATIENT, _obs(1)]) as server:
        app = make(tmp_path, server)
        body = request(server, prefetch={"patient": PATIENT, "labs": None})
        response = app.test_client().post("/cds-services/probe", json=body)

    assert response.status_code == 200
    assert SEEN["call"].data.status("labs") is KeyStatus.NULL
    assert list(SEEN["call"].data.raw("Observation")) == []
    assert not any(s.path.startswith("/fhir/Observation") for s in server.seen)


def test_an_operation_outcome_prefetch_value_is_refetched(tmp_path: Path) -> None:
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "timeout"}],
    }
    with LocalFhirServer([PATIENT, _obs(2)]) as server:
        app = make(tmp_path, server)
        body = request(server, prefetch={"patient": PATIENT, "labs": outcome})
        response = app.test_client().post("/cds-services/probe", json=body)

    assert response.status_code == 200
    assert [r["id"] for r in SEEN["call"].data.raw("Observation")] == ["o2"]


def test_prefetched_keys_are_used_as_sent_without_calling_the_server(tmp_path: Path) -> None:
    with LocalFhirServer([PATIENT]) as server:
        app = make(tmp_path, server)
        labs = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": _obs(3)}]}
        body = request(server, prefetch={"patient": PATIENT, "labs": labs, "notes": None})
        app.test_client().post("/cds-services/probe", json=body)

    assert server.seen == []
    assert SEEN["call"].data.status("labs") is KeyStatus.PREFETCHED


def test_an_optional_key_that_fails_is_unavailable_not_412(tmp_path: Path) -> None:
    with LocalFhirServer([PATIENT, _obs(1)]) as server:
        app = make(tmp_path, server)
        body = request(server, prefetch={"patient": PATIENT})
        server.status = None
        response = app.test_client().post("/cds-services/probe", json=body)

    assert response.status_code == 200
    data = SEEN["call"].data
    # No encounterId in context: the template cannot be rendered, so the key is unavailable.
    assert data.status("encounter") is KeyStatus.UNAVAILABLE
    assert data.status("notes") is KeyStatus.FETCHED


def test_a_server_error_on_a_required_key_is_412_naming_it(tmp_path: Path) -> None:
    with LocalFhirServer([PATIENT]) as server:
        server.status = 500
        app = make(tmp_path, server)
        body = request(server, prefetch={"patient": PATIENT})
        response = app.test_client().post("/cds-services/probe", json=body)

    assert response.status_code == 412
    diagnostics = [i["diagnostics"] for i in response.get_json()["issue"]]
    assert diagnostics == [
        "prefetch key 'labs' was not sent and could not be fetched: "
        "the FHIR server answered HTTP 500 (http-500)"
    ]


def test_too_many_resources_is_413(tmp_path: Path) -> None:
    app = make(tmp_path, MAX_PREFETCH_RESOURCES=3)
    labs = {"resourceType": "Bundle", "entry": [{"resource": _obs(i)} for i in range(5)]}
    body = request(prefetch={"patient": PATIENT, "labs": labs, "notes": None, "encounter": None})

    response = app.test_client().post("/cds-services/probe", json=body)

    assert response.status_code == 413


@pytest.mark.parametrize(
    ("template", "tokens", "expected"),
    [
        ("Patient/{{context.patientId}}", {"context.patientId": "p1"}, "Patient/p1"),
        ("Patient/{{ context.patientId }}", {"context.patientId": "p1"}, "Patient/p1"),
        (
            "PractitionerRole?_id={{userPractitionerRoleId}}",
            {"userPractitionerRoleId": "r9"},
            "PractitionerRole?_id=r9",
        ),
        ("Encounter/{{context.encounterId}}", {"context.patientId": "p1"}, None),
        ("Patient/{{context.patientId}}", {"context.patientId": "a b&c"}, "Patient/a%20b%26c"),
    ],
)
def test_tokens_are_substituted_and_encoded(
    template: str, tokens: dict[str, str], expected: str | None
) -> None:
    assert render(template, tokens) == expected


@cds_service(
    id="follow-probe",
    hook="patient-view",
    title="Follow probe",
    description="Records what it was given, with references followed.",
    prefetch={"meds": Prefetch("MedicationRequest?patient={{context.patientId}}")},
    follow=(ReferenceFollow("MedicationRequest", "medicationReference", "Medication"),),
)
def follow_probe(call: HookCall[Any]) -> Assessment:
    SEEN["call"] = call
    return Assessment()


def _med_request(rid: str, reference: object) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationReference": reference,
    }


def test_referenced_medications_are_fetched_and_malformed_references_skipped(
    tmp_path: Path,
) -> None:
    medication = {"resourceType": "Medication", "id": "m1"}
    sent = [
        _med_request("r1", {"reference": "Medication/m1"}),
        _med_request("r2", "Medication/m1"),  # client data: any JSON type
        _med_request("r3", {"reference": ["Medication/m1"]}),
        _med_request("r4", {"reference": "https://elsewhere.example/Medication/m9"}),
    ]
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in sent],
    }
    with LocalFhirServer([PATIENT, medication]) as server:
        allow = {"FHIR_ALLOWLIST": [server.base_url], "FHIR_ALLOW_LOOPBACK_HTTP": True}
        app = create_app(base_config(tmp_path, **allow), services=[follow_probe])
        upgrade(app.extensions["cds"].pipeline.store.engine)
        body = request(server, prefetch={"meds": bundle})
        response = app.test_client().post("/cds-services/follow-probe", json=body)

    assert response.status_code == 200
    assert [s.path for s in server.seen] == ["/fhir/Medication/m1"]  # never another server
    assert [r["id"] for r in SEEN["call"].data.raw("Medication")] == ["m1"]
