"""`python -m bench.governance` on a small ledger: it checks the harness works, never how fast."""

from __future__ import annotations

import json
from pathlib import Path

from bench.governance import TARGETS_US, main


def test_a_small_run_measures_every_part_and_finds_the_seeded_history(tmp_path: Path) -> None:
    out = tmp_path / "governance.json"

    small = ["--patients", "20", "--visits", "2", "--history", "3", "--repeat", "5"]
    code = main([*small, "--database-url", "", "--json", str(out)])

    assert code == 0
    [result] = json.loads(out.read_text())
    assert result["database"] == "sqlite"
    assert result["ledger_findings"] == 20 * 2 * 3 + 3 * result["findings_per_call"]
    # The lookup reads the patient's three earlier calls showing today's findings, and no other
    # patient's: the bench measures a lookup that has work to do.
    assert result["prior_feedback_rows"] == 3 * result["findings_per_call"] > 0
    assert set(result["targets"]) == set(TARGETS_US)
    assert all(result["parts"][name]["p50_us"] > 0 for name in ("snooze_lookup", "call"))
