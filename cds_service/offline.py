"""An offline pipeline for `cds-service evaluate`: no database, no network, a fixed clock."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

from cds_service.app import card_renderer, read_environment
from cds_service.dispatch import Pipeline
from cds_service.errors import InvalidRequest
from cds_service.memory_fhir import MemoryFhir, build_request
from cds_service.settings import ConfigError, load_settings
from hooks.knowledge import KnowledgeError, load_knowledge
from hooks.registry import Registry
from hooks.services import SERVICES


def offline_pipeline(clock: datetime, knowledge_dir: Path | None = None) -> Pipeline:
    """Pipeline that uses only the prefetch in the request: the allowlist is emptied.

    `knowledge_dir` overrides CDS_KNOWLEDGE_DIR (the workbench replays two knowledge sets).
    """
    raw = read_environment(os.environ)
    raw["FHIR_ALLOWLIST"] = []
    if knowledge_dir is not None:
        raw["KNOWLEDGE_DIR"] = str(knowledge_dir)
    settings = load_settings(raw)
    try:
        knowledge = load_knowledge(settings.KNOWLEDGE_DIR)
    except KnowledgeError as exc:
        raise ConfigError(str(exc)) from exc
    registry = Registry(SERVICES, knowledge)
    return Pipeline(
        settings=settings,
        registry=registry,
        render_cards=card_renderer(registry),
        clock=lambda: clock,
    )


def request_from_bundle(
    pipeline: Pipeline, service_id: str, bundle: dict[str, Any], extra: list[dict[str, Any]]
) -> dict[str, Any]:
    """A hook request for the bundle's one patient, prefetch answered by the service templates."""
    spec = pipeline.service(service_id)
    entries = [
        e["resource"] for e in bundle.get("entry") or () if isinstance(e, dict) and "resource" in e
    ]
    patients = [r["id"] for r in entries if r.get("resourceType") == "Patient" and "id" in r]
    if len(patients) != 1:
        raise InvalidRequest(
            "bundle must hold one patient", details=[f"found {len(patients)} patients"]
        )
    # Added resources without a subject belong to the bundle's patient.
    subject = {"reference": f"Patient/{patients[0]}"}
    added = [r if "subject" in r else {**r, "subject": subject} for r in extra]
    fhir = MemoryFhir([*entries, *added])
    return build_request(fhir, pipeline.templates[spec.id], patients[0], hook=spec.hook)
