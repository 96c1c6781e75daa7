"""The error tree and its HTTP rendering: the only module that knows HTTP statuses.

    CdsError
    ├── InvalidRequest ........ 400  malformed JSON, schema errors, wrong hook
    ├── Unauthorized .......... 401  bare body + WWW-Authenticate (never say why)
    ├── UnknownService ........ 404
    ├── MethodNotAllowed ...... 405
    ├── PayloadTooLarge ....... 413
    ├── UnsupportedMediaType .. 415
    ├── PreconditionFailed .... 412  prefetch data could not be had (CDS Hooks 2.0 SHALL)
    └── ServiceUnavailable .... 503  the database or replay cache is down, or the schema
                                     is not current (feedback, /readyz, JWT replay check)

Each error carries a FHIR IssueType code and a stable `error_id`, so an integrator can search
for it. Bodies are FHIR OperationOutcome JSON; messages never contain request values or PHI.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

from fhir.resources.R4B.operationoutcome import OperationOutcome
from pydantic import BaseModel, ConfigDict, Field

FHIR_JSON = "application/fhir+json"


class IssueText(BaseModel):
    """`details` of an issue: the stable error id and the message."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(pattern=r"^CDS-\d{3}: ")


class OutcomeIssue(BaseModel):
    """One problem; `diagnostics` names the field or limit, never the submitted value."""

    model_config = ConfigDict(extra="forbid")

    severity: Literal["error"]
    code: str
    details: IssueText
    diagnostics: str


class OperationOutcomeBody(BaseModel):
    """The wire shape of every error body (a FHIR R4 OperationOutcome), for the API document."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    resource_type: Literal["OperationOutcome"] = Field(alias="resourceType")
    issue: list[OutcomeIssue] = Field(min_length=1)


class CdsError(Exception):
    """Base: an error answered with `status` and an OperationOutcome body."""

    status: ClassVar[int] = 500
    issue_code: ClassVar[str] = "exception"
    error_id: ClassVar[str] = "CDS-500"

    def __init__(self, message: str, *, details: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.details = tuple(details)

    def outcome(self) -> dict[str, Any]:
        """The OperationOutcome body; one issue per detail, else one for the message."""
        texts = self.details or (self.message,)
        issues = [
            {
                "severity": "error",
                "code": self.issue_code,
                "details": {"text": f"{self.error_id}: {self.message}"},
                "diagnostics": text,
            }
            for text in texts
        ]
        resource = OperationOutcome.model_validate({"issue": issues})
        body: dict[str, Any] = resource.model_dump(mode="json", exclude_none=True)
        return body


class InvalidRequest(CdsError):
    """The body is not valid JSON or does not match the CDS Hooks request schema."""

    status = 400
    issue_code = "invalid"
    error_id = "CDS-400"


class Unauthorized(CdsError):
    """Authentication failed; the response body is empty and says nothing of why."""

    status = 401
    issue_code = "login"
    error_id = "CDS-401"

    def __init__(self, reason: str) -> None:
        super().__init__("unauthorized")
        self.reason = reason  # a category for logs and metrics, never the token


class UnknownService(CdsError):
    """No service with this id is hosted here."""

    status = 404
    issue_code = "not-found"
    error_id = "CDS-404"


class MethodNotAllowed(CdsError):
    """The endpoint exists but not for this HTTP method."""

    status = 405
    issue_code = "not-supported"
    error_id = "CDS-405"


class PayloadTooLarge(CdsError):
    """The body exceeds a configured limit (bytes, depth or resource count)."""

    status = 413
    issue_code = "too-costly"
    error_id = "CDS-413"


class UnsupportedMediaType(CdsError):
    """The body is not sent as application/json."""

    status = 415
    issue_code = "not-supported"
    error_id = "CDS-415"


class PreconditionFailed(CdsError):
    """Required prefetch data was neither sent nor fetchable from fhirServer.

    `causes` maps each key that could not be read to the category of why, for logs and
    metrics (the details name the required ones).
    """

    status = 412
    issue_code = "incomplete"
    error_id = "CDS-412"

    def __init__(
        self,
        message: str,
        *,
        details: Sequence[str] = (),
        causes: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.causes = dict(causes or {})


class ServiceUnavailable(CdsError):
    """A dependency the endpoint needs is down; `retry_after` seconds go in Retry-After."""

    status = 503
    issue_code = "transient"
    error_id = "CDS-503"

    def __init__(
        self, message: str, *, details: Sequence[str] = (), retry_after: int | None = None
    ) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after


class InternalError(CdsError):
    """Anything unexpected; the body carries the request id only."""

    status = 500
    issue_code = "exception"
    error_id = "CDS-500"


def from_http_status(code: int | None) -> CdsError:
    """Translate a werkzeug routing or size error into our tree (once, at the boundary)."""
    if code == 404:
        return UnknownService("not found", details=["no such endpoint"])
    if code == 405:
        return MethodNotAllowed(
            "method not allowed", details=["this endpoint does not accept that method"]
        )
    if code == 413:
        return PayloadTooLarge(
            "request body too large", details=["the body exceeds the size limit"]
        )
    if code == 415:
        return UnsupportedMediaType("unsupported content type", details=["send application/json"])
    if code is not None and 400 <= code < 500:
        return InvalidRequest("bad request", details=["the request could not be understood"])
    return InternalError("internal error")
