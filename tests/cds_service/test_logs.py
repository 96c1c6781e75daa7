"""Logs are structured and PHI-free: full requests leave no patient data, free text or tokens."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from cds_service.logs import log_event
from cds_service.memory_fhir import MemoryFhir, build_request
from tests.cds_service.auth_support import bearer, es384, jwks, jwt_app, mint, write_issuers
from tests.cds_service.support import SERVICE, URL, templates
from tests.conftest import log_lines
from tests.fhir_server import LocalFhirServer

ISS = "https://ehr.example.org"
KEY = es384("log-key")
PATIENT_ID = "pt-zz-7f3a91"
USER_ID = "Practitioner/dr-qq-5521"
GIVEN, FAMILY = "Wilhelmina", "Quartermaine"
BIRTH_DATE = "1931-02-03"
LAB_VALUE = 97.6543
FREE_TEXT = "sharp cramp behind the left knee since Tuesday"
FHIR_TOKEN = "fhir-token-9b8c7d6e5f"
COMMENT = "Discussed with Wilhelmina's daughter"

RECORD: list[dict[str, Any]] = [
    {
        "resourceType": "Patient",
        "id": PATIENT_ID,
        "name": [{"given": [GIVEN], "family": FAMILY}],
        "birthDate": BIRTH_DATE,
    },
    {
        "resourceType": "Condition",
        "id": "c-1",
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "55300003"}]},
        "note": [{"text": FREE_TEXT}],
    },
    {
        "resourceType": "Observation",
        "id": "o-1",
        "status": "final",
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "2823-3"}]},
        "valueQuantity": {"value": LAB_VALUE, "unit": "mmol/L"},
    },
]
SECRETS = [
    PATIENT_ID,
    "dr-qq-5521",
    GIVEN,
    FAMILY,
    BIRTH_DATE,
    str(LAB_VALUE),
    FREE_TEXT,
    FHIR_TOKEN,
    COMMENT,
]


def make(tmp_path: Path, **config: Any) -> Flask:
    issuers = write_issuers(tmp_path, {"iss": ISS, "jwks": jwks(KEY)})
    return jwt_app(tmp_path, issuers, **config)


def prefetched_request(app: Flask) -> dict[str, Any]:
    body = build_request(MemoryFhir(RECORD), templates(app), PATIENT_ID, user_id=USER_ID)
    body["prefetch"]["undeclared-labs"] = {
        "resourceType": "Bundle",
        "entry": [{"resource": RECORD[2]}],
    }
    return body


def assert_phi_free(text: str, *extra: str) -> None:
    leaked = [secret for secret in [*SECRETS, *extra] if secret in text]
    assert leaked == []


def request_log(caplog: pytest.LogCaptureFixture) -> dict[str, Any]:
    (line,) = [json.loads(x) for x in log_lines(caplog).splitlines() if '"event":"request"' in x]
    return dict(line)


def test_an_invocation_with_prefetch_logs_its_shape_and_no_phi(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = make(tmp_path)
    body = prefetched_request(app)
    token = mint(KEY, URL)
    assert all(secret in json.dumps(body) for secret in SECRETS[:7])  # the request holds them all
    caplog.clear()

    response = app.test_client().post(URL, json=body, headers=bearer(token))

    assert response.status_code == 200
    assert_phi_free(log_lines(caplog), token)
    entry = request_log(caplog)
    assert entry["service_id"] == SERVICE
    assert entry["hook_instance"] == body["hookInstance"]
    assert entry["status"] == 200
    assert entry["card_count"] == len(response.get_json()["cards"])
    assert entry["prefetch"]["hit"] == len(templates(app))
    assert {"request_id", "latency_ms", "rule_ids"} <= set(entry)


def test_fhir_fallback_with_a_token_logs_counts_but_not_the_token(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with LocalFhirServer(RECORD) as server:
        app = make(tmp_path, FHIR_ALLOWLIST=[server.base_url], FHIR_ALLOW_LOOPBACK_HTTP=True)
        body = prefetched_request(app)
        body.pop("prefetch")
        body["fhirServer"] = server.base_url
        body["fhirAuthorization"] = {
            "access_token": FHIR_TOKEN,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "user/*.read",
            "subject": "cds-service",
            "patient": PATIENT_ID,
        }
        token = mint(KEY, URL)
        response = app.test_client().post(URL, json=body, headers=bearer(token))

    assert response.status_code == 200
    assert server.seen  # the fallback really ran, with the token
    assert_phi_free(log_lines(caplog), token, server.base_url)
    prefetch = request_log(caplog)["prefetch"]
    assert prefetch["fallback"] == prefetch["miss"] == len(templates(app))


def test_feedback_free_text_is_not_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    app = make(tmp_path)
    item = {
        "card": "4e0a3a1e-3283-4575-ab82-028d55fe2719",
        "outcome": "overridden",
        "overrideReason": {
            "reason": {"code": "x", "system": "https://example.org/o", "display": FREE_TEXT},
            "userComment": COMMENT,
        },
        "outcomeTimestamp": "2021-12-11T10:05:31Z",
    }
    token = mint(KEY, URL + "/feedback")

    response = app.test_client().post(
        URL + "/feedback", json={"feedback": [item]}, headers=bearer(token)
    )

    assert response.status_code == 200
    assert_phi_free(log_lines(caplog), token)
    assert request_log(caplog)["feedback_count"] == 1


def test_a_rejected_jwt_is_logged_by_category_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = make(tmp_path)
    jti = "jti-unique-4242-canary"
    token = mint(KEY, URL, aud="https://elsewhere.test/x", jti=jti)

    response = app.test_client().post(URL, json=prefetched_request(app), headers=bearer(token))

    assert response.status_code == 401
    assert_phi_free(log_lines(caplog), token, jti, token.split(".")[1])
    assert request_log(caplog)["reason"] == "wrong-audience"


def test_a_schema_error_on_a_phi_field_logs_no_value(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = make(tmp_path)
    body = prefetched_request(app)
    body["context"]["patientId"] = {"name": f"{GIVEN} {FAMILY}", "birthDate": BIRTH_DATE}

    response = app.test_client().post(URL, json=body, headers=bearer(mint(KEY, URL)))

    assert response.status_code == 400
    assert_phi_free(log_lines(caplog) + response.get_data(as_text=True))


def test_an_unexpected_error_logs_where_not_what(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = make(tmp_path)

    def boom(*args: object) -> None:
        raise RuntimeError(f"failed for {PATIENT_ID} born {BIRTH_DATE}")

    app.extensions["cds"].pipeline.invoke = boom
    response = app.test_client().post(
        URL, json=prefetched_request(app), headers=bearer(mint(KEY, URL))
    )

    assert response.status_code == 500
    lines = log_lines(caplog)
    assert_phi_free(lines + response.get_data(as_text=True))
    assert '"error_type":"RuntimeError"' in lines


def test_fields_off_the_allowlist_are_dropped_and_named(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="cds_service")

    log_event(logging.INFO, "probe", patient_id=PATIENT_ID, status=200)

    (line,) = [json.loads(x) for x in log_lines(caplog).splitlines()]
    assert line["status"] == 200
    assert line["dropped_fields"] == ["patient_id"]
    assert PATIENT_ID not in log_lines(caplog)


CANARY = "zq-canary-5150"


def test_caller_chosen_ids_never_reach_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = make(tmp_path, AUTH="off")
    client = app.test_client()
    body = prefetched_request(app)
    body["hookInstance"] = f"{CANARY} not a uuid"

    unknown = client.post(f"/cds-services/{CANARY}", json=body)
    call = client.post(URL, json=body)
    method = client.open(URL, method="PROPFIND")

    assert (unknown.status_code, call.status_code, method.status_code) == (404, 200, 405)
    assert CANARY not in log_lines(caplog)
    logged = [json.loads(x) for x in log_lines(caplog).splitlines() if '"event":"request"' in x]
    assert [e.get("service_id") for e in logged] == ["unknown", SERVICE, None]
    assert logged[1]["hook_instance"] is None
    assert logged[2]["method"] == "other"
