"""Whether the patient has a spasm/cramp/twitch complaint now, and whether it is at the knee.

Sources (issue 3): an active Condition; an Encounter reasonCode within its window; a symptom
Observation within its window. Codes decide for coded concepts; words only for concepts with
no SNOMED CT or ICD-10-CM coding. Knee context changes wording only, never whether rules run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.observation import Observation

from hooks.fhirdata import JsonObject, ResourceSet, codings
from hooks.findings import ResourceRef
from hooks.knowledge import KnowledgeBase
from hooks.knowledge_index import has_prefix, matches
from hooks.patient_view.facts.codes import Code, codes_of, label_of, ref_of, words_of
from hooks.patient_view.facts.conditions import ConditionFacts
from hooks.patient_view.facts.timing import instant, latest, raw_instant, within

# The elements read below; nothing else is validated (hooks/fhirdata.py).
ENCOUNTER_FIELDS = ("status", "class", "reasonCode", "period")  # class: required by R4
SYMPTOM_FIELDS = (
    "status",
    "code",
    "valueCodeableConcept",
    "bodySite",
    "effectiveDateTime",
    "effectiveInstant",
    "effectivePeriod",
    "issued",
)


@dataclass(frozen=True, slots=True)
class ComplaintSignal:
    """One record that states the complaint (or, with `complaint` False, only knee context)."""

    ref: ResourceRef
    label: str
    when: datetime | None
    codes: tuple[Code, ...]
    complaint: bool
    knee: bool


@dataclass(frozen=True, slots=True)
class ComplaintFacts:
    """The complaint signals found, and whether any of them places it at the knee."""

    signals: tuple[ComplaintSignal, ...]

    @property
    def present(self) -> bool:
        """A complaint exists: the gate for every rule."""
        return any(signal.complaint for signal in self.signals)

    @property
    def knee(self) -> bool:
        """Knee (or near-knee) context from codes, body site or words."""
        return any(signal.knee for signal in self.signals)

    @property
    def evidence(self) -> tuple[ComplaintSignal, ...]:
        """The complaint records themselves, newest first."""
        stated = [signal for signal in self.signals if signal.complaint]
        return tuple(sorted(stated, key=_newest_first))


def _newest_first(signal: ComplaintSignal) -> tuple[bool, float]:
    return (signal.when is None, -signal.when.timestamp() if signal.when else 0.0)


def is_complaint(codes: tuple[Code, ...], words: str, kb: KnowledgeBase) -> bool:
    """A core trigger code, or (for a concept with no SNOMED/ICD coding) a complaint word."""
    systems, index = kb.systems, kb.index
    coded = False
    for code in codes:
        if code.system == systems.snomed:
            coded = True
            if code.code in index.complaint_snomed:
                return True
        elif code.system == systems.icd10cm:
            coded = True
            if has_prefix(code.code, index.complaint_icd):
                return True
    if coded:
        return False
    return matches(index.complaint_words, words) and not matches(index.complaint_exclusions, words)


def is_knee(codes: tuple[Code, ...], words: str, kb: KnowledgeBase) -> bool:
    """A knee qualifier code, or a knee word in the concept or its body site."""
    systems, index = kb.systems, kb.index
    for code in codes:
        if code.system == systems.snomed and code.code in index.knee_snomed:
            return True
        if code.system == systems.icd10cm and has_prefix(code.code, index.knee_icd):
            return True
    return matches(index.knee_words, words)


def _signal(
    ref: ResourceRef,
    label: str,
    when: datetime | None,
    codes: tuple[Code, ...],
    words: str,
    kb: KnowledgeBase,
) -> ComplaintSignal | None:
    complaint = is_complaint(codes, words, kb)
    knee = is_knee(codes, words, kb)
    if not complaint and not knee:
        return None
    return ComplaintSignal(ref, label, when, codes, complaint, knee)


def _from_conditions(
    conditions: ConditionFacts, kb: KnowledgeBase, as_of: datetime
) -> Iterator[ComplaintSignal]:
    window = kb.triggers.lookback_days.condition
    for record in conditions.records:
        if not record.active or (window is not None and not within(record.recorded, as_of, window)):
            continue
        words = f"{record.words} {record.body_site_words}"
        signal = _signal(record.ref, record.label, record.recorded, record.codes, words, kb)
        if signal is not None:
            yield signal


def _recent_reason(as_of: datetime, window: int) -> Callable[[JsonObject], bool]:
    """Raw-JSON pre-filter: only encounters with a reason that may fall in the window."""

    def recent(raw: JsonObject) -> bool:
        period = raw.get("period")
        if not raw.get("reasonCode") or not isinstance(period, dict):
            return False
        when = latest(raw_instant(period.get("start")), raw_instant(period.get("end")))
        return within(when, as_of, window)

    return recent


def _from_encounters(
    data: ResourceSet, kb: KnowledgeBase, as_of: datetime
) -> Iterator[ComplaintSignal]:
    window = kb.triggers.lookback_days.encounter_reason
    excluded = kb.triggers.statuses.encounter_excluded
    for encounter in data.select(
        Encounter, where=_recent_reason(as_of, window), fields=ENCOUNTER_FIELDS
    ):
        period = encounter.period
        when = latest(instant(period.start), instant(period.end)) if period else None
        if encounter.status in excluded or not within(when, as_of, window):
            continue
        for reason in encounter.reasonCode or ():
            signal = _signal(
                ref_of(encounter), label_of(reason), when, codes_of(reason), words_of(reason), kb
            )
            if signal is not None:
                yield signal


def _symptom_candidate(kb: KnowledgeBase) -> Any:
    loinc = kb.systems.loinc

    def candidate(raw: JsonObject) -> bool:
        # Laboratory results (LOINC-coded, numeric) are never symptoms.
        return "valueQuantity" not in raw and not any(
            system == loinc and code in kb.index.loinc_analyte
            for system, code in codings(raw, "code")
        )

    return candidate


def _from_observations(
    data: ResourceSet, kb: KnowledgeBase, as_of: datetime
) -> Iterator[ComplaintSignal]:
    window = kb.triggers.lookback_days.observation
    excluded = kb.triggers.statuses.observation_excluded
    for observation in data.select(
        Observation, where=_symptom_candidate(kb), fields=SYMPTOM_FIELDS
    ):
        when = instant(observation.effectiveDateTime) or instant(observation.issued)
        if observation.effectivePeriod is not None:
            when = when or instant(observation.effectivePeriod.start)
        if observation.status in excluded or not within(when, as_of, window):
            continue
        concepts = [observation.code, observation.valueCodeableConcept]
        words = f"{words_of(concepts)} {words_of(observation.bodySite)}"
        signal = _signal(
            ref_of(observation),
            label_of(observation.valueCodeableConcept) or label_of(observation.code),
            when,
            codes_of(concepts),
            words,
            kb,
        )
        if signal is not None:
            yield signal


def read_complaint(
    data: ResourceSet, conditions: ConditionFacts, kb: KnowledgeBase, as_of: datetime
) -> ComplaintFacts:
    """Every complaint or knee signal within its window."""
    signals = [
        *_from_conditions(conditions, kb, as_of),
        *_from_encounters(data, kb, as_of),
        *_from_observations(data, kb, as_of),
    ]
    return ComplaintFacts(tuple(signals))
