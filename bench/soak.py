"""The memory soak: a steady open-loop load while every worker's RSS is sampled.

A fixed moderate rate, not saturation: gunicorn recycles a worker after `max_requests`
(about 20,000), and a recycled worker's fresh RSS would hide a leak. Growth is judged per
worker, from its first sample after warm-up to its last, so recycled workers are not compared
with their replacements.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from bench.load import LoadResult, open_loop
from bench.servers import Process

WARMUP_FRACTION = 0.2


@dataclass
class SoakResult:
    """RSS samples taken during the soak and the load that ran."""

    seconds: float
    rate: float
    load: LoadResult | None = None
    samples: list[tuple[float, dict[int, int]]] = field(default_factory=list)

    def growth_kib(self) -> dict[int, int]:
        """Per worker alive after warm-up and at the end: last RSS minus first, in KiB."""
        after = [(t, rss) for t, rss in self.samples if t >= self.seconds * WARMUP_FRACTION]
        if len(after) < 2:
            return {}
        first: dict[int, int] = {}
        last: dict[int, int] = {}
        for _, rss in after:
            for pid, kib in rss.items():
                first.setdefault(pid, kib)
                last[pid] = kib
        final = after[-1][1]
        return {pid: last[pid] - first[pid] for pid in final if pid in first}

    def worst_growth_kib(self) -> int | None:
        """The largest growth of any worker, or None if none could be compared."""
        growth = self.growth_kib()
        return max(growth.values()) if growth else None

    def workers_seen(self) -> int:
        """Distinct worker pids over the soak (more than the worker count: recycling)."""
        return len({pid for _, rss in self.samples for pid in rss})


def run_soak(
    server: Process, url: str, body: bytes, seconds: float, rate: float, max_requests: int
) -> SoakResult:
    """Drive `url` at `rate` for `seconds`, sampling RSS about 30 times."""
    result = SoakResult(seconds=seconds, rate=rate)
    interval = max(0.5, seconds / 30)

    def drive() -> None:
        result.load = open_loop(url, body, rate, seconds, max_requests)

    driver = threading.Thread(target=drive, name="soak-load", daemon=True)
    started = time.monotonic()
    driver.start()
    while driver.is_alive():
        result.samples.append((time.monotonic() - started, server.worker_rss_kib()))
        driver.join(timeout=interval)
    result.samples.append((time.monotonic() - started, server.worker_rss_kib()))
    return result
