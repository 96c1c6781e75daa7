"""Security headers on every response, error paths included: nosniff, and no-store on anything
that carries patient data or describes one request."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from tests.cds_service.support import URL, full_request
from tests.conftest import make_app

Call = Callable[[Flask], TestResponse]


def _boom(*args: object) -> None:
    raise RuntimeError("unexpected")


def _unexpected_error(app: Flask) -> TestResponse:
    app.extensions["cds"].pipeline.invoke = _boom
    return app.test_client().post(URL, json=full_request(app))


def _feedback(app: Flask) -> TestResponse:
    body = {
        "feedback": [
            {
                "card": "c1",
                "outcome": "overridden",
                "outcomeTimestamp": "2021-12-11T10:05:31Z",
            }
        ]
    }
    return app.test_client().post(URL + "/feedback", json=body)


def _missing_prefetch(app: Flask) -> TestResponse:
    body = full_request(app)
    body.pop("prefetch")
    return app.test_client().post(URL, json=body)


UNCACHEABLE: list[tuple[str, dict[str, Any], Call, int]] = [
    ("no-token", {"AUTH": "jwt"}, lambda a: a.test_client().get("/cds-services"), 401),
    (
        "malformed-json",
        {},
        lambda a: a.test_client().post(URL, data=b"{", content_type="application/json"),
        400,
    ),
    ("unknown-service", {}, lambda a: a.test_client().post("/cds-services/nope", json={}), 404),
    ("unknown-path", {}, lambda a: a.test_client().get("/nope"), 404),
    ("wrong-method", {}, lambda a: a.test_client().get(URL), 405),
    (
        "wrong-type",
        {},
        lambda a: a.test_client().post(URL, data="x", content_type="text/plain"),
        415,
    ),
    (
        "too-large",
        {"MAX_BODY_BYTES": 1024},
        lambda a: a.test_client().post(URL, json={"pad": "x" * 2048}),
        413,
    ),
    ("missing-prefetch", {}, _missing_prefetch, 412),
    ("unexpected", {}, _unexpected_error, 500),
    ("invocation", {}, lambda a: a.test_client().post(URL, json=full_request(a)), 200),
    ("feedback", {}, _feedback, 200),
]


@pytest.mark.parametrize(
    ("config", "call", "status"),
    [(c, f, s) for _, c, f, s in UNCACHEABLE],
    ids=[name for name, *_ in UNCACHEABLE],
)
def test_patient_data_and_error_responses_are_nosniff_and_no_store(
    tmp_path: Path, config: dict[str, Any], call: Call, status: int
) -> None:
    response = call(make_app(tmp_path, **config))

    assert response.status_code == status
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


def test_a_preflight_in_jwt_mode_still_gets_nosniff(tmp_path: Path) -> None:
    app = make_app(tmp_path, AUTH="jwt")

    response = app.test_client().options(URL, headers={"Origin": "https://ehr.example.org"})

    assert response.status_code == 200
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_401_says_nothing_about_why(tmp_path: Path) -> None:
    app = make_app(tmp_path, AUTH="jwt")

    response = app.test_client().get("/cds-services", headers={"Authorization": "Bearer x.y.z"})

    assert response.status_code == 401
    assert response.data == b""
    assert response.headers["WWW-Authenticate"] == "Bearer"
