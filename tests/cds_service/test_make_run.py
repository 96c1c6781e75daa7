"""`make run` as a tester uses it: its embedded defaults, overridden by the environment.

The recipe runs for real against a stand-in venv whose `cds-service` prints the environment
it was given, so these tests read exactly what the server would have been started with.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cds_service import create_app
from cds_service.assembly import read_environment
from cds_service.fhir_client import allowed_target
from cds_service.migrate import upgrade
from cds_service.settings import load_settings
from tests.cds_service.test_prefetch import PATIENT, SEEN, probe, request
from tests.conftest import base_config
from tests.fhir_server import LocalFhirServer

ROOT = Path(__file__).resolve().parents[2]
PRINT_ENV = """#!/bin/sh
[ "$1" = serve ] && env | grep '^CDS_'
exit 0
"""

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def make_run(tmp_path: Path, *args: str, **env: str) -> dict[str, str]:
    """The CDS_* environment `make run` hands to `cds-service serve`."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    for name, text in (("python", ""), ("cds-service", PRINT_ENV)):
        (venv / "bin" / name).write_text(text)
        (venv / "bin" / name).chmod(0o755)
    # Newer than pyproject.toml, so `install` has nothing to do.
    (venv / ".installed").touch()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")}
    result = subprocess.run(
        ["make", "--no-print-directory", "-s", "-C", str(ROOT), "run", f"VENV={venv}", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)


def test_the_embedded_defaults_are_auth_off_and_loopback_fhir(tmp_path: Path) -> None:
    env = make_run(tmp_path)

    assert env["CDS_AUTH"] == "off"
    assert env["CDS_PUBLIC_BASE_URL"] == "http://127.0.0.1:8080"
    assert env["CDS_FHIR_ALLOW_LOOPBACK_HTTP"] == "true"


def test_the_environment_overrides_every_embedded_default(tmp_path: Path) -> None:
    # Regression: the Makefile's settings once overrode these, silently running with auth off.
    chosen = {
        "CDS_AUTH": "jwt",
        "CDS_SANDBOX_ISSUER": "true",
        "CDS_PUBLIC_BASE_URL": "http://localhost:8080",
        "CDS_FHIR_ALLOWLIST": '["https://fhir.example.org/r4"]',
        "CDS_FHIR_ALLOW_LOOPBACK_HTTP": "false",
        "CDS_CLOCK": "2026-11-21",
    }

    assert make_run(tmp_path, **chosen) == chosen


def test_make_variables_override_them_too(tmp_path: Path) -> None:
    env = make_run(tmp_path, "CDS_AUTH=jwt", "PORT=9090")

    assert env["CDS_AUTH"] == "jwt"
    assert env["CDS_PUBLIC_BASE_URL"] == "http://127.0.0.1:9090"


def run_settings(tmp_path: Path) -> dict[str, Any]:
    return read_environment(make_run(tmp_path))


def test_make_run_reaches_a_fhir_server_on_any_loopback_port(tmp_path: Path) -> None:
    # Regression: the allowlist meant port 80, so every real local FHIR server was refused.
    config = run_settings(tmp_path)
    with LocalFhirServer([PATIENT]) as server:
        app = create_app(base_config(tmp_path, **config), services=[probe])
        upgrade(app.extensions["cds"].pipeline.store.engine)
        response = app.test_client().post("/cds-services/probe", json=request(server))

    assert response.status_code == 200
    assert server.seen
    assert [r["id"] for r in SEEN["call"].data.raw("Patient")] == ["p1"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_the_any_port_allowance_covers_each_loopback_name(tmp_path: Path, host: str) -> None:
    settings = load_settings(run_settings(tmp_path))

    target = allowed_target(f"http://{host}:18081/fhir", None, settings.FHIR_ALLOWLIST, True)

    assert target.base == f"http://{host}:18081/fhir"
