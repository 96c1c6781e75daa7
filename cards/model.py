"""CDS Hooks 2.0 response wire models: Card, Source, Suggestion, Action, Link, Coding.

Serialization goes through `to_wire`, which omits null, "", [] and {} as the spec requires
(CDS Hooks 2.0 §Use of JSON); only the top-level `cards` may be empty.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import AnyUrl, BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.alias_generators import to_camel

from hooks.types import JsonObject

NonEmpty = Annotated[str, StringConstraints(min_length=1)]


class WireModel(BaseModel):
    """snake_case in Python, the spec's camelCase on the wire."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid"
    )


class Coding(WireModel):
    """CDS Hooks 2.0 Coding; `display` is required for override reasons."""

    code: NonEmpty
    system: NonEmpty
    display: NonEmpty | None = None


class OverrideReason(Coding):
    """A reason the clinician may give for dismissing a card; display is mandatory."""

    display: NonEmpty


class Source(WireModel):
    """Who produced the card; `url` is about the source, not a drill-down (use links)."""

    label: NonEmpty
    url: AnyUrl | None = None
    icon: AnyUrl | None = None
    topic: Coding | None = None


class Action(WireModel):
    """A change the client may apply (also the shape of `systemActions`)."""

    type: Literal["create", "update", "delete"]
    description: NonEmpty
    resource: JsonObject | None = None
    resource_id: NonEmpty | None = None

    @model_validator(mode="after")
    def _resource_matches_type(self) -> Self:
        if self.type in ("create", "update") and not self.resource:
            raise ValueError(f"a {self.type} action carries the resource")
        if self.type == "delete" and (self.resource is not None or not self.resource_id):
            raise ValueError("a delete action names resourceId and carries no resource")
        return self


class Suggestion(WireModel):
    """A set of actions the user accepts together (AND)."""

    label: NonEmpty
    uuid: NonEmpty | None = None
    is_recommended: bool | None = None
    actions: list[Action] | None = None


class Link(WireModel):
    """A link to evidence or an app; appContext is only valid on smart links."""

    label: NonEmpty
    url: AnyUrl
    type: Literal["absolute", "smart"]
    app_context: NonEmpty | None = None
    autolaunchable: bool | None = None

    @model_validator(mode="after")
    def _app_context_only_for_smart(self) -> Self:
        if self.app_context is not None and self.type != "smart":
            raise ValueError("appContext is only valid for smart links")
        return self


class Card(WireModel):
    """One card; `summary` is one sentence under 140 characters."""

    uuid: NonEmpty | None = None
    summary: Annotated[str, StringConstraints(min_length=1, max_length=139)]
    detail: NonEmpty | None = None
    indicator: Literal["info", "warning", "critical"]
    source: Source
    suggestions: list[Suggestion] | None = None
    selection_behavior: Literal["at-most-one", "any"] | None = None
    override_reasons: list[OverrideReason] | None = None
    links: list[Link] | None = None
    extension: JsonObject | None = Field(
        default=None,
        description="The card's provenance, under the card catalogue's key "
        "(`org.kneespasmcds.findings`): `knowledgeVersion`, `ruleStates` (the digest of the "
        "rule states it was made under, as in discovery) and `findings` (each with `ruleId`, "
        "`ruleVersion`, `severity`, `status`, `template`, `evidence`, `fingerprint`, `sources`).",
    )

    @model_validator(mode="after")
    def _selection_behavior_with_suggestions(self) -> Self:
        if self.suggestions and self.selection_behavior is None:
            raise ValueError("selectionBehavior is required when suggestions are present")
        recommended = sum(1 for s in self.suggestions or () if s.is_recommended)
        if self.selection_behavior == "at-most-one" and recommended > 1:
            raise ValueError("at-most-one allows at most one recommended suggestion")
        return self


class CdsResponse(WireModel):
    """The body of a successful service call."""

    cards: list[Card] = Field(default_factory=list)
    system_actions: list[Action] | None = None


def prune(value: Any) -> Any:
    """Drop None, "", [] and {} recursively: the spec prohibits sending them."""
    if isinstance(value, dict):
        pruned = {k: prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if not _is_empty(v)}
    if isinstance(value, list):
        items = [prune(v) for v in value]
        return [v for v in items if not _is_empty(v)]
    return value


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def to_wire(model: BaseModel) -> JsonObject:
    """JSON-ready dict with spec aliases and no empty fields (cards: [] is kept)."""
    data: JsonObject = prune(model.model_dump(mode="json", by_alias=True, exclude_none=True))
    if isinstance(model, CdsResponse):
        data.setdefault("cards", [])
    return data
