"""What happened in the pilot: cards, states and feedback per rule, from the card ledger.

Definitions (README "For informaticists" repeats them):
- a card counts for every rule it cites; its patient is the ledger's keyed hash;
- acceptance and override rates are per card issued (McCoy 2022), by the latest outcome the
  clinician gave; a card without feedback counts as neither;
- alert burden is cards per 100 distinct patients *who had a card*: the ledger records cards,
  not calls without one, so it cannot count the patients who were seen and got none;
- time buckets are days for a window of up to 31 days, else ISO weeks (Monday 00:00 UTC).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cds_service.workbench.ledger import LedgerRecord
from cds_service.workbench.models import (
    FeedbackCounts,
    Period,
    Reason,
    ReportResult,
    ReportRule,
)

DAY_BUCKETS_UP_TO = timedelta(days=31)


@dataclass
class _Feedback:
    cards: int = 0
    with_feedback: int = 0
    accepted: int = 0
    overridden: int = 0
    suggestions: int = 0

    def add(self, record: LedgerRecord) -> None:
        self.cards += 1
        outcome = record.outcome
        if outcome is None:
            return
        self.with_feedback += 1
        self.accepted += outcome == "accepted"
        self.overridden += outcome == "overridden"
        self.suggestions += sum(f.accepted_suggestions for f in record.feedback)

    def counts(self) -> FeedbackCounts:
        return FeedbackCounts(
            cards=self.cards,
            with_feedback=self.with_feedback,
            accepted=self.accepted,
            overridden=self.overridden,
            acceptance_rate=round(self.accepted / self.cards, 4) if self.cards else None,
            override_rate=round(self.overridden / self.cards, 4) if self.cards else None,
            accepted_suggestions=self.suggestions,
        )


@dataclass
class _Rule:
    cards: int = 0
    patients: set[int | str] = field(default_factory=set)
    indicators: Counter[str] = field(default_factory=Counter)
    states: Counter[str] = field(default_factory=Counter)
    feedback: _Feedback = field(default_factory=_Feedback)


@dataclass
class _Day:
    cards: int = 0
    indicators: Counter[str] = field(default_factory=Counter)
    by_rule: Counter[str] = field(default_factory=Counter)
    accepted: Counter[str] = field(default_factory=Counter)
    answered: Counter[str] = field(default_factory=Counter)


def _patient(hash_hex: str) -> int | str:
    # 64 bits of the keyed hash are plenty to count distinct patients, in a quarter the memory.
    try:
        return int(hash_hex[:16], 16)
    except ValueError:
        return hash_hex


def build_report(
    records: Iterable[LedgerRecord],
    *,
    since: datetime | None,
    until: datetime | None,
    rule_titles: Mapping[str, tuple[str, str]],
    unknown_feedback: int = 0,
    now: datetime | None = None,
) -> ReportResult:
    """Fold the ledger records (streamed) into report.json."""
    total = _Feedback()
    rules: dict[str, _Rule] = {}
    days: dict[datetime, _Day] = {}
    patients: set[int | str] = set()
    states: Counter[str] = Counter()
    indicators: Counter[str] = Counter()
    versions: Counter[str] = Counter()
    services: set[str] = set()
    reasons: Counter[tuple[str | None, str | None]] = Counter()
    first: datetime | None = None
    last: datetime | None = None
    for record in records:
        if record.state != "shown":
            # Withheld findings (shadow, snoozed): counted per rule, never as cards shown.
            states[record.state] += 1
            for rule_id in record.rule_ids:
                rules.setdefault(rule_id, _Rule()).states[record.state] += 1
            continue
        first = first or record.issued_at
        last = record.issued_at
        patient = _patient(record.patient_hash)
        total.add(record)
        patients.add(patient)
        states[record.state] += 1
        indicators[record.indicator] += 1
        versions[record.knowledge_version] += 1
        services.add(record.service_id)
        reasons.update(
            (f.override_code, f.override_display)
            for f in record.feedback
            if f.outcome == "overridden"
        )
        day = days.setdefault(_day(record.issued_at), _Day())
        day.cards += 1
        day.indicators[record.indicator] += 1
        outcome = record.outcome
        for rule_id in record.rule_ids:
            rule = rules.setdefault(rule_id, _Rule())
            rule.cards += 1
            rule.patients.add(patient)
            rule.indicators[record.indicator] += 1
            rule.states[record.state] += 1
            rule.feedback.add(record)
            day.by_rule[rule_id] += 1
            if outcome is not None:
                day.answered[rule_id] += 1
                day.accepted[rule_id] += outcome == "accepted"
    span_start = since or first
    span_end = until or last
    weekly = bool(span_start and span_end and span_end - span_start > DAY_BUCKETS_UP_TO)
    return ReportResult(
        generated_at=now or datetime.now(UTC),
        since=since,
        until=until,
        bucket="week" if weekly else "day",
        services=tuple(sorted(services)),
        knowledge_versions=dict(versions),
        cards=total.cards,
        distinct_patients=len(patients),
        cards_per_100_distinct_patients=(
            round(100 * total.cards / len(patients), 2) if patients else None
        ),
        states=dict(states),
        by_indicator=dict(indicators),
        feedback=total.counts(),
        unknown_card_feedback=unknown_feedback,
        by_rule=tuple(
            sorted(
                (
                    ReportRule(
                        rule=rule_id,
                        title=rule_titles.get(rule_id, (rule_id, ""))[0],
                        family=rule_titles.get(rule_id, ("", ""))[1],
                        states=dict(rule.states),
                        cards=rule.cards,
                        patients=len(rule.patients),
                        by_indicator=dict(rule.indicators),
                        feedback=rule.feedback.counts(),
                    )
                    for rule_id, rule in rules.items()
                ),
                key=lambda r: (-r.cards, r.rule),
            )
        ),
        override_reasons=tuple(
            Reason(code=code, display=display, count=n)
            for (code, display), n in sorted(reasons.items(), key=lambda kv: (-kv[1], str(kv[0])))
        ),
        periods=_periods(days, weekly),
    )


def _day(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)


def _periods(days: Mapping[datetime, _Day], weekly: bool) -> tuple[Period, ...]:
    buckets: dict[datetime, _Day] = {}
    for start, day in sorted(days.items()):
        key = start - timedelta(days=start.weekday()) if weekly else start
        bucket = buckets.setdefault(key, _Day())
        bucket.cards += day.cards
        bucket.indicators.update(day.indicators)
        bucket.by_rule.update(day.by_rule)
        bucket.accepted.update(day.accepted)
        bucket.answered.update(day.answered)
    return tuple(
        Period(
            start=start,
            cards=bucket.cards,
            by_indicator=dict(bucket.indicators),
            by_rule=dict(bucket.by_rule),
            accepted_by_rule={k: v for k, v in bucket.accepted.items() if v},
            feedback_by_rule=dict(bucket.answered),
        )
        for start, bucket in sorted(buckets.items())
    )
