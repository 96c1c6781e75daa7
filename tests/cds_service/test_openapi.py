"""The OpenAPI 3.1 document: shipped in sync, valid, served, and true of real responses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from cds_service import errors
from cds_service.cli import main
from cds_service.cli_admin import render_openapi
from cds_service.openapi import build_openapi
from tests.cds_service.support import URL, full_request
from tests.conftest import make_app

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "docs" / "openapi.json"
EXAMPLES = ROOT / "examples"


def shipped() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(SHIPPED.read_text(encoding="utf-8"))
    return document


def schema_validator(document: dict[str, Any], name: str) -> OAS31Validator:
    """A validator for one component schema, resolving refs within the document."""
    root = {**document["components"]["schemas"][name], "components": document["components"]}
    return OAS31Validator(root)


def assert_conforms(document: dict[str, Any], name: str, body: Any) -> None:
    problems = [e.message for e in schema_validator(document, name).iter_errors(body)]
    assert problems == [], f"{name}: {problems}"


def test_the_shipped_document_is_the_generated_one() -> None:
    result = CliRunner().invoke(main, ["openapi"])

    assert result.exit_code == 0, result.output
    assert SHIPPED.read_text(encoding="utf-8") == result.stdout, (
        "docs/openapi.json is stale: run `.venv/bin/cds-service openapi > docs/openapi.json`"
    )
    assert json.loads(result.stdout) == build_openapi()
    assert result.stdout == render_openapi(build_openapi()) + "\n"


def test_the_document_is_valid_openapi_3_1() -> None:
    document = shipped()

    validate(document)
    assert document["openapi"] == "3.1.0"


def test_every_cds_endpoint_requires_the_jwt_and_health_does_not() -> None:
    document = build_openapi()
    secured = {
        (path, method)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if operation.get("security") == [{"cdsHooksJwt": []}]
    }

    assert secured == {
        ("/cds-services", "get"),
        ("/cds-services/knee-spasm-review", "post"),
        ("/cds-services/knee-spasm-review/feedback", "post"),
    }
    assert document["components"]["securitySchemes"]["cdsHooksJwt"]["scheme"] == "bearer"
    assert "securitySchemes" not in build_openapi(auth=False)["components"]


def test_response_schemas_allow_no_null() -> None:
    document = shipped()
    text = json.dumps(document["components"]["schemas"])
    for name in ("Card", "CdsResponse", "Discovery", "FeedbackReceipt", "Source"):
        assert '"null"' not in json.dumps(document["components"]["schemas"][name]), name
    assert '"null"' in text  # requests may carry null: the service accepts it


def test_the_server_serves_its_own_configuration(tmp_path: Path) -> None:
    jwt_app = make_app(tmp_path / "jwt", AUTH="jwt", PUBLIC_BASE_URL="https://cds.example.org")
    open_app = make_app(tmp_path / "off")

    served = jwt_app.test_client().get("/openapi.json")
    open_doc = open_app.test_client().get("/openapi.json").get_json()

    assert served.status_code == 200
    document = served.get_json()
    assert document.pop("servers") == [{"url": "https://cds.example.org"}]
    assert document == shipped()
    assert "security" not in open_doc["paths"]["/cds-services"]["get"]


def test_real_error_bodies_match_the_documented_outcome() -> None:
    document = shipped()
    for error_type in (
        errors.InvalidRequest,
        errors.UnknownService,
        errors.MethodNotAllowed,
        errors.PayloadTooLarge,
        errors.UnsupportedMediaType,
        errors.PreconditionFailed,
        errors.ServiceUnavailable,
        errors.InternalError,
    ):
        body = error_type("message", details=["a", "b"]).outcome()
        assert_conforms(document, "OperationOutcomeBody", body)


@pytest.mark.parametrize(
    "example",
    ["low-potassium-on-furosemide", "statin-with-knee-cramps", "fasciculations-with-weakness"],
)
def test_real_cards_match_the_documented_response(tmp_path: Path, example: str) -> None:
    app = make_app(tmp_path, CLOCK="2026-11-21")
    request = json.loads((EXAMPLES / f"{example}.json").read_text())

    response = app.test_client().post(URL, json=request)

    assert response.status_code == 200
    body = response.get_json()
    assert body["cards"], "the example should give a card"
    assert_conforms(shipped(), "CdsResponse", body)
    assert_conforms(shipped(), "KneeSpasmReviewRequest", request)


def test_discovery_feedback_and_errors_match_the_document(app: Flask) -> None:
    client = app.test_client()
    document = shipped()
    discovery = client.get("/cds-services")
    invalid = client.post(URL, json={"hook": "patient-view"})
    feedback = client.post(
        f"{URL}/feedback",
        json={
            "feedback": [
                {"card": "c1", "outcome": "overridden", "outcomeTimestamp": "2026-01-01T00:00:00Z"}
            ]
        },
    )

    assert_conforms(document, "Discovery", discovery.get_json())
    assert invalid.status_code == 400
    assert invalid.content_type == "application/fhir+json"
    assert_conforms(document, "OperationOutcomeBody", invalid.get_json())
    assert_conforms(document, "FeedbackReceipt", feedback.get_json())
    assert_conforms(document, "KneeSpasmReviewRequest", full_request(app))
