"""Findings + catalogue -> CDS Hooks cards; the one entry point the HTTP layer calls.

Signature:

    build_cards(
        assessment, catalogue, *, patient_id, uuid_factory=uuid4, rule_states=None
    ) -> list[IssuedCard]

`catalogue` comes from `cards.catalogue.load_catalogue()` (or `catalogue_from(knowledge)`),
`patient_id` is the hook context's patientId (the subject of suggested ServiceRequests), and
`uuid_factory` makes card and suggestion uuids (inject a deterministic one in tests).
Each card comes back with its provenance (`IssuedCard`: the findings it shows and their rule
ids, and which finding each suggestion is for), which the response extension, the ledger, the
metrics and the logs all read. `rule_states` is the digest of the rule states the findings were
made under; the machine-readable extension carries it next to the knowledge version.

One card at most per family, in catalogue order, and only when a family has a finding that
fired (conclusive, or an ungraded value to review); "no conclusion" findings are listed on a
card but never make one, and advice rides on the first card that is not critical. Indicator =
the most severe finding; summary = that finding's template. Each suggested order appears once,
on the card of the most severe finding that asks for it: its ServiceRequest is `stat` when that
finding is critical (else the finding's own priority), names the finding in `reasonCode`, and
is marked recommended only from a warning or critical finding (info = awareness only).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

from cards.catalogue import CardCatalogue
from cards.detail import render_detail
from cards.model import Action, Card, Coding, Link, OverrideReason, Source, Suggestion
from cards.wording import render_summary
from hooks.findings import (
    Assessment,
    Family,
    Finding,
    FindingStatus,
    Prompt,
    Severity,
    evidence_fingerprint,
)
from hooks.knowledge.cards import OrderDef, OrderTest

UuidFactory = Callable[[], UUID | str]
FIRES = frozenset({FindingStatus.CONCLUSIVE, FindingStatus.UNGRADED})
STAT = "stat"
SHOWN = frozenset({*FIRES, FindingStatus.ADVICE})


@dataclass(frozen=True, slots=True)
class SuggestedOrder:
    """A suggestion on a card: its uuid, the order (cards.yaml key) and the finding it is for."""

    uuid: str
    order: str
    finding: Finding


@dataclass(frozen=True, slots=True)
class IssuedCard:
    """A card and the findings it shows, in display order, and its suggestions: its provenance."""

    card: Card
    findings: tuple[Finding, ...]
    suggested: tuple[SuggestedOrder, ...] = ()

    @property
    def uuid(self) -> str:
        """The card's uuid (every built card has one)."""
        assert self.card.uuid is not None
        return self.card.uuid

    @property
    def rule_ids(self) -> tuple[str, ...]:
        """Rules whose findings the card presents (fired or advice), sorted.

        A finding that could not conclude is listed in the detail but did not make the card.
        """
        return tuple(sorted({f.rule_id for f in self.findings if f.status in SHOWN}))


def _display_order(findings: Iterable[Finding]) -> list[Finding]:
    """Most severe first; a conclusive finding before an ungraded one; otherwise as given."""
    indexed = list(enumerate(findings))
    indexed.sort(
        key=lambda item: (
            -item[1].severity.rank,
            item[1].status is not FindingStatus.CONCLUSIVE,
            item[0],
        )
    )
    return [finding for _, finding in indexed]


def service_request(
    test: OrderTest,
    patient_id: str,
    priority: str | None = None,
    reason: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A draft, proposed ServiceRequest for one test or referral, with its priority and reason."""
    display = test.display or test.code
    request: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "proposal",
        "code": {
            "coding": [{"system": test.system, "code": test.code, "display": display}],
            "text": display,
        },
        "subject": {"reference": f"Patient/{patient_id}"},
    }
    if priority:
        request["priority"] = priority
    if reason:
        request["reasonCode"] = [reason]
    return request


def _reason(finding: Finding, catalogue: CardCatalogue) -> dict[str, Any]:
    """ReasonCode naming the finding: its coded disorder when known, and its summary as text."""
    reason: dict[str, Any] = {"text": render_summary(finding, catalogue)}
    if finding.reason is not None:
        code = finding.reason
        reason["coding"] = [{"system": code.system, "code": code.code, "display": code.display}]
    return reason


def _suggestion(
    order: OrderDef,
    owner: Finding,
    catalogue: CardCatalogue,
    patient_id: str,
    uuid_factory: UuidFactory,
) -> Suggestion:
    priority = STAT if owner.severity is Severity.CRITICAL else owner.priority
    reason = _reason(owner, catalogue)
    return Suggestion(
        label=order.label,
        uuid=str(uuid_factory()),
        is_recommended=order.recommended and owner.severity is not Severity.INFO,
        actions=[
            Action(
                type="create",
                description=f"{order.label}: {code.display or code.code}",
                resource=service_request(code, patient_id, priority, reason),
            )
            for code in order.tests
        ],
    )


def _links(findings: Sequence[Finding], catalogue: CardCatalogue) -> list[Link]:
    links: list[Link] = []
    seen: set[str] = set()
    for finding in findings:
        keys = [*finding.sources, *(e.citation for e in finding.evidence if e.citation)]
        for key in keys:
            citation = catalogue.citations.get(key)
            if citation is None or citation.url is None or citation.url in seen:
                continue
            seen.add(citation.url)
            links.append(Link(label=citation.short, url=citation.url, type="absolute"))
    return links


def _machine_readable(
    findings: Sequence[Finding], catalogue: CardCatalogue, rule_states: str | None
) -> dict[str, Any]:
    entries = []
    for finding in findings:
        entry: dict[str, Any] = {
            "ruleId": finding.rule_id,
            "ruleVersion": finding.rule_version,
            "severity": finding.severity.value,
            "status": finding.status.value,
            "template": finding.template,
            "evidence": [e.ref.reference for e in finding.evidence if e.ref is not None],
            "fingerprint": evidence_fingerprint(finding),
            "sources": list(finding.sources),
        }
        if finding.subject is not None:
            entry["subject"] = {
                "analyte": finding.subject[0],
                "observation": f"Observation/{finding.subject[1]}",
            }
        entries.append(entry)
    provenance: dict[str, Any] = {"knowledgeVersion": catalogue.knowledge_version}
    if rule_states is not None:
        provenance["ruleStates"] = rule_states
    return {catalogue.cards.extension_key: {**provenance, "findings": entries}}


def _source(family: Family, catalogue: CardCatalogue) -> Source:
    spec = catalogue.cards.families[family]
    topic = Coding(
        system=catalogue.cards.topic_system, code=spec.topic.code, display=spec.topic.display
    )
    return Source.model_validate({"label": spec.label, "url": spec.url, "topic": topic})


def _card(
    family: Family,
    findings: list[Finding],
    prompt: Prompt | None,
    catalogue: CardCatalogue,
    patient_id: str,
    uuid_factory: UuidFactory,
    owners: dict[str, Finding],
    rule_states: str | None,
) -> IssuedCard | None:
    ordered_findings = _display_order(findings)
    firing = [f for f in ordered_findings if f.status in FIRES]
    if not firing:
        return None
    top = firing[0]
    overrides = catalogue.cards.override_reasons
    orders = catalogue.cards.orders
    keys = dict.fromkeys(key for f in firing for key in f.orders if key in orders)
    mine = [key for key in keys if owners.get(key) in firing]
    suggestions = [
        _suggestion(orders[key], owners[key], catalogue, patient_id, uuid_factory) for key in mine
    ]
    suggested = tuple(
        SuggestedOrder(suggestion.uuid or "", key, owners[key])
        for key, suggestion in zip(mine, suggestions, strict=True)
    )
    card = Card(
        uuid=str(uuid_factory()),
        summary=render_summary(top, catalogue),
        detail=render_detail(ordered_findings, prompt, catalogue),
        indicator=top.severity.value,
        source=_source(family, catalogue),
        suggestions=suggestions or None,
        selection_behavior="any" if suggestions else None,
        override_reasons=[
            OverrideReason(system=overrides.system, code=reason.code, display=reason.display)
            for reason in overrides.reasons
        ],
        links=_links(
            [*firing, *(f for f in findings if f.status is FindingStatus.ADVICE)], catalogue
        )
        or None,
        extension=_machine_readable(ordered_findings, catalogue, rule_states),
    )
    return IssuedCard(card, tuple(ordered_findings), suggested)


def _owners(by_family: dict[Family, list[Finding]], families: list[Family]) -> dict[str, Finding]:
    """For each order, the finding whose card carries it: the most severe, then the first."""
    owners: dict[str, Finding] = {}
    for family in families:
        for finding in _display_order(by_family[family]):
            if finding.status not in FIRES:
                continue
            for key in finding.orders:
                held = owners.get(key)
                if held is None or finding.severity.rank > held.severity.rank:
                    owners[key] = finding
    return owners


def _with_advice(
    by_family: dict[Family, list[Finding]], families: list[Family], advice: list[Finding]
) -> None:
    """Advice joins the first family whose card will exist and is not critical."""
    for family in families:
        firing = [f for f in by_family[family] if f.status in FIRES]
        if firing and max(f.severity.rank for f in firing) < Severity.CRITICAL.rank:
            by_family[family].extend(advice)
            return


def build_cards(
    assessment: Assessment,
    catalogue: CardCatalogue,
    *,
    patient_id: str,
    uuid_factory: UuidFactory = uuid4,
    rule_states: str | None = None,
) -> list[IssuedCard]:
    """At most one card per family, families in catalogue order, each with its provenance."""
    by_family: dict[Family, list[Finding]] = {}
    advice: list[Finding] = []
    for finding in assessment.findings:
        if finding.status is FindingStatus.ADVICE:
            advice.append(finding)
        else:
            by_family.setdefault(finding.family, []).append(finding)
    families = sorted(by_family, key=lambda family: catalogue.cards.families[family].order)
    _with_advice(by_family, families, advice)
    owners = _owners(by_family, families)
    prompt = assessment.prompt
    cards = [
        _card(
            family,
            by_family[family],
            prompt,
            catalogue,
            patient_id,
            uuid_factory,
            owners,
            rule_states,
        )
        for family in families
    ]
    return [card for card in cards if card is not None]
