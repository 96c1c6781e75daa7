"""The ledger export: one record per finding shown, shadowed or snoozed, as NDJSON or CSV.

`LedgerRecord` is the contract for readers (`cds-service ledger schema` prints its JSON
Schema). Patients appear only as the salted hash the ledger keeps; feedback comments are free
text a clinician typed and may name a patient, so they are never exported.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import IO, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from cds_service.store import Feedback, LedgerFinding, Store

BATCH = 1000
LIST_SEPARATOR = ";"
# The CSV columns, in order (`LedgerRecord.csv_row`): the record's fields, feedback flattened.
CSV_FIELDS = (
    "recorded_at",
    "service_id",
    "hook_instance",
    "patient_key",
    "rule_id",
    "rule_version",
    "family",
    "indicator",
    "status",
    "state",
    "card_uuid",
    "evidence_fingerprint",
    "knowledge_version",
    "rule_state_digest",
    "withheld_orders",
    "snoozed_by_reason",
    "snoozed_by_at",
    "feedback_outcomes",
    "override_reasons",
    "accepted_orders",
)


class FeedbackEntry(BaseModel):
    """One feedback entry on the card that showed the finding."""

    model_config = ConfigDict(frozen=True)

    outcome: Literal["accepted", "overridden"]
    outcome_at: datetime = Field(description="When the clinician acted (the EHR's clock).")
    override_reason: str | None = Field(None, description="The override reason's code.")
    override_reason_system: str | None = None
    accepted_orders: list[str] = Field(
        default_factory=list, description="cards.yaml order keys of the accepted suggestions."
    )


class LedgerRecord(BaseModel):
    """One finding of one call, as `cds-service ledger export` writes it."""

    model_config = ConfigDict(frozen=True)

    recorded_at: datetime
    service_id: str
    hook_instance: str
    patient_key: str = Field(description="Salted hash of the patient id (CDS_PATIENT_HASH_SALT).")
    rule_id: str
    rule_version: str
    family: str
    indicator: Literal["info", "warning", "critical"]
    status: Literal["conclusive", "ungraded", "no-conclusion", "advice"]
    state: Literal["shown", "shadow", "snoozed"] = Field(
        description="shown: on a returned card; shadow: computed, its rule or service in "
        "shadow; snoozed: withheld by earlier feedback. Off rules are not computed."
    )
    card_uuid: str | None = Field(None, description="The card that showed it (shown only).")
    evidence_fingerprint: str
    knowledge_version: str
    rule_state_digest: str
    withheld_orders: list[str] = Field(
        default_factory=list, description="Orders left out: their suggestion was accepted before."
    )
    snoozed_by: FeedbackEntry | None = Field(None, description="The feedback that snoozed it.")
    feedback: list[FeedbackEntry] = Field(
        default_factory=list, description="Feedback on the card that showed it."
    )

    def csv_row(self) -> dict[str, str]:
        """The record flattened for CSV: lists joined with ';', feedback by field."""
        snooze = self.snoozed_by
        return {
            "recorded_at": self.recorded_at.isoformat(),
            "service_id": self.service_id,
            "hook_instance": self.hook_instance,
            "patient_key": self.patient_key,
            "rule_id": self.rule_id,
            "rule_version": self.rule_version,
            "family": self.family,
            "indicator": self.indicator,
            "status": self.status,
            "state": self.state,
            "card_uuid": self.card_uuid or "",
            "evidence_fingerprint": self.evidence_fingerprint,
            "knowledge_version": self.knowledge_version,
            "rule_state_digest": self.rule_state_digest,
            "withheld_orders": _joined(self.withheld_orders),
            "snoozed_by_reason": (snooze.override_reason or "") if snooze else "",
            "snoozed_by_at": snooze.outcome_at.isoformat() if snooze else "",
            "feedback_outcomes": _joined(f.outcome for f in self.feedback),
            "override_reasons": _joined(f.override_reason or "" for f in self.feedback),
            "accepted_orders": _joined(o for f in self.feedback for o in f.accepted_orders),
        }


def write_ndjson(records: Iterable[LedgerRecord], out: IO[str]) -> int:
    """One JSON object per line; returns how many."""
    count = 0
    for record in records:
        out.write(record.model_dump_json() + "\n")
        count += 1
    return count


def write_csv(records: Iterable[LedgerRecord], out: IO[str]) -> int:
    """A header row, then one row per record; returns how many."""
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    count = 0
    for record in records:
        writer.writerow(record.csv_row())
        count += 1
    return count


def read_records(
    store: Store, since: datetime | None = None, until: datetime | None = None
) -> Iterator[LedgerRecord]:
    """Every ledger finding recorded in [since, until), oldest first, with its feedback.

    Read in batches by id, so memory stays bounded whatever the ledger's size.
    """
    last = 0
    while True:
        query = select(LedgerFinding).where(LedgerFinding.id > last)
        if since is not None:
            query = query.where(LedgerFinding.recorded_at >= since)
        if until is not None:
            query = query.where(LedgerFinding.recorded_at < until)
        batch = query.order_by(LedgerFinding.id).limit(BATCH)

        def read(batch: Any = batch) -> tuple[int, list[LedgerRecord]]:
            with Session(store.engine) as session:
                rows = list(session.scalars(batch))
                return (rows[-1].id if rows else 0), _records(session, rows)

        last, records = store.bounded("ledger-export", read, retry=True)
        if not records:
            return
        yield from records


def _records(session: Session, rows: Sequence[LedgerFinding]) -> list[LedgerRecord]:
    cards = {row.card_uuid for row in rows if row.card_uuid}
    causes = {row.snoozed_by for row in rows if row.snoozed_by is not None}
    suggested: dict[str, dict[str, str]] = {}
    if cards:
        query = select(LedgerFinding.card_uuid, LedgerFinding.suggested).where(
            LedgerFinding.card_uuid.in_(cards), LedgerFinding.suggested.is_not(None)
        )
        for card, mapping in session.execute(query):
            suggested.setdefault(card or "", {}).update(mapping or {})
    by_card: dict[tuple[str, str], list[FeedbackEntry]] = {}
    by_id: dict[int, FeedbackEntry] = {}
    wanted = Feedback.card_uuid.in_(cards) | Feedback.id.in_(causes)
    for item in session.scalars(select(Feedback).where(wanted).order_by(Feedback.id)):
        entry = _entry(item, suggested.get(item.card_uuid, {}))
        by_card.setdefault((item.service_id, item.card_uuid), []).append(entry)
        by_id[item.id] = entry
    return [
        LedgerRecord(
            recorded_at=_utc(row.recorded_at),
            service_id=row.service_id,
            hook_instance=row.hook_instance,
            patient_key=row.patient_hash,
            rule_id=row.rule_id,
            rule_version=row.rule_version,
            family=row.family,
            indicator=row.indicator,
            status=row.status,
            state=row.state,
            card_uuid=row.card_uuid,
            evidence_fingerprint=row.fingerprint,
            knowledge_version=row.knowledge_version,
            rule_state_digest=row.rule_state_digest,
            withheld_orders=row.withheld_orders or [],
            snoozed_by=by_id.get(row.snoozed_by) if row.snoozed_by is not None else None,
            feedback=by_card.get((row.service_id, row.card_uuid), []) if row.card_uuid else [],
        )
        for row in rows
    ]


def _entry(item: Feedback, suggested: dict[str, str]) -> FeedbackEntry:
    accepted = [suggested[uuid] for uuid in item.accepted_suggestions or () if uuid in suggested]
    return FeedbackEntry(
        outcome=item.outcome,
        outcome_at=_utc(item.outcome_at),
        override_reason=item.override_code,
        override_reason_system=item.override_system,
        accepted_orders=accepted,
    )


def _joined(values: Iterable[str]) -> str:
    return LIST_SEPARATOR.join(values)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
