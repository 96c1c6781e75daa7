"""What one app instance holds (settings, pipeline, authenticator) and how it answers.

A view returns what the request log and the metrics report about it with its response (a
`Report` on a `ServiceResponse`), rather than leaving it in Flask's `g` for them to find.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from flask import Response
from pydantic import BaseModel

from cards.model import to_wire
from cds_service.auth import Authenticator
from cds_service.dispatch import Outcome, Pipeline
from cds_service.settings import Settings
from cds_service.store import FeedbackResult


@dataclass(frozen=True)
class Report:
    """What one response tells the request log and the metrics (nothing from the body)."""

    outcome: Outcome | None = None
    feedback: FeedbackResult | None = None
    feedback_count: int | None = None
    auth_failure: str | None = None
    prefetch_causes: Mapping[str, str] | None = None


NOTHING = Report()


class ServiceResponse(Response):
    """A Flask response that carries its `Report`."""

    report: Report = NOTHING


def hosted_service(runtime: Runtime, view_args: Mapping[str, Any] | None) -> str | None:
    """The URL's service id as logs and metrics may carry it; None if the route names none.

    A hosted id, else "unknown": until it names a hosted service, the id is caller text.
    """
    service_id = (view_args or {}).get("service_id")
    if service_id is None:
        return None
    return service_id if runtime.pipeline.registry.get(service_id) else "unknown"


def report_of(response: Response) -> Report:
    """The report a view or error handler returned with this response (empty if none)."""
    return response.report if isinstance(response, ServiceResponse) else NOTHING


@dataclass(frozen=True)
class Runtime:
    """Stored in `app.extensions["cds"]`; read by views through `runtime()`."""

    settings: Settings
    pipeline: Pipeline
    authenticator: Authenticator


def json_response(
    body: BaseModel | dict[str, Any],
    status: int = 200,
    *,
    patient_data: bool = False,
    media_type: str = "application/json",
    report: Report = NOTHING,
) -> ServiceResponse:
    """Serialize with spec aliases and no empty fields; mark patient data uncacheable."""
    data = to_wire(body) if isinstance(body, BaseModel) else body
    response = ServiceResponse(orjson.dumps(data), status=status, mimetype=media_type)
    response.report = report
    if patient_data:
        response.headers["Cache-Control"] = "no-store"
    return response


def denied(reason: str) -> ServiceResponse:
    """A bare 401 (CDS Hooks 2.0: no body), its reason reported to the log and metrics only."""
    response = ServiceResponse(status=401)
    response.report = Report(auth_failure=reason)
    response.headers["WWW-Authenticate"] = "Bearer"
    response.headers["Cache-Control"] = "no-store"
    return response
