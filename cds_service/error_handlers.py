"""Errors → responses, one handler per exception class (Flask picks the most specific).

Every error is an OperationOutcome (`application/fhir+json`, never cached) except a failed
authentication, which CDS Hooks 2.0 answers with a bare 401. An unexpected exception is logged
by type and place only: its message may hold patient data.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, g
from werkzeug.exceptions import HTTPException

from cds_service.errors import (
    CdsError,
    InternalError,
    PreconditionFailed,
    ServiceUnavailable,
    Unauthorized,
    from_http_status,
)
from cds_service.headers import ALLOWED_METHODS
from cds_service.logs import log_event
from cds_service.runtime import NOTHING, Report, ServiceResponse, denied, json_response


def outcome_response(exc: CdsError, report: Report = NOTHING) -> ServiceResponse:
    """The error as an OperationOutcome with its status; it describes one request only."""
    return json_response(
        exc.outcome(),
        exc.status,
        patient_data=True,
        media_type="application/fhir+json",
        report=report,
    )


def where(exc: BaseException) -> str:
    """Innermost frame as module:function:line; the message may hold PHI, so it is not logged."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return "unknown"
    code = tb.tb_frame.f_code
    module = tb.tb_frame.f_globals.get("__name__", "?")
    return f"{module}:{code.co_name}:{tb.tb_lineno}"


def init_error_handlers(app: Flask) -> None:
    """Register the handlers on the app."""

    @app.errorhandler(CdsError)
    def _cds_error(exc: CdsError) -> Response:
        response = outcome_response(exc)
        if exc.status == 405:
            response.headers["Allow"] = ALLOWED_METHODS
        return response

    @app.errorhandler(Unauthorized)
    def _unauthorized(exc: Unauthorized) -> Response:
        return denied(exc.reason)

    @app.errorhandler(PreconditionFailed)
    def _precondition_failed(exc: PreconditionFailed) -> Response:
        return outcome_response(exc, Report(prefetch_causes=exc.causes))

    @app.errorhandler(ServiceUnavailable)
    def _unavailable(exc: ServiceUnavailable) -> Response:
        response = outcome_response(exc)
        if exc.retry_after is not None:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        response = outcome_response(from_http_status(exc.code))
        if exc.code == 405:
            methods = getattr(exc, "valid_methods", None)
            response.headers["Allow"] = ", ".join(methods) if methods else ALLOWED_METHODS
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log_event(
            logging.ERROR,
            "unhandled error",
            request_id=g.get("request_id"),
            error_type=type(exc).__name__,
            error_at=where(exc),
        )
        error = InternalError("internal error", details=[f"request id {g.get('request_id', '')}"])
        return outcome_response(error)
