"""Small, frozen, typed views over raw FHIR JSON: the one way facts read a resource.

Raw JSON is client data, so any element may hold any JSON type. Each view function checks the
types it reads and returns plain Python values (or an empty view), never raising: a malformed
element reads as absent, and absence never becomes a conclusion. Selection (which resources a
reader wants) and facts (what they say) use the same views, so the two cannot drift.

fhir.resources (R4B) is not used here: it validates the resources a card cites
(`hooks.citations`), where its strictness buys safety; reading every selected resource through
it cost most of a call.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

from hooks.findings import ResourceRef
from hooks.types import JsonObject

_CODING_TEXT = ("system", "code", "display", "version")
# Effective time of an Observation, in the order the elements are read.
OBSERVATION_TIMES = ("effectiveDateTime", "effectiveInstant", "effectivePeriod", "issued")


@dataclass(frozen=True, slots=True)
class Coding:
    """One coding with a system and a code; display is "" when absent."""

    system: str
    code: str
    display: str = ""


@dataclass(frozen=True, slots=True)
class Concept:
    """A CodeableConcept (or several, merged): its codings and its text."""

    codings: tuple[Coding, ...] = ()
    text: str = ""

    @property
    def all_text(self) -> str:
        """Text and displays, for word matching (normalise it with the knowledge's rules)."""
        return " ".join(part for part in (self.text, *(c.display for c in self.codings)) if part)

    @property
    def label(self) -> str:
        """What a clinician would call it: the text, else the first display, else a code."""
        if self.text.strip():
            return self.text.strip()
        for coding in self.codings:
            if coding.display:
                return coding.display
        return self.codings[0].code if self.codings else ""

    @property
    def first_code(self) -> str | None:
        """The first code, whatever its system (status concepts carry one)."""
        return self.codings[0].code if self.codings else None


EMPTY = Concept()


@dataclass(frozen=True, slots=True)
class Quantity:
    """A finite numeric value with its unit as sent (UCUM code and system, and unit text)."""

    value: float
    unit: str | None = None
    code: str | None = None
    system: str | None = None
    comparator: str | None = None

    @property
    def reported_unit(self) -> str:
        """The unit as a clinician reads it: the unit text, else the code."""
        return self.unit or self.code or ""


def objects(value: object) -> list[JsonObject]:
    """The JSON objects of a repeating element (a list); anything else holds none."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _codings(concept: JsonObject) -> Iterator[Coding]:
    codings = concept.get("coding")
    if not isinstance(codings, list):
        return
    for coding in codings:
        if isinstance(coding, dict):
            system, code = coding.get("system"), coding.get("code")
            if isinstance(system, str) and isinstance(code, str):
                yield Coding(system, code, _text(coding.get("display")) or "")


def concept(value: object) -> Concept:
    """A CodeableConcept, or a list of them merged into one; EMPTY when unreadable."""
    items = value if isinstance(value, list) else [value]
    codings: list[Coding] = []
    texts: list[str] = []
    for item in items:
        if isinstance(item, dict):
            codings.extend(_codings(item))
            text = _text(item.get("text"))
            if text:
                texts.append(text)
    if not codings and not texts:
        return EMPTY
    return Concept(tuple(codings), " ".join(texts))


def codes(value: object, system: str) -> list[str]:
    """The codes from one system in a CodeableConcept (or list of them).

    It reads codings as `concept` does, without building views: readers use it to pick
    resources out of whole records, where it runs once per resource.
    """
    found: list[str] = []
    for item in value if type(value) is list else (value,):
        if type(item) is not dict:
            continue
        codings = item.get("coding")
        if type(codings) is not list:
            continue
        for coding in codings:
            if type(coding) is dict and coding.get("system") == system:
                code = coding.get("code")
                if type(code) is str:
                    found.append(code)
    return found


def concepts(value: object) -> tuple[Concept, ...]:
    """Each CodeableConcept of a repeating element, separately."""
    items = value if isinstance(value, list) else [value]
    return tuple(concept(item) for item in items if isinstance(item, dict))


def malformed_concept(value: object) -> bool:
    """True unless `value` is absent or shaped like a CodeableConcept (or a list of them).

    For readers that looked for a code and found none: was there none, or was it unreadable?
    """
    concepts = value if isinstance(value, list) else [] if value is None else [value]
    for concept in concepts:
        if not isinstance(concept, dict):
            return True
        codings = concept.get("coding", [])
        if not isinstance(codings, list) or not isinstance(concept.get("text", ""), str):
            return True
        for coding in codings:
            if not isinstance(coding, dict) or not all(
                isinstance(coding.get(name, ""), str) for name in _CODING_TEXT
            ):
                return True
    return False


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def quantity(value: object) -> Quantity | None:
    """A Quantity with a finite numeric value; None otherwise."""
    if not isinstance(value, dict):
        return None
    number = _number(value.get("value"))
    if number is None:
        return None
    return Quantity(
        number,
        unit=_text(value.get("unit")),
        code=_text(value.get("code")),
        system=_text(value.get("system")),
        comparator=_text(value.get("comparator")),
    )


def instant(value: object) -> datetime | None:
    """A FHIR date, dateTime or instant string as aware UTC; None when partial or unreadable.

    A partial date (YYYY, YYYY-MM) gives no instant: a window cannot be judged on a guess. A
    time without an offset is read as UTC; one that cannot be placed in UTC is unknown.
    """
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        if "T" not in value:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        parsed = datetime.fromisoformat(value)
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        return None


def time_of(raw: JsonObject, elements: Iterable[str]) -> datetime | None:
    """The first of `elements` that is present, as an instant (a Period gives its start).

    The first present element decides: a present but unreadable date is unknown, not a reason
    to fall through to a later element.
    """
    for element in elements:
        value = raw.get(element)
        if value is None:
            continue
        if isinstance(value, dict):
            return instant(value.get("start"))
        return instant(value)
    return None


def status(raw: JsonObject, element: str = "status") -> str | None:
    """A code-typed element such as Observation.status."""
    return _text(raw.get(element))


def reference(value: object) -> ResourceRef | None:
    """The `Type/id` a Reference names, or None for a contained (`#id`) or unreadable one.

    Relative, absolute (its last two segments) and Bundle-local `urn:uuid:` (type "") forms.
    """
    if not isinstance(value, dict):
        return None
    text = _text(value.get("reference"))
    if not text or text.startswith("#"):
        return None
    if text.startswith("urn:uuid:"):
        return ResourceRef("", text[9:]) if len(text) > 9 else None
    parts = text.split("/")
    if len(parts) < 2 or not parts[-2] or not parts[-1]:
        return None
    return ResourceRef(parts[-2], parts[-1])


def ref_of(raw: JsonObject) -> ResourceRef:
    """The resource's own `Type/id` (id "?" when it has none)."""
    kind, rid = raw.get("resourceType"), raw.get("id")
    return ResourceRef(kind if isinstance(kind, str) else "?", rid if isinstance(rid, str) else "?")


__all__ = [
    "EMPTY",
    "OBSERVATION_TIMES",
    "Coding",
    "Concept",
    "JsonObject",
    "Quantity",
    "codes",
    "concept",
    "concepts",
    "instant",
    "malformed_concept",
    "objects",
    "quantity",
    "ref_of",
    "reference",
    "status",
    "time_of",
]
