"""Small FHIR R4 builders for tests: raw JSON as a FHIR server would send it, never pasted blobs.

Every builder returns a plain dict; `make_call` wraps resources into a HookCall the way the
HTTP layer does after prefetch. The shipped knowledge is loaded once per test session.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from hooks.contexts import PatientViewContext
from hooks.fhirdata import KeyStatus, PrefetchValue, ResourceSet
from hooks.findings import Assessment, Finding
from hooks.knowledge import KnowledgeBase, load_knowledge
from hooks.registry import HookCall

AS_OF = datetime(2021, 4, 1, tzinfo=UTC)
PATIENT_ID = "p1"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
UCUM = "http://unitsofmeasure.org"
SYSTEMS = {"snomed": SNOMED, "icd10cm": ICD10CM, "loinc": LOINC, "rxnorm": RXNORM, "atc": ATC}
TERMINOLOGY = Path(__file__).resolve().parents[1] / ".." / "shared" / "reference" / "terminology"

Resource = dict[str, Any]

_ids = itertools.count(1)


@lru_cache(maxsize=1)
def knowledge() -> KnowledgeBase:
    """The shipped knowledge set, loaded (and cross-checked) once."""
    return load_knowledge()


def _id(prefix: str) -> str:
    return f"{prefix}{next(_ids)}"


def concept(
    code: str | None = None,
    system: str = "snomed",
    display: str | None = None,
    text: str | None = None,
) -> dict[str, Any]:
    """A CodeableConcept; `system` is a short name (snomed, icd10cm, ...) or a URI."""
    result: dict[str, Any] = {}
    if code is not None:
        coding: dict[str, Any] = {"system": SYSTEMS.get(system, system), "code": code}
        if display is not None:
            coding["display"] = display
        result["coding"] = [coding]
    if text is not None:
        result["text"] = text
    return result


def make_patient(
    birth_date: str | None = "1960-05-05",
    deceased: bool | str | None = None,
    patient_id: str = PATIENT_ID,
) -> dict[str, Any]:
    """A Patient; `deceased` True/False sets deceasedBoolean, a string sets deceasedDateTime."""
    patient: dict[str, Any] = {"resourceType": "Patient", "id": patient_id}
    if birth_date is not None:
        patient["birthDate"] = birth_date
    if isinstance(deceased, bool):
        patient["deceasedBoolean"] = deceased
    elif isinstance(deceased, str):
        patient["deceasedDateTime"] = deceased
    return patient


def make_condition(
    code: str | None = "55300003",
    system: str = "snomed",
    *,
    display: str | None = None,
    text: str | None = None,
    clinical: str | None = "active",
    verification: str | None = "confirmed",
    category: str | None = None,
    recorded: str | None = "2021-03-20",
    onset: str | None = None,
    body_site: dict[str, Any] | None = None,
    resource_id: str | None = None,
) -> dict[str, Any]:
    """A Condition (default: an active SNOMED 'Cramp' recorded 2021-03-20, no category)."""
    condition: dict[str, Any] = {
        "resourceType": "Condition",
        "id": resource_id or _id("cond"),
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "code": concept(code, system, display, text),
    }
    if clinical is not None:
        condition["clinicalStatus"] = concept(
            clinical, "http://terminology.hl7.org/CodeSystem/condition-clinical"
        )
    if verification is not None:
        condition["verificationStatus"] = concept(
            verification, "http://terminology.hl7.org/CodeSystem/condition-ver-status"
        )
    if category is not None:
        condition["category"] = [
            concept(category, "http://terminology.hl7.org/CodeSystem/condition-category")
        ]
    if recorded is not None:
        condition["recordedDate"] = recorded
    if onset is not None:
        condition["onsetDateTime"] = onset
    if body_site is not None:
        condition["bodySite"] = [body_site]
    return condition


def make_complaint(**kwargs: Any) -> dict[str, Any]:
    """The default complaint: an active 'Cramp' Condition."""
    return make_condition(**kwargs)


def make_observation(
    loinc: str,
    value: float | None,
    unit: str | None = "mmol/L",
    *,
    code: str | None = "same",
    system: str | None = UCUM,
    status: str = "final",
    when: str | None = "2021-03-01T10:00:00+00:00",
    low: float | None = None,
    high: float | None = None,
    range_unit: str | None = "same",
    comparator: str | None = None,
    resource_id: str | None = None,
    reference_range: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A laboratory Observation with a valueQuantity (code defaults to the unit string)."""
    observation: dict[str, Any] = {
        "resourceType": "Observation",
        "id": resource_id or _id("obs"),
        "status": status,
        "category": [
            concept("laboratory", "http://terminology.hl7.org/CodeSystem/observation-category")
        ],
        "code": concept(loinc, "loinc"),
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
    }
    if when is not None:
        observation["effectiveDateTime"] = when
    if value is not None:
        quantity: dict[str, Any] = {"value": value}
        if unit is not None:
            quantity["unit"] = unit
        ucum = unit if code == "same" else code
        if ucum is not None:
            quantity["code"] = ucum
            if system is not None:
                quantity["system"] = system
        if comparator is not None:
            quantity["comparator"] = comparator
        observation["valueQuantity"] = quantity
    ranges = reference_range or []
    if low is not None or high is not None:
        bound_unit = unit if range_unit == "same" else range_unit
        entry: dict[str, Any] = {}
        for name, bound in (("low", low), ("high", high)):
            if bound is not None:
                entry[name] = {"value": bound}
                if bound_unit is not None:
                    entry[name].update({"unit": bound_unit, "system": UCUM, "code": bound_unit})
        ranges.append(entry)
    if ranges:
        observation["referenceRange"] = ranges
    return observation


def make_symptom(
    code: str = "55300003",
    system: str = "snomed",
    *,
    text: str | None = None,
    status: str = "final",
    when: str = "2021-03-25T09:00:00+00:00",
    value: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A symptom/exam Observation coded with a finding (no valueQuantity)."""
    observation: dict[str, Any] = {
        "resourceType": "Observation",
        "id": _id("sym"),
        "status": status,
        "code": concept(code, system, text=text),
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "effectiveDateTime": when,
    }
    if value is not None:
        observation["valueCodeableConcept"] = value
    return observation


def make_encounter(
    reason: dict[str, Any], *, start: str = "2021-03-25T09:00:00+00:00", status: str = "finished"
) -> dict[str, Any]:
    """An Encounter with one reasonCode."""
    return {
        "resourceType": "Encounter",
        "id": _id("enc"),
        "status": status,
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "period": {"start": start, "end": start},
        "reasonCode": [reason],
    }


def _medication_fields(
    rxnorm: str | None, display: str | None, text: str | None, atc: str | None
) -> dict[str, Any]:
    codings = []
    if rxnorm is not None:
        coding = {"system": RXNORM, "code": rxnorm}
        if display is not None:
            coding["display"] = display
        codings.append(coding)
    if atc is not None:
        codings.append({"system": ATC, "code": atc})
    medication: dict[str, Any] = {}
    if codings:
        medication["coding"] = codings
    if text is not None:
        medication["text"] = text
    return medication


def make_med_request(
    rxnorm: str | None = None,
    display: str | None = None,
    *,
    text: str | None = None,
    atc: str | None = None,
    status: str = "active",
    authored: str | None = "2021-01-01T00:00:00+00:00",
    route: str | None = None,
    dosage_text: str | None = None,
    validity_end: str | None = None,
    reference: str | None = None,
    contained: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A MedicationRequest (medicationCodeableConcept unless `reference` is given)."""
    request: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": _id("mr"),
        "status": status,
        "intent": "order",
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
    }
    if reference is not None:
        request["medicationReference"] = {"reference": reference}
    else:
        request["medicationCodeableConcept"] = _medication_fields(rxnorm, display, text, atc)
    if contained:
        request["contained"] = contained
    if authored is not None:
        request["authoredOn"] = authored
    dosage: dict[str, Any] = {}
    if route is not None:
        dosage["route"] = {"text": route}
    if dosage_text is not None:
        dosage["text"] = dosage_text
    if dosage:
        request["dosageInstruction"] = [dosage]
    if validity_end is not None:
        request["dispenseRequest"] = {"validityPeriod": {"end": validity_end}}
    return request


def make_med_statement(
    rxnorm: str | None = None,
    display: str | None = None,
    *,
    text: str | None = None,
    status: str = "active",
    start: str | None = "2021-01-01",
    end: str | None = None,
    route: str | None = None,
) -> dict[str, Any]:
    """A MedicationStatement with an effectivePeriod."""
    statement: dict[str, Any] = {
        "resourceType": "MedicationStatement",
        "id": _id("ms"),
        "status": status,
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "medicationCodeableConcept": _medication_fields(rxnorm, display, text, None),
    }
    period = {k: v for k, v in (("start", start), ("end", end)) if v is not None}
    if period:
        statement["effectivePeriod"] = period
    if route is not None:
        statement["dosage"] = [{"route": {"text": route}}]
    return statement


def make_medication(
    rxnorm: str | None = None,
    display: str | None = None,
    *,
    text: str | None = None,
    form: str | None = None,
    resource_id: str = "med1",
) -> dict[str, Any]:
    """A Medication resource (for medicationReference, contained or in the bundle)."""
    medication: dict[str, Any] = {
        "resourceType": "Medication",
        "id": resource_id,
        "code": _medication_fields(rxnorm, display, text, None),
    }
    if form is not None:
        medication["form"] = {"text": form}
    return medication


def make_call(
    resources: list[dict[str, Any]],
    as_of: datetime = AS_OF,
    kb: KnowledgeBase | None = None,
    patient_id: str = PATIENT_ID,
) -> HookCall[Any]:
    """A HookCall whose data holds `resources`, one prefetch key per resource type."""
    by_type: dict[str, list[dict[str, Any]]] = {}
    for resource in resources:
        by_type.setdefault(resource["resourceType"], []).append(resource)
    data = ResourceSet(
        {key: PrefetchValue(KeyStatus.PREFETCHED, tuple(found)) for key, found in by_type.items()}
    )
    context = PatientViewContext.model_validate(
        {"userId": "Practitioner/u1", "patientId": patient_id}
    )
    return HookCall(
        "knee-spasm-review", "patient-view", "hi-1", context, data, as_of, kb or knowledge()
    )


def assessment_for(
    *resources: dict[str, Any],
    as_of: datetime = AS_OF,
    kb: KnowledgeBase | None = None,
    patient: dict[str, Any] | None = None,
    complaint: bool = True,
) -> Assessment:
    """Run the service on an adult patient (unless given) with a cramp complaint (unless off)."""
    from hooks.patient_view.knee_spasm import knee_spasm_review

    extra = [patient or make_patient()]
    if complaint:
        extra.append(make_complaint())
    return knee_spasm_review(make_call([*extra, *resources], as_of, kb))


def findings_for(
    *resources: dict[str, Any],
    as_of: datetime = AS_OF,
    kb: KnowledgeBase | None = None,
    patient: dict[str, Any] | None = None,
    complaint: bool = True,
    advice: bool = False,
) -> list[Finding]:
    """The findings of `assessment_for`.

    Advice findings (M1, carried by any card) are left out unless `advice` asks for them.
    """
    from hooks.findings import FindingStatus

    found = assessment_for(*resources, as_of=as_of, kb=kb, patient=patient, complaint=complaint)
    return [f for f in found.findings if advice or f.status is not FindingStatus.ADVICE]


def by_rule(findings: list[Finding], rule_id: str) -> list[Finding]:
    """The findings of one rule."""
    return [finding for finding in findings if finding.rule_id == rule_id]


def rule_ids(findings: list[Finding]) -> set[str]:
    """Which rules fired."""
    return {finding.rule_id for finding in findings}


def iso(days_before: float, hours: float = 0.0, base: datetime = AS_OF) -> str:
    """An ISO instant `days_before` days (plus hours) before `base`."""
    from datetime import timedelta

    return (base - timedelta(days=days_before, hours=hours)).isoformat()


def make_service_request(
    code: str,
    system: str = "loinc",
    *,
    status: str = "active",
    authored: str | None = "2021-03-28T09:00:00+00:00",
    display: str | None = None,
) -> dict[str, Any]:
    """A ServiceRequest for one test or referral (an order already made)."""
    request: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": _id("sr"),
        "status": status,
        "intent": "order",
        "code": concept(code, system, display),
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
    }
    if authored is not None:
        request["authoredOn"] = authored
    return request
