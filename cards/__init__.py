"""CDS Hooks cards: wire models, the card catalogue and the builders (findings -> cards)."""

from cards.builders import IssuedCard, SuggestedOrder, build_cards
from cards.catalogue import CardCatalogue, catalogue_from, load_catalogue

__all__ = [
    "CardCatalogue",
    "IssuedCard",
    "SuggestedOrder",
    "build_cards",
    "catalogue_from",
    "load_catalogue",
]
