"""The run's results as JSON and as a Markdown report (tables of workloads and targets).

Both are rendered from the same JSON-ready dict, so a saved results.json can be re-rendered.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULT_FIELDS = ("rps", "p50_ms", "p90_ms", "p99_ms", "max_ms", "requests", "errors")


def write(report: dict[str, Any], out: Path) -> dict[str, Path]:
    """results.json and results.md in `out`; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "results.json", "markdown": out / "results.md"}
    paths["json"].write_text(json.dumps(report, indent=2, sort_keys=False) + "\n")
    paths["markdown"].write_text(markdown(report))
    return paths


def markdown(report: dict[str, Any]) -> str:
    """The human report: context lines, the workloads table, the targets table, FHIR queries."""
    parts = [
        "# CDS service benchmark\n",
        _context(report["meta"]),
        "## Workloads\n",
        _workloads_table(report),
        "## Targets\n",
        _targets_table(report["targets"]),
        _metrics_line(report.get("metrics_check")),
    ]
    if report.get("fhir_queries"):
        parts += ["## Bench FHIR server, one query at a time\n", _queries_table(report)]
    return "\n".join(parts)


def _metrics_line(check: dict[str, Any] | None) -> str:
    if not check:
        return ""
    verdict = "OK" if check["ok"] else "**MISMATCH**"
    return (
        f"/metrics cross-check: {check['answered']} calls answered, "
        f"{check['counted_by_service']} counted by the service over all workers: {verdict}.\n"
    )


def _load_note(load: dict[str, float | None] | None, cpus: int) -> str:
    """The load average around the run; flagged when something else was using the CPUs."""
    before = (load or {}).get("before")
    if before is None:
        return ""
    note = f"; load average {before:.1f} before the run"
    busy = before > 0.5 * cpus
    return note + (" (**the machine was busy: numbers are pessimistic**)" if busy else "")


def _context(meta: dict[str, Any]) -> str:
    machine, server, settings = meta["machine"], meta["server"], meta["settings"]
    dirty = " (with uncommitted changes)" if meta.get("dirty") else ""
    lines = [
        f"- Run: {meta['started']} · commit {meta['commit']}{dirty} · seed {meta['seed']} · "
        f"dates relative to {meta['as_of']}" + (" · **smoke run**" if meta.get("smoke") else ""),
        f"- Machine: {machine['cpus']} CPUs ({machine['cpu_model']}), "
        f"{machine['memory_gib']:.1f} GiB RAM, {machine['kernel']}; Python {meta['python']}"
        + _load_note(meta.get("load_average"), machine["cpus"]),
        f"- Server: `{server['command']}` ({server['worker_class']}, {server['workers']} workers "
        f"x {server['threads']} threads) on 127.0.0.1, SQLite in a temporary folder",
        "- **Auth is off** (`CDS_AUTH=off`): this measures the service path; "
        "JWT verification is not included.",
        f"- Closed loop: {meta['drivers']['closed']}, {settings['connections']} connections, "
        f"{settings['duration']:g} s per run after {settings['warmup']:g} s warm-up; "
        "floor then service, per workload. "
        f"Fallback: {settings['fallback_connections']} connections.",
        f"- Open loop: {meta['drivers']['open']}, heavy at {settings['rate']:g} req/s for "
        f"{settings['rate_duration']:g} s; latency from each request's scheduled start.",
        "",
    ]
    return "\n".join(lines)


def _mib(rss: dict[str, int]) -> str:
    if not rss:
        return "-"
    values = [kib / 1024 for kib in rss.values()]
    return f"{sum(values) / len(values):.0f}"


def _workloads_table(report: dict[str, Any]) -> str:
    head = (
        "| Workload | Resources record / sent | Cards | Req/s | Floor req/s | Service/floor "
        "| p50 ms | p90 ms | p99 ms | Errors | RSS MiB/worker before → after |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
    )
    rows = []
    for w in report["workloads"]:
        s, f = w["service"], w["floor"]
        sent = f"{w['record_fetched']:,} fetched" if w["fallback"] else f"{w['sent']:,}"
        rows.append(
            f"| {w['name']} | {w['record']:,} / {sent} | {w['cards']} | {s['rps']:,.0f} "
            f"| {f['rps']:,.0f} | {w['ratio']:.2f} | {s['p50_ms']:.1f} | {s['p90_ms']:.1f} "
            f"| {s['p99_ms']:.1f} | {s['errors']} "
            f"| {_mib(w['rss_kib_before'])} → {_mib(w['rss_kib_after'])} |"
        )
    heavy = report.get("heavy_open_loop")
    if heavy:
        r = heavy["result"]
        rows.append(
            f"| heavy, open loop {r['rate']:g} req/s | {heavy['record']:,} / {heavy['sent']:,} "
            f"| | {r['rps']:,.1f} | | | {r['p50_ms']:.1f} | {r['p90_ms']:.1f} "
            f"| {r['p99_ms']:.1f} | {_errors(r)} | |"
        )
    soak = report.get("soak")
    if soak and soak.get("load"):
        r = soak["load"]
        rows.append(
            f"| soak ({soak['workload']}, {soak['seconds']:g} s at {r['rate']:g} req/s) "
            f"| | | {r['rps']:,.1f} | | | {r['p50_ms']:.1f} | {r['p90_ms']:.1f} "
            f"| {r['p99_ms']:.1f} | {_errors(r)} "
            f"| {_mib(soak['rss_kib_first'])} → {_mib(soak['rss_kib_last'])} |"
        )
    return head + "\n".join(rows) + "\n"


def _errors(result: dict[str, Any]) -> str:
    dropped = result.get("dropped") or 0
    return f"{result['errors']} (+{dropped} not sent)" if dropped else str(result["errors"])


def _targets_table(targets: list[dict[str, Any]]) -> str:
    head = "| Target | Measured | Limit | Result |\n|---|---|---|---|\n"
    rows = []
    for t in targets:
        result = {True: "PASS", False: "**FAIL**", None: "n/a"}[t["passed"]]
        note = f" ({t['note']})" if t.get("note") else ""
        rows.append(f"| {t['name']} | {t['measured']} | {t['limit']} | {result}{note} |")
    return head + "\n".join(rows) + "\n"


def _queries_table(report: dict[str, Any]) -> str:
    queries = report["fhir_queries"]
    head = "| Prefetch key | Template | p50 ms |\n|---|---|---:|\n"
    rows = [
        f"| {key} | `{_shorten(q['template'])}` | {q['p50_ms']:.1f} |"
        for key, q in queries["per_query"].items()
    ]
    return head + "\n".join(rows) + f"\n\nSlowest: {queries['slowest_ms']:.1f} ms.\n"


def _shorten(text: str, limit: int = 70) -> str:
    """Cut to `limit` characters and escape `|` (FHIR token searches are full of it)."""
    short = text if len(text) <= limit else text[: limit - 1] + "…"
    return short.replace("|", "\\|")
