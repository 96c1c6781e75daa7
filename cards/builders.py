"""Findings + catalogue -> CDS Hooks cards; the one entry point the HTTP layer calls.

Signature:

    build_cards(findings, catalogue, *, patient_id, uuid_factory=uuid4) -> list[Card]

`catalogue` comes from `cards.catalogue.load_catalogue()` (or `catalogue_from(knowledge)`),
`patient_id` is the hook context's patientId (the subject of suggested ServiceRequests), and
`uuid_factory` makes card and suggestion uuids (inject a deterministic one in tests).

One card at most per family, in catalogue order, and only when a family has a finding that
fired (conclusive, or an ungraded value to review); "no conclusion" findings are listed on a
card but never make one. Indicator = the most severe finding; summary = that finding's
template; suggestions are deduplicated across cards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any
from uuid import UUID, uuid4

from cards.catalogue import CardCatalogue, OrderSpec
from cards.detail import render_detail
from cards.model import Action, Card, Coding, Link, OverrideReason, Source, Suggestion
from cards.wording import render_summary
from hooks.findings import Family, Finding, FindingStatus

UuidFactory = Callable[[], UUID | str]
FIRES = frozenset({FindingStatus.CONCLUSIVE, FindingStatus.UNGRADED})


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


def service_request(code: Any, patient_id: str) -> dict[str, Any]:
    """A draft, proposed ServiceRequest for one LOINC test or the neurology referral."""
    return {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "proposal",
        "code": {
            "coding": [{"system": code.system, "code": code.code, "display": code.display}],
            "text": code.display,
        },
        "subject": {"reference": f"Patient/{patient_id}"},
    }


def _suggestion(order: OrderSpec, patient_id: str, uuid_factory: UuidFactory) -> Suggestion:
    return Suggestion(
        label=order.label,
        uuid=str(uuid_factory()),
        is_recommended=order.recommended,
        actions=[
            Action(
                type="create",
                description=f"{order.label}: {code.display}",
                resource=service_request(code, patient_id),
            )
            for code in order.codes
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


def _machine_readable(findings: Sequence[Finding], catalogue: CardCatalogue) -> dict[str, Any]:
    entries = []
    for finding in findings:
        entry: dict[str, Any] = {
            "ruleId": finding.rule_id,
            "ruleVersion": finding.rule_version,
            "severity": finding.severity.value,
            "status": finding.status.value,
            "template": finding.template,
            "evidence": [e.ref.reference for e in finding.evidence if e.ref is not None],
            "sources": list(finding.sources),
        }
        if finding.subject is not None:
            entry["subject"] = {
                "analyte": finding.subject[0],
                "observation": f"Observation/{finding.subject[1]}",
            }
        entries.append(entry)
    return {
        catalogue.extension_key: {
            "knowledgeVersion": catalogue.knowledge_version,
            "findings": entries,
        }
    }


def _source(family: Family, catalogue: CardCatalogue) -> Source:
    spec = catalogue.families[family]
    topic = Coding(system=catalogue.topic_system, code=spec.topic_code, display=spec.topic_display)
    return Source.model_validate({"label": spec.label, "url": spec.url, "topic": topic})


def _card(
    family: Family,
    findings: list[Finding],
    catalogue: CardCatalogue,
    patient_id: str,
    uuid_factory: UuidFactory,
    ordered: set[str],
) -> Card | None:
    ordered_findings = _display_order(findings)
    firing = [f for f in ordered_findings if f.status in FIRES]
    if not firing:
        return None
    top = firing[0]
    orders = [key for f in firing for key in f.orders if key in catalogue.orders]
    fresh = [key for key in dict.fromkeys(orders) if key not in ordered]
    ordered.update(fresh)
    suggestions = [_suggestion(catalogue.orders[key], patient_id, uuid_factory) for key in fresh]
    return Card(
        uuid=str(uuid_factory()),
        summary=render_summary(top, catalogue),
        detail=render_detail(ordered_findings, catalogue),
        indicator=top.severity.value,
        source=_source(family, catalogue),
        suggestions=suggestions or None,
        selection_behavior="any" if suggestions else None,
        override_reasons=[
            OverrideReason(system=catalogue.override_system, code=code, display=display)
            for code, display in catalogue.override_reasons
        ],
        links=_links(firing, catalogue) or None,
        extension=_machine_readable(ordered_findings, catalogue),
    )


def build_cards(
    findings: Sequence[Finding],
    catalogue: CardCatalogue,
    *,
    patient_id: str,
    uuid_factory: UuidFactory = uuid4,
) -> list[Card]:
    """At most one card per family, families in catalogue order."""
    by_family: dict[Family, list[Finding]] = {}
    for finding in findings:
        by_family.setdefault(finding.family, []).append(finding)
    families = sorted(by_family, key=lambda family: catalogue.families[family].order)
    ordered: set[str] = set()
    cards = [
        _card(family, by_family[family], catalogue, patient_id, uuid_factory, ordered)
        for family in families
    ]
    return [card for card in cards if card is not None]
