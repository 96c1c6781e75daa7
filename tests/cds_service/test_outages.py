"""Database and Redis outages, through a loopback proxy that refuses or blackholes them.

No call may hang: each database call fails within CDS_DATABASE_TIMEOUT_SECONDS (connecting
within libpq's 2 s minimum), feedback answers 503 unless stored, cards are still returned
when only the ledger write fails, and /healthz never waits on the database.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from cds_service import create_app
from cds_service.migrate import upgrade
from tests.cds_service.auth_support import bearer, es384, jwks, jwt_app, mint, write_issuers
from tests.cds_service.test_feedback import ACCEPTED, FEEDBACK_URL
from tests.cds_service.test_metrics import (
    PATIENT,
    PROBE_URL,
    one_card_per_family,
    probe,
    probe_request,
)
from tests.conftest import base_config, log_lines, require_or_skip
from tests.tcp_proxy import TcpProxy

TIMEOUT = 1.0
SLACK = 0.8  # scheduling on a busy 2-core machine


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in log_lines(caplog).splitlines()]
    return [line for line in lines if line["event"] == name]


def timed(call: Any) -> tuple[Any, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


@pytest.fixture
def proxy(postgres_url: str) -> Iterator[TcpProxy]:
    with TcpProxy.for_url(postgres_url) as running:
        yield running


def probe_app(tmp_path: Path, url: str, direct: str, **config: Any) -> Flask:
    """The metrics probe (fixed findings, two cards) on `url`, migrated over `direct`."""
    settings = base_config(
        tmp_path,
        DATABASE_URL=url,
        PATIENT_HASH_SALT="test-salt",
        DATABASE_TIMEOUT_SECONDS=TIMEOUT,
        **config,
    )
    app = create_app(settings, services=[probe])
    app.extensions["cds"].pipeline.render_cards = one_card_per_family
    from sqlalchemy import create_engine

    engine = create_engine(direct)
    upgrade(engine)
    engine.dispose()
    return app


@pytest.fixture
def app(tmp_path: Path, proxy: TcpProxy, postgres_url: str) -> Iterator[Flask]:
    app = probe_app(tmp_path, proxy.url(postgres_url), postgres_url)
    yield app
    app.extensions["cds"].pipeline.store.engine.dispose()


def feedback(app: Flask) -> Any:
    return app.test_client().post(
        FEEDBACK_URL.replace("knee-spasm-review", "metrics-probe"), json={"feedback": [ACCEPTED]}
    )


def cards_call(app: Flask) -> Any:
    return app.test_client().post(PROBE_URL, json=probe_request(prefetch={"patient": PATIENT}))


@pytest.mark.postgres
def test_a_database_that_stops_answering_gives_feedback_a_503_within_the_bound(
    app: Flask, proxy: TcpProxy, caplog: pytest.LogCaptureFixture
) -> None:
    # Regression: no timeout anywhere, so every worker hung on it forever.
    assert feedback(app).status_code == 200  # a pooled connection, then the server hangs
    proxy.mode = "blackhole"

    response, elapsed = timed(lambda: feedback(app))

    assert response.status_code == 503
    assert elapsed < TIMEOUT + SLACK
    assert response.get_json()["resourceType"] == "OperationOutcome"
    assert "nothing was stored" in response.get_json()["issue"][0]["diagnostics"]
    assert int(response.headers["Retry-After"]) >= 1
    [failure] = events(caplog, "database call failed")
    assert (failure["operation"], failure["reason"]) == ("feedback", "timeout")


@pytest.mark.postgres
def test_connecting_to_a_hung_database_is_bounded_too(app: Flask, proxy: TcpProxy) -> None:
    proxy.mode = "blackhole"  # accepts the connection, never answers the handshake

    response, elapsed = timed(lambda: feedback(app))

    assert response.status_code == 503
    assert elapsed < 2 + SLACK  # libpq's minimum connect timeout
    assert "connect-timeout" in response.get_json()["issue"][0]["diagnostics"]


@pytest.mark.postgres
def test_a_refused_database_is_a_prompt_503(app: Flask, proxy: TcpProxy) -> None:
    proxy.mode = "refuse"

    response, elapsed = timed(lambda: feedback(app))

    assert response.status_code == 503
    assert elapsed < SLACK


@pytest.mark.postgres
def test_cards_are_returned_when_only_the_ledger_write_fails(
    app: Flask, proxy: TcpProxy, caplog: pytest.LogCaptureFixture
) -> None:
    assert cards_call(app).status_code == 200
    proxy.mode = "blackhole"

    response, elapsed = timed(lambda: cards_call(app))
    second, fast = timed(lambda: cards_call(app))

    assert response.status_code == second.status_code == 200
    assert len(response.get_json()["cards"]) == 2
    assert elapsed < TIMEOUT + SLACK
    assert fast < 0.5  # the breaker is open: no second wait on a hung database
    # The snooze lookup meets the hung database first (it fails open: the cards are shown);
    # the ledger write then finds the breaker open.
    misses = [e["reason"] for e in events(caplog, "snooze lookup failed; cards shown")]
    assert misses == ["timeout", "circuit-open"]
    reasons = [e["reason"] for e in events(caplog, "cards returned without a ledger record")]
    assert reasons == ["circuit-open", "circuit-open"]
    metrics = app.extensions["cds_metrics"].served
    labels = {"service": "metrics-probe", "reason": "circuit-open"}
    assert metrics.get_sample_value("cds_ledger_write_failures_total", labels) == 2
    lookup = {"service": "metrics-probe", "lookup": "snooze"}
    assert metrics.get_sample_value("cds_governance_misses_total", lookup) == 2


@pytest.mark.postgres
def test_health_never_waits_and_readiness_is_bounded(app: Flask, proxy: TcpProxy) -> None:
    assert app.test_client().get("/readyz").status_code == 200
    proxy.mode = "blackhole"
    client = app.test_client()

    ready, ready_took = timed(lambda: client.get("/readyz"))
    health, health_took = timed(lambda: client.get("/healthz"))

    assert (ready.status_code, health.status_code) == (503, 200)
    assert ready_took < TIMEOUT + SLACK
    assert health_took < 0.2


@pytest.mark.postgres
def test_the_service_recovers_when_the_database_comes_back(app: Flask, proxy: TcpProxy) -> None:
    assert feedback(app).status_code == 200
    proxy.mode = "blackhole"
    assert feedback(app).status_code == 503
    proxy.mode = "pass"
    time.sleep(TIMEOUT)  # the breaker's cool-down

    assert feedback(app).status_code == 200


@pytest.mark.postgres
def test_a_database_restart_costs_no_call(app: Flask, proxy: TcpProxy) -> None:
    assert feedback(app).status_code == 200
    proxy.reset()  # pooled connections die while idle

    response = app.test_client().post(
        FEEDBACK_URL.replace("knee-spasm-review", "metrics-probe"),
        json={"feedback": [dict(ACCEPTED, outcomeTimestamp="2021-12-12T00:00:00Z")]},
    )

    assert response.status_code == 200


@pytest.mark.postgres
def test_the_jwt_replay_check_fails_closed_within_the_bound(
    tmp_path: Path, proxy: TcpProxy, postgres_url: str
) -> None:
    key = es384("k1")
    issuers = write_issuers(tmp_path, {"iss": "https://ehr.example.org", "jwks": jwks(key)})
    app = jwt_app(
        tmp_path,
        issuers,
        DATABASE_URL=proxy.url(postgres_url),
        PATIENT_HASH_SALT="test-salt",
        DATABASE_TIMEOUT_SECONDS=TIMEOUT,
    )
    client = app.test_client()
    assert client.get("/cds-services", headers=bearer(mint(key))).status_code == 200
    proxy.mode = "blackhole"

    response, elapsed = timed(lambda: client.get("/cds-services", headers=bearer(mint(key))))

    assert response.status_code == 503
    assert elapsed < TIMEOUT + SLACK
    assert "(database-timeout)" in response.get_json()["issue"][0]["diagnostics"]
    assert int(response.headers["Retry-After"]) >= 1
    app.extensions["cds"].pipeline.store.engine.dispose()


@pytest.mark.redis
def test_a_hung_redis_fails_the_replay_check_closed_within_its_timeout(tmp_path: Path) -> None:
    url = os.environ.get("CDS_TEST_REDIS_URL", "")
    if not url:
        require_or_skip("CDS_TEST_REDIS_URL is not set")
    key = es384("k1")
    issuers = write_issuers(tmp_path, {"iss": "https://ehr.example.org", "jwks": jwks(key)})
    with TcpProxy.for_url(url) as proxy:
        app = jwt_app(
            tmp_path,
            issuers,
            REDIS_URL=proxy.url(url),
            REDIS_KEY_PREFIX="cds-test-outage:",
            REDIS_TIMEOUT_SECONDS=TIMEOUT,
        )
        proxy.mode = "blackhole"
        response, elapsed = timed(
            lambda: app.test_client().get("/cds-services", headers=bearer(mint(key)))
        )

    assert response.status_code == 503
    assert elapsed < 2 * TIMEOUT + SLACK  # connect, then read


def test_a_locked_sqlite_database_gives_feedback_a_503_within_the_bound(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'locked.sqlite3'}"
    app = probe_app(tmp_path, url, url)
    holder = sqlite3.connect(tmp_path / "locked.sqlite3", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        response, elapsed = timed(lambda: feedback(app))
    finally:
        holder.close()

    assert response.status_code == 503
    assert elapsed < TIMEOUT + SLACK
    [failure] = events(caplog, "database call failed")
    assert failure["reason"] in ("locked", "timeout")
