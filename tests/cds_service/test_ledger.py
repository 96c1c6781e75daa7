"""The card ledger, on SQLite and PostgreSQL: what is recorded, and what it refuses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from cds_service import create_app
from cds_service.migrate import upgrade
from cds_service.store import IssuedCard
from tests.cds_service.test_metrics import (
    PATIENT,
    PROBE_URL,
    one_card_per_family,
    probe,
    probe_request,
)
from tests.conftest import base_config


@pytest.fixture
def app(tmp_path: Path, database_url: str) -> Any:
    config = base_config(tmp_path, DATABASE_URL=database_url, PATIENT_HASH_SALT="test-salt")
    app = create_app(config, services=[probe])
    upgrade(app.extensions["cds"].pipeline.store.engine)
    app.extensions["cds"].pipeline.render_cards = one_card_per_family
    yield app
    app.extensions["cds"].pipeline.store.engine.dispose()


def ledger(app: Flask) -> list[IssuedCard]:
    with Session(app.extensions["cds"].pipeline.store.engine) as session:
        return list(session.scalars(select(IssuedCard).order_by(IssuedCard.topic)))


def test_every_card_is_recorded_with_its_rules_and_no_patient_id(app: Flask) -> None:
    response = app.test_client().post(PROBE_URL, json=probe_request(prefetch={"patient": PATIENT}))

    cards = response.get_json()["cards"]
    rows = ledger(app)
    assert sorted(c["uuid"] for c in cards) == sorted(r.uuid for r in rows)
    assert [(r.topic, r.indicator, r.rule_ids) for r in rows] == [
        ("labs", "info", ["L1"]),
        ("medications", "warning", ["A3", "A5"]),
    ]
    store = app.extensions["cds"].pipeline.store
    assert {r.patient_hash for r in rows} == {store.patient_hash("p1")}
    assert {r.hook_instance for r in rows} == {"5a4c3f5e-5d0e-4f43-9f7e-3a8e0c1d2b11"}


def test_the_longest_hook_instance_is_recorded(app: Flask) -> None:
    body = probe_request(prefetch={"patient": PATIENT}, hookInstance="h" * 256)

    assert app.test_client().post(PROBE_URL, json=body).status_code == 200
    assert {len(r.hook_instance) for r in ledger(app)} == {256}


@pytest.mark.parametrize("hook_instance", ["h\x00x", "h" * 257])
def test_a_hook_instance_the_ledger_cannot_hold_is_400(app: Flask, hook_instance: str) -> None:
    # Regression: a NUL here was a 500 DataError on PostgreSQL.
    body = probe_request(prefetch={"patient": PATIENT}, hookInstance=hook_instance)

    response = app.test_client().post(PROBE_URL, json=body)

    assert response.status_code == 400
    assert response.get_json()["issue"][0]["diagnostics"].startswith("hookInstance")
    assert ledger(app) == []
