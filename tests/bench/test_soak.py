from __future__ import annotations

from bench.soak import SoakResult


def test_growth_runs_from_the_first_sample_after_warmup_to_the_last() -> None:
    soak = SoakResult(seconds=100, rate=10)
    soak.samples = [
        (0.0, {1: 50_000, 2: 60_000}),  # warm-up: ignored
        (20.0, {1: 90_000, 2: 91_000}),
        (60.0, {1: 90_500, 2: 91_000}),
        (100.0, {1: 91_000, 2: 90_000}),
    ]

    assert soak.growth_kib() == {1: 1000, 2: -1000}
    assert soak.worst_growth_kib() == 1000


def test_a_recycled_worker_is_not_compared_with_its_replacement() -> None:
    soak = SoakResult(seconds=100, rate=10)
    soak.samples = [
        (30.0, {1: 90_000, 2: 95_000}),
        (60.0, {1: 90_000, 3: 60_000}),  # 2 recycled; 3 is fresh
        (100.0, {1: 90_200, 3: 70_000}),
    ]

    assert soak.growth_kib() == {1: 200, 3: 10_000}
    assert soak.workers_seen() == 3


def test_no_judgement_from_fewer_than_two_samples_after_warmup() -> None:
    soak = SoakResult(seconds=100, rate=10)
    soak.samples = [(0.0, {1: 1}), (90.0, {1: 2})]

    assert soak.worst_growth_kib() is None
