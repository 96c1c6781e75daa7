"""The issue's performance targets, each judged from numbers measured in the same run.

Pure functions of the measurements, so the pass/fail boundaries are unit-tested.
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_THROUGHPUT_RATIO = 0.5  # typical throughput >= 0.5 x floor
HEAVY_P99_MS = 50.0  # heavy p99 at the fixed rate
HEAVY_RATE = 50.0  # the fixed rate, req/s
MAX_FALLBACK_RATIO = 1.3  # fallback p50 <= 1.3 x the slowest single query's p50
MEMORY_TOLERANCE_KIB = 2048  # RSS a worker may gain after warm-up (allocator noise)


@dataclass(frozen=True)
class Target:
    """One line of the targets table; `passed` is None when it was not measured."""

    name: str
    measured: str
    limit: str
    passed: bool | None
    note: str = ""


def _errors_note(errors: int, dropped: int = 0) -> str:
    notes = [f"{errors} failed requests"] if errors else []
    if dropped:
        notes.append(f"{dropped} not sent: server fell behind")
    return "; ".join(notes)


def throughput(service_rps: float, floor_rps: float, errors: int = 0) -> Target:
    """Typical workload throughput as a fraction of the floor's."""
    ratio = service_rps / floor_rps if floor_rps > 0 else 0.0
    return Target(
        name="typical throughput vs floor",
        measured=f"{ratio:.2f}x ({service_rps:.0f} vs {floor_rps:.0f} req/s)",
        limit=f">= {MIN_THROUGHPUT_RATIO:.2f}x",
        passed=ratio >= MIN_THROUGHPUT_RATIO and errors == 0,
        note=_errors_note(errors),
    )


def heavy_p99(
    p99_ms: float, rate: float, achieved_rps: float, errors: int = 0, dropped: int = 0
) -> Target:
    """Heavy p99 under an open-loop fixed rate; any failed or unsent request fails it."""
    return Target(
        name=f"heavy p99 at {rate:g} req/s (open loop)",
        measured=f"{p99_ms:.1f} ms ({achieved_rps:.1f} req/s answered)",
        limit=f"<= {HEAVY_P99_MS:.0f} ms",
        passed=p99_ms <= HEAVY_P99_MS and errors == 0 and dropped == 0,
        note=_errors_note(errors, dropped),
    )


def fallback(p50_ms: float, slowest_query_ms: float, queries: int, errors: int = 0) -> Target:
    """Fallback call latency against the slowest of its FHIR queries alone."""
    ratio = p50_ms / slowest_query_ms if slowest_query_ms > 0 else float("inf")
    return Target(
        name=f"fallback p50 vs slowest single query ({queries} queries)",
        measured=f"{ratio:.2f}x ({p50_ms:.1f} vs {slowest_query_ms:.1f} ms)",
        limit=f"<= {MAX_FALLBACK_RATIO:.1f}x",
        passed=ratio <= MAX_FALLBACK_RATIO and errors == 0,
        note=_errors_note(errors),
    )


def memory(growth_kib: int | None, seconds: float, errors: int = 0, dropped: int = 0) -> Target:
    """Largest RSS growth of any worker over the soak, after warm-up."""
    if growth_kib is None:
        return Target(
            name="memory over soak",
            measured="not measured",
            limit=f"<= {MEMORY_TOLERANCE_KIB / 1024:.0f} MiB/worker",
            passed=None,
            note="soak skipped or no worker lived through it",
        )
    return Target(
        name=f"memory growth over {seconds:.0f} s soak",
        measured=f"{growth_kib / 1024:+.1f} MiB (worst worker)",
        limit=f"<= {MEMORY_TOLERANCE_KIB / 1024:.0f} MiB/worker",
        passed=growth_kib <= MEMORY_TOLERANCE_KIB and errors == 0,
        note=_errors_note(errors, dropped),
    )
