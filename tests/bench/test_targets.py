from __future__ import annotations

import pytest

from bench import targets


@pytest.mark.parametrize(("service", "passed"), [(499.0, False), (500.0, True), (900.0, True)])
def test_throughput_passes_from_half_the_floor(service: float, passed: bool) -> None:
    assert targets.throughput(service, 1000.0).passed is passed


def test_throughput_fails_with_failed_requests_whatever_the_ratio() -> None:
    target = targets.throughput(900.0, 1000.0, errors=3)

    assert target.passed is False
    assert target.note == "3 failed requests"


@pytest.mark.parametrize(("p99", "passed"), [(50.0, True), (50.1, False)])
def test_heavy_p99_limit_is_inclusive(p99: float, passed: bool) -> None:
    assert targets.heavy_p99(p99, 50.0, 50.0).passed is passed


def test_heavy_p99_fails_when_requests_were_not_sent() -> None:
    target = targets.heavy_p99(10.0, 50.0, 40.0, dropped=12)

    assert target.passed is False
    assert "12 not sent" in target.note


@pytest.mark.parametrize(("p50", "passed"), [(130.0, True), (130.2, False)])
def test_fallback_allows_thirty_percent_over_the_slowest_query(p50: float, passed: bool) -> None:
    assert targets.fallback(p50, 100.0, queries=7).passed is passed


def test_memory_is_not_judged_without_a_soak() -> None:
    assert targets.memory(None, 0.0).passed is None


@pytest.mark.parametrize(("growth", "passed"), [(2048, True), (2049, False), (-500, True)])
def test_memory_growth_tolerance_is_two_mib(growth: int, passed: bool) -> None:
    assert targets.memory(growth, 300.0).passed is passed
