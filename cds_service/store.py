"""Persistence: the card ledger and feedback, through SQLAlchemy (the only SQLAlchemy user).

The ledger records every card issued, keyed by uuid, with a salted hash of the patient id
(never the id), so feedback joins to its card and rule. Schema changes go through Alembic.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Engine,
    Integer,
    String,
    Text,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from cds_service.protocol import FeedbackItem


class Base(DeclarativeBase):
    """Declarative base; Alembic autogenerates against its metadata."""


class IssuedCard(Base):
    """A card we returned: enough to join feedback, nothing that identifies the patient."""

    __tablename__ = "issued_card"

    uuid: Mapped[str] = mapped_column(String(64), primary_key=True)
    service_id: Mapped[str] = mapped_column(String(64), index=True)
    hook_instance: Mapped[str] = mapped_column(String(256))
    topic: Mapped[str | None] = mapped_column(String(64))
    indicator: Mapped[str] = mapped_column(String(16))
    rule_ids: Mapped[list[str]] = mapped_column(JSON)
    knowledge_version: Mapped[str] = mapped_column(String(32))
    patient_hash: Mapped[str] = mapped_column(String(64), index=True)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Feedback(Base):
    """One feedback entry as received; kept even when its card is unknown."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    service_id: Mapped[str] = mapped_column(String(64), index=True)
    card_uuid: Mapped[str] = mapped_column(String(256), index=True)
    card_known: Mapped[bool] = mapped_column(Boolean)
    outcome: Mapped[str] = mapped_column(String(16))
    accepted_suggestions: Mapped[list[str] | None] = mapped_column(JSON)
    override_code: Mapped[str | None] = mapped_column(String(256))
    override_system: Mapped[str | None] = mapped_column(String(1024))
    override_display: Mapped[str | None] = mapped_column(Text)
    user_comment: Mapped[str | None] = mapped_column(Text)
    outcome_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class JwtReplay(Base):
    """A JWT id already used, kept until the token could no longer be accepted anyway."""

    __tablename__ = "jwt_replay"

    # sha256 of (iss, jti): fixed width, and the raw jti never reaches the database.
    jti_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)  # epoch seconds


@dataclass(frozen=True, slots=True)
class CardRecord:
    """What the invocation path hands the ledger for one card."""

    uuid: str
    topic: str | None
    indicator: str
    rule_ids: tuple[str, ...]


def make_engine(url: str) -> Engine:
    """Engine with SQLite made safe for several gunicorn workers (WAL, busy timeout)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 15})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
            cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]
            cursor.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a commit survives a process crash, and the fsync per commit goes;
            # only an OS crash can lose the last commits. (A server database in production.)
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def default_database_url(instance_path: Path) -> str:
    """The embedded default: a SQLite file in the instance folder."""
    return f"sqlite:///{instance_path / 'cds.sqlite3'}"


class Store:
    """Card ledger and feedback storage; every write commits before the caller responds."""

    def __init__(self, engine: Engine, salt: bytes) -> None:
        self.engine = engine
        self._salt = salt

    def patient_hash(self, patient_id: str) -> str:
        """Keyed hash of a patient id: joinable within this deployment, not reversible."""
        return hmac.new(self._salt, patient_id.encode(), hashlib.sha256).hexdigest()

    def record_cards(
        self,
        service_id: str,
        hook_instance: str,
        patient_id: str,
        knowledge_version: str,
        cards: Iterable[CardRecord],
    ) -> None:
        """Append issued cards to the ledger (one Core INSERT: this is on every call's path)."""
        now = datetime.now(UTC)
        patient_hash = self.patient_hash(patient_id)
        rows = [
            {
                "uuid": card.uuid,
                "service_id": service_id,
                "hook_instance": hook_instance,
                "topic": card.topic,
                "indicator": card.indicator,
                "rule_ids": list(card.rule_ids),
                "knowledge_version": knowledge_version,
                "patient_hash": patient_hash,
                "issued_at": now,
            }
            for card in cards
        ]
        if not rows:
            return
        with self.engine.begin() as connection:
            connection.execute(insert(IssuedCard), rows)

    def record_feedback(self, service_id: str, items: Sequence[FeedbackItem]) -> list[str]:
        """Store every entry; return the card uuids this service never issued."""
        received = datetime.now(UTC)
        uuids = {item.card for item in items}
        with Session(self.engine) as session, session.begin():
            known = set(
                session.scalars(
                    select(IssuedCard.uuid).where(
                        IssuedCard.uuid.in_(uuids), IssuedCard.service_id == service_id
                    )
                )
            )
            session.add_all(
                _feedback_row(service_id, item, item.card in known, received) for item in items
            )
        return sorted(uuids - known)

    def claim_jti(self, jti_hash: str, expires_at: int, now: int) -> bool:
        """Record a JWT id; False if it is already recorded and not yet expired (a replay)."""
        for _ in range(2):
            try:
                with Session(self.engine) as session, session.begin():
                    session.add(JwtReplay(jti_hash=jti_hash, expires_at=expires_at))
                return True
            except IntegrityError:
                # The unique key is the cross-worker lock; an expired holder may be replaced.
                with self.engine.begin() as conn:
                    stale = conn.execute(
                        delete(JwtReplay).where(
                            JwtReplay.jti_hash == jti_hash, JwtReplay.expires_at <= now
                        )
                    )
                if not stale.rowcount:
                    return False
        return False

    def purge_jtis(self, now: int) -> int:
        """Delete expired JWT ids; returns how many."""
        with self.engine.begin() as conn:
            result = conn.execute(delete(JwtReplay).where(JwtReplay.expires_at <= now))
        return result.rowcount

    def card_rule_ids(self, service_id: str, uuids: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """Rule ids of the cards this service issued, by uuid; unknown uuids are left out."""
        wanted = set(uuids)
        if not wanted:
            return {}
        query = select(IssuedCard.uuid, IssuedCard.rule_ids).where(
            IssuedCard.uuid.in_(wanted), IssuedCard.service_id == service_id
        )
        with Session(self.engine) as session:
            return {uuid: tuple(rules) for uuid, rules in session.execute(query)}

    def ping(self) -> None:
        """Raise if the database does not answer."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))


@dataclass(frozen=True, slots=True)
class PurgeCounts:
    """Rows past retention, per table: deleted, or that a dry run would delete."""

    issued_cards: int
    feedback: int
    expired_jtis: int


def purge_older_than(engine: Engine, cutoff: datetime, *, dry_run: bool) -> PurgeCounts:
    """Delete ledger cards issued and feedback received before `cutoff`, and expired JWT ids.

    One transaction, so the counts are what was removed together. Needs no salt: rows are
    chosen by time alone.
    """
    now = int(datetime.now(UTC).timestamp())
    conditions = (
        (IssuedCard, IssuedCard.issued_at < cutoff),
        (Feedback, Feedback.received_at < cutoff),
        (JwtReplay, JwtReplay.expires_at <= now),
    )
    counts: list[int] = []
    with engine.begin() as conn:
        for table, condition in conditions:
            if dry_run:
                query = select(func.count()).select_from(table).where(condition)
                counts.append(conn.scalar(query) or 0)
            else:
                counts.append(conn.execute(delete(table).where(condition)).rowcount)
    return PurgeCounts(*counts)


def _feedback_row(service_id: str, item: FeedbackItem, known: bool, received: datetime) -> Feedback:
    reason = item.override_reason.reason if item.override_reason else None
    accepted = [s.id for s in item.accepted_suggestions] if item.accepted_suggestions else None
    return Feedback(
        service_id=service_id,
        card_uuid=item.card,
        card_known=known,
        outcome=item.outcome,
        accepted_suggestions=accepted,
        override_code=reason.code if reason else None,
        override_system=reason.system if reason else None,
        override_display=reason.display if reason else None,
        user_comment=item.override_reason.user_comment if item.override_reason else None,
        outcome_at=item.outcome_timestamp,
        received_at=received,
    )
