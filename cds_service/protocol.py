"""CDS Hooks 2.0 request-side wire models: invocation, discovery and feedback.

Response cards live in `cards.model`. Request models ignore unknown fields (the spec allows
extensions); every field named by the spec is checked here, once, at the boundary.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from cards.model import NonEmpty, WireModel
from hooks.types import JsonObject


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; SQLite can. Refuse it here, for both, naming the field.
    if "\x00" in value:
        raise ValueError("must not contain NUL (\\u0000) characters")
    return value


# Column widths of the card ledger and feedback tables (cds_service/store.py): a value that
# would not fit is a 400 naming the field, on SQLite as on PostgreSQL.
ID_CHARS = 256
SYSTEM_CHARS = 1024
TEXT_CHARS = 10_000  # display and comment are unbounded text columns; this is abuse control
# The check, and the same rule stated in the API document (ECMA-262 regex) for clients.
NoNul = (AfterValidator(_no_nul), Field(json_schema_extra={"pattern": "^[^\\u0000]*$"}))
StoredId = Annotated[str, StringConstraints(min_length=1, max_length=ID_CHARS), *NoNul]
StoredSystem = Annotated[str, StringConstraints(min_length=1, max_length=SYSTEM_CHARS), *NoNul]
StoredText = Annotated[str, StringConstraints(max_length=TEXT_CHARS), *NoNul]

# RFC 3339 date-time, as the API document's `format: date-time` says: seconds and an offset.
RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", re.ASCII
)


def _iso_text(value: Any) -> Any:
    """Instants arrive as RFC 3339 text; pydantic's lax mode would read 0 or "0" as Unix time."""
    if not isinstance(value, str) or not RFC3339.fullmatch(value):
        raise ValueError(
            "must be an RFC 3339 date-time with a UTC offset, e.g. 2021-12-11T10:05:31Z"
        )
    return value


def _json_number(value: Any) -> Any:
    """A JSON integer (5 or 5.0, as JSON Schema counts them), never text or a boolean."""
    if isinstance(value, str | bool):
        raise ValueError("must be a JSON integer")
    return value


Instant = Annotated[datetime, BeforeValidator(_iso_text)]
JsonInt = Annotated[int, BeforeValidator(_json_number)]


class RequestModel(WireModel):
    """Inbound: like the response models, but unknown fields are ignored (spec extensions)."""

    model_config = ConfigDict(extra="ignore")


class FhirAuthorization(BaseModel):
    """OAuth 2.0 bearer token for fhirServer; transient, never stored or logged."""

    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)

    access_token: NonEmpty = Field(repr=False)
    token_type: Literal["Bearer"]
    expires_in: JsonInt = Field(ge=0, le=2**31 - 1)
    scope: NonEmpty
    subject: NonEmpty
    patient: NonEmpty | None = None


class HookRequest(RequestModel):
    """Body of POST {baseUrl}/cds-services/{id}."""

    model_config = ConfigDict(
        hide_input_in_errors=True,
        # _server_with_token below, stated in the API document.
        json_schema_extra={
            "if": {
                "required": ["fhirAuthorization"],
                "properties": {"fhirAuthorization": {"type": "object"}},
            },
            "then": {"required": ["fhirServer"], "properties": {"fhirServer": {"type": "string"}}},
        },
    )

    hook: NonEmpty
    hook_instance: StoredId
    fhir_server: AnyHttpUrl | None = None
    fhir_authorization: FhirAuthorization | None = None
    context: JsonObject
    # Values are checked per declared key in prefetch.py; undeclared keys are ignored.
    prefetch: dict[str, Any] | None = None
    extension: JsonObject | None = None

    @model_validator(mode="after")
    def _server_with_token(self) -> Self:
        # CDS Hooks 2.0: "If fhirAuthorization is provided, this field is REQUIRED."
        if self.fhir_authorization is not None and self.fhir_server is None:
            raise ValueError("fhirServer is required when fhirAuthorization is provided")
        return self

    @property
    def fhir_base(self) -> str | None:
        """FhirServer as a string without a trailing slash."""
        return str(self.fhir_server).rstrip("/") if self.fhir_server else None


class ServiceExtension(WireModel):
    """What each discovered service says about the configuration its cards come from."""

    knowledge_version: NonEmpty = Field(
        alias="org.kneespasmcds.knowledge-version",
        description="Version of the clinical knowledge (knowledge/manifest.yaml).",
    )
    rule_states: NonEmpty = Field(
        alias="org.kneespasmcds.rule-states",
        description="Digest of the service's effective rule states (on, shadow, off); every "
        "card's machine-readable extension carries the same digest as `ruleStates`, and "
        "`cds-service rules digest` names the states it stands for.",
    )


class ServiceDescriptor(WireModel):
    """One entry of the discovery response."""

    hook: NonEmpty
    title: NonEmpty | None = None
    description: NonEmpty
    id: NonEmpty
    prefetch: dict[str, str] | None = None
    usage_requirements: NonEmpty | None = None
    extension: ServiceExtension | None = None


class Discovery(WireModel):
    """Body of GET {baseUrl}/cds-services; an empty list is allowed here."""

    services: list[ServiceDescriptor]


class AcceptedSuggestion(RequestModel):
    """The uuid of a suggestion the user accepted."""

    id: StoredId


class FeedbackCoding(RequestModel):
    """The override reason chosen (a CDS Hooks Coding), sized to its columns."""

    code: StoredId
    system: StoredSystem
    display: Annotated[StoredText, StringConstraints(min_length=1)] | None = None


class OverrideReasonFeedback(RequestModel):
    """Why a card was overridden: the chosen reason and/or a free-text comment."""

    reason: FeedbackCoding | None = None
    user_comment: StoredText | None = None


class FeedbackItem(RequestModel):
    """One card outcome."""

    # The model validator below, stated in the API document so clients see it too.
    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"outcome": {"const": "accepted"}}},
            "then": {
                "required": ["acceptedSuggestions"],
                "properties": {"acceptedSuggestions": {"type": "array", "minItems": 1}},
            },
        }
    )

    card: StoredId
    outcome: Literal["accepted", "overridden"]
    accepted_suggestions: list[AcceptedSuggestion] | None = None
    override_reason: OverrideReasonFeedback | None = None
    outcome_timestamp: Instant

    @field_validator("outcome_timestamp")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        # The spec asks for an ISO 8601 UTC instant; a local time without offset is ambiguous.
        if value.tzinfo is None:
            raise ValueError("outcomeTimestamp must carry a UTC offset (RFC 3339)")
        try:
            value.astimezone(UTC)  # e.g. 0001-01-01T00:00:00+14:00 has no UTC instant
        except OverflowError:
            raise ValueError("outcomeTimestamp falls outside the years 1-9999 in UTC") from None
        return value

    @model_validator(mode="after")
    def _accepted_needs_suggestions(self) -> Self:
        if self.outcome == "accepted" and not self.accepted_suggestions:
            raise ValueError("acceptedSuggestions is required for accepted outcomes")
        return self


class FeedbackRequest(RequestModel):
    """Body of POST {baseUrl}/cds-services/{id}/feedback."""

    model_config = ConfigDict(hide_input_in_errors=True)

    feedback: Annotated[list[FeedbackItem], Field(min_length=1, max_length=1000)]


class FeedbackReceipt(WireModel):
    """Our answer to feedback (the spec defines none): what is stored, what was unknown.

    `stored` counts every entry, all stored once this is sent; `duplicates` says how many
    were already stored (a retry after a lost response), and were not stored again.
    """

    stored: int
    duplicates: int | None = None
    unknown_cards: list[str] | None = None
