"""CORS, health and security headers."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine

from tests.cds_service.support import URL, full_request
from tests.conftest import make_app


def test_preflight_is_answered_without_auth_and_allows_our_headers(tmp_path: Path) -> None:
    app = make_app(tmp_path, AUTH="jwt")
    response = app.test_client().options(
        URL,
        headers={
            "Origin": "https://sandbox.cds-hooks.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    allowed = {
        h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")
    }
    assert {"authorization", "content-type"} <= allowed
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_jwt_mode_without_trusted_issuers_fails_closed_with_bare_401(tmp_path: Path) -> None:
    app = make_app(tmp_path, AUTH="jwt")

    response = app.test_client().get("/cds-services")

    assert response.status_code == 401
    assert response.data == b""
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_configured_origins_are_echoed_and_others_get_no_cors(tmp_path: Path) -> None:
    app = make_app(tmp_path, CORS_ORIGINS="https://ehr.example.org")
    client = app.test_client()

    allowed = client.get("/cds-services", headers={"Origin": "https://ehr.example.org"})
    other = client.get("/cds-services", headers={"Origin": "https://evil.example.com"})

    assert allowed.headers["Access-Control-Allow-Origin"] == "https://ehr.example.org"
    assert "Origin" in allowed.headers["Vary"]
    assert "Access-Control-Allow-Origin" not in other.headers


@pytest.mark.parametrize("path", ["/cds-services", "/healthz", "/nope"])
def test_every_response_has_nosniff(client: FlaskClient, path: str) -> None:
    assert client.get(path).headers["X-Content-Type-Options"] == "nosniff"


def test_service_responses_are_not_cacheable(app: Flask, client: FlaskClient) -> None:
    response = client.post(URL, json=full_request(app))

    assert response.headers["Cache-Control"] == "no-store"


def test_healthz_is_ok(client: FlaskClient) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_is_ready_when_the_database_answers(client: FlaskClient) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.get_json()["status"] == "ready"


def test_readyz_is_503_when_the_database_is_unreachable(app: Flask, tmp_path: Path) -> None:
    store = app.extensions["cds"].pipeline.store
    store.engine = create_engine(f"sqlite:///{tmp_path}/missing-dir/x.sqlite3")

    response = app.test_client().get("/readyz")

    assert response.status_code == 503
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_unknown_path_is_404_operation_outcome(client: FlaskClient) -> None:
    response = client.get("/nope")

    assert response.status_code == 404
    assert response.get_json()["resourceType"] == "OperationOutcome"
