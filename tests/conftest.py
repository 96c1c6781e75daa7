"""Shared fixtures: an app per test on a fresh SQLite file, its client, and service checks."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient

from cds_service import create_app
from cds_service.migrate import upgrade

REQUIRE_SERVICES = os.environ.get("CDS_TEST_REQUIRE_SERVICES") == "1"
# Session-scoped real servers (gunicorn on loopback), shared by the API and deployment tests.
pytest_plugins = ["tests.live"]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests configure the app explicitly; stray CDS_* variables must not leak in."""
    for key in list(os.environ):
        if key.startswith("CDS_") and not key.startswith("CDS_TEST_"):
            monkeypatch.delenv(key)


def log_lines(caplog: pytest.LogCaptureFixture) -> str:
    """Every captured record as the JSON line production would write."""
    from cds_service.logs import JsonFormatter

    formatter = JsonFormatter()
    return "\n".join(formatter.format(record) for record in caplog.records)


def base_config(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "AUTH": "off",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cds.sqlite3'}",
        "PUBLIC_BASE_URL": "http://cds.test",
    }
    config.update(overrides)
    return config


def make_app(tmp_path: Path, **overrides: Any) -> Flask:
    app = create_app(base_config(tmp_path, **overrides))
    upgrade(app.extensions["cds"].pipeline.store.engine)
    return app


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    return make_app(tmp_path)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def wait_healthy(base: str, process: subprocess.Popen[bytes], seconds: float = 30) -> None:
    """Poll /healthz of a server we started until it answers; fail if it dies or times out."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert process.poll() is None, "the server exited while starting"
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.1)


def require_or_skip(reason: str) -> None:
    """Skip where a local service is absent; in CI (which has them all) fail instead."""
    if REQUIRE_SERVICES:
        pytest.fail(f"CI requires this service: {reason}")
    pytest.skip(reason)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A private schema on the CDS_TEST_DATABASE_URL server, dropped afterwards."""
    url = os.environ.get("CDS_TEST_DATABASE_URL", "")
    if not url:
        require_or_skip("CDS_TEST_DATABASE_URL is not set")
    import uuid

    from sqlalchemy import create_engine, text

    schema = f"cds_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        admin.dispose()
        require_or_skip(f"PostgreSQL not reachable: {type(exc).__name__}")
    separator = "&" if "?" in url else "?"
    yield f"{url}{separator}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test that takes this runs on SQLite and on PostgreSQL (skipped where absent)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cds.sqlite3'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def db_app(tmp_path: Path, database_url: str) -> Iterator[Flask]:
    """A migrated app on `database_url` (a server database needs the shared salt)."""
    app = make_app(tmp_path, DATABASE_URL=database_url, PATIENT_HASH_SALT="test-salt")
    yield app
    app.extensions["cds"].pipeline.store.engine.dispose()
