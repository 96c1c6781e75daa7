"""Laboratory results per analyte: valid status, numeric value, resolved unit, range and flags.

Only final/amended/corrected numeric results count (preliminary, cancelled and
entered-in-error never do). A result keeps its reported value and unit for display; `canonical`
is None when the unit cannot be converted, and rules then draw no conclusion from it. The
laboratory's own `interpretation` codes (H, HH, L, LL, A, AA, N) are kept for grading.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hooks.fhirdata import ResourceSet, Unreadable
from hooks.fhirviews import (
    OBSERVATION_TIMES,
    Quantity,
    codes,
    concept,
    concepts,
    malformed_concept,
    objects,
    quantity,
    ref_of,
    status,
    time_of,
)
from hooks.findings import ResourceRef
from hooks.knowledge import KnowledgeBase
from hooks.knowledge.schema import Analyte
from hooks.patient_view.facts.timing import days_between, within
from hooks.patient_view.facts.units import resolve_unit, to_canonical
from hooks.types import JsonObject

# The elements read below; a cited result is validated projected to them (hooks/citations.py).
LAB_FIELDS = (
    "status",
    "code",
    "effectiveDateTime",
    "effectiveInstant",
    "effectivePeriod",
    "issued",
    "valueQuantity",
    "referenceRange",
    "interpretation",
)

YEARS = frozenset({"a", "yr", "year", "years"})
# A result time a few minutes ahead of the call is clock skew, not a future result.
CLOCK_SKEW = timedelta(minutes=5)
# Enough to survive a few invalid or unconvertible newest results.
KEEP_PER_ANALYTE = 8


@dataclass(frozen=True, slots=True)
class Measure:
    """A value in a resolved UCUM unit."""

    value: float
    unit: str


@dataclass(frozen=True, slots=True)
class LabResult:
    """One valid numeric result of a known analyte."""

    analyte: str
    ref: ResourceRef
    loinc: str
    when: datetime
    value: float
    reported_unit: str
    unit: str | None
    canonical: float | None
    comparator: str | None
    low: Measure | None
    high: Measure | None
    interpretation: frozenset[str] = frozenset()
    approximate: bool = False

    @property
    def usable(self) -> bool:
        """Convertible and exact: a result a threshold may be applied to."""
        return self.canonical is not None and self.comparator is None

    @property
    def measure(self) -> Measure | None:
        """The value in its resolved unit, when known."""
        return Measure(self.value, self.unit) if self.unit else None


@dataclass(frozen=True, slots=True)
class LabFacts:
    """Results per analyte, newest first.

    Every valid result down to the newest usable one, plus (for analytes with `history_days`)
    the usable results in that span before it.

    `complete` is False when the laboratory data may lack records (a page that could not be
    fetched, or an Observation whose code cannot be read): rules then never conclude from the
    absence of a result. `unreadable` lists results of a known analyte whose value could not be
    read, so a rule can say a newer result exists that it could not use.
    """

    results: dict[str, tuple[LabResult, ...]]
    complete: bool = True
    unreadable: dict[str, tuple[tuple[ResourceRef, datetime | None], ...]] = field(
        default_factory=dict
    )

    def latest(self, analyte: str) -> LabResult | None:
        """The newest valid result, usable or not."""
        found = self.results.get(analyte, ())
        return found[0] if found else None

    def latest_usable(self, analyte: str) -> LabResult | None:
        """The newest result a threshold may be applied to."""
        return next((r for r in self.results.get(analyte, ()) if r.usable), None)

    def current(self, analyte: str, as_of: datetime, days: int) -> LabResult | None:
        """The newest usable result if it lies within the last `days`."""
        result = self.latest_usable(analyte)
        return result if result is not None and within(result.when, as_of, days) else None

    def newer_unusable(self, result: LabResult) -> tuple[LabResult, ...]:
        """Results taken after `result` that could not be used (their caveats go on the card)."""
        return tuple(
            r for r in self.results.get(result.analyte, ()) if not r.usable and r.when > result.when
        )

    def newer_unreadable(self, result: LabResult) -> tuple[ResourceRef, ...]:
        """Results of the analyte, newer than `result` (or undated), whose value is unreadable."""
        return tuple(
            ref
            for ref, when in self.unreadable.get(result.analyte, ())
            if when is None or when > result.when
        )

    def usable_series(self, analyte: str) -> tuple[LabResult, ...]:
        """Every usable result kept for the analyte, newest first."""
        return tuple(r for r in self.results.get(analyte, ()) if r.usable)

    def near(self, analyte: str, when: datetime, days: int) -> LabResult | None:
        """The usable result closest in time to `when`, at most `days` away (either side)."""
        close = [r for r in self.usable_series(analyte) if days_between(r.when, when) <= days]
        return min(close, key=lambda r: abs(r.when - when), default=None)


def _bound(
    value: object, result_unit: str | None, analyte: Analyte, kb: KnowledgeBase
) -> Measure | None:
    bound = quantity(value)
    if bound is None:
        return None
    if bound.code is None and bound.unit is None:
        # A range without a unit is stated in the result's own unit.
        return Measure(bound.value, result_unit) if result_unit else None
    unit = resolve_unit(bound.code, bound.system, bound.unit, analyte, kb)
    return Measure(bound.value, unit) if unit else None


def _years(value: object) -> float | None:
    if value is None:
        return None
    bound = quantity(value)
    if bound is None or (bound.code or bound.unit or "a") not in YEARS:
        raise ValueError("age bound not in years")
    return bound.value


def _age_fits(age: object, min_age: int | None) -> bool:
    """An age-specific range applies only when the patient's age is known to fall in it."""
    if age is None:
        return True
    if min_age is None or not isinstance(age, dict):
        return False
    try:
        low, high = _years(age.get("low")), _years(age.get("high"))
    except ValueError:
        return False
    return (low is None or min_age >= low) and (high is None or min_age <= high)


def _range(
    raw: JsonObject, unit: str | None, analyte: Analyte, kb: KnowledgeBase, min_age: int | None
) -> tuple[Measure | None, Measure | None]:
    for entry in objects(raw.get("referenceRange")):
        kind = concept(entry.get("type"))
        if "type" in entry and "normal" not in {c.code for c in kind.codings}:
            continue
        if entry.get("appliesTo") or not _age_fits(entry.get("age"), min_age):
            continue
        low = _bound(entry.get("low"), unit, analyte, kb)
        high = _bound(entry.get("high"), unit, analyte, kb)
        if low or high:
            return low, high
    return None, None


def _interpretation(raw: JsonObject, kb: KnowledgeBase) -> frozenset[str]:
    """Interpretation codes from the HL7 system (or its legacy v2 alias); others are ignored."""
    systems = set(kb.labs.interpretation.systems)
    return frozenset(
        c.code
        for item in concepts(raw.get("interpretation"))
        for c in item.codings
        if c.system in systems
    )


@dataclass(frozen=True, slots=True)
class _Candidate:
    """A final numeric result of a known analyte, read only as far as ordering needs."""

    when: datetime
    order: int
    raw: JsonObject
    loinc: str


def _result(
    candidate: _Candidate, value: Quantity, analyte_key: str, kb: KnowledgeBase, min_age: int | None
) -> LabResult:
    raw = candidate.raw
    analyte = kb.analyte(analyte_key)
    unit = resolve_unit(value.code, value.system, value.unit, analyte, kb)
    low, high = _range(raw, unit, analyte, kb, min_age)
    return LabResult(
        analyte=analyte_key,
        ref=ref_of(raw),
        loinc=candidate.loinc,
        when=candidate.when,
        value=value.value,
        reported_unit=value.reported_unit,
        unit=unit,
        canonical=to_canonical(value.value, unit, analyte) if unit else None,
        comparator=value.comparator,
        low=low,
        high=high,
        interpretation=_interpretation(raw, kb),
        approximate=unit in analyte.approximate_units,
    )


@dataclass
class _Scan:
    """One pass over the Observations: candidates per analyte, and what could not be read."""

    candidates: dict[str, list[_Candidate]] = field(default_factory=dict)
    unreadable: dict[str, list[tuple[ResourceRef, datetime | None]]] = field(default_factory=dict)
    malformed: bool = False


def _analyte(raw: JsonObject, kb: KnowledgeBase) -> tuple[str, str] | None:
    """(analyte key, LOINC code) of an Observation's first LOINC code the knowledge knows."""
    table = kb.index.loinc_analyte
    for code in codes(raw.get("code"), kb.systems.loinc):
        analyte = table.get(code)
        if analyte is not None:
            return analyte, code
    return None


def _scan(data: ResourceSet, kb: KnowledgeBase, as_of: datetime) -> _Scan:
    """Final numeric results per analyte, newest first; undated ones apart, as unreadable.

    A numeric Observation whose code or status cannot be read might be any analyte's final
    result: it is skipped and counted, and the laboratory data counts as incomplete. Values are
    read later, newest first, only as far as the rules need (`_Reader`).
    """
    valid = set(kb.labs.valid_statuses)
    scan = _Scan()
    for order, raw in enumerate(data.raw("Observation")):
        if "valueQuantity" not in raw:
            continue
        found = _analyte(raw, kb)
        state = status(raw)
        if state is None or (found is None and malformed_concept(raw.get("code"))):
            data.skip(raw, "Observation", Unreadable.MALFORMED)
            scan.malformed = True
            continue
        if found is None or state not in valid:
            continue
        when = time_of(raw, OBSERVATION_TIMES)
        if when is None:
            data.skip(raw, "Observation", Unreadable.MALFORMED)
            scan.unreadable.setdefault(found[0], []).append((ref_of(raw), None))
        elif when <= as_of + CLOCK_SKEW:
            scan.candidates.setdefault(found[0], []).append(_Candidate(when, order, raw, found[1]))
    for listed in scan.candidates.values():
        listed.sort(key=lambda c: (c.when, c.order), reverse=True)
    return scan


def read_labs(
    data: ResourceSet, kb: KnowledgeBase, as_of: datetime, min_age: int | None
) -> LabFacts:
    """Per analyte: the newest results down to the newest usable one, plus history."""
    scan = _scan(data, kb, as_of)
    correction = kb.labs.calcium_correction
    reader = _Reader(data, kb, min_age, scan.unreadable)
    results: dict[str, tuple[LabResult, ...]] = {}
    for analyte, found in scan.candidates.items():
        if analyte != correction.albumin:
            results[analyte] = reader.read(analyte, found)
    calcium = next((r for r in results.get(correction.total, ()) if r.usable), None)
    albumin = _albumin_near(scan.candidates.get(correction.albumin, []), calcium, kb)
    results[correction.albumin] = reader.read(correction.albumin, albumin, first_usable_only=True)
    complete = data.complete_type("Observation") and not scan.malformed
    return LabFacts(
        {key: found for key, found in results.items() if found},
        complete,
        {key: tuple(refs) for key, refs in scan.unreadable.items()},
    )


def _albumin_near(
    found: list[_Candidate], calcium: LabResult | None, kb: KnowledgeBase
) -> list[_Candidate]:
    """Albumins within the correction window of the latest usable calcium, closest first.

    Without a calcium to correct, only the newest albumin matters.
    """
    if calcium is None:
        return found[:1]
    days = kb.labs.calcium_correction.max_days_apart
    close = [item for item in found if days_between(item.when, calcium.when) <= days]
    return sorted(close, key=lambda item: abs(item.when - calcium.when))


@dataclass(frozen=True, slots=True)
class _Reader:
    data: ResourceSet
    kb: KnowledgeBase
    min_age: int | None
    unreadable: dict[str, list[tuple[ResourceRef, datetime | None]]]

    def read(
        self, analyte: str, found: list[_Candidate], *, first_usable_only: bool = False
    ) -> tuple[LabResult, ...]:
        """Newest first until the first usable result; a value that cannot be read is noted.

        Results sharing the first usable one's time are all read, and an exact unit is preferred
        to an approximate one. Then, for analytes with history, usable results within
        `history_days` before it follow.
        """
        kept: list[LabResult] = []
        anchor: datetime | None = None
        history = self.kb.analyte(analyte).history_days
        for candidate in found:
            when = candidate.when
            if anchor is not None and when < anchor and not self._within(when, anchor, history):
                break
            value = quantity(candidate.raw.get("valueQuantity"))
            if value is None:
                self.data.skip(candidate.raw, "Observation", Unreadable.MALFORMED)
                self.unreadable.setdefault(analyte, []).append((ref_of(candidate.raw), when))
                continue
            result = _result(candidate, value, analyte, self.kb, self.min_age)
            if first_usable_only and not result.usable:
                continue
            if anchor is None:
                kept.append(result)  # newer unusable results, then the first usable one
                if result.usable:
                    anchor = result.when
                elif len(kept) >= KEEP_PER_ANALYTE:
                    break
            elif result.when >= anchor or result.usable:
                kept.append(result)  # a tie with the anchor, or history
        return tuple(
            sorted(kept, key=lambda r: (r.when, r.usable, not r.approximate), reverse=True)
        )

    @staticmethod
    def _within(when: datetime, anchor: datetime, history: int | None) -> bool:
        """Whether an older result still belongs to the analyte's history span."""
        return history is not None and days_between(when, anchor) <= history
