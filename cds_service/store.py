"""Persistence: the card ledger and feedback, through SQLAlchemy.

The ledger records every card issued, keyed by uuid, with a salted hash of the patient id
(never the id), so feedback joins to its card and rule, and every finding shown, shadowed or
snoozed (`ledger_finding`), so a pilot can be read without SQL and feedback can snooze the
same finding later. Rule states live in `cds_service.governance.switches`, and reach the
database through `Store.bounded`. Schema changes go through Alembic.

Every call is bounded: it fails within `timeout` seconds (connecting obeys libpq's two-second
minimum), however the database misbehaves, with `DatabaseUnavailable` and a cause category;
the cause is logged here, once. After a timeout or an unreachable server, calls fail at once
for `timeout` seconds instead of each waiting out the deadline (a circuit breaker). Feedback
is idempotent: an outcome retried after a lost response is acknowledged, not stored twice.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson
from alembic.migration import MigrationContext
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Engine,
    Index,
    Integer,
    Row,
    String,
    Text,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    make_url,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from cds_service.deadline import WATCHDOG
from cds_service.logs import log_event
from cds_service.protocol import FeedbackItem

T = TypeVar("T")
DEFAULT_TIMEOUT_SECONDS = 3.0
MIN_RETRY_SECONDS = 0.1
LIBPQ_MIN_CONNECT_SECONDS = 2  # libpq (and psycopg) treat a connect_timeout below 2 as 2
# Causes after which the server is presumed down: later calls fail fast for a while.
OUTAGE = frozenset({"timeout", "connect-timeout", "unreachable", "pool-timeout"})
SHOWN = "shown"


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
    # sha256 of what identifies an outcome (migration 0003); NULL on rows stored before it.
    dedup_key: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)


class JwtReplay(Base):
    """A JWT id already used, kept until the token could no longer be accepted anyway."""

    __tablename__ = "jwt_replay"

    # sha256 of (iss, jti): fixed width, and the raw jti never reaches the database.
    jti_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)  # epoch seconds


class LedgerFinding(Base):
    """One finding of one call: shown on a card, computed in shadow, or snoozed by feedback.

    `suggested` maps the uuid of each suggestion the finding's card made for it to its order;
    `withheld_orders` are orders left out because the same suggestion was accepted before;
    `snoozed_by` is the feedback entry that snoozed it.
    """

    __tablename__ = "ledger_finding"
    __table_args__ = (
        Index("ix_ledger_finding_patient", "service_id", "patient_hash", "recorded_at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    service_id: Mapped[str] = mapped_column(String(64))
    hook_instance: Mapped[str] = mapped_column(String(256))
    patient_hash: Mapped[str] = mapped_column(String(64))
    rule_id: Mapped[str] = mapped_column(String(64))
    rule_version: Mapped[str] = mapped_column(String(32))
    family: Mapped[str] = mapped_column(String(32))
    indicator: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    card_uuid: Mapped[str | None] = mapped_column(String(64), index=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    knowledge_version: Mapped[str] = mapped_column(String(32))
    rule_state_digest: Mapped[str] = mapped_column(String(32))
    suggested: Mapped[dict[str, str] | None] = mapped_column(JSON)
    withheld_orders: Mapped[list[str] | None] = mapped_column(JSON)
    snoozed_by: Mapped[int | None] = mapped_column(BigInteger)


# The snooze lookup, built once. Joined on the card alone: with the service in the join too,
# SQLite's planner (no statistics) scans the service's feedback for each finding, not one card's.
PRIOR_FEEDBACK = (
    select(
        LedgerFinding.rule_id,
        LedgerFinding.fingerprint,
        LedgerFinding.indicator,
        LedgerFinding.suggested,
        Feedback.card_uuid,
        Feedback.service_id,
        Feedback.id,
        Feedback.outcome,
        Feedback.override_code,
        Feedback.override_system,
        Feedback.accepted_suggestions,
        Feedback.outcome_at,
        Feedback.received_at,
    )
    .join(Feedback, Feedback.card_uuid == LedgerFinding.card_uuid)
    .where(
        LedgerFinding.service_id == bindparam("service"),
        LedgerFinding.patient_hash == bindparam("patient"),
        LedgerFinding.fingerprint.in_(bindparam("fingerprints", expanding=True)),
        LedgerFinding.state == SHOWN,
        Feedback.received_at >= bindparam("since"),
    )
)


@dataclass(frozen=True, slots=True)
class CardRecord:
    """What the invocation path hands the ledger for one card."""

    uuid: str
    topic: str | None
    indicator: str
    rule_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FindingRecord:
    """What the invocation path hands the ledger for one finding (see `LedgerFinding`)."""

    rule_id: str
    rule_version: str
    family: str
    indicator: str
    status: str
    state: str
    fingerprint: str
    card_uuid: str | None = None
    suggested: Mapping[str, str] = field(default_factory=dict)
    withheld_orders: tuple[str, ...] = ()
    snoozed_by: int | None = None


@dataclass(frozen=True, slots=True)
class PriorFeedback:
    """A feedback entry on a card that showed a finding for this patient: what may snooze it."""

    feedback_id: int
    card_uuid: str
    rule_id: str
    fingerprint: str
    indicator: str
    outcome: str
    override_code: str | None
    override_system: str | None
    accepted_orders: tuple[str, ...]
    at: datetime


class DatabaseError(Exception):
    """A database call failed; `reason` is a category safe to log, never a value."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DatabaseUnavailable(DatabaseError):
    """The database did not answer in time, could not be reached, or lacks the schema."""


class DatabaseRejected(DatabaseError):
    """The database refused a value (a length or character the wire models let through)."""


@dataclass(frozen=True, slots=True)
class SchemaProblem:
    """Why the database cannot serve this release: a category and the revisions involved."""

    reason: str  # schema-not-current, or why the database did not answer (timeout, ...)
    revision: str | None = None
    needed: str | None = None

    def __str__(self) -> str:
        if self.reason != "schema-not-current":
            return f"the database does not answer ({self.reason})"
        return (
            f"the database schema is at revision {self.revision or 'none'} and this release "
            f"needs {self.needed}: run `cds-service db upgrade`"
        )


@dataclass(frozen=True, slots=True)
class FeedbackResult:
    """What storing a feedback batch did: all of it is stored when this returns."""

    unknown: list[str]  # card uuids this service never issued
    rules: dict[str, tuple[str, ...]]  # rule ids of the known cards, by uuid
    new: list[FeedbackItem] = field(default_factory=list)  # not already stored (retries)


def make_engine(url: str, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> Engine:
    """Engine whose every wait is bounded; SQLite made safe for several gunicorn workers."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": timeout}, pool_timeout=timeout)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
            cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]
            cursor.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a commit survives a process crash, and the fsync per commit goes;
            # only an OS crash can lose the last commits. (A server database in production.)
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

    else:
        connect_args: dict[str, Any] = {}
        if make_url(url).get_backend_name() == "postgresql":
            # The server stops a statement at the same bound the watchdog enforces here.
            options = make_url(url).query.get("options") or ""
            if not isinstance(options, str):
                options = " ".join(options)
            statement_ms = math.ceil(timeout * 1000)
            connect_args = {
                "connect_timeout": max(LIBPQ_MIN_CONNECT_SECONDS, math.ceil(timeout)),
                "options": f"{options} -c statement_timeout={statement_ms}".strip(),
            }
        # No pre-ping: it runs before a connection can be attached to a call's deadline.
        # A connection found dead instead fails its call, and idempotent calls retry once.
        engine = create_engine(
            url, connect_args=connect_args, pool_timeout=timeout, pool_recycle=1800
        )
    _track_connections(engine)
    return engine


def _track_connections(engine: Engine) -> None:
    """Attach each DBAPI connection in use to the thread's bounded call, for the watchdog."""

    def attach(dbapi_conn: Any, *_: Any) -> None:
        if (call := WATCHDOG.current()) is not None:
            call.attach(dbapi_conn)

    def detach(dbapi_conn: Any, *_: Any) -> None:
        if (call := WATCHDOG.current()) is not None:
            call.detach(dbapi_conn)

    # First, before the dialect's own first-connect queries and our pragmas.
    event.listen(engine, "first_connect", attach, insert=True)
    event.listen(engine, "connect", attach, insert=True)
    event.listen(engine, "checkout", attach)
    event.listen(engine, "checkin", detach)


def default_database_url(instance_path: Path) -> str:
    """The embedded default: a SQLite file in the instance folder."""
    return f"sqlite:///{instance_path / 'cds.sqlite3'}"


def feedback_key(service_id: str, item: FeedbackItem) -> str:
    """What identifies an outcome: service, card, outcome, instant and accepted suggestions."""
    accepted = sorted({s.id for s in item.accepted_suggestions or ()})
    when = item.outcome_timestamp.astimezone(UTC).isoformat()
    identity = [service_id, item.card, item.outcome, when, accepted]
    return hashlib.sha256(orjson.dumps(identity)).hexdigest()


class Store:
    """Card ledger and feedback storage; every write commits before the caller responds."""

    def __init__(
        self,
        engine: Engine,
        salt: bytes,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        schema_head: str | None = None,
    ) -> None:
        self.engine = engine
        self._salt = salt
        self.timeout = timeout
        self.schema_head = schema_head  # the Alembic revision this code needs
        self.cooldown = timeout  # how long calls fail fast after an outage
        self._down_until = 0.0
        self._down_reason = ""
        self._lock = threading.Lock()

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
        findings: Sequence[FindingRecord] = (),
        rule_state_digest: str = "",
    ) -> None:
        """Append issued cards and the call's findings to the ledger, in one transaction.

        One Core INSERT per table: this is on every call's path.
        """
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
        found = [_finding_row(finding) for finding in findings]
        for row in found:
            row.update(
                recorded_at=now,
                service_id=service_id,
                hook_instance=hook_instance,
                patient_hash=patient_hash,
                knowledge_version=knowledge_version,
                rule_state_digest=rule_state_digest,
            )
        if not rows and not found:
            return

        def write() -> None:
            with self.engine.begin() as connection:
                if rows:
                    connection.execute(self._insert_new(IssuedCard, "uuid"), rows)
                if found:
                    connection.execute(insert(LedgerFinding), found)

        self._run("ledger", write, retry=True)

    def prior_feedback(
        self, service_id: str, patient_id: str, fingerprints: Collection[str], since: datetime
    ) -> list[PriorFeedback]:
        """Feedback received since `since` on cards that showed one of these findings.

        The snooze lookup of a call, and its only governance read: one indexed query (the
        patient's ledger findings, narrowed to today's fingerprints; feedback by card).
        """
        parameters = {
            "service": service_id,
            "patient": self.patient_hash(patient_id),
            "fingerprints": sorted(set(fingerprints)),
            "since": since,
        }

        def read() -> list[PriorFeedback]:
            with self.engine.connect() as connection:
                rows = connection.execute(PRIOR_FEEDBACK, parameters)
                return [_prior(row) for row in rows if row.service_id == service_id]

        return self._run("snooze", read, retry=True)

    def bounded(self, operation: str, work: Callable[[], T], *, retry: bool) -> T:
        """Run another module's database work under this store's deadline and circuit breaker.

        For modules that own their tables (the rule switches); `retry` only for idempotent work.
        """
        return self._run(operation, work, retry=retry)

    def record_feedback(self, service_id: str, items: Sequence[FeedbackItem]) -> FeedbackResult:
        """Store every entry not already stored; all of them are stored when this returns."""
        received = datetime.now(UTC)
        keyed: dict[str, FeedbackItem] = {}
        for item in items:
            keyed.setdefault(feedback_key(service_id, item), item)
        uuids = {item.card for item in items}

        def write() -> FeedbackResult:
            with Session(self.engine) as session, session.begin():
                rules = {
                    uuid: tuple(rule_ids)
                    for uuid, rule_ids in session.execute(
                        select(IssuedCard.uuid, IssuedCard.rule_ids).where(
                            IssuedCard.uuid.in_(uuids), IssuedCard.service_id == service_id
                        )
                    )
                }
                stored = set(
                    session.scalars(select(Feedback.dedup_key).where(Feedback.dedup_key.in_(keyed)))
                )
                new = {key: item for key, item in keyed.items() if key not in stored}
                if new:
                    rows = [
                        _feedback_row(service_id, item, item.card in rules, received, key)
                        for key, item in new.items()
                    ]
                    # A concurrent retry may have stored one since: the unique key decides.
                    session.execute(self._insert_new(Feedback, "dedup_key"), rows)
            return FeedbackResult(sorted(uuids - set(rules)), rules, list(new.values()))

        return self._run("feedback", write, retry=True)

    def claim_jti(self, jti_hash: str, expires_at: int, now: int) -> bool:
        """Record a JWT id; False if it is already recorded and not yet expired (a replay)."""

        def claim() -> bool:
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

        # Never retried: had the first try committed unseen, a retry would call it a replay.
        return self._run("replay", claim, retry=False)

    def purge_jtis(self, now: int) -> int:
        """Delete expired JWT ids; returns how many."""

        def purge() -> int:
            with self.engine.begin() as conn:
                result = conn.execute(delete(JwtReplay).where(JwtReplay.expires_at <= now))
            return result.rowcount

        return self._run("replay-purge", purge, retry=True)

    def card_rule_ids(self, service_id: str, uuids: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """Rule ids of the cards this service issued, by uuid; unknown uuids are left out."""
        wanted = set(uuids)
        if not wanted:
            return {}
        query = select(IssuedCard.uuid, IssuedCard.rule_ids).where(
            IssuedCard.uuid.in_(wanted), IssuedCard.service_id == service_id
        )

        def read() -> dict[str, tuple[str, ...]]:
            with Session(self.engine) as session:
                return {uuid: tuple(rules) for uuid, rules in session.execute(query)}

        return self._run("ledger-read", read, retry=True)

    def schema_revision(self) -> str | None:
        """The Alembic revision the database is at (None: never migrated)."""

        def read() -> str | None:
            with self.engine.connect() as conn:
                return MigrationContext.configure(conn).get_current_revision()

        return self._run("readiness", read, retry=True)

    def schema_problem(self) -> SchemaProblem | None:
        """What stops the database serving this release; None when it is ready.

        Start-up reports it (`cds-service serve`, and each worker's log) and /readyz answers
        503 for it; the service still starts, since a migration may run after it.
        """
        try:
            revision = self.schema_revision()
        except DatabaseError as exc:
            return SchemaProblem(exc.reason)
        if revision != self.schema_head:
            return SchemaProblem("schema-not-current", revision, self.schema_head)
        return None

    def _insert_new(self, table: type[Base], key: str) -> Any:
        """INSERT that skips rows whose unique `key` is already stored (retries, races)."""
        dialect = self.engine.dialect.name
        if dialect == "postgresql":
            return postgresql.insert(table).on_conflict_do_nothing(index_elements=[key])
        if dialect == "sqlite":
            return sqlite.insert(table).on_conflict_do_nothing(index_elements=[key])
        return insert(table)

    def _run(self, operation: str, work: Callable[[], T], *, retry: bool) -> T:
        """Run `work` within the deadline; classify, log and raise what goes wrong."""
        with self._lock:
            if time.monotonic() < self._down_until:
                raise self._failed(operation, DatabaseUnavailable("circuit-open"))
        deadline = time.monotonic() + self.timeout
        for attempt in (1, 2):
            with WATCHDOG.bounded(max(deadline - time.monotonic(), 0.0)) as call:
                try:
                    result = work()
                except SQLAlchemyError as exc:
                    error = _classify(exc, call.expired)
                    stale = isinstance(exc, DBAPIError) and exc.connection_invalidated
                else:
                    with self._lock:
                        self._down_until = 0.0
                    return result
            # A pooled connection that died while idle (e.g. a database restart) fails its
            # first use; one retry on a fresh connection is safe for idempotent work.
            time_left = deadline - time.monotonic() > MIN_RETRY_SECONDS
            if not (retry and stale and attempt == 1 and not call.expired and time_left):
                break
        if error.reason in OUTAGE:
            with self._lock:
                self._down_until = time.monotonic() + self.cooldown
        raise self._failed(operation, error)

    def _failed(self, operation: str, error: DatabaseError) -> DatabaseError:
        log_event(
            logging.ERROR if isinstance(error, DatabaseUnavailable) else logging.WARNING,
            "database call failed",
            operation=operation,
            reason=error.reason,
        )
        return error


@dataclass(frozen=True, slots=True)
class PurgeCounts:
    """Rows past retention, per table: deleted, or that a dry run would delete."""

    issued_cards: int
    ledger_findings: int
    feedback: int
    expired_jtis: int


def purge_older_than(engine: Engine, cutoff: datetime, *, dry_run: bool) -> PurgeCounts:
    """Delete ledger cards and findings and feedback older than `cutoff`, and expired JWT ids.

    One transaction, so the counts are what was removed together. Needs no salt: rows are
    chosen by time alone.
    """
    now = int(datetime.now(UTC).timestamp())
    conditions = (
        (IssuedCard, IssuedCard.issued_at < cutoff),
        (LedgerFinding, LedgerFinding.recorded_at < cutoff),
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


def _classify(exc: SQLAlchemyError, expired: bool) -> DatabaseError:
    """A cause category for a failed call; never the message (it may quote values)."""
    orig = getattr(exc, "orig", None)
    kind = type(orig).__name__
    if kind == "ConnectionTimeout":
        return DatabaseUnavailable("connect-timeout")
    if expired:
        return DatabaseUnavailable("timeout")
    if isinstance(exc, PoolTimeout):
        return DatabaseUnavailable("pool-timeout")
    if isinstance(exc, DataError):
        return DatabaseRejected("value-rejected")
    sqlstate = getattr(orig, "sqlstate", None) or ""
    text = str(orig).lower() if orig is not None else ""
    if sqlstate == "57014":  # query_canceled: the server-side statement_timeout
        return DatabaseUnavailable("timeout")
    if sqlstate.startswith("42") or "no such table" in text or "no such column" in text:
        return DatabaseUnavailable("schema")
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return DatabaseUnavailable("disconnected")
    if "locked" in text or "busy" in text:
        return DatabaseUnavailable("locked")
    if kind in ("OperationalError", "InterfaceError"):
        return DatabaseUnavailable("unreachable")
    return DatabaseUnavailable("error")


def _finding_row(finding: FindingRecord) -> dict[str, Any]:
    return {
        "rule_id": finding.rule_id,
        "rule_version": finding.rule_version,
        "family": finding.family,
        "indicator": finding.indicator,
        "status": finding.status,
        "state": finding.state,
        "card_uuid": finding.card_uuid,
        "fingerprint": finding.fingerprint,
        "suggested": dict(finding.suggested) or None,
        "withheld_orders": list(finding.withheld_orders) or None,
        "snoozed_by": finding.snoozed_by,
    }


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every time stored here is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _prior(row: Row[*tuple[Any, ...]]) -> PriorFeedback:
    suggested: dict[str, str] = row.suggested or {}
    accepted = row.accepted_suggestions or ()
    return PriorFeedback(
        feedback_id=row.id,
        card_uuid=row.card_uuid,
        rule_id=row.rule_id,
        fingerprint=row.fingerprint,
        indicator=row.indicator,
        outcome=row.outcome,
        override_code=row.override_code,
        override_system=row.override_system,
        accepted_orders=tuple(suggested[uuid] for uuid in accepted if uuid in suggested),
        # The clinician's time, unless the client's clock runs ahead: a snooze never starts later.
        at=min(_aware(row.outcome_at), _aware(row.received_at)),
    )


def _feedback_row(
    service_id: str, item: FeedbackItem, known: bool, received: datetime, key: str
) -> dict[str, Any]:
    reason = item.override_reason.reason if item.override_reason else None
    accepted = [s.id for s in item.accepted_suggestions] if item.accepted_suggestions else None
    return {
        "service_id": service_id,
        "card_uuid": item.card,
        "card_known": known,
        "outcome": item.outcome,
        "accepted_suggestions": accepted,
        "override_code": reason.code if reason else None,
        "override_system": reason.system if reason else None,
        "override_display": reason.display if reason else None,
        "user_comment": item.override_reason.user_comment if item.override_reason else None,
        "outcome_at": item.outcome_timestamp,
        "received_at": received,
        "dedup_key": key,
    }
