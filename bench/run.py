"""`python -m bench.run` (`make bench`): start the servers, run each workload, judge the targets.

Writes results.json, results.md and latency.png to --out (default bench/results/) and prints
the Markdown report. Progress goes to stderr. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench import load, plot, report, targets, wrk
from bench.environment import describe, load_average, probe_gunicorn_config
from bench.measure import (
    SERVICE_PATH,
    BenchError,
    Driver,
    Plan,
    check,
    measure_workload,
    metrics_check,
    result_dict,
    single_queries,
)
from bench.servers import (
    REPO,
    Process,
    ServerError,
    clean_env,
    spawn_gunicorn,
    start_fhir_server,
    stop_all,
    wait_started,
)
from bench.soak import WARMUP_FRACTION, run_soak
from bench.workloads import FALLBACK_RECORD, SERVICE_ID, Workload, build_workloads


@dataclass(frozen=True)
class Options:
    """Command-line options; defaults are the full run."""

    duration: float = 15.0
    warmup: float = 2.0
    connections: int = 16
    # One call at a time: the fallback target compares a call's latency with its slowest single
    # query (concurrent queries cost the max, sequential ones the sum). Several calls at once
    # would measure the bench FHIR server's CPU contention on the same two cores instead.
    fallback_connections: int = 1
    rate: float = targets.HEAVY_RATE
    rate_duration: float = 30.0
    soak: float = 300.0
    soak_rate: float = 100.0
    query_repeats: int = 10
    max_requests: int = 2_000_000
    driver: str = "auto"
    seed: int = 20261121
    out: Path = REPO / "bench" / "results"
    smoke: bool = False
    fail_on_target: bool = False


FALLBACK_MIN_SECONDS = 3.0  # a fallback run lasts at least this long, --smoke included


def parse_args(argv: list[str] | None) -> Options:
    """Options from the command line; --smoke shortens every duration to seconds."""
    d = Options()
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    p.add_argument("--duration", type=float, default=d.duration, help="seconds per closed-loop run")
    p.add_argument(
        "--warmup", type=float, default=d.warmup, help="seconds before each run (0: none)"
    )
    p.add_argument("--connections", type=int, default=d.connections)
    p.add_argument("--fallback-connections", type=int, default=d.fallback_connections)
    p.add_argument("--rate", type=float, default=d.rate, help="heavy open-loop req/s")
    p.add_argument("--rate-duration", type=float, default=d.rate_duration)
    p.add_argument("--soak", type=float, default=d.soak, help="soak seconds (0: skip)")
    p.add_argument("--soak-rate", type=float, default=d.soak_rate, help="soak req/s")
    p.add_argument("--query-repeats", type=int, default=d.query_repeats)
    p.add_argument("--max-requests", type=int, default=d.max_requests, help="cap per run")
    p.add_argument("--driver", choices=("auto", "wrk", "python"), default=d.driver)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--out", type=Path, default=d.out)
    p.add_argument("--smoke", action="store_true", help="seconds, not minutes: checks the harness")
    p.add_argument("--fail-on-target", action="store_true", help="exit 2 if a target fails")
    args = p.parse_args(argv)
    options = Options(**vars(args))
    if not options.smoke:
        return options
    return replace(options, duration=0.5, warmup=0.25, rate_duration=1.0, soak=1.5, query_repeats=1)


def main(argv: list[str] | None = None) -> int:
    """Run the bench; 0 on success, 1 if the harness failed, 2 if a target failed (opt-in)."""
    options = parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="cds-bench-") as tmp:
            result = run(options, Path(tmp))
    except (BenchError, ServerError, wrk.WrkError) as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    _say("writing the report and plot")
    paths = report.write(result, options.out)
    paths["plot"] = plot.plot(result, options.out / "latency.png")
    print(report.markdown(result))
    for kind, path in paths.items():
        _say(f"{kind}: {path}")
    failed = any(t["passed"] is False for t in result["targets"])
    return 2 if failed and options.fail_on_target else 0


_T0 = time.monotonic()


def _say(message: str) -> None:
    print(f"[bench {time.monotonic() - _T0:6.1f}s] {message}", file=sys.stderr, flush=True)


def closed_driver(choice: str) -> tuple[Driver, str]:
    """wrk when installed (or demanded), else the Python driver; and its description."""
    if choice == "wrk" or (choice == "auto" and wrk.wrk_path()):
        if wrk.wrk_path() is None:
            raise BenchError("--driver wrk, but wrk is not installed")
        return wrk.closed_loop, f"{wrk.wrk_version()} (1 thread)"
    fallback = " (wrk not installed)" if choice == "auto" else ""
    return load.closed_loop, f"Python asyncio driver{fallback}"


def run(options: Options, tmp: Path) -> dict[str, Any]:
    """Everything between starting and stopping the servers; returns the report dict."""
    started = datetime.now(UTC)
    load_before = load_average()
    as_of = started.date()
    drive, closed_name = closed_driver(options.driver)
    env = clean_env({"TMPDIR": str(tmp)})
    config_probe = probe_gunicorn_config(env, tmp)
    processes: list[Process] = []
    try:
        fhir = start_fhir_server(options.seed, as_of.isoformat(), env, tmp)
        processes.append(fhir)
        service_env = {**env, **service_settings(tmp, fhir.base_url)}
        _migrate(service_env)
        _say("starting gunicorn: service and floor")
        service = spawn_gunicorn("service", None, service_env, tmp)
        processes.append(service)
        floor = spawn_gunicorn("floor", "bench.floor:app", env, tmp)
        processes.append(floor)
        wait_started(service)
        wait_started(floor)
        templates = _templates(service)
        _say("servers up; checking each workload answers 200")
        workloads = build_workloads(templates, fhir.base_url, options.seed, as_of)
        return _measure_all(options, service, floor, fhir, templates, workloads, drive) | {
            "meta": describe(options, started, config_probe, closed_name)
            | {"load_average": {"before": load_before, "after": load_average()}},
        }
    finally:
        _say("stopping the servers")
        stop_all(processes)


def service_settings(tmp: Path, fhir_base: str) -> dict[str, str]:
    """CDS_* for the service: auth off, SQLite in `tmp`, the bench FHIR server allowlisted."""
    return {
        "CDS_AUTH": "off",
        "CDS_DATABASE_URL": f"sqlite:///{tmp / 'cds.sqlite3'}",
        "CDS_INSTANCE_PATH": str(tmp / "instance"),
        "CDS_FHIR_ALLOWLIST": json.dumps([fhir_base]),
        "CDS_FHIR_ALLOW_LOOPBACK_HTTP": "true",
    }


def _migrate(env: dict[str, str]) -> None:
    """`cds-service db upgrade`, as a deployment would run it."""
    cli = Path(sys.executable).with_name("cds-service")
    command = [str(cli)] if cli.exists() else [sys.executable, "-m", "cds_service.cli"]
    proc = subprocess.run([*command, "db", "upgrade"], env=env, capture_output=True, check=False)
    if proc.returncode != 0:
        raise BenchError(f"db upgrade failed:\n{proc.stderr.decode()[-2000:]}")


def _templates(service: Process) -> dict[str, str]:
    """The service's prefetch templates, from its discovery document (as an EHR reads them)."""
    discovery = httpx.get(service.base_url + "/cds-services", timeout=10).json()
    spec = next((s for s in discovery["services"] if s["id"] == SERVICE_ID), None)
    if spec is None:
        raise BenchError(f"{SERVICE_ID} is not in discovery")
    templates: dict[str, str] = spec.get("prefetch") or {}
    return templates


def _measure_all(
    options: Options,
    service: Process,
    floor: Process,
    fhir: Process,
    templates: dict[str, str],
    workloads: list[Workload],
    drive: Driver,
) -> dict[str, Any]:
    by_name = {w.name: w for w in workloads}
    cards = {}
    for workload in workloads:
        cards[workload.name] = check(service, workload)
    plan = Plan(
        options.connections,
        options.fallback_connections,
        options.duration,
        options.warmup,
        options.max_requests,
        FALLBACK_MIN_SECONDS,
    )
    rows = []
    for workload in workloads:
        _say(f"{workload.name}: floor, then service ({options.duration:g} s each)")
        row = measure_workload(workload, service, floor, drive, plan)
        row["cards"] = cards[workload.name]
        row["record_fetched"] = by_name[FALLBACK_RECORD].sent if workload.fallback else row["sent"]
        rows.append(row)
    heavy = _heavy_open_loop(options, service, by_name["heavy"])
    fallback = by_name["fallback"]
    _say("single FHIR queries")
    queries = single_queries(fhir.base_url, templates, fallback.patient_id, options.query_repeats)
    typical_rps = next(r["service"]["rps"] for r in rows if r["name"] == "typical")
    soak = _soak(options, service, by_name["typical"], typical_rps)
    return {
        "workloads": rows,
        "heavy_open_loop": heavy,
        "fhir_queries": queries,
        "soak": soak,
        "metrics_check": _metrics_check(service, by_name["small"].body),
        "targets": [vars(t) for t in _judge(rows, heavy, queries, soak, len(templates))],
    }


def _metrics_check(service: Process, body: bytes) -> dict[str, Any]:
    _say("/metrics cross-check")
    return metrics_check(service, body)


def _heavy_open_loop(options: Options, service: Process, heavy: Workload) -> dict[str, Any]:
    _say(f"heavy: open loop at {options.rate:g} req/s for {options.rate_duration:g} s")
    url = service.base_url + SERVICE_PATH
    result = load.open_loop(
        url, heavy.body, options.rate, options.rate_duration, options.max_requests
    )
    return {"record": heavy.record, "sent": heavy.sent, "result": result_dict(result)}


def _soak(
    options: Options, service: Process, workload: Workload, capacity_rps: float
) -> dict[str, Any] | None:
    """At --soak-rate, or half the measured capacity if lower: a soak must not saturate."""
    if options.soak <= 0:
        return None
    rate = round(max(1.0, min(options.soak_rate, capacity_rps / 2)), 1)
    _say(f"soak: {workload.name} at {rate:g} req/s for {options.soak:g} s")
    url = service.base_url + SERVICE_PATH
    soak = run_soak(service, url, workload.body, options.soak, rate, options.max_requests)
    after = [rss for t, rss in soak.samples if t >= soak.seconds * WARMUP_FRACTION]
    return {
        "workload": workload.name,
        "seconds": soak.seconds,
        "rate": soak.rate,
        "load": result_dict(soak.load) if soak.load else None,
        "samples": [{"t": round(t, 2), "rss_kib": rss} for t, rss in soak.samples],
        "growth_kib": {str(pid): kib for pid, kib in soak.growth_kib().items()},
        "worst_growth_kib": soak.worst_growth_kib(),
        "workers_seen": soak.workers_seen(),
        "rss_kib_first": {str(p): k for p, k in (after[0] if after else {}).items()},
        "rss_kib_last": {str(p): k for p, k in (after[-1] if after else {}).items()},
    }


def _judge(
    rows: list[dict[str, Any]],
    heavy: dict[str, Any],
    queries: dict[str, Any],
    soak: dict[str, Any] | None,
    query_count: int,
) -> list[targets.Target]:
    by_name = {row["name"]: row for row in rows}
    typical, fallback, open_loop = by_name["typical"], by_name["fallback"], heavy["result"]
    soak_errors = (soak or {}).get("load", {}) or {}
    return [
        targets.throughput(
            typical["service"]["rps"], typical["floor"]["rps"], typical["service"]["errors"]
        ),
        targets.heavy_p99(
            open_loop["p99_ms"],
            open_loop["rate"],
            open_loop["rps"],
            open_loop["errors"],
            open_loop["dropped"],
        ),
        targets.fallback(
            fallback["service"]["p50_ms"],
            queries["slowest_ms"],
            query_count,
            fallback["service"]["errors"],
        ),
        targets.memory(
            soak["worst_growth_kib"] if soak else None,
            soak["seconds"] if soak else 0.0,
            soak_errors.get("errors", 0),
            soak_errors.get("dropped", 0),
        ),
    ]


if __name__ == "__main__":
    sys.exit(main())
