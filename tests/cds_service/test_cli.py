from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from flask import Flask

from cds_service.cli import main
from tests.cds_service.support import PATIENT, full_request
from tests.conftest import wait_healthy


def write(tmp_path: Path, name: str, body: object) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(body))
    return path


def test_evaluate_prints_the_response_json(app: Flask, tmp_path: Path) -> None:
    request = write(tmp_path, "req.json", full_request(app))

    result = CliRunner().invoke(main, ["evaluate", str(request), "--as-of", "2021-04-01"])

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"cards": []}


def test_evaluate_accepts_a_patient_bundle(tmp_path: Path) -> None:
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": PATIENT}]}
    path = write(tmp_path, "bundle.json", bundle)

    result = CliRunner().invoke(main, ["evaluate", str(path), "--as-of", "2021-04-01"])

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"cards": []}


def test_evaluate_missing_prefetch_exits_4(app: Flask, tmp_path: Path) -> None:
    request = full_request(app)
    del request["prefetch"]["patient"]
    path = write(tmp_path, "req.json", request)

    result = CliRunner().invoke(main, ["evaluate", str(path)])

    assert result.exit_code == 4
    assert "'patient'" in result.stderr


def test_evaluate_invalid_request_exits_3(tmp_path: Path) -> None:
    path = write(tmp_path, "req.json", {"hook": "patient-view"})

    result = CliRunner().invoke(main, ["evaluate", str(path)])

    assert result.exit_code == 3
    assert "hookInstance" in result.stderr


def test_evaluate_rejects_a_bad_as_of_with_usage_exit_2(app: Flask, tmp_path: Path) -> None:
    path = write(tmp_path, "req.json", full_request(app))

    result = CliRunner().invoke(main, ["evaluate", str(path), "--as-of", "last tuesday"])

    assert result.exit_code == 2


def test_db_upgrade_creates_the_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "fresh.sqlite3"
    monkeypatch.setenv("CDS_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("CDS_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("CDS_AUTH", "off")

    result = CliRunner().invoke(main, ["db", "upgrade"])

    assert result.exit_code == 0, result.output
    import sqlite3

    tables = {r[0] for r in sqlite3.connect(db).execute("select name from sqlite_master")}
    assert {"issued_card", "feedback", "alembic_version"} <= tables


def test_bad_configuration_exits_3_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDS_AUTH", "sometimes")

    result = CliRunner().invoke(main, ["serve"])

    assert result.exit_code == 3
    assert "CDS_AUTH" in result.stderr


def test_validate_knowledge_reports_the_version() -> None:
    result = CliRunner().invoke(main, ["validate-knowledge"])

    assert result.exit_code == 0
    assert result.stdout.startswith("knowledge ")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.slow
def test_the_real_server_serves_discovery_and_a_hook_call(app: Flask, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CDS_")},
        "CDS_AUTH": "off",
        "CDS_DATABASE_URL": f"sqlite:///{tmp_path / 'srv.sqlite3'}",
        "CDS_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    cli = Path(sys.executable).parent / "cds-service"
    subprocess.run([cli, "db", "upgrade"], env=env, check=True, capture_output=True)
    server = subprocess.Popen(
        [cli, "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, server)
        discovery = httpx.get(f"{base}/cds-services", timeout=5)
        call = httpx.post(
            f"{base}/cds-services/knee-spasm-review", json=full_request(app), timeout=5
        )
        ready = httpx.get(f"{base}/readyz", timeout=5)
    finally:
        server.terminate()
        access_log, _ = server.communicate(timeout=20)

    assert discovery.json()["services"][0]["id"] == "knee-spasm-review"
    assert call.status_code == 200
    assert call.json() == {"cards": []}
    assert ready.status_code == 200
    access = [json.loads(line) for line in access_log.splitlines()]
    assert {"method": "POST", "route": "/cds-services/<service_id>", "status": 200} in [
        {k: e.get(k) for k in ("method", "route", "status")} for e in access
    ]


def test_evaluate_answers_a_template_in_full_past_its_count(tmp_path: Path) -> None:
    """A bundle with more matching labs than the template's _count needs no next page."""
    labs = [
        {
            "resourceType": "Observation",
            "id": f"k{i}",
            "status": "final",
            "subject": {"reference": f"Patient/{PATIENT['id']}"},
            "code": {"coding": [{"system": "http://loinc.org", "code": "2823-3"}]},
            "effectiveDateTime": "2021-03-01T00:00:00Z",
            "valueQuantity": {"value": 4.1, "unit": "mmol/L"},
        }
        for i in range(600)
    ]
    entries = [{"resource": r} for r in [PATIENT, *labs]]
    path = write(tmp_path, "bundle.json", {"resourceType": "Bundle", "entry": entries})

    result = CliRunner().invoke(main, ["evaluate", str(path), "--as-of", "2021-04-01"])

    assert result.exit_code == 0, result.stderr


def test_evaluate_resolves_a_medication_reference_from_the_bundle(tmp_path: Path) -> None:
    """Offline there is no fhirServer to follow the reference to: the bundle answers it."""
    from tests.builders import make_complaint

    medication = {
        "resourceType": "Medication",
        "id": "med-hctz",
        "code": {
            "coding": [
                {
                    "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                    "code": "5487",
                    "display": "hydrochlorothiazide",
                }
            ]
        },
    }
    request = {
        "resourceType": "MedicationRequest",
        "id": "mr1",
        "status": "active",
        "intent": "order",
        "subject": {"reference": f"Patient/{PATIENT['id']}"},
        "medicationReference": {"reference": "urn:uuid:med-hctz"},
        "authoredOn": "2021-03-01",
    }
    complaint = {**make_complaint(), "subject": {"reference": f"Patient/{PATIENT['id']}"}}
    entries = [{"resource": r} for r in (PATIENT, complaint, medication, request)]
    path = write(tmp_path, "bundle.json", {"resourceType": "Bundle", "entry": entries})

    result = CliRunner().invoke(main, ["evaluate", str(path), "--as-of", "2021-04-01"])

    assert result.exit_code == 0, result.output
    [card] = json.loads(result.stdout)["cards"]
    assert "hydrochlorothiazide" in card["summary"]
