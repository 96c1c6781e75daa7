"""Prometheus metrics: latency and status, cards, findings by state, prefetch, auth and feedback.

Every label value comes from a closed set in code (route rules, hosted service ids, rule ids,
indicators, prefetch results, failure reasons), never from request data: no PHI, and no label
growth a caller can drive. Under gunicorn each worker writes to PROMETHEUS_MULTIPROC_DIR (set by
`gunicorn_conf`) and `/metrics` merges all workers; elsewhere (tests, the CLI) each app has its
own in-memory registry.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, g, request

from cds_service.dispatch import Outcome
from cds_service.logs import UNMATCHED, log_event, method_label
from cds_service.runtime import Runtime, denied, hosted_service, report_of

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Histogram

# 1 ms (an empty call) to 3 s (the prefetch fallback deadline).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0)
UNKNOWN = "unknown"  # a service id or card uuid we do not host or never issued
NONE = "none"  # a route that is not about one service


@dataclass(frozen=True)
class Metrics:
    """The app's metric families and the registry `/metrics` serves."""

    served: CollectorRegistry
    latency: Histogram
    requests: Counter
    cards: Counter
    prefetch: Counter
    fetch_failures: Counter
    incomplete: Counter
    unreadable: Counter
    auth_failures: Counter
    feedback: Counter
    ledger_failures: Counter
    findings: Counter
    governance_misses: Counter
    render: Callable[[CollectorRegistry], bytes]
    content_type: str


def init_metrics(app: Flask) -> Metrics:
    """Count every response and serve `/metrics`.

    /metrics is outside /cds-services, so no JWT: it needs CDS_METRICS_TOKEN when that is
    set, and is not routed at all with CDS_METRICS_BIND (the arbiter serves it there).
    """
    metrics = _build()
    runtime: Runtime = app.extensions["cds"]
    app.extensions["cds_metrics"] = metrics

    @app.after_request
    def _record(response: Response) -> Response:
        try:
            _observe(metrics, runtime, response)
        except Exception as exc:  # a metrics fault must never change a clinical response
            log_event(logging.WARNING, "metrics not recorded", error_type=type(exc).__name__)
        return response

    token = runtime.settings.METRICS_TOKEN

    def exposition() -> Response:
        if token is not None and not _bearer_matches(request, token.get_secret_value()):
            return denied("metrics-token")
        response = Response(metrics.render(metrics.served), content_type=metrics.content_type)
        response.headers["Cache-Control"] = "no-store"
        return response

    if runtime.settings.METRICS_BIND is None:  # else the arbiter serves it, on that address
        app.add_url_rule("/metrics", "metrics", exposition, methods=["GET"])
    return metrics


def _bearer_matches(req: Any, token: str) -> bool:
    scheme, _, given = (req.headers.get("Authorization") or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


def _build() -> Metrics:
    # Imported here, not at the top: prometheus-client picks in-memory or multiprocess values on
    # first import, and gunicorn imports this package before gunicorn_conf sets the directory.
    import prometheus_client as prom
    from prometheus_client import multiprocess, values

    own = prom.CollectorRegistry()
    served = own
    if values.ValueClass is not values.MutexValue:
        served = prom.CollectorRegistry()
        multiprocess.MultiProcessCollector(served)  # type: ignore[no-untyped-call]
    return Metrics(
        served=served,
        latency=prom.Histogram(
            "cds_http_request_duration_seconds",
            "Time from request start to response, per route and service.",
            ["method", "route", "service"],
            buckets=LATENCY_BUCKETS,
            registry=own,
        ),
        requests=prom.Counter(
            "cds_http_requests",
            "Responses by route, service and status.",
            ["method", "route", "service", "status"],
            registry=own,
        ),
        cards=prom.Counter(
            "cds_cards",
            "Cards issued, per contributing rule and indicator.",
            ["service", "rule", "indicator"],
            registry=own,
        ),
        prefetch=prom.Counter(
            "cds_prefetch_keys",
            "Prefetch keys by result: hit, null, miss, fallback, paged, operation_outcome, ...",
            ["service", "result"],
            registry=own,
        ),
        fetch_failures=prom.Counter(
            "cds_prefetch_fetch_failures",
            "Prefetch keys that could not be read from fhirServer, by key and cause "
            "(fhir-server-not-allowlisted, timeout, http-401, ...), calls ending in 412 included.",
            ["service", "key", "reason"],
            registry=own,
        ),
        incomplete=prom.Counter(
            "cds_prefetch_incomplete_keys",
            "Prefetch keys used with records known to be missing (pages that could not be "
            "fetched), by key and cause.",
            ["service", "key", "reason"],
            registry=own,
        ),
        unreadable=prom.Counter(
            "cds_prefetch_unreadable_resources",
            "Resources skipped because they could not be read (malformed JSON types, or "
            "failing FHIR R4B validation), by resource type and reason.",
            ["service", "resource_type", "reason"],
            registry=own,
        ),
        auth_failures=prom.Counter(
            "cds_auth_failures", "Rejected callers by reason.", ["reason"], registry=own
        ),
        feedback=prom.Counter(
            "cds_feedback",
            "Feedback outcomes per rule of the card (rule=unknown: card not in the ledger).",
            ["service", "rule", "outcome"],
            registry=own,
        ),
        ledger_failures=prom.Counter(
            "cds_ledger_write_failures",
            "Calls whose cards were returned but not recorded in the card ledger, by cause "
            "(timeout, unreachable, circuit-open, schema, ...).",
            ["service", "reason"],
            registry=own,
        ),
        findings=prom.Counter(
            "cds_findings",
            "Findings recorded in the ledger, per rule and state (shown, shadow, snoozed).",
            ["service", "rule", "state"],
            registry=own,
        ),
        governance_misses=prom.Counter(
            "cds_governance_misses",
            "Rule-state or snooze lookups the database could not answer (the call failed open).",
            ["service", "lookup"],
            registry=own,
        ),
        render=prom.generate_latest,
        content_type=prom.CONTENT_TYPE_LATEST,
    )


def _observe(metrics: Metrics, runtime: Runtime, response: Response) -> None:
    route = request.url_rule.rule if request.url_rule else UNMATCHED
    method = method_label(request.method)
    service = hosted_service(runtime, request.view_args) or NONE
    started = g.get("started")
    if started is not None:
        metrics.latency.labels(method, route, service).observe(time.perf_counter() - started)
    metrics.requests.labels(method, route, service, str(response.status_code)).inc()
    report = report_of(response)
    if report.auth_failure:
        metrics.auth_failures.labels(report.auth_failure).inc()
    outcome = report.outcome
    if outcome is not None:
        _count_outcome(metrics, outcome)
    elif report.prefetch_causes is not None:  # a 412
        for key, reason in report.prefetch_causes.items():
            metrics.fetch_failures.labels(service, key, reason).inc()
    stored = report.feedback
    if stored is not None and response.status_code == 200:
        # Only outcomes stored by this request: a retried batch must not count twice.
        for item in stored.new:
            for rule in stored.rules.get(item.card) or (UNKNOWN,):
                metrics.feedback.labels(service, rule, item.outcome).inc()
    if outcome is not None and outcome.ledger_failure is not None:
        metrics.ledger_failures.labels(service, outcome.ledger_failure).inc()


def _count_outcome(metrics: Metrics, outcome: Outcome) -> None:
    service = outcome.service_id
    for result, count in outcome.stats.counts.items():
        metrics.prefetch.labels(service, result).inc(count)
    for key, reason in outcome.stats.failures.items():
        metrics.fetch_failures.labels(service, key, reason).inc()
    for key, reason in outcome.stats.incomplete.items():
        metrics.incomplete.labels(service, key, reason).inc()
    for (kind, reason), count in outcome.stats.unreadable.items():
        metrics.unreadable.labels(service, kind, reason).inc(count)
    for issued in outcome.issued:
        for rule in issued.rule_ids or (UNKNOWN,):
            metrics.cards.labels(service, rule, issued.card.indicator).inc()
    for record in outcome.ledger:
        metrics.findings.labels(service, record.rule_id, record.state).inc()
    for lookup in outcome.misses:
        metrics.governance_misses.labels(service, lookup).inc()
