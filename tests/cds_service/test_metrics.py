"""/metrics after real requests: exact samples, no PHI, no JWT, and multiprocess under gunicorn."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from cards.builders import IssuedCard
from cards.model import Card, Coding, Source
from cds_service import create_app
from cds_service.memory_fhir import MemoryFhir, build_request
from cds_service.migrate import upgrade
from cds_service.store import CardRecord
from hooks.findings import Assessment, Family, Finding, Severity
from hooks.registry import HookCall, Prefetch, cds_service
from tests.cds_service.support import SERVICE, URL, full_request, templates
from tests.cds_service.test_cli import free_port
from tests.cds_service.test_feedback import ACCEPTED, FEEDBACK_URL, OVERRIDDEN, issue_card
from tests.conftest import base_config, log_lines, wait_healthy

ROUTE = "/cds-services/<service_id>"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: FlaskClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    return parse(response.get_data(as_text=True))


def parse(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def changed(before: Samples, after: Samples, prefix: str) -> dict[tuple[Any, ...], float]:
    """Samples named `prefix...` that moved (not /metrics itself, not timestamps): the change."""
    return {
        key: after[key] - before.get(key, 0.0)
        for key in after
        if key[0].startswith(prefix)
        and not key[0].endswith("_created")
        and ("route", "/metrics") not in key[1]
        and after[key] != before.get(key, 0.0)
    }


# A probe service: one required and one optional key, and findings in two families.
FINDINGS = tuple(
    Finding(rule_id=rule, rule_version="1", family=family, severity=severity, template="t")
    for rule, family, severity in (
        ("A3", Family.MEDICATIONS, Severity.WARNING),
        ("A5", Family.MEDICATIONS, Severity.INFO),
        ("L1", Family.LABS, Severity.INFO),
    )
)


@cds_service(
    id="metrics-probe",
    hook="patient-view",
    title="Metrics probe",
    description="Returns fixed findings, for metrics tests.",
    prefetch={
        "patient": Prefetch("Patient/{{context.patientId}}"),
        "notes": Prefetch("DocumentReference?patient={{context.patientId}}", required=False),
    },
)
def probe(call: HookCall[Any]) -> Assessment:
    return Assessment(tuple(FINDINGS))


def one_card_per_family(
    assessment: Assessment, patient_key: str, rule_states: str
) -> list[IssuedCard]:
    """Card layer stand-in: the most severe finding of each family gives one card."""
    findings = assessment.findings
    cards = []
    for family in sorted({f.family for f in findings}):
        mine = tuple(f for f in findings if f.family == family)
        worst = max(mine, key=lambda f: f.severity.rank)
        card = Card(
            uuid=str(uuid.uuid4()),
            summary=f"{family} card",
            indicator=worst.severity.value,
            source=Source(
                label="probe", topic=Coding(code=family.value, system="https://example.org/t")
            ),
        )
        cards.append(IssuedCard(card, mine))
    return cards


@pytest.fixture
def probe_app(tmp_path: Path) -> Flask:
    app = create_app(base_config(tmp_path), services=[probe])
    upgrade(app.extensions["cds"].pipeline.store.engine)
    # The probe's findings name no catalogue entry; the stand-in renders them.
    app.extensions["cds"].pipeline.render_cards = one_card_per_family
    return app


def probe_request(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": "5a4c3f5e-5d0e-4f43-9f7e-3a8e0c1d2b11",
        "context": {"userId": "Practitioner/u1", "patientId": "p1"},
    }
    body.update(extra)
    return body


PATIENT = {"resourceType": "Patient", "id": "p1"}
PROBE_URL = "/cds-services/metrics-probe"


def test_a_hook_call_is_counted_once_with_its_latency(app: Flask, client: FlaskClient) -> None:
    before = scrape(client)

    assert client.post(URL, json=full_request(app)).status_code == 200

    after = scrape(client)
    call = {"method": "POST", "route": ROUTE, "service": SERVICE}
    assert changed(before, after, "cds_http_requests") == {
        ("cds_http_requests_total", tuple(sorted({**call, "status": "200"}.items()))): 1.0
    }
    hist = "cds_http_request_duration_seconds"
    assert value(after, f"{hist}_count", **call) - value(before, f"{hist}_count", **call) == 1
    assert value(after, f"{hist}_bucket", **call, le="+Inf") == 1
    assert value(after, f"{hist}_bucket", **call, le="3.0") == 1
    assert 0 < value(after, f"{hist}_sum", **call) < 3


def test_every_sent_prefetch_key_counts_as_a_hit(app: Flask, client: FlaskClient) -> None:
    before = scrape(client)

    client.post(URL, json=full_request(app))

    assert changed(before, scrape(client), "cds_prefetch") == {
        ("cds_prefetch_keys_total", (("result", "hit"), ("service", SERVICE))): float(
            len(templates(app))
        )
    }


def test_unknown_service_is_a_404_labelled_unknown_not_by_its_id(client: FlaskClient) -> None:
    response = client.post("/cds-services/p-4711-secret", json={})

    text = client.get("/metrics").get_data(as_text=True)
    assert response.status_code == 404
    labels = {"method": "POST", "route": ROUTE, "service": "unknown", "status": "404"}
    assert value(parse(text), "cds_http_requests_total", **labels) == 1
    assert "p-4711-secret" not in text


def test_unmatched_path_is_counted_under_route_unmatched(client: FlaskClient) -> None:
    client.get("/nowhere/p-4711")

    text = client.get("/metrics").get_data(as_text=True)
    labels = {"method": "GET", "route": "unmatched", "service": "none", "status": "404"}
    assert value(parse(text), "cds_http_requests_total", **labels) == 1
    assert "p-4711" not in text


def test_required_prefetch_that_cannot_be_had_is_counted_as_412(probe_app: Flask) -> None:
    client = probe_app.test_client()

    response = client.post(PROBE_URL, json=probe_request())

    labels = {"method": "POST", "route": ROUTE, "service": "metrics-probe", "status": "412"}
    assert response.status_code == 412
    assert value(scrape(client), "cds_http_requests_total", **labels) == 1


def test_prefetch_results_and_fetch_failures_are_counted(probe_app: Flask) -> None:
    client = probe_app.test_client()
    body = probe_request(prefetch={"patient": PATIENT}, fhirServer="https://ehr.invalid/fhir")
    before = scrape(client)

    assert client.post(PROBE_URL, json=body).status_code == 200

    service = ("service", "metrics-probe")
    assert changed(before, scrape(client), "cds_prefetch") == {
        ("cds_prefetch_keys_total", (("result", "hit"), service)): 1.0,
        ("cds_prefetch_keys_total", (("result", "miss"), service)): 1.0,
        (
            "cds_prefetch_fetch_failures_total",
            (("key", "notes"), ("reason", "fhir-server-not-allowlisted"), service),
        ): 1.0,
    }


def test_null_prefetch_counts_as_null(probe_app: Flask) -> None:
    client = probe_app.test_client()
    before = scrape(client)

    client.post(PROBE_URL, json=probe_request(prefetch={"patient": PATIENT, "notes": None}))

    service = ("service", "metrics-probe")
    assert changed(before, scrape(client), "cds_prefetch_keys") == {
        ("cds_prefetch_keys_total", (("result", "hit"), service)): 1.0,
        ("cds_prefetch_keys_total", (("result", "null"), service)): 1.0,
    }


def test_cards_are_counted_per_contributing_rule_and_indicator(probe_app: Flask) -> None:
    client = probe_app.test_client()
    before = scrape(client)

    response = client.post(PROBE_URL, json=probe_request(prefetch={"patient": PATIENT}))

    assert len(response.get_json()["cards"]) == 2
    svc = ("service", "metrics-probe")
    assert changed(before, scrape(client), "cds_cards") == {
        ("cds_cards_total", (("indicator", "warning"), ("rule", "A3"), svc)): 1.0,
        ("cds_cards_total", (("indicator", "warning"), ("rule", "A5"), svc)): 1.0,
        ("cds_cards_total", (("indicator", "info"), ("rule", "L1"), svc)): 1.0,
    }


def test_feedback_outcomes_are_counted_per_rule_from_the_ledger(app: Flask) -> None:
    issue_card(app)  # CARD, rule A3
    other = "9d1c0f9e-53a1-4a6e-8d0e-2c7b1d3e4f50"
    record = CardRecord(uuid=other, topic="labs", indicator="warning", rule_ids=("L1", "L2"))
    app.extensions["cds"].pipeline.store.record_cards(SERVICE, "h2", "p2", "1.0.0", [record])
    client = app.test_client()
    before = scrape(client)
    items = [ACCEPTED, dict(ACCEPTED, card=other), dict(OVERRIDDEN, card="never-issued")]

    assert client.post(FEEDBACK_URL, json={"feedback": items}).status_code == 200

    svc = ("service", SERVICE)
    assert changed(before, scrape(client), "cds_feedback") == {
        ("cds_feedback_total", (("outcome", "accepted"), ("rule", "A3"), svc)): 1.0,
        ("cds_feedback_total", (("outcome", "accepted"), ("rule", "L1"), svc)): 1.0,
        ("cds_feedback_total", (("outcome", "accepted"), ("rule", "L2"), svc)): 1.0,
        ("cds_feedback_total", (("outcome", "overridden"), ("rule", "unknown"), svc)): 1.0,
    }


def test_rejected_feedback_counts_no_outcomes(app: Flask) -> None:
    client = app.test_client()
    before = scrape(client)

    bad = dict(ACCEPTED, outcome="ignored")
    assert client.post(FEEDBACK_URL, json={"feedback": [ACCEPTED, bad]}).status_code == 400

    assert changed(before, scrape(client), "cds_feedback") == {}


def test_metrics_need_no_jwt_and_count_auth_failures_by_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(base_config(tmp_path, AUTH="jwt"))
    client = app.test_client()

    rejected = client.post(URL, json={})
    scraped = client.get("/metrics")

    assert rejected.status_code == 401
    assert scraped.status_code == 200
    logged = [json.loads(line) for line in log_lines(caplog).splitlines()]
    reason = next(e["reason"] for e in logged if e.get("event") == "request" and "reason" in e)
    assert changed({}, parse(scraped.get_data(as_text=True)), "cds_auth_failures") == {
        ("cds_auth_failures_total", (("reason", reason),)): 1.0
    }


def test_metrics_text_holds_no_patient_or_user_identifiers(app: Flask) -> None:
    patient = {"resourceType": "Patient", "id": "zq-phi-70412"}
    body = build_request(
        MemoryFhir([patient]),
        templates(app),
        "zq-phi-70412",
        user_id="Practitioner/zq-user-3381",
        hook_instance="1f0e2d3c-4b5a-4968-8778-695a4b3c2d1e",
    )
    client = app.test_client()
    assert client.post(URL, json=body).status_code == 200

    text = client.get("/metrics").get_data(as_text=True)

    for secret in ("zq-phi-70412", "zq-user-3381", "1f0e2d3c-4b5a-4968-8778-695a4b3c2d1e"):
        assert secret not in text


@pytest.fixture
def gunicorn_server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CDS_", "PROMETHEUS_"))},
        "CDS_AUTH": "off",
        "CDS_DATABASE_URL": f"sqlite:///{tmp_path / 'srv.sqlite3'}",
        "CDS_INSTANCE_PATH": str(tmp_path / "instance"),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
        "TMPDIR": str(tmp_path),
    }
    command = [sys.executable, "-m", "gunicorn", "-c", "python:cds_service.gunicorn_conf"]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, server)
        yield base
    finally:
        server.terminate()
        server.communicate(timeout=30)


@pytest.mark.slow
def test_gunicorn_workers_are_merged_into_one_exposition(gunicorn_server: str) -> None:
    for _ in range(40):
        # A new connection each time, so both workers take some of the requests.
        assert httpx.get(f"{gunicorn_server}/cds-services", timeout=5).status_code == 200

    text = httpx.get(f"{gunicorn_server}/metrics", timeout=5).text

    labels = {"method": "GET", "route": "/cds-services", "service": "none", "status": "200"}
    assert value(parse(text), "cds_http_requests_total", **labels) == 40
    # MultiProcessCollector writes no *_created samples; one worker's own registry would.
    assert "_created" not in text


def test_ledger_and_metrics_name_the_rules_each_card_shows(tmp_path: Path) -> None:
    """Advice (M1, a medications rule) riding on a labs card is that card's; nothing else is."""
    from cds_service.memory_fhir import MemoryFhir, build_request
    from tests.builders import AS_OF, iso, make_complaint, make_observation, make_patient
    from tests.conftest import make_app

    app = make_app(tmp_path, CLOCK=AS_OF.isoformat())
    low_k = make_observation("2823-3", 3.2, "mmol/L", when=iso(3))
    resources = [make_patient(), make_complaint(), low_k]
    templates = app.extensions["cds"].pipeline.templates[SERVICE]
    client = app.test_client()
    before = scrape(client)

    response = client.post(f"/cds-services/{SERVICE}", json=build_request(
        MemoryFhir(resources), templates, resources[0]["id"]
    ))  # fmt: skip

    [card] = response.get_json()["cards"]
    assert card["source"]["topic"]["code"] == "labs"
    ledger = app.extensions["cds"].pipeline.store.card_rule_ids(SERVICE, {card["uuid"]})
    assert ledger == {card["uuid"]: ("B1", "M1")}
    svc = ("service", SERVICE)
    assert changed(before, scrape(client), "cds_cards") == {
        ("cds_cards_total", (("indicator", "warning"), ("rule", "B1"), svc)): 1.0,
        ("cds_cards_total", (("indicator", "warning"), ("rule", "M1"), svc)): 1.0,
    }


def test_a_retried_feedback_batch_is_counted_once(app: Flask) -> None:
    issue_card(app)
    client = app.test_client()
    before = scrape(client)

    for _ in range(2):
        assert client.post(FEEDBACK_URL, json={"feedback": [ACCEPTED]}).status_code == 200

    svc = ("service", SERVICE)
    assert changed(before, scrape(client), "cds_feedback") == {
        ("cds_feedback_total", (("outcome", "accepted"), ("rule", "A3"), svc)): 1.0,
    }


def test_a_metrics_token_is_required_when_set(tmp_path: Path) -> None:
    token = "m" * 24
    app = create_app(base_config(tmp_path, METRICS_TOKEN=token))
    client = app.test_client()

    missing = client.get("/metrics")
    wrong = client.get("/metrics", headers={"Authorization": "Bearer " + "x" * 24})
    right = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})

    assert (missing.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert missing.data == b""
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    failures = value(
        parse(right.get_data(as_text=True)), "cds_auth_failures_total", reason="metrics-token"
    )
    assert failures == 2


def test_with_a_metrics_bind_the_app_does_not_serve_metrics(tmp_path: Path) -> None:
    app = create_app(base_config(tmp_path, METRICS_BIND="127.0.0.1:9100"))

    assert app.test_client().get("/metrics").status_code == 404


@pytest.mark.parametrize(
    ("name", "bad"), [("METRICS_TOKEN", "short"), ("METRICS_BIND", "9100"), ("METRICS_BIND", "h:x")]
)
def test_metrics_settings_are_checked(name: str, bad: str) -> None:
    from cds_service.settings import ConfigError, load_settings

    with pytest.raises(ConfigError, match=f"CDS_{name}"):
        load_settings({name: bad})
