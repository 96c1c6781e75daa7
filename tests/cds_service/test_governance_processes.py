"""Rule states are shared through the database: two server processes agree within the TTL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from itertools import groupby
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask

from tests.cds_service.governance_support import (
    URL,
    governed_app,
    governed_config,
    hook_request,
    ledger,
    low_potassium_record,
    shown,
    switch,
)
from tests.cds_service.test_cli import free_port
from tests.conftest import wait_healthy

TTL = 1.0


def serve(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cli = Path(sys.executable).parent / "cds-service"
    server = subprocess.Popen(
        [cli, "serve", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return server, f"http://127.0.0.1:{port}"


@pytest.mark.slow
def test_shadow_then_on_reaches_every_process_on_the_next_call_after_the_ttl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config: dict[str, Any] = governed_config(tmp_path, RULE_STATES_TTL_SECONDS=TTL)
    app: Flask = governed_app(tmp_path, RULE_STATES_TTL_SECONDS=TTL)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")}
    env.update({f"CDS_{key}": str(value) for key, value in config.items()})
    servers = [serve(env) for _ in range(2)]
    request = hook_request(app, low_potassium_record(), "00000000-0000-4000-8000-00000000aaaa")

    def rules_shown() -> list[dict[str, str]]:
        return [
            shown(httpx.post(base + URL, json=request, timeout=10).json()["cards"])
            for _, base in servers
        ]

    try:
        for process, base in servers:
            wait_healthy(base, process)
        before = rules_shown()
        switch(monkeypatch, config, "A1b", "shadow")
        time.sleep(TTL + 0.1)
        shadowed = rules_shown()
        switch(monkeypatch, config, "A1b", "on")
        time.sleep(TTL + 0.1)
        after = rules_shown()
    finally:
        for process, _ in servers:
            process.terminate()
        for process, _ in servers:
            process.wait(timeout=20)

    assert all(rules["A1b"] == "warning" for rules in before + after)
    assert all("A1b" not in rules and "B1" in rules for rules in shadowed)
    calls = groupby(ledger(app), key=lambda r: r.recorded_at)  # one call's records: one time
    recorded = [sorted((r.rule_id, r.state) for r in rs if r.rule_id != "M1") for _, rs in calls]
    shadow_call = [("A1b", "shadow"), ("B1", "shown")]
    assert recorded == [[("A1b", "shown")]] * 2 + [shadow_call] * 2 + [[("A1b", "shown")]] * 2
