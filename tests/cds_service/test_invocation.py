from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cds_service import create_app
from hooks.registry import Prefetch, cds_service
from tests.cds_service.support import PATIENT_ID, URL, full_request, walk_empty
from tests.conftest import base_config, log_lines


def issues(response: Any) -> list[str]:
    body = response.get_json()
    assert body["resourceType"] == "OperationOutcome"
    return [issue["diagnostics"] for issue in body["issue"]]


def test_full_prefetch_without_complaint_returns_empty_cards(
    app: Flask, client: FlaskClient
) -> None:
    response = client.post(URL, json=full_request(app))

    assert response.status_code == 200
    assert response.get_json() == {"cards": []}
    assert response.headers["Cache-Control"] == "no-store"


FHIR = "https://fhir.example.org/r4"


def token(expires_in: object) -> dict[str, object]:
    return {
        "access_token": "t",
        "token_type": "Bearer",
        "expires_in": expires_in,
        "scope": "patient/*.read",
        "subject": "cds",
    }


def test_malformed_json_is_400(client: FlaskClient) -> None:
    response = client.post(URL, data=b'{"hook": ', content_type="application/json")

    assert response.status_code == 400
    assert "not valid JSON" in issues(response)[0]


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda r: r.pop("hook"), "hook"),
        (lambda r: r.pop("hookInstance"), "hookInstance"),
        (lambda r: r.pop("context"), "context"),
        (lambda r: r.update(fhirServer="not a url"), "fhirServer"),
        (lambda r: r.update(fhirAuthorization={"access_token": "t"}), "fhirAuthorization"),
        # Found by Schemathesis: the document says integer, lax parsing took text and floats.
        (lambda r: r.update(fhirServer=FHIR, fhirAuthorization=token("300")), "fhirAuth"),
        (lambda r: r.update(fhirServer=FHIR, fhirAuthorization=token(1e29)), "fhirAuth"),
        (lambda r: r.update(fhirServer=FHIR, fhirAuthorization=token(True)), "fhirAuth"),
        (lambda r: r.update(fhirServer=FHIR, fhirAuthorization=token(300.5)), "fhirAuth"),
    ],
)
def test_schema_errors_are_400_naming_the_field(
    app: Flask, client: FlaskClient, mutate: Any, field: str
) -> None:
    request = full_request(app)
    mutate(request)

    response = client.post(URL, json=request)

    assert response.status_code == 400
    assert any(line.startswith(field) for line in issues(response)), issues(response)


def test_each_bad_context_field_is_named(app: Flask, client: FlaskClient) -> None:
    request = full_request(app)
    request["context"] = {"userId": "Organization/1", "patientId": "../../etc/passwd"}

    response = client.post(URL, json=request)

    assert response.status_code == 400
    named = {line.split(":")[0] for line in issues(response)}
    assert named == {"context.userId", "context.patientId"}


def test_errors_never_echo_the_submitted_value(app: Flask, client: FlaskClient) -> None:
    request = full_request(app)
    request["context"]["patientId"] = "SECRET/value"

    response = client.post(URL, json=request)

    assert response.status_code == 400
    assert b"SECRET" not in response.data


def test_fhir_authorization_requires_fhir_server(app: Flask, client: FlaskClient) -> None:
    request = full_request(app)
    request["fhirAuthorization"] = {
        "access_token": "tok",
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "user/Patient.read",
        "subject": "cds",
    }

    response = client.post(URL, json=request)

    assert response.status_code == 400
    assert b"tok" not in response.data
    assert any("fhirServer is required" in line for line in issues(response))


def test_hook_must_match_the_service(app: Flask, client: FlaskClient) -> None:
    request = full_request(app)
    request["hook"] = "order-sign"

    response = client.post(URL, json=request)

    assert response.status_code == 400
    assert "patient-view" in issues(response)[0]


def test_unknown_service_is_404(client: FlaskClient) -> None:
    response = client.post("/cds-services/no-such-service", json={})

    assert response.status_code == 404
    assert issues(response) == ["no CDS service with this id"]


def test_get_on_a_service_is_405(client: FlaskClient) -> None:
    response = client.get(URL)

    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]


def test_wrong_content_type_is_415(client: FlaskClient) -> None:
    response = client.post(URL, data="hook=patient-view", content_type="text/plain")

    assert response.status_code == 415


def test_body_over_the_limit_is_413(tmp_path: Path) -> None:
    from tests.conftest import make_app

    app = make_app(tmp_path, MAX_BODY_BYTES=2048)
    request = full_request(app)
    request["extension"] = {"org.example.padding": "x" * 4096}

    response = app.test_client().post(URL, json=request)

    assert response.status_code == 413
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_json_nested_beyond_the_limit_is_413(tmp_path: Path) -> None:
    from tests.conftest import make_app

    app = make_app(tmp_path, MAX_JSON_DEPTH=16)
    request = full_request(app)
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(20):
        node["a"] = {}
        node = node["a"]
    request["extension"] = {"org.example.deep": deep}

    response = app.test_client().post(URL, json=request)

    assert response.status_code == 413


def test_missing_required_prefetch_without_fhir_server_is_412(
    app: Flask, client: FlaskClient
) -> None:
    request = full_request(app)
    del request["prefetch"]["patient"]

    response = client.post(URL, json=request)

    assert response.status_code == 412
    assert any("'patient'" in line for line in issues(response))


def test_non_resource_prefetch_value_is_400(app: Flask, client: FlaskClient) -> None:
    request = full_request(app)
    request["prefetch"]["patient"] = "123"

    response = client.post(URL, json=request)

    assert response.status_code == 400
    assert issues(response) == ["prefetch.patient: expected a FHIR resource or null"]


def _exploding_service() -> Any:
    @cds_service(
        id="exploding",
        hook="patient-view",
        title="Exploding",
        description="Raises, to test 500 handling.",
        prefetch={"patient": Prefetch("Patient/{{context.patientId}}")},
    )
    def explode(call: Any) -> Any:
        raise RuntimeError(f"boom for {call.context.patient_id}")

    return explode


def test_unexpected_error_is_500_with_request_id_and_no_detail(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(base_config(tmp_path), services=[_exploding_service()])
    request = {
        "hook": "patient-view",
        "hookInstance": "abc",
        "context": {"userId": "Practitioner/1", "patientId": PATIENT_ID},
        "prefetch": {"patient": {"resourceType": "Patient", "id": PATIENT_ID}},
    }

    response = app.test_client().post("/cds-services/exploding", json=request)

    assert response.status_code == 500
    request_id = response.headers["X-Request-ID"]
    assert issues(response) == [f"request id {request_id}"]
    assert b"boom" not in response.data
    logs = log_lines(caplog)
    assert PATIENT_ID not in logs
    assert '"error_type":"RuntimeError"' in logs
    assert "test_invocation:explode:" in logs


def test_error_bodies_have_no_empty_fields(client: FlaskClient) -> None:
    response = client.post(URL, data=b"[", content_type="application/json")

    assert walk_empty(response.get_json()) == []
