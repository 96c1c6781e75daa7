"""Counting cards over a population: per rule, family, indicator and suggested order.

Definitions (README "For informaticists" repeats them):
- a rule *appears* for a patient when one of the patient's cards cites it as fired (conclusive,
  ungraded or advice); "no conclusion" entries are counted apart;
- a card is *led* by the rule whose finding gave its summary (the card's first fired finding);
  volume shares and "rules making 90% of cards" count cards by the rule that leads them;
- rates are per 100 patients the service evaluated (a replay is one patient-view per patient,
  so cards per patient is also alerts per encounter in Orenstein's sense).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from cds_service.workbench.models import (
    INDICATORS,
    CardDigest,
    Count,
    KnowledgeRef,
    PatientError,
    RuleCount,
    Summary,
    TopShare,
)

TOP = (1, 3, 5, 10)


def lead_rule(card: CardDigest) -> str | None:
    """The rule whose finding gave the card its summary."""
    fired = [hit.rule for hit in card.rules if hit.status not in ("no-conclusion", "advice")]
    return fired[0] if fired else None


class Tally:
    """Running counts for one knowledge set: kept per work unit, merged, then summarised.

    Plain counters, so a worker's tally crosses to the driver as a few hundred bytes.
    """

    def __init__(self) -> None:
        self.patients = 0
        self.evaluated = 0
        self.with_cards = 0
        self.cards = 0
        self.rule_patients: Counter[str] = Counter()
        self.rule_indicator: dict[str, Counter[str]] = {}
        self.no_conclusion: Counter[str] = Counter()
        self.led: Counter[str] = Counter()
        self.families: Counter[str] = Counter()
        self.indicators: Counter[str] = Counter()
        self.orders: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()

    def add(self, cards: Sequence[CardDigest], error: PatientError | None) -> None:
        """Count one patient."""
        self.patients += 1
        if error is not None:
            self.errors[error.cause] += 1
            return
        self.evaluated += 1
        self.with_cards += bool(cards)
        self.cards += len(cards)
        for card in cards:
            self.families[card.family] += 1
            self.indicators[card.indicator] += 1
            self.orders.update(order.label for order in card.orders)
            lead = lead_rule(card)
            if lead is not None:
                self.led[lead] += 1
            for hit in card.rules:
                if hit.status == "no-conclusion":
                    self.no_conclusion[hit.rule] += 1
                    continue
                self.rule_patients[hit.rule] += 1
                self.rule_indicator.setdefault(hit.rule, Counter())[card.indicator] += 1

    def merge(self, other: Tally) -> None:
        """Add another tally's counts (a work unit's) to this one."""
        self.patients += other.patients
        self.evaluated += other.evaluated
        self.with_cards += other.with_cards
        self.cards += other.cards
        for mine, theirs in (
            (self.rule_patients, other.rule_patients),
            (self.no_conclusion, other.no_conclusion),
            (self.led, other.led),
            (self.families, other.families),
            (self.indicators, other.indicators),
            (self.orders, other.orders),
            (self.errors, other.errors),
        ):
            mine.update(theirs)
        for rule, counts in other.rule_indicator.items():
            self.rule_indicator.setdefault(rule, Counter()).update(counts)

    def _rate(self, count: int) -> float:
        return round(100 * count / self.evaluated, 2) if self.evaluated else 0.0

    def _counts(self, counter: Counter[str], keys: Iterable[str] = ()) -> tuple[Count, ...]:
        ordered = list(keys) or [key for key, _ in sorted(counter.items(), key=_by_count)]
        return tuple(
            Count(key=k, count=counter[k], per_100_patients=self._rate(counter[k])) for k in ordered
        )

    def summary(self, knowledge: KnowledgeRef, rules: Mapping[str, tuple[str, str]]) -> Summary:
        """Counts and rates, rules by how many patients they appeared for.

        `rules` maps rule id -> (title, family), for labels.
        """
        led_total = sum(self.led.values())
        rule_ids = set(self.rule_patients) | set(self.no_conclusion)
        by_rule = [
            RuleCount(
                rule=rule,
                title=rules.get(rule, (rule, ""))[0],
                family=rules.get(rule, ("", ""))[1],
                patients=self.rule_patients[rule],
                per_100_patients=self._rate(self.rule_patients[rule]),
                cards_led=self.led[rule],
                share_of_volume=round(self.led[rule] / led_total, 4) if led_total else 0.0,
                by_indicator=dict(self.rule_indicator.get(rule, {})),
                no_conclusion=self.no_conclusion[rule],
            )
            for rule in rule_ids
        ]
        by_rule.sort(key=lambda r: (-r.patients, -r.cards_led, r.rule))
        shares = sorted(self.led.values(), reverse=True)
        return Summary(
            knowledge=knowledge,
            patients=self.patients,
            evaluated=self.evaluated,
            errors=self.patients - self.evaluated,
            patients_with_cards=self.with_cards,
            cards=self.cards,
            cards_per_patient=round(self.cards / self.evaluated, 4) if self.evaluated else 0.0,
            cards_per_100_patients=self._rate(self.cards),
            rule_firings=sum(self.rule_patients.values()),
            by_rule=tuple(by_rule),
            by_family=self._counts(self.families),
            by_indicator=self._counts(self.indicators, INDICATORS),
            by_order=self._counts(self.orders),
            top_share=tuple(
                TopShare(top=n, share=round(sum(shares[:n]) / led_total, 4) if led_total else 0.0)
                for n in TOP
            ),
            rules_for_90_percent=_rules_for(0.9, shares),
            errors_by_cause=dict(self.errors),
        )


def _by_count(item: tuple[str, int]) -> tuple[int, str]:
    return (-item[1], item[0])


def _rules_for(fraction: float, shares: list[int]) -> int:
    total = sum(shares)
    running = 0
    for n, count in enumerate(shares, start=1):
        running += count
        if running >= fraction * total:
            return n
    return 0
