"""One measurement each: a workload against floor and service, single FHIR queries, /metrics."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench import load
from bench.load import LoadResult
from bench.servers import Process
from bench.workloads import SERVICE_ID, USER_ID, Workload
from cds_service.prefetch import render

SERVICE_PATH = f"/cds-services/{SERVICE_ID}"
ROUTE = "/cds-services/<service_id>"
Driver = Callable[[str, bytes, int, float, int], LoadResult]


class BenchError(RuntimeError):
    """The service did not behave as the bench needs (e.g. a workload is not a 200)."""


@dataclass(frozen=True)
class Plan:
    """Durations and sizes shared by every closed-loop measurement."""

    connections: int
    fallback_connections: int
    duration: float
    warmup: float
    max_requests: int
    # One fallback call at a time takes up to about a second (seven FHIR queries behind the
    # bench server's delays): its run must outlast a call, or it counts none.
    fallback_duration: float | None = None


def result_dict(result: LoadResult) -> dict[str, Any]:
    """A LoadResult as JSON, with its throughput."""
    return {**asdict(result), "rps": result.rps}


def check(service: Process, workload: Workload) -> int:
    """Send the body twice (a repeated hookInstance must still be a 200); return its card count."""
    cards = 0
    for _ in range(2):
        response = httpx.post(
            service.base_url + SERVICE_PATH,
            content=workload.body,
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        if response.status_code != 200:
            raise BenchError(
                f"workload {workload.name}: HTTP {response.status_code}: {response.text[:800]}"
            )
        cards = len(response.json()["cards"])
    return cards


def measure_workload(
    workload: Workload, service: Process, floor: Process, drive: Driver, plan: Plan
) -> dict[str, Any]:
    """Floor, then service, with the same body, connections and duration; RSS around both."""
    connections = plan.fallback_connections if workload.fallback else plan.connections
    before = service.worker_rss_kib()
    results = {}
    for name, target in (("floor", floor), ("service", service)):
        url = target.base_url + SERVICE_PATH
        if plan.warmup > 0:
            drive(url, workload.body, connections, plan.warmup, plan.max_requests)
        duration = plan.duration
        if workload.fallback and plan.fallback_duration is not None:
            duration = max(duration, plan.fallback_duration)
        results[name] = drive(url, workload.body, connections, duration, plan.max_requests)
    after = service.worker_rss_kib()
    floor_rps = results["floor"].rps
    return {
        "name": workload.name,
        "description": workload.description,
        "fallback": workload.fallback,
        "record": workload.record,
        "sent": workload.sent,
        "service": result_dict(results["service"]),
        "floor": result_dict(results["floor"]),
        "ratio": results["service"].rps / floor_rps if floor_rps else 0.0,
        "rss_kib_before": {str(pid): kib for pid, kib in before.items()},
        "rss_kib_after": {str(pid): kib for pid, kib in after.items()},
    }


def single_queries(
    fhir_base: str, templates: Mapping[str, str], patient_id: str, repeats: int
) -> dict[str, Any]:
    """Each template's query alone, `repeats` times, on a new connection each (as the service)."""
    tokens = {
        "context.patientId": patient_id,
        "context.userId": USER_ID,
        "userPractitionerId": USER_ID.partition("/")[2],
    }
    medians: dict[str, float] = {}
    for key, template in templates.items():
        query = render(template, tokens)
        if query is not None:
            times = [_time_query(f"{fhir_base}/{query}") for _ in range(max(1, repeats))]
            medians[key] = statistics.median(times)
    return {
        "per_query": {k: {"template": templates[k], "p50_ms": ms} for k, ms in medians.items()},
        "slowest_ms": max(medians.values(), default=0.0),
        "repeats": repeats,
    }


def _time_query(url: str) -> float:
    """Milliseconds to read a query and every page it links to, on a fresh connection.

    The client is built before the clock starts: building one costs tens of milliseconds (an
    SSL context), which is the client's cost, not the server's.
    """
    with httpx.Client(trust_env=False, timeout=30) as client:
        started = time.perf_counter()
        next_url: str | None = url
        while next_url:
            response = client.get(next_url, headers={"Accept": "application/fhir+json"})
            response.raise_for_status()
            links = response.json().get("link") or ()
            next_url = next((ln["url"] for ln in links if ln.get("relation") == "next"), None)
        return (time.perf_counter() - started) * 1000


def metrics_check(service: Process, body: bytes, requests: int = 64) -> dict[str, Any]:
    """Send exactly `requests` calls while nothing else runs; /metrics must count each once.

    Several connections spread the calls over the workers, so a /metrics that showed one
    worker's registry (multiprocess mode broken) would count only a share of them.
    """
    before = counted_requests(service)
    result = load.closed_loop(service.base_url + SERVICE_PATH, body, 8, 60.0, requests)
    counted = counted_requests(service) - before
    return {
        "answered": result.requests,
        "counted_by_service": counted,
        "ok": counted == result.requests == requests,
    }


def counted_requests(service: Process) -> int:
    """Successful hook calls the service's /metrics reports, summed over every worker."""
    text = httpx.get(service.base_url + "/metrics", timeout=10).text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name == "cds_http_requests_total"
                and labels.get("route") == ROUTE
                and labels.get("method") == "POST"
                and labels.get("status") == "200"
            ):
                total += sample.value
    return int(total)
