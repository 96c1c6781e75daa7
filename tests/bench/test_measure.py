"""measure_workload: what each closed-loop run is given (drivers replaced by a recorder)."""

from __future__ import annotations

from typing import Any

import pytest

from bench.load import LoadResult
from bench.measure import Plan, measure_workload
from bench.run import FALLBACK_MIN_SECONDS, parse_args
from bench.workloads import Workload


class _Target:
    base_url = "http://127.0.0.1:9"

    def worker_rss_kib(self) -> dict[int, int]:
        return {}


def _recorder(runs: list[tuple[int, float]]) -> Any:
    def drive(url: str, body: bytes, connections: int, seconds: float, budget: int) -> LoadResult:
        runs.append((connections, seconds))
        return LoadResult("fake", "closed", connections, None, seconds, 1, 0, 1, 1, 1, 1)

    return drive


@pytest.mark.parametrize(("fallback", "expected"), [(False, 0.5), (True, FALLBACK_MIN_SECONDS)])
def test_a_fallback_run_outlasts_one_slow_call_even_in_a_smoke_run(
    fallback: bool, expected: float
) -> None:
    # Regression: --smoke ran fallback (one connection, calls up to ~1 s) for 0.5 s, and the
    # smoke test failed now and then on a run that counted no request.
    options = parse_args(["--smoke"])
    plan = Plan(16, 1, options.duration, 0, 100, FALLBACK_MIN_SECONDS)
    workload = Workload("w", "", "p1", 1, 1, b"{}", fallback=fallback)
    runs: list[tuple[int, float]] = []

    measure_workload(workload, _Target(), _Target(), _recorder(runs), plan)  # type: ignore[arg-type]

    assert [seconds for _, seconds in runs] == [expected, expected]  # floor, then service
