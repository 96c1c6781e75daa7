"""An offline pipeline for `cds-service evaluate`: no database, no network, a fixed clock."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from cds_service import bundles
from cds_service.assembly import build_pipeline, settings_from
from cds_service.dispatch import Pipeline
from cds_service.errors import InvalidRequest
from cds_service.memory_fhir import MemoryFhir, build_request
from hooks.registry import ReferenceFollow
from hooks.types import JsonObject


def offline_pipeline(clock: datetime, knowledge_dir: Path | None = None) -> Pipeline:
    """Pipeline that uses only the prefetch in the request: the allowlist is emptied.

    `knowledge_dir` overrides CDS_KNOWLEDGE_DIR (the workbench replays two knowledge sets).
    """
    overrides: dict[str, object] = {"FHIR_ALLOWLIST": [], "CLOCK": clock}
    if knowledge_dir is not None:
        overrides["KNOWLEDGE_DIR"] = str(knowledge_dir)
    return build_pipeline(settings_from(overrides))


def request_from_bundle(
    pipeline: Pipeline, service_id: str, bundle: dict[str, Any], extra: list[dict[str, Any]]
) -> dict[str, Any]:
    """A hook request for the bundle's one patient, prefetch answered by the service templates."""
    spec = pipeline.service(service_id)
    entries = list(bundles.unpack(bundle).resources)
    patients = [r["id"] for r in entries if r.get("resourceType") == "Patient" and "id" in r]
    if len(patients) != 1:
        raise InvalidRequest(
            "bundle must hold one patient", details=[f"found {len(patients)} patients"]
        )
    # Added resources without a subject belong to the bundle's patient.
    subject = {"reference": f"Patient/{patients[0]}"}
    added = [r if "subject" in r else {**r, "subject": subject} for r in extra]
    fhir = MemoryFhir([*entries, *added])
    request = build_request(fhir, pipeline.templates[spec.id], patients[0], hook=spec.hook)
    include_followed(request["prefetch"], fhir, spec.follow)
    return request


def include_followed(
    prefetch: JsonObject, fhir: MemoryFhir, follow: Iterable[ReferenceFollow]
) -> None:
    """Add what the service would fetch by reference (a MedicationRequest's Medication).

    Offline there is no fhirServer to fetch it from: it comes from the bundle itself (whose
    `urn:uuid:` references MemoryFhir has made `Type/id`), as an `include` entry of the page
    that references it.
    """
    for rule in follow:
        targets = {r.get("id"): r for r in fhir.by_type.get(rule.target_type, ())}
        for value in prefetch.values():
            if not isinstance(value, dict) or value.get("resourceType") != "Bundle":
                continue
            entries = value.setdefault("entry", [])
            included = {id(e.get("resource")) for e in entries if isinstance(e, dict)}
            for text in rule.references(bundles.unpack(value).resources):
                kind, _, rid = text.partition("/")
                target = targets.get(rid) if kind == rule.target_type else None
                if target is not None and id(target) not in included:
                    included.add(id(target))
                    entries.append({"resource": target, "search": {"mode": "include"}})
