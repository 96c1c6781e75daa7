"""Conditions mapped to the knowledge's condition groups (SNOMED exact, ICD-10-CM by prefix).

A record entered in error or refuted is dropped; one that is not active/recurrence/relapse, or
has a category other than problem list, health concern or encounter diagnosis, is kept as
history (C2 counts recordings) but is not `active`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fhir.resources.R4B.condition import Condition

from hooks.fhirdata import ResourceSet, codings
from hooks.findings import ResourceRef
from hooks.knowledge import KnowledgeBase
from hooks.knowledge.index import has_prefix
from hooks.knowledge.schema import TriggerStatuses
from hooks.patient_view.facts.codes import (
    Code,
    code_set,
    codes_of,
    label_of,
    ref_of,
    status_code,
    words_of,
)
from hooks.patient_view.facts.timing import earliest, instant
from hooks.types import JsonObject

# The elements read below; nothing else of a Condition is validated (hooks/fhirdata.py).
CONDITION_FIELDS = (
    "subject",  # required by R4: a projection without it would not validate
    "clinicalStatus",
    "verificationStatus",
    "category",
    "code",
    "bodySite",
    "onsetDateTime",
    "recordedDate",
    "meta",
)


@dataclass(frozen=True, slots=True)
class ConditionRecord:
    """One usable Condition: what it is, which groups it falls in, whether it counts now."""

    ref: ResourceRef
    label: str
    codes: tuple[Code, ...]
    groups: frozenset[str]
    active: bool
    recorded: datetime | None
    words: str
    body_site_words: str
    onset: datetime | None = None
    updated: datetime | None = None
    body_site_codes: tuple[Code, ...] = ()


@dataclass(frozen=True, slots=True)
class ConditionFacts:
    """All usable Conditions of the patient."""

    records: tuple[ConditionRecord, ...]

    def active_in(self, *groups: str) -> tuple[ConditionRecord, ...]:
        """Active records in any of the groups, in record order."""
        wanted = set(groups)
        return tuple(r for r in self.records if r.active and r.groups & wanted)

    def history_in(self, group: str) -> tuple[ConditionRecord, ...]:
        """Every usable record in the group, active or not."""
        return tuple(r for r in self.records if group in r.groups)


def is_usable(condition: Any, statuses: TriggerStatuses) -> bool:
    """Not entered in error and not refuted (issue 3)."""
    verification = status_code(condition.verificationStatus)
    return verification not in statuses.condition_verification_excluded


def is_active(condition: Any, statuses: TriggerStatuses) -> bool:
    """Active/recurrence/relapse, with an allowed category or none at all (Synthea has none)."""
    if status_code(condition.clinicalStatus) not in statuses.condition_clinical:
        return False
    categories = code_set(condition.category)
    return not categories or bool(categories & set(statuses.condition_categories))


def recorded_at(condition: Any) -> datetime | None:
    """When the condition began or was recorded, whichever is earlier."""
    return earliest(instant(condition.onsetDateTime), instant(condition.recordedDate))


def groups_of(codes: Iterable[Code], kb: KnowledgeBase) -> frozenset[str]:
    """Condition groups of a set of codings."""
    index, systems = kb.index, kb.systems
    groups: set[str] = set()
    for code in codes:
        if code.system == systems.snomed:
            groups |= index.groups_for_snomed(code.code)
        elif code.system == systems.icd10cm:
            groups |= index.groups_for_icd(code.code)
    return frozenset(groups)


def _wanted(kb: KnowledgeBase) -> Any:
    """Raw-JSON pre-filter: only Conditions a rule or the complaint could read are validated."""
    systems, index = kb.systems, kb.index

    def wanted(raw: JsonObject) -> bool:
        pairs = list(codings(raw, "code"))
        for system, code in pairs:
            if system == systems.snomed and (
                code in index.group_snomed
                or code in index.complaint_snomed
                or code in index.knee_snomed
            ):
                return True
            if system == systems.icd10cm and (
                index.groups_for_icd(code)
                or has_prefix(code, index.complaint_icd)
                or has_prefix(code, index.knee_icd)
            ):
                return True
        # Uncoded (or locally coded) text may still name a complaint.
        return not any(system in (systems.snomed, systems.icd10cm) for system, _ in pairs)

    return wanted


def read_conditions(data: ResourceSet, kb: KnowledgeBase) -> ConditionFacts:
    """Usable Conditions with their groups."""
    statuses = kb.triggers.statuses
    records = []
    for condition in data.select(Condition, where=_wanted(kb), fields=CONDITION_FIELDS):
        if not is_usable(condition, statuses):
            continue
        codes = codes_of(condition.code)
        records.append(
            ConditionRecord(
                ref=ref_of(condition),
                label=label_of(condition.code),
                codes=codes,
                groups=groups_of(codes, kb),
                active=is_active(condition, statuses),
                recorded=recorded_at(condition),
                words=words_of(condition.code),
                body_site_words=words_of(condition.bodySite),
                onset=instant(condition.onsetDateTime),
                updated=instant(condition.meta.lastUpdated) if condition.meta else None,
                body_site_codes=codes_of(condition.bodySite),
            )
        )
    return ConditionFacts(tuple(records))
