"""`cds-service report`: the card ledger, per rule and over time, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import itertools
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cds_service.cli import main
from cds_service.memory_fhir import MemoryFhir, build_request
from cds_service.migrate import upgrade
from cds_service.store import Feedback, IssuedCard, make_engine
from cds_service.workbench.catalogue import load_examples, resources_of
from cds_service.workbench.ledger import read_ledger, read_withheld
from cds_service.workbench.models import ReportResult
from cds_service.workbench.report import build_report
from tests.conftest import make_app

START = datetime(2026, 10, 5, tzinfo=UTC)  # a Monday
SERVICE = "knee-spasm-review"
REASON_SYSTEM = "urn:knee-spasm-cds:override-reason"


class Ledger:
    """Writes ledger rows with chosen times, as the service would have over a pilot."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def card(
        self, day: float, rules: tuple[str, ...], patient: str, indicator: str = "info"
    ) -> str:
        card = str(uuid.uuid4())
        with Session(self.engine) as session, session.begin():
            session.add(
                IssuedCard(
                    uuid=card,
                    service_id=SERVICE,
                    hook_instance=str(uuid.uuid4()),
                    topic="medications",
                    indicator=indicator,
                    rule_ids=list(rules),
                    knowledge_version="2.0.1",
                    patient_hash=hashlib.sha256(patient.encode()).hexdigest(),
                    issued_at=START + timedelta(days=day),
                )
            )
        return card

    def feedback(
        self,
        card: str,
        outcome: str,
        day: float,
        reason: str | None = None,
        accepted: int = 0,
        known: bool = True,
    ) -> None:
        with Session(self.engine) as session, session.begin():
            session.add(
                Feedback(
                    service_id=SERVICE,
                    card_uuid=card,
                    card_known=known,
                    outcome=outcome,
                    accepted_suggestions=[str(uuid.uuid4()) for _ in range(accepted)] or None,
                    override_code=reason,
                    override_system=REASON_SYSTEM if reason else None,
                    override_display=reason.replace("-", " ").capitalize() if reason else None,
                    outcome_at=START + timedelta(days=day, hours=1),
                    received_at=START + timedelta(days=day, hours=1),
                )
            )


def pilot(ledger: Ledger) -> None:
    """Three weeks: A3 on six cards (three accepted, two overridden), B1 on four, one card
    citing A1b and A1, and a card before the window."""
    ledger.card(-3, ("A3", "M1"), "0")  # before --since
    for n, (day, outcome, reason) in enumerate(
        [
            (0, "accepted", None),
            (1, "overridden", "already-addressed"),
            (8, "accepted", None),
            (9, None, None),
            (15, "overridden", "already-addressed"),
            (16, "accepted", None),
        ]
    ):
        card = ledger.card(day, ("A3", "M1"), f"a{n % 4}")
        if outcome is not None:
            ledger.feedback(card, outcome, day, reason, accepted=1 if outcome == "accepted" else 0)
    for n in range(4):
        card = ledger.card(2 + 5 * n, ("B1",), f"b{n}", indicator="warning")
        if n == 0:
            ledger.feedback(card, "overridden", 3, "not-applicable")  # changed mind:
            ledger.feedback(card, "accepted", 4, accepted=2)  # the latest outcome counts
    ledger.card(10, ("A1b", "A1"), "b0", indicator="critical")
    ledger.feedback("never-issued", "accepted", 5, known=False)


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()


def report_via_cli(engine: Engine, out: Path, *args: str) -> ReportResult:
    url = engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(main, ["report", "--out", str(out), "--database", url, *args])
    assert result.exit_code == 0, result.output
    return ReportResult.model_validate_json((out / "report.json").read_text())


def test_the_report_counts_cards_feedback_and_reasons_per_rule(
    engine: Engine, tmp_path: Path
) -> None:
    pilot(Ledger(engine))

    report = report_via_cli(engine, tmp_path, "--since", "2026-10-05", "--until", "2026-10-25")

    assert report.cards == 11
    assert report.distinct_patients == 8
    assert report.cards_per_100_distinct_patients == 137.5
    assert report.states == {"shown": 11}
    assert report.by_indicator == {"info": 6, "warning": 4, "critical": 1}
    rules = {rule.rule: rule for rule in report.by_rule}
    assert [rule.rule for rule in report.by_rule] == ["A3", "M1", "B1", "A1", "A1b"]
    a3 = rules["A3"]
    assert (a3.cards, a3.patients, a3.states) == (6, 4, {"shown": 6})
    assert (a3.feedback.accepted, a3.feedback.overridden, a3.feedback.with_feedback) == (3, 2, 5)
    assert a3.feedback.acceptance_rate == 0.5
    assert a3.feedback.accepted_suggestions == 3
    b1 = rules["B1"]
    assert (b1.feedback.accepted, b1.feedback.overridden) == (1, 0)  # latest outcome
    assert b1.feedback.accepted_suggestions == 2
    assert rules["A1b"].by_indicator == {"critical": 1}
    assert [(r.code, r.count) for r in report.override_reasons] == [
        ("already-addressed", 2),
        ("not-applicable", 1),
    ]
    assert report.unknown_card_feedback == 1
    assert report.bucket == "day"
    assert sum(p.cards for p in report.periods) == 11
    assert report.periods[0].start == START
    assert report.periods[0].accepted_by_rule == {"A3": 1, "M1": 1}
    assert report.periods[0].by_indicator == {"info": 1}
    assert sum(p.by_indicator.get("warning", 0) for p in report.periods) == 4


def test_a_long_window_is_bucketed_by_iso_week(engine: Engine) -> None:
    pilot(Ledger(engine))
    since = START - timedelta(days=30)

    report = build_report(read_ledger(engine, since, None), since=since, until=None, rule_titles={})

    assert report.bucket == "week"
    assert [p.start.weekday() for p in report.periods] == [0, 0, 0, 0]
    assert [p.by_rule.get("A3", 0) for p in report.periods] == [1, 2, 2, 2]
    assert [p.accepted_by_rule.get("A3", 0) for p in report.periods] == [0, 1, 1, 1]


def test_an_empty_window_gives_an_empty_report(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    upgrade(engine)

    report = report_via_cli(engine, tmp_path / "out", "--since", "2026-01-01")

    assert (report.cards, report.by_rule, report.feedback.acceptance_rate) == (0, (), None)
    assert "No cards in this window." in (tmp_path / "out" / "index.html").read_text()


def test_a_database_without_the_schema_is_a_clear_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'none.sqlite3'}"

    result = CliRunner().invoke(main, ["report", "--out", str(tmp_path), "--database", url])

    assert result.exit_code == 3
    assert "schema current? (cds-service db current; db upgrade)" in result.stderr


def test_until_must_follow_since(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["report", "--out", str(tmp_path), "--since", "2026-02-01", "--until", "2026-01-01"]
    )

    assert result.exit_code == 2


def call(app: Flask, resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    templates = app.extensions["cds"].pipeline.templates[SERVICE]
    request = build_request(MemoryFhir(resources), templates, "example-patient")
    response = app.test_client().post(f"/cds-services/{SERVICE}", json=request)
    assert response.status_code == 200
    cards: list[dict[str, Any]] = response.get_json()["cards"]
    return cards


def test_a_real_hook_call_and_its_feedback_reach_the_report(tmp_path: Path) -> None:
    examples = load_examples()
    as_of = datetime.combine(examples.as_of, datetime.min.time(), tzinfo=UTC)
    app = make_app(tmp_path, CLOCK=as_of.isoformat())
    (card,) = call(app, resources_of(examples.examples["A1b"], examples))
    feedback = {
        "card": card["uuid"],
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}],
        "outcomeTimestamp": "2026-11-21T10:00:00Z",
    }
    response = app.test_client().post(
        f"/cds-services/{SERVICE}/feedback", json={"feedback": [feedback]}
    )
    assert response.status_code == 200

    engine = app.extensions["cds"].pipeline.store.engine
    report = build_report(read_ledger(engine), since=None, until=None, rule_titles={})

    assert report.cards == 1
    assert report.feedback.accepted == report.feedback.accepted_suggestions == 1
    rules = {rule.rule for rule in report.by_rule}
    assert {"A1b", "A1"} <= rules
    assert report.by_indicator == {"warning": 1}
    assert json.loads(report.model_dump_json())["format_version"] == 1


def test_shadowed_findings_are_counted_per_rule_but_never_as_cards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.cds_service.governance_support import (
        call as governed_call,
    )
    from tests.cds_service.governance_support import (
        cli,
        governed_app,
        governed_config,
        low_potassium_record,
    )

    config = governed_config(tmp_path)
    app = governed_app(tmp_path)
    assert cli(monkeypatch, config, "rules", "set", "B1", "A1b", "shadow",
               "--reason", "pilot", "--by", "cmio").exit_code == 0  # fmt: skip
    cards = governed_call(app.test_client(), app, low_potassium_record())

    engine = app.extensions["cds"].pipeline.store.engine
    records = itertools.chain(read_ledger(engine), read_withheld(engine))
    report = build_report(records, since=None, until=None, rule_titles={})

    by_rule = {rule.rule: rule for rule in report.by_rule}
    assert report.cards == len(cards)
    assert report.states["shadow"] >= 1
    shadowed = [r for r in ("B1", "A1b") if r in by_rule]
    assert shadowed
    for rule_id in shadowed:
        assert by_rule[rule_id].states == {"shadow": 1}
        assert by_rule[rule_id].cards == 0
