"""Medication use mapped to ingredients and classes, with route, status and dates.

Matching order per concept (issue 3): RxNorm ingredient code, RxNorm product code, ATC (exact,
then class prefix), then ingredient/brand name. Stopped and completed records are kept (with
`current` False) because some rules look back over a window. The route is read from the
dosage route, then Medication.form, then the product name; rules decide what is systemic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from fhir.resources.R4B.medication import Medication
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.medicationstatement import MedicationStatement

from hooks.fhirdata import ResourceSet, codings
from hooks.findings import ResourceRef
from hooks.knowledge import KnowledgeBase
from hooks.knowledge.index import matches, normalise_text
from hooks.patient_view.facts.codes import Code, codes_of, label_of, ref_of, words_of
from hooks.patient_view.facts.timing import instant, latest
from hooks.types import JsonObject

# The elements read below; nothing else is validated (hooks/fhirdata.py).
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
    table = kb.index.ingredient_classes
    return frozenset(cls for key in ingredients for cls in table.get(key, ()))


def _match_codes(codes: tuple[Code, ...], kb: KnowledgeBase) -> DrugMatch | None:
    index, systems = kb.index, kb.systems
    rx = [code.code for code in codes if code.system == systems.rxnorm]
    for code in rx:
        if code in index.rx_ingredient:
            found = frozenset(index.rx_ingredient[c] for c in rx if c in index.rx_ingredient)
            return DrugMatch(found, _classes(found, kb), MatchBasis.RXNORM_INGREDIENT, code)
    for code in rx:
        if code in index.rx_product:
            found = frozenset(k for c in rx for k in index.rx_product.get(c, ()))
            return DrugMatch(found, _classes(found, kb), MatchBasis.RXNORM_PRODUCT, code)
    atc = [code.code for code in codes if code.system == systems.atc]
    for code in atc:
        if code in index.atc_ingredient:
            found = frozenset({index.atc_ingredient[code]})
            return DrugMatch(found, _classes(found, kb), MatchBasis.ATC, code)
    for code in atc:
        for prefix, cls in index.atc_classes:
            if code.startswith(prefix):
                return DrugMatch(frozenset(), frozenset({cls}), MatchBasis.ATC_CLASS, code)
    return None


def match_concept(codes: tuple[Code, ...], words: str, kb: KnowledgeBase) -> DrugMatch | None:
    """Map a medication concept to ingredients and classes, codes before names."""
    coded = _match_codes(codes, kb)
    if coded is not None:
        return coded
    if not matches(kb.index.any_name, words):
        return None
    found = frozenset(
        name.ingredient
        for name in kb.index.names
        if name.pattern.search(words) and not matches(name.exclusions, words)
    )
    if not found:
        return None
    return DrugMatch(found, _classes(found, kb), MatchBasis.NAME, words)


def route_of(texts: Iterable[str], kb: KnowledgeBase) -> str | None:
    """The first text that names exactly one route category decides; otherwise unknown."""
    for text in texts:
        found = {key for key, pattern in kb.index.routes if pattern.search(text)}
        if len(found) == 1:
            return found.pop()
    return None


def _referenced(resource: Any, media: Mapping[str, Any]) -> Any:
    reference = getattr(resource.medicationReference, "reference", None)
    if not isinstance(reference, str):
        return None
    if reference.startswith("#"):
        for contained in resource.contained or ():
            if contained.get_resource_type() == "Medication" and contained.id == reference[1:]:
                return contained
        return None
    # Medication/id, absolute URLs and Synthea's urn:uuid:id all end in the id.
    return media.get(reference.replace(":", "/").rsplit("/", 1)[-1])


def _concept(resource: Any, media: Mapping[str, Any]) -> tuple[list[Any], Any]:
    if resource.medicationCodeableConcept is not None:
        return [resource.medicationCodeableConcept], None
    medication = _referenced(resource, media)
    if medication is None:
        return [], None
    items = [i.itemCodeableConcept for i in medication.ingredient or () if i.itemCodeableConcept]
    return [medication.code, *items], medication


def _route_texts(
    resource: Any, medication: Any, codes: tuple[Code, ...], words: str, kb: KnowledgeBase
) -> list[str]:
    dosages = getattr(resource, "dosageInstruction", None) or getattr(resource, "dosage", None)
    texts = [words_of(d.route) for d in dosages or ()]
    texts += [normalise_text(d.text) for d in dosages or () if isinstance(d.text, str)]
    if medication is not None:
        texts.append(words_of(medication.form))
    texts.append(words)
    products = kb.drugs.products
    texts += [normalise_text(products[c.code].display) for c in codes if c.code in products]
    return texts


def _dates(resource: Any, kind: str) -> tuple[datetime | None, datetime | None]:
    if kind == "MedicationRequest":
        validity = resource.dispenseRequest.validityPeriod if resource.dispenseRequest else None
        start = instant(resource.authoredOn) or (instant(validity.start) if validity else None)
        end = instant(validity.end) if validity else None
        return start, latest(start, end)
    period = resource.effectivePeriod
    start = (instant(period.start) if period else None) or instant(resource.effectiveDateTime)
    start = start or instant(resource.dateAsserted)
    end = instant(period.end) if period else None
    return start, latest(start, end, instant(resource.dateAsserted))


def _use(resource: Any, media: Mapping[str, Any], kb: KnowledgeBase) -> MedicationUse | None:
    kind = resource.get_resource_type()
    statuses = kb.drugs.statuses
    request = kind == "MedicationRequest"
    current = resource.status in (
        statuses.request_current if request else statuses.statement_current
    )
    concepts, medication = _concept(resource, media)
    codes = codes_of(concepts)
    words = words_of(concepts)
    match = match_concept(codes, words, kb)
    if match is None:
        return None
    start, last_seen = _dates(resource, kind)
    local_prefixes = kb.index.atc_local
    return MedicationUse(
        ref=ref_of(resource),
        label=label_of(concepts),
        match=match,
        status=str(resource.status),
        current=current,
        start=start,
        last_seen=last_seen,
        route=route_of(_route_texts(resource, medication, codes, words, kb), kb),
        local_atc=any(
            c.system == kb.systems.atc and c.code.startswith(local_prefixes) for c in codes
        ),
    )


def _raw_match(raw: JsonObject, kb: KnowledgeBase) -> DrugMatch | None:
    concept = raw.get("medicationCodeableConcept")
    if not isinstance(concept, dict):
        return None
    codes = tuple(
        Code(system, code, "") for system, code in codings(raw, "medicationCodeableConcept")
    )
    texts = [concept.get("text")] + [
        c.get("display") for c in concept.get("coding") or () if isinstance(c, dict)
    ]
    words = normalise_text(" ".join(t for t in texts if isinstance(t, str)))
    return match_concept(codes, words, kb)


def _wanted(kb: KnowledgeBase) -> Callable[[JsonObject], bool]:
    """Raw-JSON pre-filter: recognised drugs only; past records only for keep_past classes."""
    statuses = kb.drugs.statuses
    current = {*statuses.request_current, *statuses.statement_current}
    past = {*statuses.request_past, *statuses.statement_past}
    keep_past = {key for key, cls in kb.drugs.classes.items() if cls.keep_past}

    def wanted(raw: JsonObject) -> bool:
        status = raw.get("status")
        if status not in current and status not in past:
            return False
        if "medicationReference" in raw:
            return True  # decided after the Medication is resolved
        match = _raw_match(raw, kb)
        if match is None:
            return False
        return status in current or bool(match.classes & keep_past)

    return wanted


def read_medications(data: ResourceSet, kb: KnowledgeBase) -> MedicationFacts:
    """Recognised current and past medication records; others (draft, error) are ignored."""
    wanted = _wanted(kb)
    media = {
        m.id: m for m in data.select(Medication, fields=MEDICATION_FIELDS) if isinstance(m.id, str)
    }
    resources = [
        *data.select(MedicationRequest, where=wanted, fields=REQUEST_FIELDS),
        *data.select(MedicationStatement, where=wanted, fields=STATEMENT_FIELDS),
    ]
    uses = [use for resource in resources if (use := _use(resource, media, kb)) is not None]
    return MedicationFacts(tuple(uses))
