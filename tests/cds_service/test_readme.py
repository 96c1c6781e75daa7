"""The README's commands and statements stay true as shipped."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cds_service.settings import Settings
from tests.cds_service.test_make_run import make_run
from tests.conftest import make_app

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_the_curl_example_runs_on_the_clock_its_output_was_made_with(tmp_path: Path) -> None:
    # Regression: `make run` had no clock, so from February 2027 the same curl gave another card.
    section = README[README.index("## The main job") : README.index("### What the service")]
    [as_of] = re.findall(
        r"evaluate examples/low-potassium-on-furosemide\.json --as-of (\S+)", section
    )
    [clock] = re.findall(r"CDS_CLOCK=(\S+) make run", section)
    summary = json.loads(re.search(r'"summary": ("[^"]*")', section).group(1))  # type: ignore[union-attr]

    env = make_run(tmp_path, CDS_CLOCK=clock)
    app = make_app(tmp_path, CLOCK=env["CDS_CLOCK"])
    body = json.loads((ROOT / "examples" / "low-potassium-on-furosemide.json").read_text())
    [card] = (
        app.test_client().post("/cds-services/knee-spasm-review", json=body).get_json()["cards"]
    )

    assert clock == as_of
    assert card["summary"].startswith(summary.split(":")[0])


def test_the_sandbox_command_runs_with_jwt_verification_for_the_base_url_it_names(
    tmp_path: Path,
) -> None:
    section = README[README.index("## Local testing") : README.index("## Clinical knowledge")]
    [command] = [line for line in section.splitlines() if "CDS_SANDBOX_ISSUER=true" in line]
    assignments = dict(part.split("=", 1) for part in command.split() if "=" in part)
    [endpoint] = re.findall(r"discovery\s+endpoint `([^`]+)`", section)

    env = make_run(tmp_path, **assignments)
    config = {k.removeprefix("CDS_"): v for k, v in env.items()}
    app = make_app(tmp_path, **config)
    authenticator = app.extensions["cds"].authenticator

    assert command.strip().endswith("make run")
    assert env["CDS_AUTH"] == "jwt"
    assert "https://sandbox.cds-hooks.org" in authenticator.issuers
    assert endpoint == env["CDS_PUBLIC_BASE_URL"] + "/cds-services"
    assert app.test_client().get("/cds-services").status_code == 401  # verification is on


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_documented(name: str) -> None:
    assert f"`CDS_{name}`" in README
