"""Conditions mapped to the knowledge's condition groups (SNOMED exact, ICD-10-CM by prefix).

A record entered in error or refuted is dropped; one that is not active/recurrence/relapse, or
has a category other than problem list, health concern or encounter diagnosis, is kept as
history (C2 counts recordings) but is not `active`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from hooks.fhirdata import ResourceSet, Unreadable
from hooks.fhirviews import Coding, concept, instant, malformed_concept, ref_of
from hooks.findings import ResourceRef
from hooks.knowledge import KnowledgeBase
from hooks.knowledge.index import has_prefix, normalise_text
from hooks.knowledge.schema import TriggerStatuses
from hooks.patient_view.facts.timing import earliest
from hooks.types import JsonObject

# The elements read below; a cited Condition is validated projected to them (hooks/citations.py).
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
    codes: tuple[Coding, ...]
    groups: frozenset[str]
    active: bool
    recorded: datetime | None
    words: str
    body_site_words: str
    onset: datetime | None = None
    updated: datetime | None = None
    body_site_codes: tuple[Coding, ...] = ()


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


def is_usable(condition: JsonObject, statuses: TriggerStatuses) -> bool:
    """Not entered in error and not refuted (issue 3)."""
    verification = concept(condition.get("verificationStatus")).first_code
    return verification not in statuses.condition_verification_excluded


def is_active(condition: JsonObject, statuses: TriggerStatuses) -> bool:
    """Active/recurrence/relapse, with an allowed category or none at all (Synthea has none)."""
    if concept(condition.get("clinicalStatus")).first_code not in statuses.condition_clinical:
        return False
    categories = {c.code for c in concept(condition.get("category")).codings}
    return not categories or bool(categories & set(statuses.condition_categories))


def groups_of(codes: Iterable[Coding], kb: KnowledgeBase) -> frozenset[str]:
    """Condition groups of a set of codings."""
    index, systems = kb.index, kb.systems
    groups: set[str] = set()
    for code in codes:
        if code.system == systems.snomed:
            groups |= index.conditions.groups_for_snomed(code.code)
        elif code.system == systems.icd10cm:
            groups |= index.conditions.groups_for_icd(code.code)
    return frozenset(groups)


def _wanted(codes: tuple[Coding, ...], kb: KnowledgeBase) -> bool:
    """Only Conditions a rule or the complaint could read become records."""
    systems, index = kb.systems, kb.index
    for code in codes:
        if code.system == systems.snomed and (
            code.code in index.conditions.group_snomed
            or code.code in index.triggers.complaint_snomed
            or code.code in index.triggers.knee_snomed
        ):
            return True
        if code.system == systems.icd10cm and (
            index.conditions.groups_for_icd(code.code)
            or has_prefix(code.code, index.triggers.complaint_icd)
            or has_prefix(code.code, index.triggers.knee_icd)
        ):
            return True
    # Uncoded (or locally coded) text may still name a complaint.
    return not any(code.system in (systems.snomed, systems.icd10cm) for code in codes)


def _record(raw: JsonObject, kb: KnowledgeBase) -> ConditionRecord | None:
    statuses = kb.triggers.statuses
    code = concept(raw.get("code"))
    if not _wanted(code.codings, kb) or not is_usable(raw, statuses):
        return None
    body = concept(raw.get("bodySite"))
    onset = instant(raw.get("onsetDateTime"))
    meta = raw.get("meta")
    return ConditionRecord(
        ref=ref_of(raw),
        label=code.label,
        codes=code.codings,
        groups=groups_of(code.codings, kb),
        active=is_active(raw, statuses),
        recorded=earliest(onset, instant(raw.get("recordedDate"))),
        words=normalise_text(code.all_text),
        body_site_words=normalise_text(body.all_text),
        onset=onset,
        updated=instant(meta.get("lastUpdated")) if isinstance(meta, dict) else None,
        body_site_codes=body.codings,
    )


def read_conditions(data: ResourceSet, kb: KnowledgeBase) -> ConditionFacts:
    """Usable Conditions with their groups; one whose code cannot be read is skipped, counted."""
    records = []
    for raw in data.raw("Condition"):
        if malformed_concept(raw.get("code")):
            data.skip(raw, "Condition", Unreadable.MALFORMED)
            continue
        record = _record(raw, kb)
        if record is not None:
            records.append(record)
    return ConditionFacts(tuple(records))
