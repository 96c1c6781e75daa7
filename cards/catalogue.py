"""The card catalogue: wording, sources, orders and override reasons the card builders read.

A plain frozen view built from the loaded knowledge (`catalogue_from`), so the knowledge
loader stays the one place that validates and cross-checks `knowledge/cards.yaml`, and card
tests can build a small catalogue by hand. No card logic here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hooks.findings import Family
from hooks.knowledge import DEFAULT_DIR, KnowledgeBase, load_knowledge


@dataclass(frozen=True, slots=True)
class FamilySource:
    """Card.source for one family, and the family's position among cards."""

    order: int
    label: str
    url: str | None
    topic_code: str
    topic_display: str


@dataclass(frozen=True, slots=True)
class Template:
    """Summary template with named placeholders, and a fixed note for the detail."""

    summary: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class OrderCode:
    """The code of one draft ServiceRequest."""

    system: str
    code: str
    display: str


@dataclass(frozen=True, slots=True)
class OrderSpec:
    """One suggestion: a label and one ServiceRequest per code."""

    label: str
    recommended: bool
    codes: tuple[OrderCode, ...]


@dataclass(frozen=True, slots=True)
class Citation:
    """A source as cards show it."""

    short: str
    text: str
    url: str | None


@dataclass(frozen=True, slots=True)
class Wording:
    """Fixed phrases: list joiners and detail headings."""

    list_one: str
    list_two: str
    list_more_one: str
    list_more: str
    complaint_knee: str
    complaint_general: str
    findings_heading: str
    no_conclusion_heading: str
    references_heading: str
    threshold_label: str
    reported_label: str
    sources_label: str
    ungraded_status: str
    management_heading: str
    list_all: str = "{init} and {last}"


@dataclass(frozen=True, slots=True)
class CardCatalogue:
    """Everything `build_cards` needs besides the findings."""

    knowledge_version: str
    extension_key: str
    topic_system: str
    families: Mapping[Family, FamilySource]
    templates: Mapping[str, Template]
    orders: Mapping[str, OrderSpec]
    override_system: str
    override_reasons: tuple[tuple[str, str], ...]
    citations: Mapping[str, Citation]
    wording: Wording


def _wording(kb: KnowledgeBase) -> Wording:
    lists, detail = kb.cards.lists, kb.cards.detail
    return Wording(
        list_one=lists.one,
        list_two=lists.two,
        list_more_one=lists.more_one,
        list_more=lists.more,
        list_all=lists.all,
        **detail.model_dump(),
    )


def catalogue_from(kb: KnowledgeBase) -> CardCatalogue:
    """The catalogue view of loaded knowledge."""
    cards = kb.cards
    return CardCatalogue(
        knowledge_version=kb.version,
        extension_key=cards.extension_key,
        topic_system=cards.topic_system,
        families={
            Family(family): FamilySource(f.order, f.label, f.url, f.topic.code, f.topic.display)
            for family, f in cards.families.items()
        },
        templates={key: Template(t.summary, t.note) for key, t in cards.templates.items()},
        orders={
            key: OrderSpec(
                o.label,
                o.recommended,
                tuple(OrderCode(t.system, t.code, t.display or t.code) for t in o.tests),
            )
            for key, o in cards.orders.items()
        },
        override_system=cards.override_reasons.system,
        override_reasons=tuple((r.code, r.display) for r in cards.override_reasons.reasons),
        citations={
            key: Citation(source.short, source.citation, source.url)
            for key, source in kb.sources.items()
        },
        wording=_wording(kb),
    )


def load_catalogue(directory: Path = DEFAULT_DIR) -> CardCatalogue:
    """Load the knowledge set (with all its checks) and return its card catalogue."""
    return catalogue_from(load_knowledge(directory))
