"""Medication use mapped to ingredients and classes, with route, status and dates.

Matching order per concept (issue 3): RxNorm ingredient code, RxNorm product code, ATC (exact,
then class prefix), then ingredient/brand name. Stopped and completed records are kept (with
`current` False) because some rules look back over a window. The route is read from the
dosage route, then Medication.form, then the product name; rules decide what is systemic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from hooks.fhirdata import ResourceSet, Unreadable
from hooks.fhirviews import (
    Coding,
    Concept,
    concept,
    instant,
    malformed_concept,
    objects,
    ref_of,
    reference,
    status,
)
from hooks.findings import ResourceRef
from hooks.knowledge import KnowledgeBase
from hooks.knowledge.index import matches, normalise_text
from hooks.patient_view.facts.timing import latest
from hooks.types import JsonObject

# The elements read below; a cited record is validated projected to them (hooks/citations.py).
MEDICATION_FIELDS = ("code", "form", "ingredient")
REQUEST_FIELDS = (
    "subject",  # required by R4: a projection without it would not validate
    "status",
    "intent",
    "medicationCodeableConcept",
    "medicationReference",
    "authoredOn",
    "dispenseRequest",
    "dosageInstruction",
    "contained",
)
STATEMENT_FIELDS = (
    "subject",  # required by R4
    "status",
    "medicationCodeableConcept",
    "medicationReference",
    "effectiveDateTime",
    "effectivePeriod",
    "dateAsserted",
    "dosage",
    "contained",
)
KINDS = ("MedicationRequest", "MedicationStatement")


class MatchBasis(StrEnum):
    """How a medication was recognised, strongest first."""

    RXNORM_INGREDIENT = "rxnorm-ingredient"
    RXNORM_PRODUCT = "rxnorm-product"
    ATC = "atc"
    ATC_CLASS = "atc-class"
    NAME = "name"


@dataclass(frozen=True, slots=True)
class DrugMatch:
    """Ingredients and classes a concept maps to, and the code or name that decided it."""

    ingredients: frozenset[str]
    classes: frozenset[str]
    basis: MatchBasis
    key: str


@dataclass(frozen=True, slots=True)
class MedicationUse:
    """One MedicationRequest or MedicationStatement of a drug the knowledge knows."""

    ref: ResourceRef
    label: str
    match: DrugMatch
    status: str
    current: bool
    start: datetime | None
    last_seen: datetime | None
    route: str | None
    local_atc: bool


@dataclass(frozen=True, slots=True)
class MedicationFacts:
    """Every recognised medication record, current or past."""

    uses: tuple[MedicationUse, ...]

    def in_classes(self, classes: Iterable[str]) -> tuple[MedicationUse, ...]:
        """Records whose match falls in any of the classes."""
        wanted = set(classes)
        return tuple(use for use in self.uses if use.match.classes & wanted)


def _classes(ingredients: Iterable[str], kb: KnowledgeBase) -> frozenset[str]:
    table = kb.index.drugs.ingredient_classes
    return frozenset(cls for key in ingredients for cls in table.get(key, ()))


def _match_codes(codes: tuple[Coding, ...], kb: KnowledgeBase) -> DrugMatch | None:
    index, systems = kb.index, kb.systems
    rx = [code.code for code in codes if code.system == systems.rxnorm]
    for code in rx:
        if code in index.drugs.rx_ingredient:
            found = frozenset(
                index.drugs.rx_ingredient[c] for c in rx if c in index.drugs.rx_ingredient
            )
            return DrugMatch(found, _classes(found, kb), MatchBasis.RXNORM_INGREDIENT, code)
    for code in rx:
        if code in index.drugs.rx_product:
            found = frozenset(k for c in rx for k in index.drugs.rx_product.get(c, ()))
            return DrugMatch(found, _classes(found, kb), MatchBasis.RXNORM_PRODUCT, code)
    atc = [code.code for code in codes if code.system == systems.atc]
    for code in atc:
        if code in index.drugs.atc_ingredient:
            found = frozenset({index.drugs.atc_ingredient[code]})
            return DrugMatch(found, _classes(found, kb), MatchBasis.ATC, code)
    for code in atc:
        for prefix, cls in index.drugs.atc_classes:
            if code.startswith(prefix):
                return DrugMatch(frozenset(), frozenset({cls}), MatchBasis.ATC_CLASS, code)
    return None


def match_concept(codes: tuple[Coding, ...], words: str, kb: KnowledgeBase) -> DrugMatch | None:
    """Map a medication concept to ingredients and classes, codes before names."""
    coded = _match_codes(codes, kb)
    if coded is not None:
        return coded
    if not matches(kb.index.drugs.any_name, words):
        return None
    found = frozenset(
        name.ingredient
        for name in kb.index.drugs.names
        if name.pattern.search(words) and not matches(name.exclusions, words)
    )
    if not found:
        return None
    return DrugMatch(found, _classes(found, kb), MatchBasis.NAME, words)


def route_of(texts: Iterable[str], kb: KnowledgeBase) -> str | None:
    """The first text that names exactly one route category decides; otherwise unknown."""
    for text in texts:
        found = {key for key, pattern in kb.index.drugs.routes if pattern.search(text)}
        if len(found) == 1:
            return found.pop()
    return None


def _medication(raw: JsonObject, media: Mapping[str, JsonObject]) -> JsonObject | None:
    """The Medication a record references: contained (`#id`) or by id in the prefetch."""
    value = raw.get("medicationReference")
    text = value.get("reference") if isinstance(value, dict) else None
    if isinstance(text, str) and text.startswith("#"):
        for contained in objects(raw.get("contained")):
            if contained.get("resourceType") == "Medication" and contained.get("id") == text[1:]:
                return contained
        return None
    ref = reference(value)
    return media.get(ref.id) if ref is not None else None


def _concepts(raw: JsonObject, media: Mapping[str, JsonObject]) -> tuple[Concept, ...]:
    """The drug's concepts: the record's own, else its Medication's code and ingredients."""
    if "medicationCodeableConcept" in raw:
        return (concept(raw.get("medicationCodeableConcept")),)
    medication = _medication(raw, media)
    if medication is None:
        return ()
    items = [concept(i.get("itemCodeableConcept")) for i in objects(medication.get("ingredient"))]
    return (concept(medication.get("code")), *items)


def _route_texts(
    raw: JsonObject, medication: JsonObject | None, drug: Concept, words: str, kb: KnowledgeBase
) -> list[str]:
    dosages = objects(raw.get("dosageInstruction") or raw.get("dosage"))
    texts = [normalise_text(concept(d.get("route")).all_text) for d in dosages]
    texts += [normalise_text(d["text"]) for d in dosages if isinstance(d.get("text"), str)]
    if medication is not None:
        texts.append(normalise_text(concept(medication.get("form")).all_text))
    texts.append(words)
    products = kb.drugs.products
    texts += [normalise_text(products[c.code].display) for c in drug.codings if c.code in products]
    return texts


def _span(value: object) -> tuple[datetime | None, datetime | None]:
    if not isinstance(value, dict):
        return None, None
    return instant(value.get("start")), instant(value.get("end"))


def _dates(raw: JsonObject, kind: str) -> tuple[datetime | None, datetime | None]:
    if kind == "MedicationRequest":
        dispense = raw.get("dispenseRequest")
        valid_from, valid_to = _span(
            dispense.get("validityPeriod") if isinstance(dispense, dict) else None
        )
        start = instant(raw.get("authoredOn")) or valid_from
        return start, latest(start, valid_to)
    period_start, period_end = _span(raw.get("effectivePeriod"))
    asserted = instant(raw.get("dateAsserted"))
    start = period_start or instant(raw.get("effectiveDateTime")) or asserted
    return start, latest(start, period_end, asserted)


def _use(
    raw: JsonObject, kind: str, media: Mapping[str, JsonObject], kb: KnowledgeBase
) -> MedicationUse | None:
    """A record of a recognised drug; past records only for classes that keep them."""
    statuses = kb.drugs.statuses
    request = kind == "MedicationRequest"
    state = status(raw)
    current = state in (statuses.request_current if request else statuses.statement_current)
    past = state in (statuses.request_past if request else statuses.statement_past)
    if not current and not past:
        return None
    parts = _concepts(raw, media)
    drug = Concept(tuple(c for part in parts for c in part.codings))
    words = normalise_text(" ".join(part.all_text for part in parts))
    match = match_concept(drug.codings, words, kb)
    if match is None or (not current and not match.classes & kb.index.drugs.keep_past):
        return None
    start, last_seen = _dates(raw, kind)
    local_prefixes = kb.index.drugs.atc_local
    medication = None if "medicationCodeableConcept" in raw else _medication(raw, media)
    return MedicationUse(
        ref=ref_of(raw),
        label=next((part.label for part in parts if part.label), ""),
        match=match,
        status=str(state),
        current=current,
        start=start,
        last_seen=last_seen,
        route=route_of(_route_texts(raw, medication, drug, words, kb), kb),
        local_atc=any(
            c.system == kb.systems.atc and c.code.startswith(local_prefixes) for c in drug.codings
        ),
    )


def _malformed(raw: JsonObject) -> bool:
    """A status or drug concept of a JSON type FHIR does not allow: the record cannot be read."""
    return status(raw) is None or malformed_concept(raw.get("medicationCodeableConcept"))


def read_medications(data: ResourceSet, kb: KnowledgeBase) -> MedicationFacts:
    """Recognised current and past medication records; others (draft, error) are ignored.

    A record that cannot be read is skipped and counted.
    """
    media = {rid: raw for raw in data.raw("Medication") if isinstance(rid := raw.get("id"), str)}
    uses = []
    for kind in KINDS:
        for raw in data.raw(kind):
            if _malformed(raw):
                data.skip(raw, kind, Unreadable.MALFORMED)
            elif (use := _use(raw, kind, media, kb)) is not None:
                uses.append(use)
    return MedicationFacts(tuple(uses))
