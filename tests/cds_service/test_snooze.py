"""Snooze by feedback, end to end over HTTP, on SQLite and PostgreSQL.

An override snoozes the same finding (same rule, same evidence) for the reason's days, capped
by severity; new evidence or a higher grade shows it again at once; an accepted suggestion is
not made again; nothing withheld is lost from the ledger.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event

from tests.cds_service.governance_support import (
    SERVICE,
    call,
    card_of,
    governed_app,
    ledger,
    low_potassium_record,
    override,
    potassium,
    shown,
    states_of,
)


@pytest.fixture
def app(tmp_path: Path, database_url: str) -> Iterator[Flask]:
    """A governed app on SQLite, then on PostgreSQL (the snooze lookup's SQL runs on both)."""
    app = governed_app(tmp_path, DATABASE_URL=database_url, PATIENT_HASH_SALT="test-salt")
    yield app
    app.extensions["cds"].pipeline.store.engine.dispose()


def test_an_override_snoozes_the_same_finding_until_the_evidence_or_the_grade_changes(
    app: Flask,
) -> None:
    client = app.test_client()
    record = low_potassium_record()
    first = call(client, app, record)
    assert shown(first)["A1b"] == "warning"

    override(client, card_of(first, "A1b"), "already-addressed")

    assert "A1b" not in shown(call(client, app, record))
    newer = low_potassium_record(potassium(), potassium(3.0, rid="k2", days=1))
    assert shown(call(client, app, newer))["A1b"] == "warning"  # a new result
    amended = low_potassium_record(potassium(flag="LL"))  # the same result, now flagged critical
    assert shown(call(client, app, amended))["A1b"] == "critical"

    records = ledger(app)
    assert states_of(records) == [
        ("A1b", "shown"),
        ("A1b", "snoozed"),
        ("A1b", "shown"),
        ("A1b", "shown"),
    ]
    snoozed = records[[r.state for r in records].index("snoozed")]
    assert snoozed.snoozed_by is not None
    assert snoozed.snoozed_by.override_reason == "already-addressed"
    assert snoozed.evidence_fingerprint == records[0].evidence_fingerprint
    assert records[0].feedback[0].outcome == "overridden"


def test_a_critical_finding_is_snoozed_for_one_day_at_most(app: Flask) -> None:
    client = app.test_client()
    record = low_potassium_record(potassium(2.4))
    first = call(client, app, record)
    assert shown(first)["A1b"] == "critical"

    override(client, card_of(first, "A1b"), "not-applicable")  # 180 days for a warning

    governance = app.extensions["cds"].pipeline.governance
    now = datetime.now(UTC)
    governance.clock = lambda: now + timedelta(hours=23)
    assert "A1b" not in shown(call(client, app, record))
    governance.clock = lambda: now + timedelta(hours=25)
    assert shown(call(client, app, record))["A1b"] == "critical"


def test_an_override_without_one_of_our_reasons_does_not_snooze(app: Flask) -> None:
    client = app.test_client()
    record = low_potassium_record()
    card = card_of(call(client, app, record), "A1b")

    override(client, card, "already-addressed", system="https://example.org/other-reasons")

    assert "A1b" in shown(call(client, app, record))


def test_the_snooze_lookup_reads_the_patients_findings_and_each_cards_feedback_by_index(
    tmp_path: Path,
) -> None:
    # Regression: joined on card and service, SQLite scanned all of a service's feedback for
    # every finding of the patient (6.6 ms a call with a small ledger, growing with it).
    store = governed_app(tmp_path).extensions["cds"].pipeline.store
    executed: list[tuple[str, Any]] = []
    event.listen(store.engine, "before_cursor_execute", lambda *a: executed.append(a[2:4]))

    store.prior_feedback(SERVICE, "p1", {"f1", "f2"}, datetime(2026, 1, 1, tzinfo=UTC))
    [(statement, parameters)] = executed
    with store.engine.connect() as connection:
        plan = [
            r[-1] for r in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
        ]

    [findings, feedback] = plan
    assert findings.startswith("SEARCH ledger_finding USING INDEX ix_ledger_finding_patient ")
    assert feedback == "SEARCH feedback USING INDEX ix_feedback_card_uuid (card_uuid=?)"
