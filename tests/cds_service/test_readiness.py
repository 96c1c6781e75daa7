"""Readiness checks the schema revision, not only that the database answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask

from cds_service import create_app
from cds_service.app import report_database
from cds_service.migrate import head_revision, upgrade
from tests.cds_service.test_feedback import ACCEPTED
from tests.cds_service.test_metrics import (
    PATIENT,
    PROBE_URL,
    one_card_per_family,
    probe,
    probe_request,
)
from tests.conftest import base_config, log_lines

FEEDBACK_URL = PROBE_URL + "/feedback"


def unmigrated(tmp_path: Path) -> Flask:
    app = create_app(base_config(tmp_path), services=[probe])
    app.extensions["cds"].pipeline.render_cards = one_card_per_family
    return app


def test_readiness_is_503_on_an_unmigrated_database(tmp_path: Path) -> None:
    # Regression: /readyz said 200 while every call with cards failed with a 500.
    response = unmigrated(tmp_path).test_client().get("/readyz")

    assert response.status_code == 503
    [issue] = response.get_json()["issue"]
    assert issue["diagnostics"] == (
        f"the database schema is at revision none and this release needs {head_revision()}: "
        "run `cds-service db upgrade`"
    )


def test_readiness_is_503_on_a_database_one_migration_behind(tmp_path: Path) -> None:
    app = unmigrated(tmp_path)
    upgrade(app.extensions["cds"].pipeline.store.engine, "0002")

    response = app.test_client().get("/readyz")

    assert response.status_code == 503
    assert "at revision 0002" in response.get_json()["issue"][0]["diagnostics"]


def test_readiness_is_200_at_the_head_revision(tmp_path: Path) -> None:
    app = unmigrated(tmp_path)
    upgrade(app.extensions["cds"].pipeline.store.engine)

    assert app.test_client().get("/readyz").status_code == 200


def test_an_unmigrated_database_still_gives_cards_and_refuses_feedback_with_503(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = unmigrated(tmp_path).test_client()

    cards = client.post(PROBE_URL, json=probe_request(prefetch={"patient": PATIENT}))
    feedback = client.post(FEEDBACK_URL, json={"feedback": [ACCEPTED]})

    assert cards.status_code == 200
    assert len(cards.get_json()["cards"]) == 2
    assert feedback.status_code == 503
    assert "(schema)" in feedback.get_json()["issue"][0]["diagnostics"]
    logged = [json.loads(line) for line in log_lines(caplog).splitlines()]
    assert {e.get("reason") for e in logged if e["event"] == "database call failed"} == {"schema"}


def test_serve_says_so_at_start_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cds_service import cli

    monkeypatch.setenv("CDS_AUTH", "off")
    monkeypatch.setenv("CDS_DATABASE_URL", f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    monkeypatch.setenv("CDS_INSTANCE_PATH", str(tmp_path / "instance"))
    started: list[Any] = []
    monkeypatch.setattr(
        "cds_service.server.run_gunicorn", lambda options, args: started.append(options)
    )

    result = CliRunner().invoke(cli.main, ["serve", "--port", "9999"])

    assert result.exit_code == 0, result.output
    assert started == [{"bind": ["127.0.0.1:9999"]}]  # it still starts: a migration may follow
    assert "warning: the database schema is at revision none" in result.stderr
    assert "run `cds-service db upgrade`" in result.stderr


def test_each_worker_logs_it_at_start_up(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # cds_service/wsgi.py calls report_database(app) once in each worker, after create_app().
    report_database(unmigrated(tmp_path))

    [line] = [json.loads(x) for x in log_lines(caplog).splitlines() if "DATABASE NOT READY" in x]
    assert (line["level"], line["reason"]) == ("error", "schema-not-current")
    assert (line["schema_revision"], line["expected_revision"]) == (None, head_revision())


def test_a_current_database_is_not_reported(tmp_path: Path) -> None:
    app = unmigrated(tmp_path)
    upgrade(app.extensions["cds"].pipeline.store.engine)

    assert report_database(app) is None
