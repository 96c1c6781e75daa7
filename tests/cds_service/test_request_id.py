"""X-Request-ID: a proxy's (or EHR's) id is kept so nginx, gunicorn and app logs join up."""

from __future__ import annotations

import logging

import pytest
from flask.testing import FlaskClient


def logged_ids(caplog: pytest.LogCaptureFixture) -> list[str | None]:
    return [
        getattr(r, "cds", {}).get("request_id")
        for r in caplog.records
        if r.getMessage() == "request"
    ]


def test_a_forwarded_request_id_is_answered_and_logged(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    response = client.get("/healthz", headers={"X-Request-ID": "0f1e2d3c4b5a69788796a5b4c3d2e1f0"})

    assert response.headers["X-Request-ID"] == "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    assert logged_ids(caplog) == ["0f1e2d3c4b5a69788796a5b4c3d2e1f0"]


@pytest.mark.parametrize(
    "sent",
    ["short", "has space in it", "x" * 129, "evil\u2028line-separator", "a;b=c,d/e"],
)
def test_an_unsafe_request_id_is_replaced(client: FlaskClient, sent: str) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": sent})

    assert response.headers["X-Request-ID"] != sent
    assert len(response.headers["X-Request-ID"]) == 32


def test_without_one_each_request_gets_its_own(client: FlaskClient) -> None:
    first = client.get("/healthz").headers["X-Request-ID"]
    second = client.get("/healthz").headers["X-Request-ID"]

    assert first != second
