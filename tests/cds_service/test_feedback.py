from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from cds_service.store import CardRecord, Feedback

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


@pytest.fixture
def app(db_app: Flask) -> Flask:
    """Every feedback test runs on SQLite and on PostgreSQL."""
    return db_app


def test_feedback_is_stored_with_every_field(app: Flask) -> None:
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


LONG = "x" * 257
CASES: list[tuple[dict[str, Any], str]] = [
    (dict(ACCEPTED, card=LONG), "feedback.1.card"),
    (dict(ACCEPTED, card="a\x00b"), "feedback.1.card"),
    (dict(ACCEPTED, acceptedSuggestions=[{"id": "s\x00"}]), "feedback.1.acceptedSuggestions.0.id"),
    (dict(ACCEPTED, acceptedSuggestions=[{"id": LONG}]), "feedback.1.acceptedSuggestions.0.id"),
]
for name, value, limit in (("system", "s", 1024), ("code", "c", 256)):
    for bad in (value * (limit + 1), value + "\x00"):
        reason: dict[str, Any] = {**OVERRIDDEN["overrideReason"]["reason"], name: bad}  # type: ignore[index]
        item = dict(OVERRIDDEN, overrideReason={"reason": reason})
        CASES.append((item, f"feedback.1.overrideReason.reason.{name}"))
CASES += [
    (
        dict(
            OVERRIDDEN, overrideReason={"reason": {"code": "c", "system": "s", "display": "\x00"}}
        ),
        "feedback.1.overrideReason.reason.display",
    ),
    (dict(OVERRIDDEN, overrideReason={"userComment": "seen\x00"}), "feedback.1.overrideReason"),
]


CASES += [
    # Found by bench/fuzz.py: the identity key's UTC conversion overflowed (a 500).
    (dict(ACCEPTED, outcomeTimestamp="0001-01-01T00:00:00+14:00"), "feedback.1.outcomeTimestamp"),
    (dict(ACCEPTED, outcomeTimestamp="9999-12-31T23:59:59-14:00"), "feedback.1.outcomeTimestamp"),
]


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
        # Regression: on PostgreSQL these were a 500 DataError (SQLite stored them), and the
        # whole batch failed with no way for the client to tell which entry was at fault.
        *CASES,
    ],
)
def test_invalid_feedback_is_400_and_nothing_is_stored(
    app: Flask, item: dict[str, Any], field: str
) -> None:
    response = app.test_client().post(FEEDBACK_URL, json={"feedback": [ACCEPTED, item]})

    assert response.status_code == 400
    lines = [i["diagnostics"] for i in response.get_json()["issue"]]
    assert any(line.startswith(field) for line in lines), lines
    assert "\x00" not in response.get_data(as_text=True)
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


def test_values_at_the_column_limits_are_stored(app: Flask) -> None:
    reason = {"code": "c" * 256, "system": "s" * 1024, "display": "d" * 5000}
    item = dict(OVERRIDDEN, card="k" * 256, overrideReason={"reason": reason})

    response = app.test_client().post(FEEDBACK_URL, json={"feedback": [item]})

    assert response.status_code == 200
    [row] = stored(app)
    assert (len(row.card_uuid), len(row.override_system or "")) == (256, 1024)


def test_a_retried_batch_is_acknowledged_without_storing_it_twice(app: Flask) -> None:
    # Regression: feedback retried after a cut connection was stored twice.
    issue_card(app)
    client = app.test_client()
    body = {"feedback": [ACCEPTED, OVERRIDDEN]}

    first = client.post(FEEDBACK_URL, json=body)
    retry = client.post(FEEDBACK_URL, json=body)

    assert first.get_json() == {"stored": 2}
    assert retry.status_code == 200
    assert retry.get_json() == {"stored": 2, "duplicates": 2}
    assert len(stored(app)) == 2


def test_a_partly_new_retry_stores_only_the_new_outcome(app: Flask) -> None:
    client = app.test_client()
    client.post(FEEDBACK_URL, json={"feedback": [ACCEPTED]})
    later = dict(ACCEPTED, outcomeTimestamp="2021-12-11T10:06:00Z")

    response = client.post(FEEDBACK_URL, json={"feedback": [ACCEPTED, later]})

    assert response.get_json()["duplicates"] == 1
    assert [f.outcome_at.minute for f in stored(app)] == [5, 6]


def test_an_outcome_is_identified_by_instant_and_suggestion_set(app: Flask) -> None:
    client = app.test_client()
    same_instant = dict(ACCEPTED, outcomeTimestamp="2021-12-11T11:05:31+01:00")
    two = [{"id": "a"}, {"id": "b"}]
    client.post(
        FEEDBACK_URL, json={"feedback": [ACCEPTED, dict(ACCEPTED, acceptedSuggestions=two)]}
    )

    response = client.post(
        FEEDBACK_URL,
        json={"feedback": [same_instant, dict(ACCEPTED, acceptedSuggestions=two[::-1])]},
    )

    assert response.get_json()["duplicates"] == 2
    assert len(stored(app)) == 2


def test_the_same_outcome_twice_in_one_batch_is_stored_once(app: Flask) -> None:
    issue_card(app)
    response = app.test_client().post(FEEDBACK_URL, json={"feedback": [ACCEPTED, ACCEPTED]})

    assert response.get_json() == {"stored": 2, "duplicates": 1}
    assert len(stored(app)) == 1


def test_concurrent_retries_store_one_row(app: Flask) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def post(_: int) -> int:
        return app.test_client().post(FEEDBACK_URL, json={"feedback": [ACCEPTED]}).status_code

    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(post, range(8)))

    assert statuses == [200] * 8
    assert len(stored(app)) == 1


def test_the_migrations_match_the_models(app: Flask) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from cds_service.store import Base

    with app.extensions["cds"].pipeline.store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)

    assert diffs == []
