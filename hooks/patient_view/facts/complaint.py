"""Whether the patient has a limb spasm/cramp/twitch complaint now, and whether it is at the knee.

Sources (issue 3): an active Condition dated (onset, recorded, last update) within its window or
referenced by a recent Encounter; an Encounter reasonCode within its window; a symptom
Observation within its window. Codes decide for coded concepts; words only for concepts with
no SNOMED CT or ICD-10-CM coding. A complaint needs a limb (issue 8 §6): a limb code, or limb
words; a generic code with no site counts, one sited elsewhere (eyelid, back) does not, and
uncoded text needs a limb word. Knee context changes wording only, never whether rules run.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from hooks.fhirdata import ResourceSet
from hooks.fhirviews import (
    OBSERVATION_TIMES,
    Coding,
    codes,
    concept,
    concepts,
    instant,
    objects,
    ref_of,
    reference,
    status,
    time_of,
)
from hooks.findings import ResourceRef
from hooks.knowledge import KnowledgeBase
from hooks.knowledge.index import has_prefix, matches, normalise_text
from hooks.patient_view.facts.conditions import ConditionFacts
from hooks.patient_view.facts.timing import latest, within
from hooks.types import JsonObject

# The elements read below; a cited resource is validated projected to them (hooks/citations.py).
ENCOUNTER_FIELDS = (  # class: required by R4
    "status",
    "class",
    "reasonCode",
    "period",
    "reasonReference",
    "diagnosis",
)
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
    codes: tuple[Coding, ...]
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


def _coded(codes: tuple[Coding, ...], kb: KnowledgeBase) -> tuple[bool, bool, bool]:
    """(has SNOMED/ICD coding, has a complaint code, has a limb-specific complaint code)."""
    systems, index = kb.systems, kb.index
    coded = complaint = limb = False
    for code in codes:
        if code.system == systems.snomed:
            coded = True
            complaint |= code.code in index.triggers.complaint_snomed
            limb |= code.code in index.triggers.limb_snomed
        elif code.system == systems.icd10cm:
            coded = True
            complaint |= has_prefix(code.code, index.triggers.complaint_icd)
            limb |= has_prefix(code.code, index.triggers.limb_icd)
    return coded, complaint, limb


def is_complaint(codes: tuple[Coding, ...], words: str, kb: KnowledgeBase) -> bool:
    """A complaint code, or (for a concept with no SNOMED/ICD coding) a complaint word, in a limb.

    Coded: a limb-specific code, or a generic one unless its words place it elsewhere only.
    Uncoded: a complaint word with a limb or knee word, and no excluded use of the word.
    """
    index = kb.index
    coded, complaint, limb = _coded(codes, kb)
    limb_words = matches(index.triggers.limb_words, words) or matches(
        index.triggers.knee_words, words
    )
    if coded:
        if not complaint:
            return False
        return limb or limb_words or not matches(index.triggers.non_limb_words, words)
    return (
        matches(index.triggers.complaint_words, words)
        and not matches(index.triggers.complaint_exclusions, words)
        and limb_words
    )


def is_knee(codes: tuple[Coding, ...], words: str, kb: KnowledgeBase) -> bool:
    """A knee qualifier code, or a knee word in the concept or its body site."""
    systems, index = kb.systems, kb.index
    for code in codes:
        if code.system == systems.snomed and code.code in index.triggers.knee_snomed:
            return True
        if code.system == systems.icd10cm and has_prefix(code.code, index.triggers.knee_icd):
            return True
    return matches(index.triggers.knee_words, words)


def _signal(
    ref: ResourceRef,
    label: str,
    when: datetime | None,
    codes: tuple[Coding, ...],
    words: str,
    kb: KnowledgeBase,
) -> ComplaintSignal | None:
    complaint = is_complaint(codes, words, kb)
    knee = is_knee(codes, words, kb)
    if not complaint and not knee:
        return None
    stated = [c for c in codes if _coded((c,), kb)[1]]
    twitch = set(kb.triggers.complaint.twitch_groups)
    only = bool(stated) and all(twitch & _groups(c, kb) for c in stated)
    return ComplaintSignal(ref, label, when, codes, complaint, knee, only)


def _groups(code: Coding, kb: KnowledgeBase) -> frozenset[str]:
    if code.system == kb.systems.snomed:
        return kb.index.conditions.groups_for_snomed(code.code)
    if code.system == kb.systems.icd10cm:
        return kb.index.conditions.groups_for_icd(code.code)
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


def _period(raw: JsonObject) -> datetime | None:
    """The later of an Encounter's start and end."""
    period = raw.get("period")
    if not isinstance(period, dict):
        return None
    return latest(instant(period.get("start")), instant(period.get("end")))


def _encounters(data: ResourceSet, kb: KnowledgeBase) -> Iterator[JsonObject]:
    excluded = kb.triggers.statuses.encounter_excluded
    return (raw for raw in data.raw("Encounter") if status(raw) not in excluded)


def _from_encounters(
    data: ResourceSet, kb: KnowledgeBase, as_of: datetime
) -> Iterator[ComplaintSignal]:
    window = kb.triggers.lookback_days.encounter_reason
    for raw in _encounters(data, kb):
        when = _period(raw)
        if not within(when, as_of, window):
            continue
        for reason in concepts(raw.get("reasonCode")):
            words = normalise_text(reason.all_text)
            signal = _signal(ref_of(raw), reason.label, when, reason.codings, words, kb)
            if signal is not None:
                yield signal


def _is_lab(raw: JsonObject, kb: KnowledgeBase) -> bool:
    """Laboratory results (numeric, or LOINC-coded as an analyte) are never symptoms."""
    if "valueQuantity" in raw:
        return True
    table = kb.index.loinc_analyte
    return any(code in table for code in codes(raw.get("code"), kb.systems.loinc))


def _from_observations(
    data: ResourceSet, kb: KnowledgeBase, as_of: datetime
) -> Iterator[ComplaintSignal]:
    window = kb.triggers.lookback_days.observation
    excluded = kb.triggers.statuses.observation_excluded
    for raw in data.raw("Observation"):
        if _is_lab(raw, kb) or status(raw) in excluded:
            continue
        when = time_of(raw, OBSERVATION_TIMES)
        if not within(when, as_of, window):
            continue
        code, value = concept(raw.get("code")), concept(raw.get("valueCodeableConcept"))
        body = concept(raw.get("bodySite"))
        words = normalise_text(f"{code.all_text} {value.all_text} {body.all_text}")
        label = value.label or code.label
        signal = _signal(ref_of(raw), label, when, (*code.codings, *value.codings), words, kb)
        if signal is not None:
            yield signal


def _referenced(data: ResourceSet, kb: KnowledgeBase, as_of: datetime) -> set[str]:
    """Ids of Conditions an Encounter within the condition window names (reason or diagnosis)."""
    window = kb.triggers.lookback_days.condition
    ids: set[str] = set()
    for raw in _encounters(data, kb):
        if not within(_period(raw), as_of, window):
            continue
        named = [
            *objects(raw.get("reasonReference")),
            *(d.get("condition") for d in objects(raw.get("diagnosis"))),
        ]
        ids.update(ref.id for item in named if (ref := reference(item)) is not None)
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
