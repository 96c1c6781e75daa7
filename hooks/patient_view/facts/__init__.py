"""Patient facts: FHIR (fhir.resources R4B) in, frozen dataclasses out; no rule logic here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hooks.fhirdata import ResourceSet
from hooks.knowledge import KnowledgeBase
from hooks.patient_view.facts.complaint import ComplaintFacts, ComplaintSignal, read_complaint
from hooks.patient_view.facts.conditions import ConditionFacts, ConditionRecord, read_conditions
from hooks.patient_view.facts.labs import LabFacts, LabResult, Measure, read_labs
from hooks.patient_view.facts.medications import (
    DrugMatch,
    MatchBasis,
    MedicationFacts,
    MedicationUse,
    read_medications,
)
from hooks.patient_view.facts.patient import Demographics, read_demographics
from hooks.patient_view.facts.pregnancy import PregnancyFacts, read_pregnancy


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything the rules read about one patient at one moment."""

    demographics: Demographics
    complaint: ComplaintFacts
    medications: MedicationFacts
    labs: LabFacts
    conditions: ConditionFacts
    pregnancy: PregnancyFacts


def read_facts(data: ResourceSet, kb: KnowledgeBase, as_of: datetime) -> Facts | None:
    """Facts for the rules, or None when no rule may run.

    None means no readable Patient, a deceased patient, or no complaint; medications and
    labs are validated only past that gate.
    """
    demographics = read_demographics(data, as_of, kb.labs.adult_age_years)
    if demographics is None or demographics.deceased:
        return None
    conditions = read_conditions(data, kb)
    complaint = read_complaint(data, conditions, kb, as_of)
    if not complaint.present:
        return None
    return Facts(
        demographics=demographics,
        complaint=complaint,
        medications=read_medications(data, kb),
        labs=read_labs(data, kb, as_of, demographics.min_age),
        conditions=conditions,
        pregnancy=read_pregnancy(data, conditions, kb, as_of),
    )


__all__ = [
    "ComplaintFacts",
    "ComplaintSignal",
    "ConditionFacts",
    "ConditionRecord",
    "Demographics",
    "DrugMatch",
    "Facts",
    "LabFacts",
    "LabResult",
    "MatchBasis",
    "Measure",
    "MedicationFacts",
    "MedicationUse",
    "PregnancyFacts",
    "read_facts",
]
