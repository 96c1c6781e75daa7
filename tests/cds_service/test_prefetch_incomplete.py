"""Pages a client sent are kept when the rest cannot be had; every failure names its cause."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from cds_service.metrics import Metrics
from hooks.fhirdata import KeyStatus
from tests.cds_service.test_prefetch import PATIENT, SEEN, _obs, make, request
from tests.conftest import log_lines, make_app
from tests.fhir_server import LocalFhirServer

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "low-potassium-on-furosemide.json"
LAB_QUERY = "Observation?patient=p1&code=http://loinc.org|2823-3"


def first_page(next_url: str, *ids: int, total: int | None = None) -> dict[str, Any]:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": _obs(i), "search": {"mode": "match"}} for i in ids],
        "link": [{"relation": "next", "url": next_url}],
    }
    if total is not None:
        bundle["total"] = total
    return bundle


def request_log(caplog: pytest.LogCaptureFixture) -> dict[str, Any]:
    lines = [json.loads(x) for x in log_lines(caplog).splitlines() if '"event":"request"' in x]
    return dict(lines[-1])


def counter(app: Flask, name: str, **labels: str) -> float:
    metrics: Metrics = app.extensions["cds_metrics"]
    value = metrics.served.get_sample_value(name, labels)
    return value or 0.0


def test_a_sent_page_is_kept_when_there_is_no_server_to_fetch_the_rest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The sandbox case: a paged Bundle, no usable fhirServer. It once lost page 1 entirely.
    app = make(tmp_path)
    labs = first_page("https://ehr.invalid/fhir/Observation?page=2", 1, 2)
    body = request(prefetch={"patient": PATIENT, "labs": labs, "notes": None})

    response = app.test_client().post("/cds-services/probe", json=body)

    assert response.status_code == 200
    data = SEEN["call"].data
    assert [r["id"] for r in data.raw("Observation")] == ["o1", "o2"]
    assert data.status("labs") is KeyStatus.PREFETCHED
    assert not data.complete("labs")
    assert data.complete("patient")
    logged = request_log(caplog)
    assert logged["prefetch_failures"] == {"labs": "no-fhir-server"}
    assert logged["prefetch_incomplete"] == {"labs": "no-fhir-server"}
    assert logged["prefetch"]["incomplete"] == 1
    labels = {"service": "probe", "key": "labs", "reason": "no-fhir-server"}
    assert counter(app, "cds_prefetch_incomplete_keys_total", **labels) == 1


def test_pages_read_before_a_failure_are_kept_with_the_sent_ones(tmp_path: Path) -> None:
    observations = [_obs(i) for i in range(9)]
    with LocalFhirServer([PATIENT, *observations], page_size=2) as server:
        app = make(tmp_path, server, FHIR_MAX_PAGES=2)
        sent = server.memory.get(LAB_QUERY, server.base_url, 2)
        body = request(server, prefetch={"patient": PATIENT, "labs": sent, "notes": None})
        response = app.test_client().post("/cds-services/probe", json=body)

    assert response.status_code == 200
    data = SEEN["call"].data
    # Page 1 was sent; pages 2 and 3 were read; page 4 is past CDS_FHIR_MAX_PAGES.
    assert sorted(r["id"] for r in data.raw("Observation")) == [f"o{i}" for i in range(6)]
    assert not data.complete("labs")


def test_a_next_page_the_server_refuses_leaves_the_sent_page_incomplete(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with LocalFhirServer([PATIENT]) as server:
        server.status = 401
        app = make(tmp_path, server)
        labs = first_page(server.base_url + "/Observation?page=2", 7)
        body = request(server, prefetch={"patient": PATIENT, "labs": labs, "notes": None})
        response = app.test_client().post("/cds-services/probe", json=body)

    assert response.status_code == 200
    assert [r["id"] for r in SEEN["call"].data.raw("Observation")] == ["o7"]
    assert request_log(caplog)["prefetch_incomplete"] == {"labs": "http-401"}


def test_a_bundle_whose_total_exceeds_its_entries_is_incomplete(tmp_path: Path) -> None:
    app = make(tmp_path)
    labs = first_page("unused", 1, total=5)
    del labs["link"]
    body = request(prefetch={"patient": PATIENT, "labs": labs, "notes": None})

    assert app.test_client().post("/cds-services/probe", json=body).status_code == 200
    assert not SEEN["call"].data.complete("labs")


def test_a_bundle_holding_every_match_is_complete(tmp_path: Path) -> None:
    app = make(tmp_path)
    labs = first_page("unused", 1, 2, total=2)
    del labs["link"]
    labs["entry"].append({"resource": PATIENT, "search": {"mode": "include"}})
    body = request(prefetch={"patient": PATIENT, "labs": labs, "notes": None})

    assert app.test_client().post("/cds-services/probe", json=body).status_code == 200
    assert SEEN["call"].data.complete("labs")


def test_the_sandbox_complaint_on_page_one_still_gives_cards(tmp_path: Path) -> None:
    """Regression: encounters came as a paged Bundle holding the complaint on page 1."""
    app = make_app(tmp_path, CLOCK="2026-11-21")
    body = json.loads(EXAMPLE.read_text())
    conditions = body["prefetch"]["conditions"]
    complaint = conditions["entry"][0]["resource"]
    conditions["entry"] = []
    conditions["total"] = 0
    encounter = {
        "resourceType": "Encounter",
        "id": "visit-1",
        "status": "finished",
        "class": {"code": "AMB"},
        "subject": complaint["subject"],
        "period": {"start": "2026-11-19T09:00:00Z", "end": "2026-11-19T09:30:00Z"},
        "reasonCode": [complaint["code"]],
    }
    body["prefetch"]["encounters"] = first_page(
        "https://sandbox.invalid/fhir/Encounter?page=2", total=20
    )
    body["prefetch"]["encounters"]["entry"] = [{"resource": encounter}]

    response = app.test_client().post("/cds-services/knee-spasm-review", json=body)

    assert response.status_code == 200
    assert response.get_json()["cards"]


@pytest.mark.parametrize(
    ("config", "fhir_server", "cause"),
    [
        ({}, None, "no-fhir-server"),
        ({}, "https://ehr.invalid/fhir", "fhir-server-not-allowlisted"),
        (
            {"FHIR_ALLOWLIST": ["http://ehr.invalid/fhir"]},
            "http://ehr.invalid/fhir",
            "fhir-server-not-https",
        ),
    ],
)
def test_a_412_names_the_cause_without_echoing_the_url(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    config: dict[str, Any],
    fhir_server: str | None,
    cause: str,
) -> None:
    app = make(tmp_path, **config)
    body = request(prefetch={"patient": PATIENT})
    if fhir_server:
        body["fhirServer"] = fhir_server

    response = app.test_client().post("/cds-services/probe", json=body)

    assert response.status_code == 412
    [diagnostic] = [issue["diagnostics"] for issue in response.get_json()["issue"]]
    assert diagnostic.startswith("prefetch key 'labs' was not sent and could not be fetched: ")
    assert diagnostic.endswith(f"({cause})")
    assert "ehr.invalid" not in response.get_data(as_text=True)
    assert request_log(caplog)["prefetch_failures"] == {"labs": cause, "notes": cause}
    labels = {"service": "probe", "key": "labs", "reason": cause}
    assert counter(app, "cds_prefetch_fetch_failures_total", **labels) == 1


@pytest.mark.parametrize(
    ("status", "delay", "cause"),
    [
        (401, 0.0, "http-401"),
        (403, 0.0, "http-403"),
        (418, 0.0, "http-4xx"),
        (200, 2.0, "deadline"),
    ],
)
def test_a_412_names_what_the_fhir_server_did(
    tmp_path: Path, status: int, delay: float, cause: str
) -> None:
    with LocalFhirServer([PATIENT, _obs(1)], delay=delay) as server:
        server.status = None if status == 200 else status
        app = make(tmp_path, server, PREFETCH_DEADLINE_SECONDS=0.5)
        response = app.test_client().post(
            "/cds-services/probe", json=request(server, prefetch={"patient": PATIENT})
        )

    assert response.status_code == 412
    diagnostics = [issue["diagnostics"] for issue in response.get_json()["issue"]]
    assert diagnostics[0].endswith(f"({cause})")
