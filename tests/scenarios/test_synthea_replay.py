"""Every Synthea patient, with a knee cramp Condition injected, through the whole HTTP path.

The cards are compared with a reviewed snapshot per patient (tests/scenarios/snapshots/).
After a deliberate change, regenerate with CDS_TEST_UPDATE_SNAPSHOTS=1 and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from cds_service.memory_fhir import MemoryFhir, build_request
from tests.cds_service.support import walk_empty
from tests.conftest import make_app

ROOT = Path(__file__).resolve().parents[2]
SYNTHEA = ROOT.parent / "shared" / "fhir" / "synthea"
SNAPSHOTS = Path(__file__).parent / "snapshots"
COMPLAINT = json.loads((ROOT / "examples" / "knee-cramp-condition.json").read_text())
AS_OF = datetime(2021, 4, 1, tzinfo=UTC)  # the data ends 2021-03-31
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
UPDATE = os.environ.get("CDS_TEST_UPDATE_SNAPSHOTS") == "1"


def bundles() -> list[Path]:
    return sorted(SYNTHEA.glob("*_*.json")) if SYNTHEA.exists() else []


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    app = make_app(tmp_path_factory.mktemp("replay"))
    app.extensions["cds"].pipeline.clock = lambda: AS_OF
    return app


def request_for(app: Flask, bundle: dict[str, Any]) -> dict[str, Any]:
    entries = [entry["resource"] for entry in bundle["entry"]]
    (patient_id,) = [r["id"] for r in entries if r["resourceType"] == "Patient"]
    complaint = {**COMPLAINT, "subject": {"reference": f"Patient/{patient_id}"}}
    templates = app.extensions["cds"].pipeline.templates["knee-spasm-review"]
    return build_request(MemoryFhir([*entries, complaint]), templates, patient_id)


def normalise(body: dict[str, Any]) -> dict[str, Any]:
    """Card and suggestion uuids are random; everything else must match exactly."""
    text = UUID.sub("<uuid>", json.dumps(body, sort_keys=True))
    result: dict[str, Any] = json.loads(text)
    return result


def test_the_sample_data_is_present() -> None:
    if not SYNTHEA.exists():
        pytest.skip("shared/fhir/synthea is not beside the repository")
    assert len(bundles()) == 40


@pytest.mark.parametrize("path", bundles(), ids=lambda p: p.stem.rsplit("_", 1)[0])
def test_replay_matches_the_reviewed_snapshot(app: Flask, path: Path) -> None:
    bundle = json.loads(path.read_text())
    request = request_for(app, bundle)

    response = app.test_client().post("/cds-services/knee-spasm-review", json=request)

    assert response.status_code == 200
    body = response.get_json()
    assert [p for p in walk_empty(body) if p != "$.cards"] == []
    assert all(len(card["summary"]) < 140 for card in body["cards"])
    snapshot = SNAPSHOTS / f"{path.stem.rsplit('_', 1)[0]}.json"
    actual = normalise(body)
    if UPDATE:
        SNAPSHOTS.mkdir(exist_ok=True)
        snapshot.write_text(json.dumps(actual, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    assert snapshot.exists(), f"no snapshot for {path.name}; run with CDS_TEST_UPDATE_SNAPSHOTS=1"
    assert actual == json.loads(snapshot.read_text())
