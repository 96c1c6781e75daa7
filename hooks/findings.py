"""Findings: what a rule concluded, with its evidence; the only thing rules hand to the card layer.

Findings carry no card wording: the card catalogue (knowledge data) turns them into text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum


class Severity(StrEnum):
    """Card indicator, in increasing urgency (CDS Hooks 2.0 Card.indicator)."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Order for picking the most severe finding of a card."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


class Family(StrEnum):
    """Rule family; one card at most per family."""

    MEDICATIONS = "medications"
    LABS = "labs"
    NEUROLOGY = "neurology"


@dataclass(frozen=True, slots=True)
class ResourceRef:
    """A FHIR resource the evidence came from (never a patient identifier on its own)."""

    resource_type: str
    id: str

    @property
    def reference(self) -> str:
        """Relative reference, `Type/id`."""
        return f"{self.resource_type}/{self.id}"


@dataclass(frozen=True, slots=True)
class Evidence:
    """One datum behind a finding, rendered as a line of the card detail."""

    label: str
    ref: ResourceRef | None = None
    value: str | None = None
    when: date | datetime | None = None
    threshold: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule's conclusion about one patient.

    `template` names a card catalogue entry; `values` fill its named placeholders.
    `orders` are keys of suggested orders in the catalogue, deduplicated across cards.
    `caveats` say where the rule could not conclude (stale lab, unconvertible unit).
    """

    rule_id: str
    rule_version: str
    family: Family
    severity: Severity
    template: str
    values: Mapping[str, str] = field(default_factory=dict)
    evidence: tuple[Evidence, ...] = ()
    sources: tuple[str, ...] = ()
    orders: tuple[str, ...] = ()
    caveats: tuple[str, ...] = ()
