"""The workloads: patient-view calls built from seeded records through the service's own templates.

Prefetch is the service's discovery templates answered by `MemoryFhir`, so the requests follow
template changes: a record resource no template asks for is not sent. The fallback workload
sends no prefetch; the service fetches every key from the bench FHIR server instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson

from bench.records import Resource, Shape, generate
from cds_service.memory_fhir import MemoryFhir, build_request

SERVICE_ID = "knee-spasm-review"
USER_ID = "Practitioner/bench-clinician"
SHAPES = {
    "small": Shape(conditions=3, medications=2, labs=12, encounters=2),
    "typical": Shape(conditions=20, medications=10, labs=150, encounters=10),
    "heavy": Shape(conditions=40, medications=40, labs=1880, encounters=40, inpatient=True),
}
DESCRIPTIONS = {
    "small": "outpatient, 20 resources: 3 conditions, 2 meds, 12 labs, 2 encounters",
    "typical": "outpatient, 191 resources: 20 conditions, 10 meds, 150 labs, 10 encounters",
    "heavy": "inpatient, 2,001 resources: daily 20-test panels for 94 days, 40 meds",
    "fallback": "the typical record, no prefetch: every key fetched from the bench FHIR server",
}
FALLBACK_RECORD = "typical"
MEMORY_BASE = "urn:memory"  # the base build_request gives MemoryFhir


@dataclass(frozen=True)
class Workload:
    """One request body, sent unchanged for the whole measurement."""

    name: str
    description: str
    patient_id: str
    record: int  # resources in the patient's record
    sent: int  # resources in the request's prefetch (0 when the service must fetch)
    body: bytes
    fallback: bool = False


def records(seed: int, as_of: date) -> dict[str, list[Resource]]:
    """Every shape's record, deterministic for (seed, as_of)."""
    return {name: generate(shape, seed, as_of) for name, shape in SHAPES.items()}


def build_workloads(
    templates: Mapping[str, str], fhir_base: str, seed: int, as_of: date
) -> list[Workload]:
    """small, typical, heavy (full prefetch) and fallback (none; data from `fhir_base`)."""
    out = []
    all_records = records(seed, as_of)
    for name, resources in all_records.items():
        patient_id = resources[0]["id"]
        fhir = MemoryFhir(resources)
        request = build_request(
            fhir, templates, patient_id, user_id=USER_ID, hook_instance=_hook_instance(seed, name)
        )
        unpage(fhir, request["prefetch"])
        out.append(
            Workload(
                name=name,
                description=DESCRIPTIONS[name],
                patient_id=patient_id,
                record=len(resources),
                sent=sent_resources(request["prefetch"]),
                body=orjson.dumps(request),
            )
        )
    source = all_records[FALLBACK_RECORD]
    out.append(
        Workload(
            name="fallback",
            description=DESCRIPTIONS["fallback"],
            patient_id=source[0]["id"],
            record=len(source),
            sent=0,
            body=orjson.dumps(fallback_request(source[0]["id"], fhir_base, seed)),
            fallback=True,
        )
    )
    return out


def fallback_request(patient_id: str, fhir_base: str, seed: int) -> dict[str, Any]:
    """A call without prefetch, naming the FHIR server and a bearer token for it."""
    return {
        "hook": "patient-view",
        "hookInstance": _hook_instance(seed, "fallback"),
        "fhirServer": fhir_base,
        "fhirAuthorization": {
            "access_token": "bench-not-a-secret",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "cds-bench",
        },
        "context": {"userId": USER_ID, "patientId": patient_id},
    }


def unpage(fhir: MemoryFhir, prefetch: dict[str, Any]) -> None:
    """Merge every page into one bundle, as `build_request` means to ("unpaged").

    A template's `_count` (e.g. labs `_count=500`) pages MemoryFhir's answer, and a `next` link to
    `urn:memory` would send the service to a fhirServer the request does not name (a 412).
    """
    for value in prefetch.values():
        if not isinstance(value, dict) or value.get("resourceType") != "Bundle":
            continue
        page = value
        while next_url := _next_link(page):
            page = fhir.get(next_url.removeprefix(MEMORY_BASE + "/"), base=MEMORY_BASE) or {}
            value["entry"].extend(page.get("entry") or ())
        value.pop("link", None)


def _next_link(bundle: dict[str, Any]) -> str | None:
    return next(
        (ln["url"] for ln in bundle.get("link") or () if ln.get("relation") == "next"), None
    )


def sent_resources(prefetch: Mapping[str, Any]) -> int:
    """Resources in a prefetch object: bundle entries, single resources; null counts 0."""
    total = 0
    for value in prefetch.values():
        if isinstance(value, dict) and value.get("resourceType") == "Bundle":
            total += len(value.get("entry") or ())
        elif isinstance(value, dict):
            total += 1
    return total


def _hook_instance(seed: int, name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"cds-bench:{seed}:{name}"))
