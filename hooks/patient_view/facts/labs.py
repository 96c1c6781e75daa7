"""Laboratory results per analyte: valid status, numeric value, resolved unit, range and flags.

Only final/amended/corrected numeric results count (preliminary, cancelled and
entered-in-error never do). A result keeps its reported value and unit for display; `canonical`
is None when the unit cannot be converted, and rules then draw no conclusion from it. The
laboratory's own `interpretation` codes (H, HH, L, LL, A, AA, N) are kept for grading.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fhir.resources.R4B.observation import Observation

from hooks.fhirdata import ResourceSet, Unreadable, malformed_concept
from hooks.findings import ResourceRef
from hooks.knowledge import KnowledgeBase
from hooks.knowledge.schema import Analyte
from hooks.patient_view.facts.codes import code_set, codes_of, ref_of
from hooks.patient_view.facts.timing import days_between, instant, raw_instant, within
from hooks.patient_view.facts.units import resolve_unit, to_canonical
from hooks.types import JsonObject

# The elements read below; nothing else of an Observation is validated (hooks/fhirdata.py).
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
# The calcium correction (rules/calcium.py) reads an albumin near the latest total calcium.
ALBUMIN, CALCIUM_TOTAL = "albumin", "calcium_total"


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
    fetched): rules then never conclude from the absence of a result.
    """

    results: dict[str, tuple[LabResult, ...]]
    complete: bool = True

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

    def usable_series(self, analyte: str) -> tuple[LabResult, ...]:
        """Every usable result kept for the analyte, newest first."""
        return tuple(r for r in self.results.get(analyte, ()) if r.usable)

    def near(self, analyte: str, when: datetime, days: int) -> LabResult | None:
        """The usable result closest in time to `when`, at most `days` away (either side)."""
        close = [r for r in self.usable_series(analyte) if days_between(r.when, when) <= days]
        return min(close, key=lambda r: abs(r.when - when), default=None)


def _bound(
    quantity: Any, result_unit: str | None, analyte: Analyte, kb: KnowledgeBase
) -> Measure | None:
    if quantity is None or quantity.value is None:
        return None
    if quantity.code is None and quantity.unit is None:
        # A range without a unit is stated in the result's own unit.
        return Measure(float(quantity.value), result_unit) if result_unit else None
    unit = resolve_unit(quantity.code, quantity.system, quantity.unit, analyte, kb)
    return Measure(float(quantity.value), unit) if unit else None


def _years(bound: Any) -> float | None:
    if bound is None:
        return None
    if bound.value is None or (bound.code or bound.unit or "a") not in YEARS:
        raise ValueError("age bound not in years")
    return float(bound.value)


def _age_fits(age: Any, min_age: int | None) -> bool:
    """An age-specific range applies only when the patient's age is known to fall in it."""
    if age is None:
        return True
    if min_age is None:
        return False
    try:
        low, high = _years(age.low), _years(age.high)
    except ValueError:
        return False
    return (low is None or min_age >= low) and (high is None or min_age <= high)


def _range(
    observation: Any, unit: str | None, analyte: Analyte, kb: KnowledgeBase, min_age: int | None
) -> tuple[Measure | None, Measure | None]:
    for entry in observation.referenceRange or ():
        if entry.type is not None and "normal" not in code_set(entry.type):
            continue
        if entry.appliesTo or not _age_fits(entry.age, min_age):
            continue
        low, high = _bound(entry.low, unit, analyte, kb), _bound(entry.high, unit, analyte, kb)
        if low or high:
            return low, high
    return None, None


def _interpretation(observation: Any, kb: KnowledgeBase) -> frozenset[str]:
    """Interpretation codes from the HL7 system (or its legacy v2 alias); others are ignored."""
    systems = set(kb.labs.interpretation.systems)
    return frozenset(c.code for c in codes_of(observation.interpretation) if c.system in systems)


def _when(observation: Any) -> datetime | None:
    period = observation.effectivePeriod
    return (
        instant(observation.effectiveDateTime)
        or instant(observation.effectiveInstant)
        or (instant(period.start) if period else None)
        or instant(observation.issued)
    )


def _result(
    observation: Any,
    analyte_key: str,
    loinc: str,
    kb: KnowledgeBase,
    as_of: datetime,
    min_age: int | None,
) -> LabResult | None:
    quantity = observation.valueQuantity
    when = _when(observation)
    if quantity is None or quantity.value is None or when is None or when > as_of + CLOCK_SKEW:
        return None
    analyte = kb.analyte(analyte_key)
    unit = resolve_unit(quantity.code, quantity.system, quantity.unit, analyte, kb)
    value = float(quantity.value)
    low, high = _range(observation, unit, analyte, kb, min_age)
    return LabResult(
        analyte=analyte_key,
        ref=ref_of(observation),
        loinc=loinc,
        when=when,
        value=value,
        reported_unit=str(quantity.unit or quantity.code or ""),
        unit=unit,
        canonical=to_canonical(value, unit, analyte) if unit else None,
        comparator=str(quantity.comparator) if quantity.comparator else None,
        low=low,
        high=high,
        interpretation=_interpretation(observation, kb),
        approximate=unit in analyte.approximate_units,
    )


def _raw_when(raw: JsonObject) -> datetime | None:
    period = raw.get("effectivePeriod")
    start = period.get("start") if isinstance(period, dict) else None
    for value in (
        raw.get("effectiveDateTime"),
        raw.get("effectiveInstant"),
        start,
        raw.get("issued"),
    ):
        if value is not None:
            return raw_instant(value)
    return None


def _candidates(
    data: ResourceSet, kb: KnowledgeBase, as_of: datetime
) -> dict[str, list[tuple[datetime, JsonObject]]]:
    """Raw-JSON pre-selection: valid numeric results per analyte, newest first.

    Rules read the latest usable result per analyte (and a short history for some), so
    validating a patient's whole record would only cost time.
    """
    loinc_system, table = kb.systems.loinc, kb.index.loinc_analyte
    valid = set(kb.labs.valid_statuses)
    per_analyte: dict[str, list[tuple[datetime, int, JsonObject]]] = {}
    for order, raw in enumerate(data.raw("Observation")):
        status = raw.get("status")
        if type(status) is not str and status is not None:
            data.skip(raw, "Observation", Unreadable.MALFORMED)  # e.g. a list: unhashable
            continue
        if status not in valid or not isinstance(raw.get("valueQuantity"), dict):
            continue
        analyte = _raw_analyte(raw, loinc_system, table)
        if analyte is None:
            if malformed_concept(raw.get("code")):
                data.skip(raw, "Observation", Unreadable.MALFORMED)
            continue
        when = _raw_when(raw)
        if when is None or when > as_of + CLOCK_SKEW:
            continue
        per_analyte.setdefault(analyte, []).append((when, order, raw))
    return {
        analyte: [(when, raw) for when, _, raw in sorted(found, key=lambda i: i[:2], reverse=True)]
        for analyte, found in per_analyte.items()
    }


def _raw_analyte(raw: JsonObject, system: str, table: Mapping[str, str]) -> str | None:
    """The analyte of a raw Observation's LOINC code; inlined because it runs per Observation."""
    code = raw.get("code")
    if type(code) is not dict or type(codings := code.get("coding")) is not list:
        return None
    for coding in codings:
        if type(coding) is dict and coding.get("system") == system:
            value = coding.get("code")
            analyte = table.get(value) if type(value) is str else None
            if analyte is not None:
                return analyte
    return None


def read_labs(
    data: ResourceSet, kb: KnowledgeBase, as_of: datetime, min_age: int | None
) -> LabFacts:
    """Per analyte: the newest valid results down to the newest usable one, plus history.

    Validation stops there: that is all the rules read.
    """
    candidates = _candidates(data, kb, as_of)
    reader = _Reader(data, kb, as_of, min_age)
    results: dict[str, tuple[LabResult, ...]] = {}
    for analyte, found in candidates.items():
        if analyte != ALBUMIN:
            results[analyte] = reader.read(analyte, found)
    calcium = next((r for r in results.get(CALCIUM_TOTAL, ()) if r.usable), None)
    albumin = _albumin_near(candidates.get(ALBUMIN, []), calcium, kb)
    results[ALBUMIN] = reader.read(ALBUMIN, albumin, first_usable_only=True)
    complete = data.complete_type("Observation")
    return LabFacts({key: found for key, found in results.items() if found}, complete)


def _albumin_near(
    found: list[tuple[datetime, JsonObject]], calcium: LabResult | None, kb: KnowledgeBase
) -> list[tuple[datetime, JsonObject]]:
    """Albumins within the correction window of the latest usable calcium, closest first.

    Without a calcium to correct, only the newest albumin matters.
    """
    if calcium is None:
        return found[:1]
    days = kb.labs.calcium_correction.max_days_apart
    close = [item for item in found if days_between(item[0], calcium.when) <= days]
    return sorted(close, key=lambda item: abs(item[0] - calcium.when))


@dataclass(frozen=True, slots=True)
class _Reader:
    data: ResourceSet
    kb: KnowledgeBase
    as_of: datetime
    min_age: int | None

    def read(
        self,
        analyte: str,
        found: list[tuple[datetime, JsonObject]],
        *,
        first_usable_only: bool = False,
    ) -> tuple[LabResult, ...]:
        """Validate newest first until the first usable result (a malformed one is skipped).

        Results sharing the first usable one's time are all read, and an exact unit is preferred
        to an approximate one. Then, for analytes with history, usable results within
        `history_days` before it follow.
        """
        kept: list[LabResult] = []
        anchor: datetime | None = None
        history = self.kb.analyte(analyte).history_days
        for when, raw in found:
            if anchor is not None and when < anchor and not self._within(when, anchor, history):
                break
            result = self._parse(raw)
            if result is None or (first_usable_only and not result.usable):
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

    def _parse(self, raw: JsonObject) -> LabResult | None:
        observation = self.data.parse(Observation, raw, LAB_FIELDS)
        if observation is None:
            return None
        loinc_system, table = self.kb.systems.loinc, self.kb.index.loinc_analyte
        loinc = next(
            c.code
            for c in codes_of(observation.code)
            if c.system == loinc_system and c.code in table
        )
        return _result(observation, table[loinc], loinc, self.kb, self.as_of, self.min_age)
