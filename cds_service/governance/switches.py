"""Rule switches in the database: the current state of each rule, and every change with its reason.

`rule_state` holds the states a deployment has set (a rule not listed keeps the state the
knowledge ships); the row with rule id `*` is the service-wide shadow switch. Every change is
appended to `rule_state_change` in the same transaction (who, when, old and new state, why,
and the digest of the effective states it led to). `rule_state_snapshot` keeps each digest's
states, so a card or ledger record can be traced to the exact configuration behind it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import JSON, BigInteger, DateTime, Integer, String, Text, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from cds_service.store import Base, Store
from hooks.knowledge.schema import RuleState

SERVICE_WIDE = "*"


class RuleStateRow(Base):
    """The state a deployment set for one rule (or, with rule id `*`, for the whole service)."""

    __tablename__ = "rule_state"

    service_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    changed_by: Mapped[str] = mapped_column(String(256))
    reason: Mapped[str] = mapped_column(Text)


class RuleStateChange(Base):
    """The audit trail: one row per change, never updated or deleted by the service."""

    __tablename__ = "rule_state_change"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    service_id: Mapped[str] = mapped_column(String(64))
    rule_id: Mapped[str] = mapped_column(String(64))
    old_state: Mapped[str] = mapped_column(String(16))
    new_state: Mapped[str] = mapped_column(String(16))
    changed_by: Mapped[str] = mapped_column(String(256))
    reason: Mapped[str] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(String(32))


class RuleStateSnapshot(Base):
    """The effective states a digest stands for (written once per digest)."""

    __tablename__ = "rule_state_snapshot"

    digest: Mapped[str] = mapped_column(String(32), primary_key=True)
    service_id: Mapped[str] = mapped_column(String(64))
    states: Mapped[dict[str, str]] = mapped_column(JSON)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True, slots=True)
class Change:
    """One audited change, as `rules history` prints it."""

    changed_at: datetime
    service_id: str
    rule_id: str
    old_state: str
    new_state: str
    changed_by: str
    reason: str
    digest: str


@dataclass(frozen=True, slots=True)
class Setting:
    """A state a deployment set, with who set it, when and why."""

    state: RuleState
    changed_at: datetime
    changed_by: str
    reason: str


def read_states(store: Store) -> dict[str, dict[str, Setting]]:
    """Every state set, by service and rule id (one small query; cached by the caller)."""

    def read() -> dict[str, dict[str, Setting]]:
        found: dict[str, dict[str, Setting]] = {}
        with Session(store.engine) as session:
            for row in session.scalars(select(RuleStateRow)):
                state = RuleState(row.state)
                setting = Setting(state, _utc(row.changed_at), row.changed_by, row.reason)
                found.setdefault(row.service_id, {})[row.rule_id] = setting
        return found

    return store.bounded("rule-states", read, retry=True)


def write_state(
    store: Store,
    service_id: str,
    rule_id: str,
    state: RuleState,
    old: RuleState,
    by: str,
    reason: str,
    digest: str,
    snapshot: Mapping[str, str],
) -> None:
    """Set one state and audit it in one transaction; the snapshot of `digest` is kept too.

    `old` is the effective state before the change, as the caller computed it; the row is
    locked (PostgreSQL) so two concurrent changes are audited one after the other.
    """
    now = datetime.now(UTC)

    def write() -> None:
        with Session(store.engine) as session, session.begin():
            row = session.get(RuleStateRow, (service_id, rule_id), with_for_update=True)
            if row is None:
                row = RuleStateRow(service_id=service_id, rule_id=rule_id)
                session.add(row)
            row.state, row.changed_at, row.changed_by, row.reason = state.value, now, by, reason
            session.add(
                RuleStateChange(
                    changed_at=now,
                    service_id=service_id,
                    rule_id=rule_id,
                    old_state=old.value,
                    new_state=state.value,
                    changed_by=by,
                    reason=reason,
                    digest=digest,
                )
            )
            if session.get(RuleStateSnapshot, digest) is None:
                session.add(_snapshot(service_id, digest, snapshot, now))

    # Never retried: a change committed unseen must not be audited twice.
    store.bounded("rule-states-write", write, retry=False)


def remember_snapshot(
    store: Store, service_id: str, digest: str, snapshot: Mapping[str, str]
) -> None:
    """Keep the states behind a digest (a digest seen before is left as it is)."""

    def keep() -> None:
        try:
            with Session(store.engine) as session, session.begin():
                if session.get(RuleStateSnapshot, digest) is None:
                    session.add(_snapshot(service_id, digest, snapshot, datetime.now(UTC)))
        except IntegrityError:
            pass  # another process kept it first

    store.bounded("rule-states-snapshot", keep, retry=True)


def read_snapshot(store: Store, digest: str) -> RuleStateSnapshot | None:
    """The states a digest stands for, if this database has seen it."""

    def read() -> RuleStateSnapshot | None:
        with Session(store.engine, expire_on_commit=False) as session:
            return session.get(RuleStateSnapshot, digest)

    return store.bounded("rule-states", read, retry=True)


def read_history(
    store: Store, service_id: str | None = None, rule_id: str | None = None, limit: int = 1000
) -> list[Change]:
    """Audited changes, oldest first (the newest `limit`)."""
    query = select(RuleStateChange).order_by(RuleStateChange.id.desc()).limit(limit)
    if service_id is not None:
        query = query.where(RuleStateChange.service_id == service_id)
    if rule_id is not None:
        query = query.where(RuleStateChange.rule_id == rule_id)

    def read() -> list[RuleStateChange]:
        with Session(store.engine) as session:
            return list(session.scalars(query))

    rows = store.bounded("rule-states", read, retry=True)
    return [
        Change(
            _utc(row.changed_at),
            row.service_id,
            row.rule_id,
            row.old_state,
            row.new_state,
            row.changed_by,
            row.reason,
            row.digest,
        )
        for row in reversed(rows)
    ]


def _snapshot(
    service_id: str, digest: str, states: Mapping[str, str], now: datetime
) -> RuleStateSnapshot:
    return RuleStateSnapshot(
        digest=digest, service_id=service_id, states=dict(states), first_seen=now
    )


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
