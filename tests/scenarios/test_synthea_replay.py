"""Every Synthea patient through the whole HTTP path: with a knee cramp, and without one.

What matters per patient (each card's family, indicator, rule ids and suggested order codes) is
compared with a reviewed expectation file, so a wording fix does not churn forty snapshots. After
a deliberate clinical change, regenerate with CDS_TEST_UPDATE_EXPECTED=1 and review the diff.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from cds_service.memory_fhir import MemoryFhir, build_request
from tests.cds_service.support import walk_empty
from tests.conftest import make_app, require_or_skip

ROOT = Path(__file__).resolve().parents[2]
SYNTHEA = ROOT.parent / "shared" / "fhir" / "synthea"
EXPECTED = Path(__file__).parent / "synthea_expected.json"
COMPLAINT = json.loads((ROOT / "examples" / "knee-cramp-condition.json").read_text())
AS_OF = datetime(2021, 4, 1, tzinfo=UTC)  # the data ends 2021-03-31
UPDATE = os.environ.get("CDS_TEST_UPDATE_EXPECTED") == "1"
EXTENSION = "org.kneespasmcds.findings"


def bundles() -> list[Path]:
    return sorted(SYNTHEA.glob("*_*.json")) if SYNTHEA.exists() else []


def name_of(path: Path) -> str:
    return path.stem.rsplit("_", 1)[0]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    return make_app(tmp_path_factory.mktemp("replay"), CLOCK=AS_OF.isoformat())


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    return json.loads(EXPECTED.read_text()) if EXPECTED.exists() else {}


def request_for(app: Flask, bundle: dict[str, Any], complaint: bool) -> dict[str, Any]:
    entries = [entry["resource"] for entry in bundle["entry"]]
    (patient_id,) = [r["id"] for r in entries if r["resourceType"] == "Patient"]
    if complaint:
        entries.append({**COMPLAINT, "subject": {"reference": f"Patient/{patient_id}"}})
    templates = app.extensions["cds"].pipeline.templates["knee-spasm-review"]
    return build_request(MemoryFhir(entries), templates, patient_id)


def what_matters(card: dict[str, Any]) -> dict[str, Any]:
    """The clinical content of a card, without its wording."""
    findings = card["extension"][EXTENSION]["findings"]
    return {
        "family": card["source"]["topic"]["code"],
        "indicator": card["indicator"],
        "rules": [f["ruleId"] for f in findings],
        "orders": [
            coding["code"]
            for suggestion in card.get("suggestions", [])
            for action in suggestion["actions"]
            for coding in action["resource"]["code"]["coding"]
        ],
    }


def post(app: Flask, request: dict[str, Any]) -> dict[str, Any]:
    response = app.test_client().post("/cds-services/knee-spasm-review", json=request)
    assert response.status_code == 200
    body: dict[str, Any] = response.get_json()
    assert [p for p in walk_empty(body) if p != "$.cards"] == []
    return body


def test_the_sample_data_is_present() -> None:
    """Without the sample the replays below run zero cases: skip loudly here, fail in CI."""
    if not SYNTHEA.exists():
        require_or_skip("shared/fhir/synthea is not beside the repository")
    assert len(bundles()) == 40
    assert sorted(name_of(path) for path in bundles()) == sorted(
        json.loads(EXPECTED.read_text())
    ), "every sample patient has a reviewed expectation, and no expectation is orphaned"


@pytest.mark.parametrize("path", bundles(), ids=name_of)
def test_replay_gives_the_reviewed_cards(app: Flask, expected: dict[str, Any], path: Path) -> None:
    bundle = json.loads(path.read_text())

    body = post(app, request_for(app, bundle, complaint=True))

    assert all(len(card["summary"]) < 140 for card in body["cards"])
    assert all(not card["summary"].endswith("…") for card in body["cards"])
    actual = [what_matters(card) for card in body["cards"]]
    if UPDATE:
        expected[name_of(path)] = actual
        EXPECTED.write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
    assert name_of(path) in expected, "no expectation; run with CDS_TEST_UPDATE_EXPECTED=1"
    assert actual == expected[name_of(path)]


@pytest.mark.parametrize("path", bundles(), ids=name_of)
def test_without_a_complaint_there_are_no_cards(app: Flask, path: Path) -> None:
    bundle = json.loads(path.read_text())

    assert post(app, request_for(app, bundle, complaint=False)) == {"cards": []}
