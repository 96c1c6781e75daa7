"""Schema of `knowledge/cards.yaml`, the card catalogue: wording, sources, orders, override reasons.

Shape only, like `hooks.knowledge.schema`; loaded and cross-checked with the rest of the
knowledge so a rule can never name a template that does not exist.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from hooks.findings import Family, Severity
from hooks.knowledge.schema import CodeEntry, Frozen, Key, Text, Versioned


class Topic(Frozen):
    """A family's topic code in the project's own rule-family code system."""

    code: Family
    display: Text


class FamilyCard(Frozen):
    """Card source for one family."""

    order: int
    label: Text
    url: Annotated[str, StringConstraints(pattern=r"^https://\S+$")] | None = None
    topic: Topic


class ListJoiners(Frozen):
    """How list placeholders are joined ("X and 2 others")."""

    one: Text
    two: Text
    more_one: Text
    more: Text
    all: Text


class TemplateDef(Frozen):
    """A finding's summary template and an optional fixed note for the detail."""

    summary: Text
    note: str | None = None


class OrderTest(CodeEntry):
    """One ServiceRequest code of an order."""

    system: Text


class OrderDef(Frozen):
    """A suggestion: one draft ServiceRequest per test.

    `measures`: the analytes (labs.yaml keys) the order measures; an order is not suggested
    when all of them have a recent usable result (the card shows those results instead).
    `recommended`: may be marked recommended (still only on a warning or critical finding).
    `critical_only`: suggested only by a critical finding (an ECG for a critical electrolyte).
    """

    label: Text
    recommended: bool
    tests: tuple[OrderTest, ...] = Field(min_length=1)
    measures: tuple[Key, ...] = ()
    critical_only: bool = False


class OverrideReasonDef(Frozen):
    """One reason a clinician may give for dismissing a card.

    `snooze_days`: how long the same finding (same rule, same evidence) is not shown again to
    anyone for this patient after a card is dismissed for this reason; 0 never snoozes.
    """

    code: Key
    display: Text
    snooze_days: int = Field(ge=0, le=366)


class OverrideReasons(Frozen):
    """The override reasons, their code system, and the longest snooze per severity."""

    system: Text
    reasons: tuple[OverrideReasonDef, ...] = Field(min_length=1)
    snooze_cap_days: dict[Severity, int] = Field(default_factory=dict)


class OrdersOnFile(Frozen):
    """When a suggested order is left out because it has already been made.

    A ServiceRequest for the same code with one of `statuses` authored in the last
    `within_days`, or the same suggestion accepted from a card (CDS Hooks feedback) in that time.
    """

    statuses: tuple[Text, ...] = Field(min_length=1)
    within_days: int = Field(gt=0, le=366)


class DetailWording(Frozen):
    """Fixed phrases of the card detail."""

    prompts: dict[Key, Text] = Field(min_length=1)
    findings_heading: Text
    no_conclusion_heading: Text
    references_heading: Text
    threshold_label: Text
    reported_label: Text
    sources_label: Text
    ungraded_status: Text
    management_heading: Text


class CardsFile(Versioned):
    """`cards.yaml`: the card catalogue."""

    extension_key: Annotated[str, StringConstraints(pattern=r"^[a-z0-9\-]+(\.[a-z0-9\-]+)+$")]
    topic_system: Text
    families: dict[Family, FamilyCard]
    lists: ListJoiners
    templates: dict[Key, TemplateDef]
    orders: dict[Key, OrderDef]
    orders_on_file: OrdersOnFile
    override_reasons: OverrideReasons
    detail: DetailWording
