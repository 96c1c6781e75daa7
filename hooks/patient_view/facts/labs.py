"""Laboratory results per analyte: valid status, numeric value, resolved unit, laboratory range.

Only final/amended/corrected numeric results count (preliminary, cancelled and
entered-in-error never do). A result keeps its reported value and unit for display; `canonical`
is None when the unit cannot be converted, and rules then draw no conclusion from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fhir.resources.R4B.observation import Observation

from hooks.fhirdata import JsonObject, ResourceSet
from hooks.findings import ResourceRef
from hooks.knowledge import KnowledgeBase
from hooks.knowledge_schema import Analyte
from hooks.patient_view.facts.codes import code_set, codes_of, ref_of
from hooks.patient_view.facts.timing import days_between, instant, raw_instant, within
from hooks.patient_view.facts.units import resolve_unit, to_canonical

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
# Enough to survive a few invalid newest results, and to find an albumin near a calcium.
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
    """Results per analyte, newest first."""

    results: dict[str, tuple[LabResult, ...]]

    def latest(self, analyte: str) -> LabResult | None:
        """The latest valid result, usable or not (issue 3: latest valid value per analyte)."""
        found = self.results.get(analyte, ())
        return found[0] if found else None

    def current(self, analyte: str, as_of: datetime, days: int) -> LabResult | None:
        """The latest result if it lies within the last `days`."""
        result = self.latest(analyte)
        return result if result is not None and within(result.when, as_of, days) else None

    def near(self, analyte: str, when: datetime, days: int) -> LabResult | None:
        """The usable result closest in time to `when`, at most `days` away (either side)."""
        close = [
            r
            for r in self.results.get(analyte, ())
            if r.usable and days_between(r.when, when) <= days
        ]
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
) -> dict[str, list[JsonObject]]:
    """Raw-JSON pre-selection: valid numeric results per analyte, newest first.

    Rules read the latest result per analyte (and an albumin near the latest calcium), so
    validating a patient's whole history would only cost time. Albumin is not capped: the one
    that corrects a calcium is chosen by date in `_albumin_near`.
    """
    loinc_system, table = kb.systems.loinc, kb.index.loinc_analyte
    valid = set(kb.labs.valid_statuses)
    per_analyte: dict[str, list[tuple[datetime, int, JsonObject]]] = {}
    for order, raw in enumerate(data.raw("Observation")):
        if raw.get("status") not in valid or not isinstance(raw.get("valueQuantity"), dict):
            continue
        analyte = _raw_analyte(raw, loinc_system, table)
        if analyte is None:
            continue
        when = _raw_when(raw)
        if when is None or when > as_of + CLOCK_SKEW:
            continue
        per_analyte.setdefault(analyte, []).append((when, order, raw))
    return {
        analyte: [raw for _, _, raw in sorted(found, key=lambda item: item[:2], reverse=True)][
            : None if analyte == ALBUMIN else KEEP_PER_ANALYTE
        ]
        for analyte, found in per_analyte.items()
    }


def _raw_analyte(raw: JsonObject, system: str, table: Mapping[str, str]) -> str | None:
    """The analyte of a raw Observation's LOINC code; inlined because it runs per Observation."""
    code = raw.get("code")
    if type(code) is not dict:
        return None
    for coding in code.get("coding") or ():
        if type(coding) is dict and coding.get("system") == system:
            analyte = table.get(coding.get("code"))  # type: ignore[arg-type]
            if analyte is not None:
                return analyte
    return None


def read_labs(
    data: ResourceSet, kb: KnowledgeBase, as_of: datetime, min_age: int | None
) -> LabFacts:
    """The newest valid result of every analyte the knowledge lists (and albumin near calcium).

    Validation stops at an analyte's newest valid result: that is all the rules read.
    """
    candidates = _candidates(data, kb, as_of)
    results: dict[str, tuple[LabResult, ...]] = {}
    for analyte, raws in candidates.items():
        if analyte != ALBUMIN:
            results[analyte] = _first_valid(data, raws, kb, as_of, min_age, usable=False)
    albumin = _albumin_near(candidates.get(ALBUMIN, []), results.get(CALCIUM_TOTAL, ()), kb)
    results[ALBUMIN] = _first_valid(data, albumin, kb, as_of, min_age, usable=True)
    return LabFacts({key: found for key, found in results.items() if found})


def _albumin_near(
    raws: list[JsonObject], calcium: tuple[LabResult, ...], kb: KnowledgeBase
) -> list[JsonObject]:
    """Albumins within the correction window of the latest calcium, closest first.

    Without a calcium to correct, only the newest albumin matters.
    """
    if not calcium:
        return raws[:1]
    anchor, days = calcium[0].when, kb.labs.calcium_correction.max_days_apart
    timed = [(when, raw) for raw in raws if (when := _raw_when(raw)) is not None]
    close = [(abs(when - anchor), raw) for when, raw in timed if days_between(when, anchor) <= days]
    return [raw for _, raw in sorted(close, key=lambda item: item[0])]


def _first_valid(
    data: ResourceSet,
    raws: list[JsonObject],
    kb: KnowledgeBase,
    as_of: datetime,
    min_age: int | None,
    *,
    usable: bool,
) -> tuple[LabResult, ...]:
    """Validate in order until one result qualifies (a malformed one is skipped and noted)."""
    loinc_system, table = kb.systems.loinc, kb.index.loinc_analyte
    for raw in raws:
        observation = data.parse(Observation, raw, LAB_FIELDS)
        if observation is None:
            continue
        loinc = next(
            c.code
            for c in codes_of(observation.code)
            if c.system == loinc_system and c.code in table
        )
        result = _result(observation, table[loinc], loinc, kb, as_of, min_age)
        if result is not None and (result.usable or not usable):
            return (result,)
    return ()
