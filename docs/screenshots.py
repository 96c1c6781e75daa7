"""Regenerate the README's workbench screenshots (docs/*.png) with headless Chromium.

    .venv/bin/python docs/screenshots.py

Replay: the 40 Synthea samples with the example complaint, against a baseline whose C7 lab
window is 1500 days. Catalogue: the shipped knowledge. Report: a synthetic eight-week pilot
(seeded; no real data) written to a scratch SQLite ledger.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import subprocess
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from playwright.sync_api import sync_playwright
from sqlalchemy.orm import Session

from cds_service.migrate import upgrade
from cds_service.store import Feedback, IssuedCard, LedgerFinding, make_engine
from hooks.knowledge import DEFAULT_DIR

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SYNTHEA = REPO.parent / "shared" / "fhir" / "synthea"
CLI = Path(sys.executable).parent / "cds-service"
START = datetime(2026, 9, 7, tzinfo=UTC)
PILOT = {  # rule ids on a card -> (cards over the pilot, indicator, chance of acceptance)
    ("A3", "M1"): (120, "info", 0.22),
    ("A1", "M1"): (60, "info", 0.35),
    ("A1b", "A1"): (25, "warning", 0.55),
    ("B1",): (30, "warning", 0.5),
    ("C7", "M1"): (20, "info", 0.3),
    ("C12",): (4, "critical", 0.75),
}
WITHHELD = {  # rule id -> (findings over the pilot, indicator, state): shadowed or snoozed
    "C13": (40, "info", "shadow"),
    "A13": (12, "warning", "shadow"),
    "A3": (18, "info", "snoozed"),
}
REASONS = [
    ("already-addressed", "Already addressed"),
    ("labs-drawn-elsewhere", "Labs drawn elsewhere"),
    ("not-relevant", "Not relevant to this patient"),
]


def write_pilot(url: str) -> None:
    rng = random.Random(20261121)
    engine = make_engine(url)
    upgrade(engine)
    with Session(engine) as session, session.begin():
        for rules, (count, indicator, accept) in PILOT.items():
            for _ in range(count):
                card = str(uuid.uuid4())
                issued = START + timedelta(days=rng.uniform(0, 56))
                session.add(
                    IssuedCard(
                        uuid=card, service_id="knee-spasm-review", hook_instance=str(uuid.uuid4()),
                        topic="medications", indicator=indicator, rule_ids=list(rules),
                        knowledge_version="2.0.1",
                        patient_hash=hashlib.sha256(str(rng.randrange(400)).encode()).hexdigest(),
                        issued_at=issued,
                    )
                )  # fmt: skip
                draw = rng.random()
                if draw > 0.85:
                    continue  # no feedback
                outcome = "accepted" if draw < accept else "overridden"
                reason = rng.choice(REASONS) if outcome == "overridden" else (None, None)
                session.add(
                    Feedback(
                        service_id="knee-spasm-review", card_uuid=card, card_known=True,
                        outcome=outcome,
                        accepted_suggestions=[str(uuid.uuid4())] if outcome == "accepted" else None,
                        override_code=reason[0], override_display=reason[1],
                        override_system="urn:knee-spasm-cds:override-reason" if reason[0] else None,
                        outcome_at=issued + timedelta(minutes=5),
                        received_at=issued + timedelta(minutes=5),
                    )
                )  # fmt: skip
        for rule, (count, indicator, state) in WITHHELD.items():
            for _ in range(count):
                session.add(
                    LedgerFinding(
                        recorded_at=START + timedelta(days=rng.uniform(0, 56)),
                        service_id="knee-spasm-review", hook_instance=str(uuid.uuid4()),
                        patient_hash=hashlib.sha256(str(rng.randrange(400)).encode()).hexdigest(),
                        rule_id=rule, rule_version="1.0.0", family="medications",
                        indicator=indicator, status="conclusive", state=state,
                        fingerprint=uuid.uuid4().hex, knowledge_version="2.0.1",
                        rule_state_digest="0" * 16,
                    )
                )  # fmt: skip
    engine.dispose()


def run(*args: str) -> None:
    subprocess.run([str(CLI), *args], check=True, cwd=REPO)


def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="screenshots-"))
    try:
        baseline = scratch / "baseline"
        shutil.copytree(DEFAULT_DIR, baseline)
        rules = baseline / "rules.yaml"
        data = yaml.safe_load(rules.read_text())
        next(r for r in data["rules"] if r["id"] == "C7")["parameters"]["lab_window_days"] = 1500
        rules.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
        complaint = REPO / "examples" / "knee-cramp-condition.json"
        run(
            "replay",
            str(SYNTHEA),
            "--as-of",
            "2021-04-01",
            "--add",
            str(complaint),
            "--baseline-knowledge",
            str(baseline),
            "--out",
            str(scratch / "replay"),
            "--workers",
            "2",
        )
        run("catalogue", "--out", str(scratch / "catalogue"))
        write_pilot(f"sqlite:///{scratch / 'pilot.sqlite3'}")
        run(
            "report",
            "--database",
            f"sqlite:///{scratch / 'pilot.sqlite3'}",
            "--since",
            "2026-09-07",
            "--until",
            "2026-11-01",
            "--out",
            str(scratch / "report"),
        )
        shots = [
            ("replay", None, "workbench-replay.png", 1500),
            ("catalogue", None, "workbench-catalogue.png", 1300),
            ("catalogue", "#rule-A1b .card", "workbench-card.png", 0),
            ("report", None, "workbench-report.png", 1700),
        ]
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=shutil.which("chromium") or "chromium", args=["--no-sandbox"]
            )  # fmt: skip
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            for name, selector, png, height in shots:
                page.goto((scratch / name / "index.html").as_uri())
                if selector:
                    page.locator(selector).screenshot(path=HERE / png)
                else:
                    page.screenshot(
                        path=HERE / png, clip={"x": 0, "y": 0, "width": 1100, "height": height}
                    )
            browser.close()
        summary = json.loads((scratch / "replay" / "replay.json").read_text())["summary"]
        print(f"replay: {summary['patients']} patients, {summary['cards']} cards")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
