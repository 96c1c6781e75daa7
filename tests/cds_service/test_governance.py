"""Rule states over HTTP: shadow withholds and records, off is absent, the digest follows the
states, accepted orders are not suggested again, and lookups fail open and are counted.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from cds_service.governance.switches import read_snapshot
from cds_service.store import DatabaseUnavailable
from tests.cds_service.governance_support import (
    FINDINGS_KEY,
    accept,
    call,
    card_of,
    ledger,
    low_potassium_record,
    override,
    shown,
    states_of,
    switch,
)
from tests.cds_service.test_metrics import scrape, value


def digest(rules_app: Flask) -> str:
    service = rules_app.test_client().get("/cds-services").get_json()["services"][0]
    found: str = service["extension"]["org.kneespasmcds.rule-states"]
    return found


def test_a_shadow_finding_is_withheld_and_recorded_and_never_hides_a_shown_one(
    rules_app: Flask, rules_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    switch(monkeypatch, rules_config, "A1b", "shadow")

    cards = call(rules_app.test_client(), rules_app, low_potassium_record())

    assert "A1b" not in shown(cards)
    assert shown(cards)["B1"] == "warning"  # the low potassium, no longer superseded by A1b
    assert sorted(states_of(ledger(rules_app))) == [("A1b", "shadow"), ("B1", "shown")]


def test_the_service_wide_switch_withholds_every_card_and_records_every_finding(
    rules_app: Flask, rules_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    switch(monkeypatch, rules_config, "*", "shadow")

    assert call(rules_app.test_client(), rules_app, low_potassium_record()) == []
    assert states_of(ledger(rules_app)) == [("A1b", "shadow")]


def test_an_off_rule_is_absent_from_response_and_ledger_and_the_digest_follows_every_change(
    rules_app: Flask, rules_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = digest(rules_app)
    switch(monkeypatch, rules_config, "A1b", "off")
    off = digest(rules_app)
    cards = call(rules_app.test_client(), rules_app, low_potassium_record())
    switch(monkeypatch, rules_config, "A1b", "shadow")
    shadow = digest(rules_app)
    switch(monkeypatch, rules_config, "*", "shadow")
    everything = digest(rules_app)
    switch(monkeypatch, rules_config, "*", "on")
    switch(monkeypatch, rules_config, "A1b", "on")

    assert "A1b" not in shown(cards)
    assert cards[0]["extension"][FINDINGS_KEY]["ruleStates"] == off
    assert "A1b" not in {rule for rule, _ in states_of(ledger(rules_app))}
    assert len({shipped, off, shadow, everything}) == 4
    assert digest(rules_app) == shipped  # the same effective states, the same digest
    snapshot = read_snapshot(rules_app.extensions["cds"].pipeline.store, off)
    assert snapshot is not None
    assert (snapshot.states["A1b"], snapshot.states["B1"]) == ("off", "on")


def test_an_accepted_suggestion_is_not_made_again_for_the_same_finding(rules_app: Flask) -> None:
    client = rules_app.test_client()
    record = low_potassium_record()
    card = card_of(call(client, rules_app, record), "A1b")
    assert [s["label"] for s in card["suggestions"]] == ["Order basic metabolic panel"]

    accept(client, card, "Order basic metabolic panel")
    again = card_of(call(client, rules_app, record), "A1b")

    assert "suggestions" not in again
    assert "accepted from a card on" in again["detail"]
    first, second = [r for r in ledger(rules_app) if r.rule_id == "A1b"]
    assert first.feedback[0].accepted_orders == ["bmp"]
    assert (second.state, second.withheld_orders) == ("shown", ["bmp"])


def test_a_snooze_lookup_the_database_cannot_answer_shows_the_card_and_is_counted(
    rules_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = rules_app.test_client()
    record = low_potassium_record()
    override(client, card_of(call(client, rules_app, record), "A1b"), "already-addressed")

    def down(*_: object) -> None:
        raise DatabaseUnavailable("unreachable")

    monkeypatch.setattr(rules_app.extensions["cds"].pipeline.store, "prior_feedback", down)
    cards = call(client, rules_app, record)

    assert "A1b" in shown(cards)
    samples = scrape(client)
    lookup = {"service": "knee-spasm-review", "lookup": "snooze"}
    assert value(samples, "cds_governance_misses_total", **lookup) == 1
    shown_a1b = {"service": "knee-spasm-review", "rule": "A1b", "state": "shown"}
    assert value(samples, "cds_findings_total", **shown_a1b) == 2


def test_rule_states_the_database_cannot_answer_keep_the_last_known(
    rules_app: Flask, rules_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    switch(monkeypatch, rules_config, "A1b", "shadow")
    client = rules_app.test_client()
    assert "A1b" not in shown(call(client, rules_app, low_potassium_record()))

    def down() -> None:
        raise DatabaseUnavailable("unreachable")

    monkeypatch.setattr(rules_app.extensions["cds"].pipeline.governance.cache, "_read", down)
    cards = call(client, rules_app, low_potassium_record())

    assert "A1b" not in shown(cards)  # still in shadow: the last states read
    lookup = {"service": "knee-spasm-review", "lookup": "states"}
    assert value(scrape(client), "cds_governance_misses_total", **lookup) == 1
