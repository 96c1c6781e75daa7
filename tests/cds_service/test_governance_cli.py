"""`cds-service rules` and `cds-service ledger`: reasons are required, every change is audited,
and the export carries what a committee needs and no patient identifier in clear.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from flask import Flask

from cds_service.governance.export import CSV_FIELDS, LedgerRecord
from cds_service.governance.switches import read_history
from tests.builders import PATIENT_ID, knowledge
from tests.cds_service.governance_support import (
    call,
    card_of,
    cli,
    low_potassium_record,
    override,
    switch,
)


def history(monkeypatch: pytest.MonkeyPatch, rules_config: dict[str, Any]) -> list[dict[str, Any]]:
    result = cli(monkeypatch, rules_config, "rules", "history", "--json")
    assert result.exit_code == 0, result.output
    changes: list[dict[str, Any]] = json.loads(result.stdout)
    return changes


def listing(monkeypatch: pytest.MonkeyPatch, rules_config: dict[str, Any]) -> dict[str, Any]:
    result = cli(monkeypatch, rules_config, "rules", "list", "--json")
    assert result.exit_code == 0, result.output
    [service] = json.loads(result.stdout)["services"]
    found: dict[str, Any] = service
    return found


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["A1b", "shadow", "--by", "Dr Lee"], "Missing option '--reason'"),
        (["A1b", "shadow", "--by", "Dr Lee", "--reason", "  "], "--reason"),
        (["A1b", "shadow", "--reason", "pilot"], "Missing option '--by'"),
        (["Z9", "on", "--by", "Dr Lee", "--reason", "pilot"], "no rule 'Z9'"),
        (["A1b", "maybe", "--by", "Dr Lee", "--reason", "pilot"], "'maybe' is not one of"),
        (["--all", "off", "--by", "Dr Lee", "--reason", "stop"], "rules off one by one"),
    ],
    ids=["no-reason", "blank-reason", "no-by", "unknown-rule", "unknown-state", "all-off"],
)
def test_a_change_without_what_the_audit_needs_is_refused(
    rules_app: Flask,
    rules_config: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    result = cli(monkeypatch, rules_config, "rules", "set", *args)

    assert result.exit_code == 2
    assert message in result.output
    assert read_history(rules_app.extensions["cds"].pipeline.store) == []


def test_a_rule_citing_an_unverified_source_cannot_be_switched_on(
    rules_app: Flask, rules_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = cli(
        monkeypatch, rules_config, "rules", "set", "A11", "on", "--by", "x", "--reason", "y"
    )

    assert result.exit_code == 3
    assert "unverified" in result.output
    assert read_history(rules_app.extensions["cds"].pipeline.store) == []


def test_every_change_is_audited_with_who_when_old_new_why_and_the_digest(
    rules_app: Flask, rules_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    switch(monkeypatch, rules_config, "A1b", "shadow")
    switch(monkeypatch, rules_config, "B0", "on")
    switch(monkeypatch, rules_config, "*", "shadow")
    unchanged = cli(
        monkeypatch, rules_config, "rules", "set", "B0", "on", "--by", "x", "--reason", "y"
    )

    changes = history(monkeypatch, rules_config)
    now = listing(monkeypatch, rules_config)

    assert "nothing recorded" in unchanged.output
    assert [(c["rule"], c["from"], c["to"], c["by"], c["reason"]) for c in changes] == [
        ("A1b", "on", "shadow", "tester", "test: shadow"),
        ("B0", "off", "on", "tester", "test: on"),
        ("*", "on", "shadow", "tester", "test: shadow"),
    ]
    assert changes[-1]["digest"] == now["digest"]
    assert all(change["at"] for change in changes)
    rules = {rule["id"]: rule for rule in now["rules"]}
    assert (rules["B0"]["shipped"], rules["B0"]["set"]["state"]) == ("off", "on")
    assert rules["B0"]["effective"] == "shadow"  # the service-wide switch wins
    assert rules["A11"]["locked"] is True


def test_the_export_has_one_record_per_finding_with_its_feedback_and_no_patient_id(
    rules_app: Flask, rules_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = rules_app.test_client()
    record = low_potassium_record()
    card = card_of(call(client, rules_app, record), "A1b")
    override(client, card, "already-addressed")
    call(client, rules_app, record)  # snoozed

    ndjson = cli(monkeypatch, rules_config, "ledger", "export")
    table = cli(monkeypatch, rules_config, "ledger", "export", "--format", "csv")
    later = cli(monkeypatch, rules_config, "ledger", "export", "--since", "2999-01-01")

    assert ndjson.exit_code == 0, ndjson.output
    records = [LedgerRecord.model_validate_json(line) for line in ndjson.stdout.splitlines()]
    a1b = [r for r in records if r.rule_id == "A1b"]
    assert [(r.state, r.card_uuid) for r in a1b] == [("shown", card["uuid"]), ("snoozed", None)]
    first = a1b[0]
    assert first.feedback[0].override_reason == "already-addressed"
    assert first.rule_version == "2.0.0"
    assert first.knowledge_version == knowledge().version
    assert first.rule_state_digest == card["extension"]["org.kneespasmcds.findings"]["ruleStates"]
    assert len(first.patient_key) == 64
    assert PATIENT_ID not in first.patient_key
    for text in (ndjson.stdout, table.stdout):
        assert "Patient/p1" not in text
        assert "Wilhelmina" not in text  # the clinician's free-text comment is not exported
    rows = list(csv.DictReader(io.StringIO(table.stdout)))
    assert tuple(rows[0]) == CSV_FIELDS
    assert [(r["rule_id"], r["state"]) for r in rows] == [(r.rule_id, r.state) for r in records]
    [shown_row] = [r for r in rows if (r["rule_id"], r["state"]) == ("A1b", "shown")]
    assert (shown_row["feedback_outcomes"], shown_row["override_reasons"]) == (
        "overridden",
        "already-addressed",
    )
    assert later.stdout == ""
    assert "0 records" in later.stderr


def test_the_export_schema_is_the_record_model(monkeypatch: pytest.MonkeyPatch) -> None:
    result = cli(monkeypatch, {}, "ledger", "schema")

    assert json.loads(result.stdout) == LedgerRecord.model_json_schema()


def test_several_rules_are_switched_at_once_each_change_audited(
    rules_app: Flask, rules_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = cli(monkeypatch, rules_config, "rules", "list", "--ids").stdout.split()
    audit = ("--by", "Dr Lee", "--reason", "pilot")
    refused = cli(monkeypatch, rules_config, "rules", "set", "A1", "C9", "shadow", *audit)
    every = cli(monkeypatch, rules_config, "rules", "set", *ids, "shadow", *audit)

    assert "A11" not in ids  # cites an unverified source: it may never run
    assert "C9" not in ids
    assert refused.exit_code == 3
    assert "nothing changed" in refused.output
    assert every.exit_code == 0, every.output
    rules = {rule["id"]: rule["effective"] for rule in listing(monkeypatch, rules_config)["rules"]}
    assert {rules[rule_id] for rule_id in ids} == {"shadow"}
    assert len(history(monkeypatch, rules_config)) == len(ids)
