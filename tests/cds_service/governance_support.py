"""Shared helpers for the governance tests: a patient with a low potassium on furosemide, calls,
feedback, rule switches through the real CLI, and the ledger as the export reads it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient

from cds_service import create_app
from cds_service.cli import main
from cds_service.governance.export import LedgerRecord, read_records
from cds_service.memory_fhir import MemoryFhir, build_request
from cds_service.migrate import upgrade
from tests.builders import (
    PATIENT_ID,
    iso,
    make_complaint,
    make_med_request,
    make_observation,
    make_patient,
)
from tests.conftest import base_config

SERVICE = "knee-spasm-review"
URL = f"/cds-services/{SERVICE}"
FEEDBACK_URL = f"{URL}/feedback"
OVERRIDE_SYSTEM = "urn:knee-spasm-cds:override-reason"
FINDINGS_KEY = "org.kneespasmcds.findings"
CLOCK = "2021-04-01"  # the builders' AS_OF: lab dates are relative to it


def governed_config(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    """The test app's settings; rule states are reread on every call unless a test says not."""
    return base_config(tmp_path, **{"CLOCK": CLOCK, "RULE_STATES_TTL_SECONDS": 0, **overrides})


def governed_app(tmp_path: Path, **overrides: Any) -> Flask:
    """An app on `governed_config`, its database migrated."""
    app = create_app(governed_config(tmp_path, **overrides))
    upgrade(app.extensions["cds"].pipeline.store.engine)
    return app


def potassium(value: float = 3.1, rid: str = "k1", days: float = 3, flag: str | None = None) -> Any:
    observation = make_observation("2823-3", value, when=iso(days), resource_id=rid)
    if flag is not None:
        system = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
        observation["interpretation"] = [{"coding": [{"system": system, "code": flag}]}]
    return observation


def low_potassium_record(*labs: dict[str, Any]) -> list[dict[str, Any]]:
    """Furosemide, a normal recent magnesium, and the given potassium results (default 3.1)."""
    furosemide = make_med_request("4603", authored=iso(60))
    furosemide["id"] = "furosemide"
    magnesium = make_observation("19123-9", 0.9, when=iso(3), resource_id="mg1")
    return [make_patient(), make_complaint(), furosemide, magnesium, *(labs or [potassium()])]


def hook_request(app: Flask, resources: list[dict[str, Any]], instance: str) -> dict[str, Any]:
    templates = app.extensions["cds"].pipeline.templates[SERVICE]
    return build_request(MemoryFhir(resources), templates, PATIENT_ID, hook_instance=instance)


_calls = iter(range(1, 1_000_000))


def call(client: FlaskClient, app: Flask, resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One hook call (a new hookInstance each time); the cards returned."""
    instance = f"00000000-0000-4000-8000-{next(_calls):012d}"
    response = client.post(URL, json=hook_request(app, resources, instance))
    assert response.status_code == 200, response.get_json()
    cards: list[dict[str, Any]] = response.get_json()["cards"]
    return cards


def shown(cards: list[dict[str, Any]]) -> dict[str, str]:
    """Rule id -> severity of every finding on the cards (from the machine-readable extension)."""
    return {
        finding["ruleId"]: finding["severity"]
        for card in cards
        for finding in card["extension"][FINDINGS_KEY]["findings"]
    }


def card_of(cards: list[dict[str, Any]], rule_id: str) -> dict[str, Any]:
    [card] = [c for c in cards if rule_id in shown([c])]
    return card


def now() -> str:
    """The clinician acts now: snoozes run on the real clock, not on CDS_CLOCK."""
    return datetime.now(UTC).isoformat()


def override(client: FlaskClient, card: dict[str, Any], code: str, system: str = "") -> None:
    item = {
        "card": card["uuid"],
        "outcome": "overridden",
        "overrideReason": {
            "reason": {"code": code, "system": system or OVERRIDE_SYSTEM, "display": code},
            "userComment": "Discussed with the patient's daughter Wilhelmina",
        },
        "outcomeTimestamp": now(),
    }
    response = client.post(FEEDBACK_URL, json={"feedback": [item]})
    assert response.status_code == 200, response.get_json()


def accept(client: FlaskClient, card: dict[str, Any], *labels: str) -> None:
    chosen = [{"id": s["uuid"]} for s in card["suggestions"] if s["label"] in labels]
    assert len(chosen) == len(labels)
    item = {
        "card": card["uuid"],
        "outcome": "accepted",
        "acceptedSuggestions": chosen,
        "outcomeTimestamp": now(),
    }
    assert client.post(FEEDBACK_URL, json={"feedback": [item]}).status_code == 200


def ledger(app: Flask) -> list[LedgerRecord]:
    return list(read_records(app.extensions["cds"].pipeline.store))


def states_of(records: list[LedgerRecord]) -> list[tuple[str, str]]:
    return [(r.rule_id, r.state) for r in records if r.rule_id != "M1"]


def cli(monkeypatch: pytest.MonkeyPatch, config: dict[str, Any], *args: str) -> Result:
    """Run `cds-service ARGS` against the app's database, as an operator would."""
    for key, value in config.items():
        monkeypatch.setenv(f"CDS_{key}", str(value))
    return CliRunner().invoke(main, list(args))


def switch(
    monkeypatch: pytest.MonkeyPatch, config: dict[str, Any], rule: str, state: str
) -> Result:
    args = ["--all", state] if rule == "*" else [rule, state]
    result = cli(
        monkeypatch, config, "rules", "set", *args, "--reason", f"test: {state}", "--by", "tester"
    )
    assert result.exit_code == 0, result.output
    return result
