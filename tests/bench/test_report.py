from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import report
from bench.targets import Target


def result(rps: float, p99: float, **extra: Any) -> dict[str, Any]:
    return {"rps": rps, "p50_ms": p99 / 4, "p90_ms": p99 / 2, "p99_ms": p99, "max_ms": p99,
            "requests": 100, "errors": 0, "dropped": 0, "rate": None, **extra}  # fmt: skip


def workload(name: str, *, fallback: bool = False) -> dict[str, Any]:
    return {
        "name": name, "description": name, "fallback": fallback, "record": 191,
        "sent": 0 if fallback else 116, "record_fetched": 116, "cards": 2,
        "service": result(100.0, 40.0), "floor": result(400.0, 8.0), "ratio": 0.25,
        "rss_kib_before": {"11": 102400, "12": 104448}, "rss_kib_after": {"11": 106496},
    }  # fmt: skip


def sample_report() -> dict[str, Any]:
    meta = {
        "started": "2026-03-01 10:00 UTC", "commit": "abc1234", "dirty": True, "seed": 1,
        "as_of": "2026-03-01", "smoke": False, "load_average": {"before": 1.5, "after": 0.2},
        "python": "3.11.7",
        "machine": {"cpus": 2, "cpu_model": "Test CPU", "memory_gib": 8.0, "kernel": "Linux 6"},
        "server": {"command": "gunicorn -c python:cds_service.gunicorn_conf", "workers": 4,
                   "threads": 4, "worker_class": "gthread"},
        "drivers": {"closed": "wrk 4.1.0 (1 thread)", "open": "Python asyncio driver"},
        "settings": {"connections": 16, "duration": 15.0, "warmup": 2.0,
                     "fallback_connections": 4, "rate": 50.0, "rate_duration": 30.0},
    }  # fmt: skip
    return {
        "meta": meta,
        "workloads": [workload("typical"), workload("fallback", fallback=True)],
        "heavy_open_loop": {"record": 2001, "sent": 967, "result": result(48.0, 61.0, rate=50.0,
                                                                          dropped=3)},
        "fhir_queries": {"per_query": {"labs": {"template": "Observation?x=" + "y" * 100,
                                                "p50_ms": 101.0}}, "slowest_ms": 101.0},
        "soak": None,
        "metrics_check": {"answered": 64, "counted_by_service": 64, "ok": True},
        "targets": [vars(Target("a", "1", "2", True)), vars(Target("b", "3", "4", False, "n")),
                    vars(Target("c", "-", "-", None))],
    }  # fmt: skip


def test_markdown_has_a_row_per_workload_and_the_open_loop_run() -> None:
    text = report.markdown(sample_report())

    assert (
        "| typical | 191 / 116 | 2 | 100 | 400 | 0.25 | 10.0 | 20.0 | 40.0 | 0 | 101 → 104 |"
        in text
    )
    assert "| fallback | 191 / 116 fetched |" in text
    assert "| heavy, open loop 50 req/s | 2,001 / 967 |" in text
    assert "| 0 (+3 not sent) |" in text


def test_markdown_marks_pass_fail_and_unmeasured_targets() -> None:
    text = report.markdown(sample_report())

    assert "| a | 1 | 2 | PASS |" in text
    assert "| b | 3 | 4 | **FAIL** (n) |" in text
    assert "| c | - | - | n/a |" in text


def test_markdown_says_auth_is_off_and_names_the_machine() -> None:
    text = report.markdown(sample_report())

    assert "**Auth is off**" in text
    assert "2 CPUs (Test CPU)" in text
    assert "load average 1.5 before the run (**the machine was busy" in text
    assert "(gthread, 4 workers x 4 threads)" in text
    assert "/metrics cross-check: 64 calls answered, 64 counted" in text


def test_long_templates_are_shortened_and_pipes_escaped_in_the_queries_table() -> None:
    sample = sample_report()
    sample["fhir_queries"]["per_query"]["k"] = {"template": "Obs?code=a|1,a|2", "p50_ms": 1.0}

    text = report.markdown(sample)

    assert "`Observation?x=" + "y" * 55 + "…`" in text
    assert "| k | `Obs?code=a\\|1,a\\|2` | 1.0 |" in text


def test_write_puts_json_and_markdown_in_the_folder(tmp_path: Path) -> None:
    paths = report.write(sample_report(), tmp_path / "out")

    assert paths["json"].read_text().startswith("{")
    assert paths["markdown"].read_text().startswith("# CDS service benchmark")
