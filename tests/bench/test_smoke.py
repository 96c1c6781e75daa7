"""`python -m bench.run --smoke` end to end: it checks the harness works, never how fast."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.report import RESULT_FIELDS
from bench.targets import MIN_THROUGHPUT_RATIO

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_smoke_run_writes_json_markdown_and_png(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CDS_", "PROMETHEUS_"))}
    env["WEB_CONCURRENCY"] = "2"  # the config honours it; two workers boot faster
    out = tmp_path / "results"

    proc = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--out", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip

    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads((out / "results.json").read_text())
    assert [w["name"] for w in report["workloads"]] == ["small", "typical", "heavy", "fallback"]
    for row in report["workloads"]:
        for side in ("service", "floor"):
            assert set(RESULT_FIELDS) <= set(row[side])
            assert row[side]["requests"] > 0, (row["name"], side)
        assert len(row["rss_kib_before"]) == len(row["rss_kib_after"]) == 2
    assert report["meta"]["server"]["workers"] == 2
    assert report["meta"]["auth"] == "off"
    assert report["heavy_open_loop"]["result"]["rate"] == 50
    assert report["soak"]["samples"]
    assert len(report["fhir_queries"]["per_query"]) >= 1
    assert report["metrics_check"]["ok"], report["metrics_check"]
    assert all(t["passed"] is not None for t in report["targets"]), "a target was not measured"
    typical = next(w for w in report["workloads"] if w["name"] == "typical")
    ratio = typical["service"]["rps"] / typical["floor"]["rps"]
    [judged] = [t for t in report["targets"] if t["name"] == "typical throughput vs floor"]
    assert judged["measured"].startswith(f"{ratio:.2f}x"), "judged from this run's numbers"
    assert judged["passed"] is (ratio >= MIN_THROUGHPUT_RATIO)
    markdown = (out / "results.md").read_text()
    assert "| Workload |" in markdown
    assert "| Target |" in markdown
    assert markdown.strip() in proc.stdout
    assert (out / "latency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
