"""Findings: what a rule concluded, with its evidence; the only thing rules hand to the card layer.

Findings carry no card wording: the card catalogue (knowledge data) turns them into text.
"""

from __future__ import annotations

import hashlib
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


class FindingStatus(StrEnum):
    """How far a rule could conclude; "cannot conclude" is a state, never an exception.

    CONCLUSIVE: the rule fired on usable data. UNGRADED: a value that may matter but has no
    applicable threshold (a child's result without a laboratory range): shown, never judged.
    NO_CONCLUSION: data present but unusable (unconvertible unit); listed on a family's card,
    never a card on its own.
    ADVICE: management advice (stretching for cramps) carried by the first card that is not
    critical; never a card on its own.
    """

    CONCLUSIVE = "conclusive"
    UNGRADED = "ungraded"
    NO_CONCLUSION = "no-conclusion"
    ADVICE = "advice"


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
class CodeRef:
    """A coding naming what a finding is about (the reasonCode of the orders it suggests)."""

    system: str
    code: str
    display: str


@dataclass(frozen=True, slots=True)
class Evidence:
    """One datum behind a finding, rendered as a line of the card detail.

    `value` is normalised to the analyte's canonical unit; `original` is the value as the
    source reported it, when that differs. `threshold` names the limit used and its basis;
    `citation` is the source key of that limit.
    """

    label: str
    ref: ResourceRef | None = None
    value: str | None = None
    when: date | datetime | None = None
    threshold: str | None = None
    note: str | None = None
    original: str | None = None
    citation: str | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule's conclusion about one patient.

    `template` names a card catalogue entry; `values` fill its named placeholders and
    `items` its list placeholders ({drug}, {analyte}), joined by the card layer.
    A `values` key ending in `_short` is the shorter alternative of that placeholder.
    `orders` are keys of suggested orders in the catalogue, deduplicated across cards.
    `caveats` say where the rule could not conclude (stale lab, unconvertible unit).
    `subject` is the (analyte, Observation id) a lab finding is about, for deduplication.
    `reason` codes the finding for its orders' reasonCode; `priority` is the ServiceRequest
    priority its orders need below critical (a critical finding's orders are always stat).
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
    status: FindingStatus = FindingStatus.CONCLUSIVE
    items: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    subject: tuple[str, str] | None = None
    reason: CodeRef | None = None
    priority: str | None = None


@dataclass(frozen=True, slots=True)
class Prompt:
    """Why a service reviewed the patient at all (the complaint), shown once atop each card.

    `heading` is a key of cards.yaml `detail.prompts`; `evidence` the records that prompted it.
    """

    heading: str
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True, slots=True)
class Assessment:
    """What a service concluded for one call: its findings, and what prompted the review.

    An empty assessment (no prompt, no findings) means the service had nothing to review.
    """

    findings: tuple[Finding, ...] = ()
    prompt: Prompt | None = None


def evidence_fingerprint(finding: Finding) -> str:
    """What makes two findings of a rule "the same finding": the records and values it rests on.

    A hash of each cited resource with its value and date. Wording, notes and ages are left
    out: they change with the clock, not with the evidence. A new result or order (a new
    resource), or a changed value, gives a new fingerprint; the grade is compared separately.
    """
    lines = sorted(
        {
            "\x1f".join((e.ref.reference, e.value or "", e.when.isoformat() if e.when else ""))
            for e in finding.evidence
            if e.ref is not None
        }
    )
    return hashlib.sha256("\x1e".join(lines).encode()).hexdigest()[:32]
