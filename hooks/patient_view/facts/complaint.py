"""Whether the patient has a limb spasm/cramp/twitch complaint now, and whether it is at the knee.

Sources (issue 3): an active Condition dated (onset, recorded, last update) within its window or
referenced by a recent Encounter; an Encounter reasonCode within its window; a symptom
Observation within its window. Codes decide for coded concepts; words only for concepts with
no SNOMED CT or ICD-10-CM coding. A complaint needs a limb (issue 8 §6): a limb code, or limb
words; a generic code with no site counts, one sited elsewhere (eyelid, back) does not, and
uncoded text needs a limb word. Knee context changes wording only, never whether rules run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.observation import Observation

from hooks.fhirdata import ResourceSet, codings
from hooks.findings import ResourceRef
from hooks.knowledge import KnowledgeBase
from hooks.knowledge.index import has_prefix, matches
from hooks.patient_view.facts.codes import Code, codes_of, label_of, ref_of, words_of
from hooks.patient_view.facts.conditions import ConditionFacts
from hooks.patient_view.facts.timing import instant, latest, raw_instant, within
from hooks.types import JsonObject

# The elements read below; nothing else is validated (hooks/fhirdata.py).
ENCOUNTER_FIELDS = ("status", "class", "reasonCode", "period")  # class: required by R4
REFERENCE_FIELDS = ("status", "class", "period", "reasonReference", "diagnosis")
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
FASCICULATION_GROUP = "fasciculation"


@dataclass(frozen=True, slots=True)
class ComplaintSignal:
    """One record that states the complaint (or, with `complaint` False, only knee context)."""

    ref: ResourceRef
    label: str
    when: datetime | None
    codes: tuple[Code, ...]
    complaint: bool
    knee: bool
    fasciculation_only: bool = False


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
    def cramp(self) -> bool:
        """A cramp or spasm, not only a fasciculation (stretching advice applies to cramps)."""
        return any(signal.complaint and not signal.fasciculation_only for signal in self.signals)

    @property
    def evidence(self) -> tuple[ComplaintSignal, ...]:
        """The complaint records themselves, newest first."""
        stated = [signal for signal in self.signals if signal.complaint]
        return tuple(sorted(stated, key=_newest_first))


def _newest_first(signal: ComplaintSignal) -> tuple[bool, float]:
    return (signal.when is None, -signal.when.timestamp() if signal.when else 0.0)


def _coded(codes: tuple[Code, ...], kb: KnowledgeBase) -> tuple[bool, bool, bool]:
    """(has SNOMED/ICD coding, has a complaint code, has a limb-specific complaint code)."""
    systems, index = kb.systems, kb.index
    coded = complaint = limb = False
    for code in codes:
        if code.system == systems.snomed:
            coded = True
            complaint |= code.code in index.complaint_snomed
            limb |= code.code in index.limb_snomed
        elif code.system == systems.icd10cm:
            coded = True
            complaint |= has_prefix(code.code, index.complaint_icd)
            limb |= has_prefix(code.code, index.limb_icd)
    return coded, complaint, limb


def is_complaint(codes: tuple[Code, ...], words: str, kb: KnowledgeBase) -> bool:
    """A complaint code, or (for a concept with no SNOMED/ICD coding) a complaint word, in a limb.

    Coded: a limb-specific code, or a generic one unless its words place it elsewhere only.
    Uncoded: a complaint word with a limb or knee word, and no excluded use of the word.
    """
    index = kb.index
    coded, complaint, limb = _coded(codes, kb)
    limb_words = matches(index.limb_words, words) or matches(index.knee_words, words)
    if coded:
        if not complaint:
            return False
        return limb or limb_words or not matches(index.non_limb_words, words)
    return (
        matches(index.complaint_words, words)
        and not matches(index.complaint_exclusions, words)
        and limb_words
    )


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
    stated = [c for c in codes if _coded((c,), kb)[1]]
    only = bool(stated) and all(FASCICULATION_GROUP in _groups(c, kb) for c in stated)
    return ComplaintSignal(ref, label, when, codes, complaint, knee, only)


def _groups(code: Code, kb: KnowledgeBase) -> frozenset[str]:
    if code.system == kb.systems.snomed:
        return kb.index.groups_for_snomed(code.code)
    if code.system == kb.systems.icd10cm:
        return kb.index.groups_for_icd(code.code)
    return frozenset()


def _from_conditions(
    conditions: ConditionFacts, kb: KnowledgeBase, as_of: datetime, confirmed: set[str]
) -> Iterator[ComplaintSignal]:
    window = kb.triggers.lookback_days.condition
    for record in conditions.records:
        if not record.active:
            continue
        dated = latest(record.onset, record.recorded, record.updated)
        if not within(dated, as_of, window) and record.ref.id not in confirmed:
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


def _referenced(data: ResourceSet, kb: KnowledgeBase, as_of: datetime) -> set[str]:
    """Ids of Conditions an Encounter within the condition window names (reason or diagnosis)."""
    window = kb.triggers.lookback_days.condition
    excluded = kb.triggers.statuses.encounter_excluded

    def candidate(raw: JsonObject) -> bool:
        period = raw.get("period")
        if not (raw.get("reasonReference") or raw.get("diagnosis")) or not isinstance(period, dict):
            return False
        return within(
            latest(raw_instant(period.get("start")), raw_instant(period.get("end"))), as_of, window
        )

    ids: set[str] = set()
    for encounter in data.select(Encounter, where=candidate, fields=REFERENCE_FIELDS):
        if encounter.status in excluded:
            continue
        references = [r.reference for r in encounter.reasonReference or ()]
        references += [d.condition.reference for d in encounter.diagnosis or () if d.condition]
        ids.update(ref.rsplit("/", 1)[-1] for ref in references if isinstance(ref, str))
    return ids


def read_complaint(
    data: ResourceSet, conditions: ConditionFacts, kb: KnowledgeBase, as_of: datetime
) -> ComplaintFacts:
    """Every complaint or knee signal within its window."""
    signals = [
        *_from_conditions(conditions, kb, as_of, _referenced(data, kb, as_of)),
        *_from_encounters(data, kb, as_of),
        *_from_observations(data, kb, as_of),
    ]
    return ComplaintFacts(tuple(signals))
