"""The workbench's one door into the service: a patient's resources in, the service's cards out.

A patient goes through exactly what `cds-service evaluate BUNDLE` runs: the offline pipeline
(no database, no network, a fixed clock), its prefetch answered from the patient's resources by
the service's own templates (`cds_service.memory_fhir`), then `Pipeline.invoke`. Only this
module imports the pipeline (an import-linter contract keeps it so); `_assemble` and `_invoke`
are the two small functions to adapt when the way the pipeline is assembled changes.
"""

from __future__ import annotations

import gc
import hashlib
import hmac
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from cards.model import Card
from cds_service.dispatch import Outcome, Pipeline
from cds_service.errors import CdsError
from cds_service.offline import offline_pipeline, request_from_bundle
from cds_service.workbench.models import (
    CardDigest,
    Evaluation,
    KnowledgeRef,
    PatientError,
    RuleHit,
    SuggestedOrder,
)
from hooks.knowledge import content_digest

JsonObject = dict[str, Any]
DEFAULT_SERVICE = "knee-spasm-review"


@dataclass(frozen=True)
class EngineSpec:
    """What an engine is built from; hashable and picklable, so Dask can ship it to workers."""

    as_of: datetime
    knowledge_dir: str | None = None  # None: CDS_KNOWLEDGE_DIR or the shipped knowledge
    service_id: str = DEFAULT_SERVICE
    added: bytes = b"[]"  # JSON list of resources added to every patient (e.g. a complaint)

    @staticmethod
    def of(
        as_of: datetime,
        knowledge_dir: Path | None = None,
        service_id: str = DEFAULT_SERVICE,
        added: Sequence[JsonObject] = (),
    ) -> EngineSpec:
        """Spec from Python values."""
        return EngineSpec(
            as_of=as_of,
            knowledge_dir=str(knowledge_dir) if knowledge_dir is not None else None,
            service_id=service_id,
            added=orjson.dumps(list(added)),
        )


def _assemble(spec: EngineSpec) -> Pipeline:
    """The offline pipeline `cds-service evaluate` uses, at the spec's clock and knowledge."""
    directory = Path(spec.knowledge_dir) if spec.knowledge_dir is not None else None
    return offline_pipeline(spec.as_of, directory)


def _invoke(
    pipeline: Pipeline, service_id: str, resources: list[JsonObject], added: list[JsonObject]
) -> Outcome:
    """One patient through the service: templates answered from the resources, then invoke."""
    bundle = {"resourceType": "Bundle", "entry": [{"resource": r} for r in resources]}
    request = request_from_bundle(pipeline, service_id, bundle, added)
    return pipeline.invoke(service_id, request)


@dataclass
class Engine:
    """A pipeline built once per process, and what the workbench reads from it."""

    spec: EngineSpec
    pipeline: Pipeline = field(init=False)
    knowledge: KnowledgeRef = field(init=False)
    read_types: frozenset[str] = field(init=False)
    extension_key: str = field(init=False)

    def __post_init__(self) -> None:
        self.pipeline = _assemble(self.spec)
        kb = self.pipeline.registry.knowledge
        directory = self.pipeline.settings.KNOWLEDGE_DIR
        self.knowledge = KnowledgeRef(
            version=kb.version, digest=content_digest(directory), directory=str(directory)
        )
        self.extension_key = kb.cards.extension_key
        self.read_types = template_types(self.pipeline.templates[self.spec.service_id].values())
        self._added: list[JsonObject] = orjson.loads(self.spec.added)

    @property
    def rule_titles(self) -> dict[str, tuple[str, str]]:
        """Rule id -> (title, family), for labelling counts."""
        return {r.id: (r.title, r.family.value) for r in self.pipeline.registry.knowledge.rules}

    def run(self, resources: list[JsonObject]) -> tuple[list[Card], PatientError | None]:
        """The service's cards for the patient, as an EHR receives them, or why there are none."""
        try:
            outcome = _invoke(self.pipeline, self.spec.service_id, resources, self._added)
        except CdsError as exc:
            return [], PatientError(cause=exc.message, details=tuple(exc.details))
        except Exception as exc:
            # The message may quote patient data: keep the type and where it was raised.
            cause = f"internal error: {type(exc).__name__} at {_where(exc)}"
            return [], PatientError(cause=cause)
        return outcome.response.cards, None

    def evaluate(self, resources: list[JsonObject]) -> Evaluation:
        """The patient's cards as digests, or why the service could not evaluate them (no PHI)."""
        cards, error = self.run(resources)
        if error is not None:
            return Evaluation(error=error)
        return Evaluation(cards=tuple(self.digest(card) for card in cards))

    def digest(self, card: Card) -> CardDigest:
        """The parts of a card a committee counts."""
        findings = ((card.extension or {}).get(self.extension_key) or {}).get("findings") or ()
        return CardDigest(
            family=card.source.topic.code if card.source.topic else "",
            indicator=card.indicator,
            summary=card.summary,
            rules=tuple(
                RuleHit(
                    rule=f["ruleId"],
                    version=f["ruleVersion"],
                    status=f["status"],
                    severity=f["severity"],
                )
                for f in findings
            ),
            orders=tuple(
                SuggestedOrder(
                    label=s.label,
                    codes=tuple(
                        coding["code"]
                        for action in s.actions or ()
                        for coding in ((action.resource or {}).get("code") or {}).get("coding", ())
                    ),
                )
                for s in card.suggestions or ()
            ),
        )


def template_types(templates: Sequence[str] | Any) -> frozenset[str]:
    """Resource types the prefetch templates read (`Type?...` or `Type/...`)."""
    return frozenset(t.split("?", 1)[0].split("/", 1)[0] for t in templates)


_ENGINES: dict[EngineSpec, Engine] = {}


def engine_for(spec: EngineSpec) -> Engine:
    """The engine for `spec` in this process, built on first use (once per Dask worker).

    The pipeline's objects live as long as the process: they are moved out of the cyclic
    garbage collector's sight, which otherwise rescans them on every full collection (about a
    third of the time per patient, measured).
    """
    engine = _ENGINES.get(spec)
    if engine is None:
        engine = _ENGINES[spec] = Engine(spec)
        gc.collect()
        gc.freeze()
    return engine


def patient_key(salt: bytes, patient_id: str) -> str:
    """Keyed hash of a patient id, as the card ledger computes it (`Store.patient_hash`)."""
    return hmac.new(salt, patient_id.encode(), hashlib.sha256).hexdigest()


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "unknown"
    last = frames[-1]
    return f"{Path(last.filename).name}:{last.name}:{last.lineno}"
