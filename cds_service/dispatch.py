"""The pipeline, in order: request model → prefetch/FHIR → facts and rules → cards → response.

`Pipeline` is the one place that calls each step; the HTTP views and the CLI both use it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from cards.builders import IssuedCard
from cards.model import CdsResponse
from cds_service.body import schema_errors
from cds_service.errors import InvalidRequest, ServiceUnavailable, UnknownService
from cds_service.governance import SNOOZE_MISS, STATES_MISS, Fate, Governance, ledger_records
from cds_service.logs import log_event
from cds_service.prefetch import PrefetchStats, resolve_prefetch
from cds_service.protocol import (
    Discovery,
    FeedbackReceipt,
    FeedbackRequest,
    HookRequest,
    ServiceDescriptor,
    ServiceExtension,
)
from cds_service.settings import Settings
from cds_service.store import (
    CardRecord,
    DatabaseError,
    DatabaseRejected,
    FeedbackResult,
    FindingRecord,
    Store,
)
from hooks.contexts import HookContext
from hooks.findings import Assessment
from hooks.registry import HookCall, Registry, ServiceSpec

M = TypeVar("M", bound=BaseModel)
# An assessment, the patient id (the subject of suggested orders) and the digest of the rule
# states behind it → cards with provenance.
CardRenderer = Callable[[Assessment, str, str], list[IssuedCard]]


@dataclass
class Outcome:
    """A service call's response plus what the logs and metrics may say about it.

    `issued` is each card with the findings behind it: the one record of which rules made
    which card, read by the ledger, the metrics and the request log alike. `ledger` is every
    finding shown, shadowed or snoozed; `misses` names governance lookups the database could
    not answer (the call failed open).
    """

    response: CdsResponse
    service_id: str
    hook_instance: str
    assessment: Assessment
    issued: Sequence[IssuedCard]
    stats: PrefetchStats
    ledger_failure: str | None = None  # why the cards could not be recorded, if they were not
    ledger: Sequence[FindingRecord] = ()
    misses: tuple[str, ...] = ()
    rule_state_digest: str = ""

    @property
    def rule_ids(self) -> list[str]:
        """Every rule behind a card of this response, sorted."""
        return sorted({rule for issued in self.issued for rule in issued.rule_ids})

    def rule_ids_in(self, state: str) -> list[str]:
        """Rules with a finding recorded in this state (shadow, snoozed), sorted."""
        return sorted({record.rule_id for record in self.ledger if record.state == state})


@dataclass
class Pipeline:
    """Everything a call needs, built once at start-up."""

    settings: Settings
    registry: Registry
    render_cards: CardRenderer
    store: Store | None = None
    transport: httpx.AsyncBaseTransport | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    templates: dict[str, dict[str, str]] = field(init=False)
    governance: Governance = field(init=False)

    def __post_init__(self) -> None:
        self.templates = {s.id: s.templates(self.registry.knowledge) for s in self.registry}
        self.governance = Governance(
            self.registry.knowledge,
            (spec.id for spec in self.registry),
            self.store,
            self.settings.RULE_STATES_TTL_SECONDS,
        )

    @property
    def knowledge_version(self) -> str:
        """Version of the loaded clinical knowledge, for traceability."""
        return self.registry.knowledge.version

    def discovery(self) -> Discovery:
        """The discovery document, sorted by id (deterministic across workers)."""
        return Discovery(
            services=[
                ServiceDescriptor(
                    hook=spec.hook,
                    title=spec.title,
                    description=spec.description,
                    id=spec.id,
                    prefetch=self.templates[spec.id] or None,
                    usage_requirements=spec.usage_requirements,
                    extension=ServiceExtension(
                        knowledge_version=self.knowledge_version,
                        rule_states=self.governance.states(spec.id)[0].digest,
                    ),
                )
                for spec in self.registry
            ]
        )

    def service(self, service_id: str) -> ServiceSpec:
        """The hosted service, or a 404."""
        spec = self.registry.get(service_id)
        if spec is None:
            raise UnknownService("unknown service", details=["no CDS service with this id"])
        return spec

    def invoke(self, service_id: str, payload: Any) -> Outcome:
        """Run one hook call end to end."""
        spec = self.service(service_id)
        request = _validate(HookRequest, payload)
        if request.hook != spec.hook:
            raise InvalidRequest(
                "hook does not match the service",
                details=[f"hook: this service is invoked on {spec.hook!r}"],
            )
        context = _validate(spec.definition.context_model, request.context, prefix="context.")
        data, stats = resolve_prefetch(
            spec, self.templates[spec.id], request, context, self.settings, self.transport
        )
        states, states_missed = self.governance.states(spec.id)
        call: HookCall[HookContext] = HookCall(
            service_id=spec.id,
            hook=spec.hook,
            hook_instance=request.hook_instance,
            context=context,
            data=data,
            as_of=self.clock(),
            knowledge=self.registry.knowledge,
            rule_states=states.rules,
        )
        assessment = spec(call)
        stats.unreadable = data.unreadable()
        patient_key = _patient_key(context)
        judged, snooze_missed = self.governance.judge(
            spec.id, assessment.findings, patient_key, states
        )
        shown = Assessment(
            tuple(j.finding for j in judged if j.fate is Fate.SHOWN), assessment.prompt
        )
        issued = self.render_cards(shown, patient_key, states.digest) if shown.findings else []
        response = CdsResponse(cards=[card.card for card in issued])
        outcome = Outcome(
            response,
            spec.id,
            request.hook_instance,
            assessment,
            issued,
            stats,
            ledger=ledger_records(judged, issued),
            misses=(STATES_MISS,) * states_missed + (SNOOZE_MISS,) * snooze_missed,
            rule_state_digest=states.digest,
        )
        if self.store is not None and (issued or outcome.ledger):
            records = [_card_record(card) for card in issued]
            try:
                self.store.record_cards(
                    spec.id,
                    request.hook_instance,
                    patient_key,
                    self.knowledge_version,
                    records,
                    outcome.ledger,
                    states.digest,
                )
            except DatabaseError as exc:
                # Policy: the ledger is for feedback joins and analytics; a clinician keeps
                # the decision support. The miss is logged and counted, and feedback on these
                # cards will report them as unknown.
                outcome.ledger_failure = exc.reason
                log_event(
                    logging.WARNING,
                    "cards returned without a ledger record",
                    service_id=spec.id,
                    card_count=len(records),
                    reason=exc.reason,
                )
        return outcome

    def feedback(self, service_id: str, payload: Any) -> tuple[FeedbackReceipt, FeedbackResult]:
        """Validate and store feedback; committed before this returns, or a 503/400."""
        spec = self.service(service_id)
        request = _validate(FeedbackRequest, payload)
        if self.store is None:
            raise RuntimeError("feedback needs a store")
        try:
            result = self.store.record_feedback(spec.id, request.feedback)
        except DatabaseRejected:
            raise InvalidRequest(
                "feedback cannot be stored",
                details=["a value cannot be stored (length or characters); nothing was stored"],
            ) from None
        except DatabaseError as exc:
            raise ServiceUnavailable(
                "feedback not stored",
                details=[f"the database is unavailable ({exc.reason}); nothing was stored; retry"],
                retry_after=max(1, math.ceil(self.store.cooldown)),
            ) from None
        duplicates = len(request.feedback) - len(result.new)
        receipt = FeedbackReceipt(
            stored=len(request.feedback),
            duplicates=duplicates or None,
            unknown_cards=result.unknown or None,
        )
        return receipt, result


def _validate(model: type[M], payload: Any, prefix: str = "") -> M:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise InvalidRequest(
            "request does not match the CDS Hooks 2.0 schema",
            details=schema_errors(exc.errors(include_input=False), prefix),
        ) from None


def _patient_key(context: HookContext) -> str:
    patient = getattr(context, "patient_id", None)
    return patient if isinstance(patient, str) else context.user_id


def _card_record(issued: IssuedCard) -> CardRecord:
    card = issued.card
    topic = card.source.topic.code if card.source.topic else None
    return CardRecord(
        uuid=issued.uuid, topic=topic, indicator=card.indicator, rule_ids=issued.rule_ids
    )
