"""A Synthea-sized population for the replay bench, made from the 40 sample bundles.

The sample set in shared/fhir/synthea was trimmed (its README): Claim, ExplanationOfBenefit,
Procedure, DiagnosticReport and the rest were dropped, leaving a median bundle of about 200 KB.
Untrimmed Synthea bundles have a median of about 1 MB, most of it billing. To measure the
replay at that size, each copy of a sample bundle gets one Claim and one ExplanationOfBenefit
per Encounter, shaped like Synthea's (items, adjudications, contained resources), until it is
`scale` times its trimmed size. The service never reads them, but the replay must read past
them, which is the point. Each copy gets its own Patient id, so copies are distinct patients.
"""

from __future__ import annotations

import json
import random
import statistics
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO.parent / "shared" / "fhir" / "synthea"
SNOMED = "http://snomed.info/sct"
SERVICES = [
    ("185345009", "Encounter for symptom"),
    ("162673000", "General examination of patient (procedure)"),
    ("430193006", "Medication Reconciliation (procedure)"),
    ("710824005", "Assessment of health and social care needs (procedure)"),
    ("171207006", "Depression screening (procedure)"),
    ("454711000124102", "Depression screening using PHQ-2 (procedure)"),
    ("428211000124100", "Assessment of substance use (procedure)"),
    ("866148006", "Screening for domestic abuse (procedure)"),
]
ADJUDICATION = [
    ("https://bluebutton.cms.gov/resources/variables/line_coinsrnc_amt", "Line Beneficiary Coinsurance Amount"),
    ("https://bluebutton.cms.gov/resources/variables/line_prvdr_pmt_amt", "Line Provider Payment Amount"),
    ("https://bluebutton.cms.gov/resources/variables/line_sbmtd_chrg_amt", "Line Submitted Charge Amount"),
    ("https://bluebutton.cms.gov/resources/variables/line_alowd_chrg_amt", "Line Allowed Charge Amount"),
    ("https://bluebutton.cms.gov/resources/variables/line_bene_ptb_ddctbl_amt", "Line Beneficiary Part B Deductible Amount"),
    ("https://bluebutton.cms.gov/resources/variables/line_prcsg_ind_cd", "Line Processing Indicator Code"),
]  # fmt: skip


@dataclass(frozen=True)
class Population:
    """The files written and their sizes."""

    folder: Path
    files: list[Path]
    sizes: list[int]

    @property
    def median_bytes(self) -> float:
        return statistics.median(self.sizes)

    @property
    def total_bytes(self) -> int:
        return sum(self.sizes)


def _money(value: float) -> dict[str, Any]:
    return {"value": round(value, 2), "currency": "USD"}


def _claim(rng: random.Random, patient: str, encounter: dict[str, Any]) -> dict[str, Any]:
    period = encounter.get("period") or {}
    items: list[dict[str, Any]] = []
    for n in range(1, rng.randint(3, 8) + 1):
        code, display = rng.choice(SERVICES)
        items.append(
            {
                "sequence": n,
                "productOrService": {"coding": [{"system": SNOMED, "code": code, "display": display}], "text": display},
                "encounter": [{"reference": f"urn:uuid:{encounter['id']}"}],
                "net": _money(rng.uniform(20, 600)),
            }
        )  # fmt: skip
    return {
        "resourceType": "Claim",
        "id": str(uuid.UUID(int=rng.getrandbits(128))),
        "status": "active",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "institutional"}]},
        "use": "claim",
        "patient": {"reference": f"urn:uuid:{patient}"},
        "billablePeriod": {"start": period.get("start"), "end": period.get("end")},
        "created": period.get("end"),
        "provider": {"reference": "urn:uuid:4d71c9a4-5b0d-3e1c-9b7e-f9a9b8e1f2c3", "display": "PCP CLINIC"},
        "priority": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/processpriority", "code": "normal"}]},
        "facility": {"reference": "urn:uuid:4d71c9a4-5b0d-3e1c-9b7e-f9a9b8e1f2c3", "display": "PCP CLINIC"},
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"display": "Medicaid"}}],
        "item": items,
        "total": _money(sum(i["net"]["value"] for i in items)),
    }  # fmt: skip


def _eob(rng: random.Random, patient: str, claim: dict[str, Any]) -> dict[str, Any]:
    items = []
    for item in claim["item"]:
        adjudication = [
            {"category": {"coding": [{"system": system, "code": system.rsplit("/", 1)[1], "display": display}]},
             "amount": _money(rng.uniform(0, item["net"]["value"]))}
            for system, display in ADJUDICATION
        ]  # fmt: skip
        items.append(
            {
                "sequence": item["sequence"],
                "category": {"coding": [{"system": "https://bluebutton.cms.gov/resources/variables/line_cms_type_srvc_cd", "code": "1", "display": "Medical care"}]},
                "productOrService": item["productOrService"],
                "servicedPeriod": claim["billablePeriod"],
                "locationCodeableConcept": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/ex-serviceplace", "code": "19", "display": "Off Campus-Outpatient Hospital"}]},
                "encounter": item["encounter"],
                "net": item["net"],
                "adjudication": adjudication,
            }
        )  # fmt: skip
    return {
        "resourceType": "ExplanationOfBenefit",
        "id": str(uuid.UUID(int=rng.getrandbits(128))),
        "contained": [
            {"resourceType": "ServiceRequest", "id": "referral", "status": "completed", "intent": "order",
             "subject": {"reference": f"urn:uuid:{patient}"}, "requester": {"reference": "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|9999967991"}},
            {"resourceType": "Coverage", "id": "coverage", "status": "active", "type": {"text": "Medicaid"},
             "beneficiary": {"reference": f"urn:uuid:{patient}"}, "payor": [{"display": "Medicaid"}]},
        ],
        "identifier": [{"system": "https://bluebutton.cms.gov/resources/variables/clm_id", "value": claim["id"]}],
        "status": "active",
        "type": claim["type"],
        "use": "claim",
        "patient": {"reference": f"urn:uuid:{patient}"},
        "billablePeriod": claim["billablePeriod"],
        "created": claim["created"],
        "insurer": {"display": "Medicaid"},
        "provider": {"reference": "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|9999967991"},
        "referral": {"reference": "#referral"},
        "claim": {"reference": f"urn:uuid:{claim['id']}"},
        "outcome": "complete",
        "careTeam": [{"sequence": 1, "provider": {"reference": "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|9999967991"},
                      "role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claimcareteamrole", "code": "primary", "display": "Primary provider"}]}}],
        "insurance": [{"focal": True, "coverage": {"reference": "#coverage", "display": "Medicaid"}}],
        "item": items,
        "total": [{"category": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/adjudication", "code": "submitted", "display": "Submitted Amount"}]}, "amount": claim["total"]}],
        "payment": {"amount": _money(rng.uniform(0, claim["total"]["value"]))},
    }  # fmt: skip


def padded(bundle: dict[str, Any], scale: float, rng: random.Random) -> dict[str, Any]:
    """The bundle with billing resources per Encounter until it is `scale` times its size."""
    target = scale * len(json.dumps(bundle, separators=(",", ":")))
    resources = [e["resource"] for e in bundle["entry"]]
    (patient,) = [r["id"] for r in resources if r["resourceType"] == "Patient"]
    encounters = [r for r in resources if r["resourceType"] == "Encounter"] or [{"id": patient}]
    entries = list(bundle["entry"])
    size = len(json.dumps(bundle, separators=(",", ":")))
    while size < target:
        for encounter in encounters:
            claim = _claim(rng, patient, encounter)
            for resource in (claim, _eob(rng, patient, claim)):
                entries.append(
                    {
                        "fullUrl": f"urn:uuid:{resource['id']}",
                        "resource": resource,
                        "request": {"method": "POST", "url": resource["resourceType"]},
                    }
                )
                size += len(json.dumps(entries[-1], separators=(",", ":"))) + 1
            if size >= target:
                break
    return {**bundle, "entry": entries}


def _copies(count: int) -> Iterator[tuple[int, Path]]:
    samples = sorted(SAMPLE.glob("*_*.json"))
    if not samples:
        raise SystemExit(f"sample bundles missing: {SAMPLE}")
    for n in range(count):
        yield n, samples[n % len(samples)]


def build(folder: Path, count: int, scale: float, seed: int = 20261121) -> Population:
    """Write `count` padded bundles (cycling through the samples), each a distinct patient."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    padded_by_sample: dict[Path, tuple[str, str]] = {}
    files, sizes = [], []
    for n, sample in _copies(count):
        if sample not in padded_by_sample:
            bundle = json.loads(sample.read_text())
            (patient,) = [
                e["resource"]["id"]
                for e in bundle["entry"]
                if e["resource"]["resourceType"] == "Patient"
            ]
            padded_by_sample[sample] = (json.dumps(padded(bundle, scale, rng), indent=1), patient)
        text, patient = padded_by_sample[sample]
        path = folder / f"patient-{n:06d}.json"
        path.write_text(text.replace(patient, str(uuid.UUID(int=rng.getrandbits(128)))))
        files.append(path)
        sizes.append(path.stat().st_size)
    return Population(folder, files, sizes)
