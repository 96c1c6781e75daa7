"""The request log: one JSON line per request, from checked values and the view's report.

Nothing a caller typed reaches the log unless it was validated: the route template (not the
path), a hosted service id (else "unknown"), a UUID hookInstance, a well-formed X-Request-ID.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from flask import Flask, Response, g, request

from cds_service.logs import UNMATCHED, log_event, method_label
from cds_service.runtime import Runtime, hosted_service, report_of

REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,128}", re.ASCII)
HEX = "[0-9a-fA-F]"
UUID = re.compile(f"{HEX}{{8}}-{HEX}{{4}}-{HEX}{{4}}-{HEX}{{4}}-{HEX}{{12}}")


def loggable_hook_instance(value: str) -> str | None:
    """The hookInstance to log: only a UUID, as the spec has it (any 256 characters pass)."""
    return value.lower() if UUID.fullmatch(value) else None


def init_request_log(app: Flask) -> None:
    """Give each request an id (kept from a proxy when well formed) and log it when answered."""
    runtime: Runtime = app.extensions["cds"]

    @app.before_request
    def _start() -> None:
        # nginx forwards its id (or the EHR's); only a plain token is trusted into the logs.
        forwarded = request.headers.get("X-Request-ID", "")
        g.request_id = forwarded if REQUEST_ID.fullmatch(forwarded) else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "")
        log_event(logging.INFO, "request", **_fields(runtime, response))
        return response


def _fields(runtime: Runtime, response: Response) -> dict[str, Any]:
    report = report_of(response)
    route = request.url_rule.rule if request.url_rule else None
    started = g.get("started", time.perf_counter())
    fields: dict[str, Any] = {
        "request_id": g.get("request_id"),
        "method": method_label(request.method),
        "route": route,
        "status": response.status_code,
        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
    }
    service = hosted_service(runtime, request.view_args)
    if service is not None:
        fields["service_id"] = service
    # For gunicorn's access log (gunicorn_log.JsonLogger): the same checked values.
    request.environ["cds.route"] = route or UNMATCHED
    if "service_id" in fields:
        request.environ["cds.service"] = fields["service_id"]
    outcome = report.outcome
    if outcome is not None:
        fields.update(
            hook_instance=loggable_hook_instance(outcome.hook_instance),
            card_count=len(outcome.response.cards),
            rule_ids=outcome.rule_ids,
            shadow_rule_ids=outcome.rule_ids_in("shadow") or None,
            snoozed_rule_ids=outcome.rule_ids_in("snoozed") or None,
            rule_state_digest=outcome.rule_state_digest or None,
            governance_misses=list(outcome.misses) or None,
            prefetch=dict(outcome.stats.counts),
            prefetch_failures=outcome.stats.failures or None,
            prefetch_incomplete=outcome.stats.incomplete or None,
            resource_count=outcome.stats.resources,
            invalid_resources={
                f"{kind}/{reason}": count
                for (kind, reason), count in outcome.stats.unreadable.items()
            }
            or None,
        )
    elif report.prefetch_causes:  # a 412: why, per key
        fields["prefetch_failures"] = dict(report.prefetch_causes)
    if report.feedback_count is not None:
        fields["feedback_count"] = report.feedback_count
    if report.auth_failure:
        fields["reason"] = report.auth_failure
    return fields
