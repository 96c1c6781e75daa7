from __future__ import annotations

from flask.testing import FlaskClient

from tests.builders import knowledge
from tests.cds_service.support import walk_empty


def test_discovery_lists_knee_spasm_review_with_its_hook_and_prefetch(client: FlaskClient) -> None:
    response = client.get("/cds-services")

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    services = response.get_json()["services"]
    assert [s["id"] for s in services] == ["knee-spasm-review"]
    service = services[0]
    assert service["hook"] == "patient-view"
    assert service["description"]
    assert service["title"]
    assert service["prefetch"]["patient"] == "Patient/{{context.patientId}}"


def test_discovery_sends_no_empty_fields(client: FlaskClient) -> None:
    body = client.get("/cds-services").get_json()

    assert walk_empty(body) == []


def test_discovery_advertises_the_knowledge_version(client: FlaskClient) -> None:
    service = client.get("/cds-services").get_json()["services"][0]

    version = service["extension"]["org.kneespasmcds.knowledge-version"]
    assert version == knowledge().version  # the release, or <release>+dev.<digest>


def test_discovery_rejects_post_with_405(client: FlaskClient) -> None:
    response = client.post("/cds-services", json={})

    assert response.status_code == 405
    assert response.get_json()["resourceType"] == "OperationOutcome"
    assert "GET" in response.headers["Allow"]
