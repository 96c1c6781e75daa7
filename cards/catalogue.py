"""The card catalogue: what the card builders read besides the findings.

A thin frozen view over the validated knowledge (cards.yaml and the sources), not a copy in a
second model: the knowledge loader stays the one place that shapes and cross-checks card
wording, orders and override reasons. Card tests build one from a small cards.yaml-shaped dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hooks.knowledge import DEFAULT_DIR, KnowledgeBase, load_knowledge
from hooks.knowledge.cards import CardsFile
from hooks.knowledge.schema import SourceDef


@dataclass(frozen=True, slots=True)
class CardCatalogue:
    """cards.yaml as loaded, the citations it may name, and the knowledge version to stamp."""

    knowledge_version: str
    cards: CardsFile
    citations: Mapping[str, SourceDef]


def catalogue_from(kb: KnowledgeBase) -> CardCatalogue:
    """The catalogue view of loaded knowledge."""
    return CardCatalogue(knowledge_version=kb.version, cards=kb.cards, citations=kb.sources)


def load_catalogue(directory: Path = DEFAULT_DIR) -> CardCatalogue:
    """Load the knowledge set (with all its checks) and return its card catalogue."""
    return catalogue_from(load_knowledge(directory))
