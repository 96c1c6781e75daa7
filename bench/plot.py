"""latency.png: service latency against the resources a request carries; floor alongside."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on a server; must precede pyplot

import matplotlib.pyplot as plt

from bench.targets import HEAVY_P99_MS


def plot(report: dict[str, Any], path: Path) -> Path:
    """Left: p50/p90/p99 by resources sent (closed loop); right: req/s, service vs floor."""
    prefetched = [w for w in report["workloads"] if not w["fallback"]]
    fig, (lat, thr) = plt.subplots(1, 2, figsize=(12, 4.8))
    xs = [max(w["sent"], 1) for w in prefetched]
    for pct, style in (("p50_ms", "o-"), ("p90_ms", "s--"), ("p99_ms", "^:")):
        lat.plot(xs, [w["service"][pct] for w in prefetched], style, label=f"service {pct[:3]}")
    lat.plot(xs, [w["floor"]["p50_ms"] for w in prefetched], "x-", color="grey", label="floor p50")
    for w, x in zip(prefetched, xs, strict=True):
        lat.annotate(
            w["name"], (x, w["service"]["p50_ms"]), textcoords="offset points", xytext=(4, 6)
        )
    heavy = report.get("heavy_open_loop")
    if heavy:
        result = heavy["result"]
        lat.plot(
            [max(heavy["sent"], 1)],
            [result["p99_ms"]],
            "D",
            color="crimson",
            label=f"heavy p99 at {result['rate']:g} req/s",
        )
        lat.axhline(HEAVY_P99_MS, color="crimson", linewidth=0.6, linestyle=":")
    for w in report["workloads"]:
        if w["fallback"]:
            lat.plot(
                [max(w["record_fetched"], 1)],
                [w["service"]["p50_ms"]],
                "*",
                markersize=12,
                color="purple",
                label="fallback p50 (fetched)",
            )
    lat.set_xscale("log")
    lat.set_yscale("log")
    lat.set_xlabel("FHIR resources in the request (log)")
    lat.set_ylabel("latency, ms (log)")
    lat.set_title("Latency, closed loop")
    lat.grid(True, which="both", alpha=0.3)
    lat.legend(fontsize=8)
    _throughput(thr, report["workloads"])
    fig.suptitle(f"CDS service bench, {report['meta']['started']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _throughput(ax: Any, workloads: list[dict[str, Any]]) -> None:
    names = [w["name"] for w in workloads]
    positions = range(len(names))
    ax.bar(
        [p - 0.2 for p in positions], [w["service"]["rps"] for w in workloads], 0.4, label="service"
    )
    ax.bar(
        [p + 0.2 for p in positions],
        [w["floor"]["rps"] for w in workloads],
        0.4,
        label="floor",
        color="grey",
    )
    ax.set_xticks(list(positions), names)
    ax.set_ylabel("requests/s")
    ax.set_title("Throughput, closed loop")
    ax.legend(fontsize=8)
