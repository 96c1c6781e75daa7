"""Whether the patient is pregnant now, and how many weeks, from codes and the status Observation.

Addendum §6.3: an active pregnancy code (Z33.1, Z34, O09, Z3A, SNOMED 77386006) recorded within
the current window, or a pregnancy-status Observation (LOINC 82810-3). The newest statement wins:
"not pregnant" after a pregnancy code ends it. An undated code says nothing about now. Weeks come
from a Z3A code (weeks of gestation), advanced by the time since it was recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hooks.fhirdata import ResourceSet
from hooks.fhirviews import OBSERVATION_TIMES, codes, concept, ref_of, status, time_of
from hooks.findings import ResourceRef
from hooks.knowledge import KnowledgeBase
from hooks.knowledge.index import icd_key
from hooks.patient_view.facts.conditions import ConditionFacts
from hooks.patient_view.facts.timing import within

# The elements read below; a cited record is validated projected to them (hooks/citations.py).
STATUS_FIELDS = ("status", "code", "valueCodeableConcept", *OBSERVATION_TIMES)
# Z3A codes: 00 unspecified, 01 under 8 weeks, 08-42 that week, 49 over 42 weeks.
UNKNOWN_WEEKS = frozenset({"00", "01"})


@dataclass(frozen=True, slots=True)
class PregnancySignal:
    """One record that states pregnancy (or its absence, `pregnant` False)."""

    ref: ResourceRef
    label: str
    when: datetime
    pregnant: bool
    weeks: int | None = None


@dataclass(frozen=True, slots=True)
class PregnancyFacts:
    """The pregnancy state now, the gestation in weeks when known, and the records behind it."""

    pregnant: bool
    weeks: int | None
    signals: tuple[PregnancySignal, ...]


def _weeks(code: str, prefix: str) -> int | None:
    key = icd_key(code)
    if not key.startswith(prefix) or len(key) < len(prefix) + 2:
        return None
    digits = key[len(prefix) : len(prefix) + 2]
    if digits in UNKNOWN_WEEKS or not digits.isdigit():
        return None
    return min(int(digits), 42) if digits != "49" else 42


def _from_conditions(
    conditions: ConditionFacts, kb: KnowledgeBase, as_of: datetime
) -> list[PregnancySignal]:
    spec = kb.conditions.pregnancy
    signals = []
    for record in conditions.active_in(spec.group):
        if record.recorded is None or not within(record.recorded, as_of, spec.current_within_days):
            continue
        coded = [
            w
            for c in record.codes
            if c.system == kb.systems.icd10cm
            and (w := _weeks(c.code, spec.gestation_prefix)) is not None
        ]
        elapsed = (as_of - record.recorded).days // 7
        weeks = coded[0] + elapsed if coded else None
        signals.append(PregnancySignal(record.ref, record.label, record.recorded, True, weeks))
    return signals


def _from_status(data: ResourceSet, kb: KnowledgeBase, as_of: datetime) -> list[PregnancySignal]:
    spec = kb.conditions.pregnancy
    if not spec.status_loinc.usable:
        return []
    valid = set(kb.labs.valid_statuses)
    label = spec.status_loinc.display or spec.status_loinc.code
    signals = []
    for raw in data.raw("Observation"):
        if "valueQuantity" in raw:
            continue  # a numeric result: the status answer is a coded value
        if spec.status_loinc.code not in codes(raw.get("code"), kb.systems.loinc):
            continue
        when = time_of(raw, OBSERVATION_TIMES)
        if status(raw) not in valid or when is None or when > as_of:
            continue
        answers = {c.code for c in concept(raw.get("valueCodeableConcept")).codings}
        if answers & set(spec.pregnant_answers):
            pregnant = True
        elif answers & set(spec.not_pregnant_answers):
            pregnant = False
        else:
            continue
        signals.append(PregnancySignal(ref_of(raw), label, when, pregnant))
    return signals


def read_pregnancy(
    data: ResourceSet, conditions: ConditionFacts, kb: KnowledgeBase, as_of: datetime
) -> PregnancyFacts:
    """Pregnant now when the newest statement within the window says so."""
    window = kb.conditions.pregnancy.current_within_days
    signals = sorted(
        [*_from_conditions(conditions, kb, as_of), *_from_status(data, kb, as_of)],
        key=lambda s: s.when,
        reverse=True,
    )
    recent = [s for s in signals if within(s.when, as_of, window)]
    if not recent or not recent[0].pregnant:
        return PregnancyFacts(False, None, tuple(recent[:1]))
    current = [s for s in recent if s.pregnant]
    weeks = next((s.weeks for s in current if s.weeks is not None), None)
    return PregnancyFacts(True, weeks, tuple(current))
