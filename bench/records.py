"""Seeded synthetic patient records with realistic codes; no files, no real patients.

Each record has an active knee-cramp complaint, so a knee-spasm call runs the whole rule path,
and a recent low potassium on furosemide, so the rules have something to find. Dates are relative
to `as_of`, so labs stay inside the rules' look-back window whatever day the bench runs.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

Resource = dict[str, Any]

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


@dataclass(frozen=True, slots=True)
class Lab:
    """One analyte: LOINC code, UCUM unit and the range values are drawn from."""

    loinc: str
    display: str
    unit: str
    low: float
    high: float


# A basic metabolic panel plus magnesium and phosphate, then CBC and liver tests (inpatients).
LABS = (
    Lab("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", 3.6, 5.0),
    Lab("2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L", 136, 145),
    Lab("17861-6", "Calcium [Mass/volume] in Serum or Plasma", "mg/dL", 8.6, 10.2),
    Lab("19123-9", "Magnesium [Mass/volume] in Serum or Plasma", "mg/dL", 1.7, 2.4),
    Lab("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", 0.7, 1.3),
    Lab("2075-0", "Chloride [Moles/volume] in Serum or Plasma", "mmol/L", 98, 107),
    Lab("2028-9", "Carbon dioxide, total [Moles/volume] in Serum or Plasma", "mmol/L", 22, 29),
    Lab("3094-0", "Urea nitrogen [Mass/volume] in Serum or Plasma", "mg/dL", 7, 20),
    Lab("2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL", 70, 140),
    Lab("6298-4", "Potassium [Moles/volume] in Blood", "mmol/L", 3.6, 5.0),
    Lab("2947-0", "Sodium [Moles/volume] in Blood", "mmol/L", 136, 145),
    Lab("49765-1", "Calcium [Mass/volume] in Blood", "mg/dL", 8.6, 10.2),
    Lab("2777-1", "Phosphate [Mass/volume] in Serum or Plasma", "mg/dL", 2.5, 4.5),
    Lab("1751-7", "Albumin [Mass/volume] in Serum or Plasma", "g/dL", 3.5, 5.0),
    Lab("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", 11.5, 16.0),
    Lab("6690-2", "Leukocytes [#/volume] in Blood by Automated count", "10*3/uL", 4.0, 11.0),
    Lab("777-3", "Platelets [#/volume] in Blood by Automated count", "10*3/uL", 150, 400),
    Lab(
        "1742-6",
        "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
        "U/L",
        7,
        56,
    ),
    Lab(
        "2532-0",
        "Lactate dehydrogenase [Enzymatic activity/volume] in Serum or Plasma",
        "U/L",
        140,
        280,
    ),
    Lab("2157-6", "Creatine kinase [Enzymatic activity/volume] in Serum or Plasma", "U/L", 30, 200),
)
OUTPATIENT_PANEL = 10  # the first ten analytes; inpatients get all twenty every day
# The latest result of these is set out of range, so the electrolyte rules fire.
LATEST_OVERRIDES = {"2823-3": 3.1, "19123-9": 1.5}

# RxNorm as Synthea writes it (SCDC/SCD codes); furosemide and a statin first, both active.
MEDICATIONS = (
    ("315971", "Lasix 40mg"),
    ("316672", "Simvistatin 10 MG"),
    ("316049", "Hydrochlorothiazide 25 MG"),
    ("866414", "24 HR metoprolol succinate 100 MG Extended Release Oral Tablet"),
    ("197361", "Amlodipine 5 MG Oral Tablet"),
    ("860975", "24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet"),
    ("314076", "lisinopril 10 MG Oral Tablet"),
    ("745679", "200 ACTUAT Albuterol 0.09 MG/ACTUAT Metered Dose Inhaler"),
    ("312961", "Simvastatin 20 MG Oral Tablet"),
    ("1719286", "10 ML Furosemide 10 MG/ML Injection"),
    ("197604", "Digoxin 0.125 MG Oral Tablet"),
    ("855332", "Warfarin Sodium 5 MG Oral Tablet"),
    ("966222", "Levothyroxine Sodium 0.075 MG Oral Tablet"),
    ("310325", "ferrous sulfate 325 MG Oral Tablet"),
)
ACTIVE_MEDICATIONS = 4

# (SNOMED code, display); the complaint is added separately, first.
CONDITIONS = (
    ("38341003", "Hypertension"),
    ("55822004", "Hyperlipidemia"),
    ("44054006", "Diabetes mellitus type 2"),
    ("15777000", "Prediabetes"),
    ("271737000", "Anemia"),
    ("162864005", "Body mass index 30+ - obesity"),
    ("88805009", "Chronic congestive heart failure"),
    ("49436004", "Atrial fibrillation"),
    ("53741008", "Coronary heart disease"),
    ("239873007", "Osteoarthritis of knee"),
    ("40055000", "Chronic sinusitis"),
    ("368581000119106", "Neuropathy due to type 2 diabetes mellitus"),
    ("83664006", "Idiopathic atrophic hypothyroidism"),
    ("433144002", "Chronic kidney disease stage 3"),
    ("195967001", "Asthma"),
    ("185086009", "Chronic obstructive bronchitis"),
    ("230690007", "Stroke"),
    ("59621000", "Essential hypertension"),
    ("26929004", "Alzheimer's disease"),
    ("414545008", "Ischemic heart disease"),
)
ACTIVE_CONDITIONS = 8


@dataclass(frozen=True, slots=True)
class Shape:
    """How many of each resource a record holds (plus one Patient)."""

    conditions: int  # including the complaint
    medications: int
    labs: int
    encounters: int
    inpatient: bool = False

    @property
    def total(self) -> int:
        """Resources in the record, the Patient included."""
        return 1 + self.conditions + self.medications + self.labs + self.encounters


class _Ids:
    """Seeded uuid4s: the same seed gives the same ids."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def __call__(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


def generate(shape: Shape, seed: int, as_of: date) -> list[Resource]:
    """One patient's record; deterministic for (shape, seed, as_of)."""
    rng = random.Random(f"{seed}:{shape}")
    ids = _Ids(rng)
    patient = _patient(ids(), rng, as_of)
    ref = {"reference": f"Patient/{patient['id']}"}
    encounters = _encounters(shape, ids, ref, as_of)
    return [
        patient,
        *_conditions(shape, ids, ref, as_of),
        *_medications(shape, ids, ref, as_of),
        *_labs(shape, ids, rng, ref, encounters, as_of),
        *encounters,
    ]


def _instant(day: date, hour: int = 8) -> str:
    return datetime.combine(day, time(hour), UTC).isoformat().replace("+00:00", "Z")


def _concept(system: str, code: str, display: str) -> Resource:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def _patient(pid: str, rng: random.Random, as_of: date) -> Resource:
    born = as_of - timedelta(days=365 * rng.randint(55, 85) + rng.randint(0, 364))
    return {
        "resourceType": "Patient",
        "id": pid,
        "name": [{"use": "official", "family": "Bench", "given": ["Synthetic"]}],
        "gender": rng.choice(["female", "male"]),
        "birthDate": born.isoformat(),
    }


def _status(system: str, code: str) -> Resource:
    return {"coding": [{"system": system, "code": code}]}


def _conditions(shape: Shape, ids: _Ids, ref: Resource, as_of: date) -> list[Resource]:
    complaint = {
        "resourceType": "Condition",
        "id": ids(),
        "clinicalStatus": _status(CLINICAL, "active"),
        "verificationStatus": _status(VERIFICATION, "confirmed"),
        "category": [_status(CONDITION_CATEGORY, "problem-list-item")],
        "code": _concept(SNOMED, "449918009", "Cramp in lower leg"),
        "bodySite": [_concept(SNOMED, "72696002", "Knee region structure")],
        "subject": ref,
        "onsetDateTime": _instant(as_of - timedelta(days=3)),
        "recordedDate": _instant(as_of - timedelta(days=1)),
    }
    out = [complaint]
    for i in range(shape.conditions - 1):
        code, display = CONDITIONS[i % len(CONDITIONS)]
        onset = as_of - timedelta(days=90 + 97 * i)
        condition = {
            "resourceType": "Condition",
            "id": ids(),
            "clinicalStatus": _status(CLINICAL, "active" if i < ACTIVE_CONDITIONS else "resolved"),
            "verificationStatus": _status(VERIFICATION, "confirmed"),
            "category": [_status(CONDITION_CATEGORY, "encounter-diagnosis")],
            "code": _concept(SNOMED, code, display),
            "subject": ref,
            "onsetDateTime": _instant(onset),
            "recordedDate": _instant(onset),
        }
        if i >= ACTIVE_CONDITIONS:
            condition["abatementDateTime"] = _instant(onset + timedelta(days=30))
        out.append(condition)
    return out


def _medications(shape: Shape, ids: _Ids, ref: Resource, as_of: date) -> list[Resource]:
    out = []
    for i in range(shape.medications):
        code, display = MEDICATIONS[i % len(MEDICATIONS)]
        out.append(
            {
                "resourceType": "MedicationRequest",
                "id": ids(),
                "status": "active" if i < ACTIVE_MEDICATIONS else "stopped",
                "intent": "order",
                "medicationCodeableConcept": _concept(RXNORM, code, display),
                "subject": ref,
                "authoredOn": _instant(as_of - timedelta(days=30 + 45 * i)),
                "dosageInstruction": [
                    {
                        "sequence": 1,
                        "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                        "asNeededBoolean": False,
                        "doseAndRate": [{"doseQuantity": {"value": 1}}],
                    }
                ],
            }
        )
    return out


def _encounters(shape: Shape, ids: _Ids, ref: Resource, as_of: date) -> list[Resource]:
    out = []
    for i in range(shape.encounters):
        inpatient = shape.inpatient and i == 0
        start = as_of - timedelta(days=_inpatient_days(shape) if inpatient else 1 + 60 * i)
        encounter: Resource = {
            "resourceType": "Encounter",
            "id": ids(),
            "status": "in-progress" if inpatient else "finished",
            "class": {"system": ACT_CODE, "code": "IMP" if inpatient else "AMB"},
            "type": [
                _concept(SNOMED, "183452005", "Emergency hospital admission")
                if inpatient
                else _concept(SNOMED, "185349003", "Encounter for check up")
            ],
            "subject": ref,
            "period": {"start": _instant(start)},
        }
        if not inpatient:
            encounter["period"]["end"] = _instant(start, hour=9)
        out.append(encounter)
    return out


def _inpatient_days(shape: Shape) -> int:
    return -(-shape.labs // len(LABS))


def _labs(
    shape: Shape,
    ids: _Ids,
    rng: random.Random,
    ref: Resource,
    encounters: list[Resource],
    as_of: date,
) -> list[Resource]:
    """Daily full panels for an inpatient; for an outpatient, a ten-test panel every 30 days."""
    panel = LABS if shape.inpatient else LABS[:OUTPATIENT_PANEL]
    step = 1 if shape.inpatient else 30
    out = []
    for i in range(shape.labs):
        draw, lab = divmod(i, len(panel))
        analyte = panel[lab]
        day = as_of - timedelta(days=1 + draw * step)
        value = LATEST_OVERRIDES.get(analyte.loinc) if draw == 0 else None
        if value is None:
            value = round(rng.uniform(analyte.low, analyte.high), 2)
        observation: Resource = {
            "resourceType": "Observation",
            "id": ids(),
            "status": "final",
            "category": [_concept(OBS_CATEGORY, "laboratory", "laboratory")],
            "code": _concept(LOINC, analyte.loinc, analyte.display),
            "subject": ref,
            "effectiveDateTime": _instant(day, hour=6),
            "issued": _instant(day, hour=7),
            "valueQuantity": {
                "value": value,
                "unit": analyte.unit,
                "system": UCUM,
                "code": analyte.unit,
            },
        }
        if shape.inpatient and encounters:
            observation["encounter"] = {"reference": f"Encounter/{encounters[0]['id']}"}
        out.append(observation)
    return out
