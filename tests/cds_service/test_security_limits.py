"""Inbound limits not covered elsewhere: chunked bodies, feedback bodies, worker timeouts."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from cds_service.settings import ConfigError, load_settings
from tests.cds_service.support import URL, full_request
from tests.conftest import make_app

FEEDBACK_URL = URL + "/feedback"
ITEM = {"card": "c1", "outcome": "overridden", "outcomeTimestamp": "2021-12-11T10:05:31Z"}


@pytest.mark.parametrize(("padding", "status"), [(8192, 413), (16, 200)])
def test_a_chunked_body_without_length_is_held_to_the_limit(
    tmp_path: Path, padding: int, status: int
) -> None:
    app = make_app(tmp_path, MAX_BODY_BYTES=2048)
    body = full_request(app)
    body["extension"] = {"org.example.padding": "x" * padding}

    response = app.test_client().post(
        URL,
        input_stream=io.BytesIO(orjson.dumps(body)),
        content_type="application/json",
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},  # as gunicorn sets for chunked
    )

    assert response.status_code == status


def test_feedback_over_the_size_limit_is_413(tmp_path: Path) -> None:
    app = make_app(tmp_path, MAX_BODY_BYTES=2048)

    response = app.test_client().post(FEEDBACK_URL, json={"feedback": [ITEM] * 40})

    assert response.status_code == 413


def test_feedback_nested_too_deeply_is_413(tmp_path: Path) -> None:
    app = make_app(tmp_path, MAX_JSON_DEPTH=8)
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(10):
        node["a"] = {}
        node = node["a"]

    response = app.test_client().post(FEEDBACK_URL, json={"feedback": [ITEM], "extension": deep})

    assert response.status_code == 413


def test_more_than_1000_feedback_items_is_400(tmp_path: Path) -> None:
    app = make_app(tmp_path)

    response = app.test_client().post(FEEDBACK_URL, json={"feedback": [ITEM] * 1001})

    assert response.status_code == 400
    assert response.get_json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize(("value", "expected"), [("45", "45"), (None, "30")])
def test_the_gunicorn_worker_timeout_is_configurable(
    tmp_path: Path, value: str | None, expected: str
) -> None:
    # A subprocess: importing gunicorn_conf sets process-wide environment for the workers.
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")}
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path)
    if value is not None:
        env["CDS_WORKER_TIMEOUT_SECONDS"] = value
    code = "from cds_service import gunicorn_conf; print(gunicorn_conf.timeout)"

    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == expected


def test_outbound_deadlines_must_fit_inside_the_worker_timeout() -> None:
    with pytest.raises(ConfigError, match="CDS_WORKER_TIMEOUT_SECONDS"):
        load_settings({"WORKER_TIMEOUT_SECONDS": 10, "PREFETCH_DEADLINE_SECONDS": 9})


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379", "127.0.0.1:6379"])
def test_redis_url_must_be_a_redis_url(url: str) -> None:
    with pytest.raises(ConfigError, match="CDS_REDIS_URL"):
        load_settings({"REDIS_URL": url})
