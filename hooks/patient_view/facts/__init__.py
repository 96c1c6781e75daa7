"""Patient facts: raw FHIR JSON read through `hooks.fhirviews`, frozen dataclasses out.

No rule logic here. `PROJECTIONS` names the elements the readers read per resource type: a
resource a finding cites is validated against FHIR R4B, projected to them, before it is cited
(`hooks.citations`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from hooks.citations import Projections
from hooks.fhirdata import ResourceSet
from hooks.findings import ResourceRef
from hooks.knowledge import KnowledgeBase
from hooks.patient_view.facts.complaint import (
    ENCOUNTER_FIELDS,
    SYMPTOM_FIELDS,
    ComplaintFacts,
    ComplaintSignal,
    read_complaint,
)
from hooks.patient_view.facts.conditions import (
    CONDITION_FIELDS,
    ConditionFacts,
    ConditionRecord,
    read_conditions,
)
from hooks.patient_view.facts.labs import LAB_FIELDS, LabFacts, LabResult, Measure, read_labs
from hooks.patient_view.facts.medications import (
    MEDICATION_FIELDS,
    REQUEST_FIELDS,
    STATEMENT_FIELDS,
    DrugMatch,
    MatchBasis,
    MedicationFacts,
    MedicationUse,
    read_medications,
)
from hooks.patient_view.facts.orders import ORDER_FIELDS, OrderFacts, OrderRecord, read_orders
from hooks.patient_view.facts.patient import PATIENT_FIELDS, Demographics, read_demographics
from hooks.patient_view.facts.pregnancy import STATUS_FIELDS, PregnancyFacts, read_pregnancy

PROJECTIONS: Projections = {
    "Patient": PATIENT_FIELDS,
    "Condition": CONDITION_FIELDS,
    "Encounter": ENCOUNTER_FIELDS,
    "Observation": (*LAB_FIELDS, *SYMPTOM_FIELDS, *STATUS_FIELDS),
    "MedicationRequest": REQUEST_FIELDS,
    "MedicationStatement": STATEMENT_FIELDS,
    "Medication": MEDICATION_FIELDS,
    "ServiceRequest": ORDER_FIELDS,
}


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything the rules read about one patient at one moment."""

    demographics: Demographics
    complaint: ComplaintFacts
    medications: MedicationFacts
    labs: LabFacts
    conditions: ConditionFacts
    pregnancy: PregnancyFacts
    orders: OrderFacts


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
        orders=read_orders(data),
    )


def confirm_complaint(facts: Facts, valid: Callable[[ResourceRef], bool]) -> Facts | None:
    """Facts whose complaint rests only on records that are valid FHIR; None if none are.

    The complaint gates every rule and heads every card, so its records are checked before any
    rule runs (a complaint read from an invalid record is no complaint).
    """
    signals = tuple(signal for signal in facts.complaint.signals if valid(signal.ref))
    if signals == facts.complaint.signals:
        return facts
    complaint = ComplaintFacts(signals)
    return replace(facts, complaint=complaint) if complaint.present else None


__all__ = [
    "PROJECTIONS",
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
    "OrderFacts",
    "OrderRecord",
    "PregnancyFacts",
    "confirm_complaint",
    "read_facts",
]
