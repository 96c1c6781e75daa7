"""Reading the ledger for reports: cards shown (with their feedback), and findings withheld.

The read side of `cds_service.store`'s tables, streamed in batches so a year of cards never sits
in memory. `read_ledger` gives one record per card issued (state "shown"); `read_withheld`
gives one per finding the governance layer kept off the screen (state "shadow" or "snoozed",
from `ledger_finding`), so the report counts what each rule would have shown.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from cds_service.store import Feedback, IssuedCard, LedgerFinding
from cds_service.workbench.models import LedgerState

BATCH = 1000


@dataclass(frozen=True, slots=True)
class FeedbackEntry:
    """One feedback entry on a card, as received (override reason coded or not)."""

    outcome: str  # accepted | overridden
    outcome_at: datetime
    override_code: str | None
    override_display: str | None
    accepted_suggestions: int


@dataclass(frozen=True, slots=True)
class LedgerRecord:
    """A card issued, with what the clinician did with it. No patient identifier in clear."""

    card_uuid: str
    service_id: str
    issued_at: datetime
    patient_hash: str
    rule_ids: tuple[str, ...]
    indicator: str
    knowledge_version: str
    feedback: tuple[FeedbackEntry, ...]
    state: LedgerState = "shown"

    @property
    def outcome(self) -> str | None:
        """The latest outcome the clinician gave, if any."""
        if not self.feedback:
            return None
        return max(self.feedback, key=lambda f: f.outcome_at).outcome


def _utc(moment: datetime) -> datetime:
    # SQLite returns naive datetimes for timezone-aware columns; the service writes UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def read_ledger(
    engine: Engine, since: datetime | None = None, until: datetime | None = None
) -> Iterator[LedgerRecord]:
    """Cards issued in [since, until), oldest first, each with its feedback."""
    query = select(
        IssuedCard.uuid,
        IssuedCard.service_id,
        IssuedCard.issued_at,
        IssuedCard.patient_hash,
        IssuedCard.rule_ids,
        IssuedCard.indicator,
        IssuedCard.knowledge_version,
    ).order_by(IssuedCard.issued_at, IssuedCard.uuid)
    if since is not None:
        query = query.where(IssuedCard.issued_at >= since)
    if until is not None:
        query = query.where(IssuedCard.issued_at < until)
    with Session(engine) as session:
        rows = session.execute(query.execution_options(yield_per=BATCH))
        for batch in rows.partitions():
            feedback = _feedback(session, [row.uuid for row in batch])
            for row in batch:
                yield LedgerRecord(
                    card_uuid=row.uuid,
                    service_id=row.service_id,
                    issued_at=_utc(row.issued_at),
                    patient_hash=row.patient_hash,
                    rule_ids=tuple(row.rule_ids or ()),
                    indicator=row.indicator,
                    knowledge_version=row.knowledge_version,
                    feedback=tuple(feedback.get((row.service_id, row.uuid), ())),
                )


def _feedback(session: Session, uuids: Sequence[str]) -> dict[tuple[str, str], list[FeedbackEntry]]:
    query = select(
        Feedback.service_id,
        Feedback.card_uuid,
        Feedback.outcome,
        Feedback.outcome_at,
        Feedback.override_code,
        Feedback.override_display,
        Feedback.accepted_suggestions,
    ).where(Feedback.card_uuid.in_(uuids), Feedback.card_known.is_(True))
    found: dict[tuple[str, str], list[FeedbackEntry]] = {}
    for row in session.execute(query):
        found.setdefault((row.service_id, row.card_uuid), []).append(
            FeedbackEntry(
                outcome=row.outcome,
                outcome_at=_utc(row.outcome_at),
                override_code=row.override_code,
                override_display=row.override_display,
                accepted_suggestions=len(row.accepted_suggestions or ()),
            )
        )
    return found


WITHHELD = ("shadow", "snoozed")


def read_withheld(
    engine: Engine, since: datetime | None = None, until: datetime | None = None
) -> Iterator[LedgerRecord]:
    """Findings shadowed or snoozed in [since, until), oldest first: no card, no feedback."""
    query = select(
        LedgerFinding.id,
        LedgerFinding.service_id,
        LedgerFinding.recorded_at,
        LedgerFinding.patient_hash,
        LedgerFinding.rule_id,
        LedgerFinding.indicator,
        LedgerFinding.knowledge_version,
        LedgerFinding.state,
    ).where(LedgerFinding.state.in_(WITHHELD))
    if since is not None:
        query = query.where(LedgerFinding.recorded_at >= since)
    if until is not None:
        query = query.where(LedgerFinding.recorded_at < until)
    query = query.order_by(LedgerFinding.recorded_at, LedgerFinding.id)
    with Session(engine) as session:
        for row in session.execute(query.execution_options(yield_per=BATCH)):
            yield LedgerRecord(
                card_uuid="",
                service_id=row.service_id,
                issued_at=_utc(row.recorded_at),
                patient_hash=row.patient_hash,
                rule_ids=(row.rule_id,),
                indicator=row.indicator,
                knowledge_version=row.knowledge_version,
                feedback=(),
                state="shadow" if row.state == "shadow" else "snoozed",
            )


def unknown_card_feedback(
    engine: Engine, since: datetime | None = None, until: datetime | None = None
) -> int:
    """Feedback received in the window for cards this service never issued."""
    query = select(func.count()).select_from(Feedback).where(Feedback.card_known.is_(False))
    if since is not None:
        query = query.where(Feedback.received_at >= since)
    if until is not None:
        query = query.where(Feedback.received_at < until)
    with Session(engine) as session:
        return int(session.execute(query).scalar_one())
