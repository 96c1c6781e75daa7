from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from cds_service.store import CardRecord, Feedback
from tests.conftest import make_app

FEEDBACK_URL = "/cds-services/knee-spasm-review/feedback"
CARD = "4e0a3a1e-3283-4575-ab82-028d55fe2719"


def issue_card(app: Flask, uuid: str = CARD, service: str = "knee-spasm-review") -> None:
    store = app.extensions["cds"].pipeline.store
    record = CardRecord(uuid=uuid, topic="medications", indicator="info", rule_ids=("A3",))
    store.record_cards(service, "hook-1", "patient-1", "1.0.0", [record])


def stored(app: Flask) -> list[Feedback]:
    with Session(app.extensions["cds"].pipeline.store.engine) as session:
        return list(session.scalars(select(Feedback).order_by(Feedback.id)))


ACCEPTED = {
    "card": CARD,
    "outcome": "accepted",
    "acceptedSuggestions": [{"id": "e56e1945-20b3-4393-8503-a1a20fd73152"}],
    "outcomeTimestamp": "2021-12-11T10:05:31Z",
}
OVERRIDDEN = {
    "card": CARD,
    "outcome": "overridden",
    "overrideReason": {
        "reason": {
            "code": "already-addressed",
            "system": "https://example.org/override",
            "display": "Already addressed",
        },
        "userComment": "Seen by nephrology last week.",
    },
    "outcomeTimestamp": "2020-12-11T00:00:00Z",
}


def check_feedback_is_stored_with_every_field(app: Flask) -> None:
    issue_card(app)
    response = app.test_client().post(FEEDBACK_URL, json={"feedback": [ACCEPTED, OVERRIDDEN]})

    assert response.status_code == 200
    assert response.get_json() == {"stored": 2}
    accepted, overridden = stored(app)
    assert accepted.card_uuid == CARD
    assert accepted.card_known is True
    assert accepted.outcome == "accepted"
    assert accepted.accepted_suggestions == ["e56e1945-20b3-4393-8503-a1a20fd73152"]
    assert accepted.outcome_at.replace(tzinfo=None).isoformat() == "2021-12-11T10:05:31"
    assert overridden.override_code == "already-addressed"
    assert overridden.override_system == "https://example.org/override"
    assert overridden.override_display == "Already addressed"
    assert overridden.user_comment == "Seen by nephrology last week."
    assert overridden.received_at is not None


def test_feedback_is_stored_on_sqlite(app: Flask) -> None:
    check_feedback_is_stored_with_every_field(app)


@pytest.mark.postgres
def test_feedback_is_stored_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    app = make_app(tmp_path, DATABASE_URL=postgres_url, PATIENT_HASH_SALT="test-salt")
    try:
        check_feedback_is_stored_with_every_field(app)
    finally:
        app.extensions["cds"].pipeline.store.engine.dispose()


def test_feedback_for_an_unknown_card_is_stored_and_reported(app: Flask) -> None:
    issue_card(app)
    unknown = dict(ACCEPTED, card="never-issued")

    response = app.test_client().post(FEEDBACK_URL, json={"feedback": [ACCEPTED, unknown]})

    assert response.status_code == 200
    assert response.get_json() == {"stored": 2, "unknownCards": ["never-issued"]}
    assert [(f.card_uuid, f.card_known) for f in stored(app)] == [
        (CARD, True),
        ("never-issued", False),
    ]


def test_a_card_issued_by_another_service_counts_as_unknown(app: Flask) -> None:
    issue_card(app, service="other-service")

    response = app.test_client().post(FEEDBACK_URL, json={"feedback": [ACCEPTED]})

    assert response.get_json()["unknownCards"] == [CARD]


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({k: v for k, v in ACCEPTED.items() if k != "acceptedSuggestions"}, "feedback.1"),
        (dict(ACCEPTED, outcome="ignored"), "feedback.1.outcome"),
        (dict(ACCEPTED, outcomeTimestamp="yesterday"), "feedback.1.outcomeTimestamp"),
        (dict(ACCEPTED, outcomeTimestamp="2021-12-11T10:05:31"), "feedback.1.outcomeTimestamp"),
        # Found by Schemathesis: a number was taken as Unix time and stored as 1970-01-01.
        (dict(ACCEPTED, outcomeTimestamp=0), "feedback.1.outcomeTimestamp"),
        (dict(ACCEPTED, outcomeTimestamp=1639217131.5), "feedback.1.outcomeTimestamp"),
        (dict(ACCEPTED, outcomeTimestamp="0"), "feedback.1.outcomeTimestamp"),
        (dict(ACCEPTED, outcomeTimestamp="2021-12-11"), "feedback.1.outcomeTimestamp"),
        ({k: v for k, v in ACCEPTED.items() if k != "card"}, "feedback.1.card"),
    ],
)
def test_invalid_feedback_is_400_and_nothing_is_stored(
    app: Flask, item: dict[str, Any], field: str
) -> None:
    response = app.test_client().post(FEEDBACK_URL, json={"feedback": [ACCEPTED, item]})

    assert response.status_code == 400
    lines = [i["diagnostics"] for i in response.get_json()["issue"]]
    assert any(line.startswith(field) for line in lines), lines
    assert stored(app) == []


def test_empty_feedback_list_is_400(app: Flask) -> None:
    response = app.test_client().post(FEEDBACK_URL, json={"feedback": []})

    assert response.status_code == 400


def test_feedback_to_an_unknown_service_is_404(app: Flask) -> None:
    response = app.test_client().post("/cds-services/nope/feedback", json={"feedback": [ACCEPTED]})

    assert response.status_code == 404


def test_stored_feedback_survives_a_later_bad_request(app: Flask) -> None:
    client = app.test_client()
    client.post(FEEDBACK_URL, json={"feedback": [ACCEPTED]})

    client.post(FEEDBACK_URL, data=b"{not json", content_type="application/json")

    assert len(stored(app)) == 1
