"""HTTP routes for CDS Hooks 2.0: discovery, invocation, feedback, health. Views stay thin."""

from __future__ import annotations

import logging
import math
import time

from flask import Blueprint, Response, current_app, request

from cds_service.body import check_content_type, parse_json
from cds_service.errors import PayloadTooLarge, ServiceUnavailable
from cds_service.logs import log_event
from cds_service.runtime import Report, Runtime, json_response

bp = Blueprint("cds", __name__)


def runtime() -> Runtime:
    """The app's runtime (settings, pipeline, auth), built by create_app."""
    rt: Runtime = current_app.extensions["cds"]
    return rt


@bp.before_request
def _authenticate() -> None:
    # CORS preflights carry no credentials and must be answered without auth.
    if request.method == "OPTIONS" or not request.path.startswith("/cds-services"):
        return
    runtime().authenticator.authenticate(request.headers.get("Authorization"), request.path)


@bp.get("/cds-services")
def discovery() -> Response:
    """List the hosted services."""
    return json_response(runtime().pipeline.discovery())


@bp.post("/cds-services/<service_id>")
def invoke(service_id: str) -> Response:
    """Call one service with a hook request."""
    rt = runtime()
    rt.pipeline.service(service_id)  # 404 before reading the body
    outcome = rt.pipeline.invoke(service_id, _json_body(rt))
    return json_response(outcome.response, patient_data=True, report=Report(outcome=outcome))


@bp.post("/cds-services/<service_id>/feedback")
def feedback(service_id: str) -> Response:
    """Receive card outcomes."""
    rt = runtime()
    rt.pipeline.service(service_id)
    body = _json_body(rt)
    receipt, result = rt.pipeline.feedback(service_id, body)
    # The metrics count the newly stored outcomes per rule; the log says how many were stored.
    report = Report(feedback=result, feedback_count=receipt.stored)
    return json_response(receipt, patient_data=True, report=report)


@bp.get("/healthz")
def healthz() -> Response:
    """Liveness: the process answers. Never touches the database."""
    return json_response({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    """Readiness: the database answers, within its timeout, at the schema this code needs."""
    store = runtime().pipeline.store
    started = time.perf_counter()
    problem = store.schema_problem() if store is not None else None
    if store is not None and problem is not None:
        log_event(logging.WARNING, "readiness check failed", reason=problem.reason)
        current = problem.reason == "schema-not-current"
        raise ServiceUnavailable(
            "database schema is not current" if current else "database unavailable",
            details=[str(problem)],
            retry_after=max(1, math.ceil(store.cooldown)),
        )
    latency = round((time.perf_counter() - started) * 1000, 2)
    return json_response({"status": "ready", "databaseLatencyMs": latency})


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 description of this server as configured (no auth when CDS_AUTH=off)."""
    document = current_app.extensions.get("cds_openapi")
    if document is None:
        from cds_service.openapi import build_openapi

        rt = runtime()
        document = build_openapi(
            list(rt.pipeline.registry),
            auth=rt.settings.AUTH == "jwt",
            base_url=rt.settings.PUBLIC_BASE_URL,
        )
        current_app.extensions["cds_openapi"] = document
    return json_response(document)


def _json_body(rt: Runtime) -> object:
    check_content_type(request.content_type)
    raw = request.get_data(cache=False)  # MAX_CONTENT_LENGTH turns oversize bodies into 413
    # Werkzeug silently cuts a chunked body at the limit; a byte beyond it means the body was
    # too large: say 413, not a misleading 400 for the truncated JSON.
    at_limit = request.content_length is None and len(raw) >= rt.settings.MAX_BODY_BYTES
    if at_limit and request.environ["wsgi.input"].read(1):
        raise PayloadTooLarge("request body too large", details=["the body exceeds the size limit"])
    return parse_json(raw, rt.settings.MAX_JSON_DEPTH)
