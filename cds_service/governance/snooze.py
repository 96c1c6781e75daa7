"""Which findings of a call are shown, shadowed or snoozed, and which orders are left out.

Pure functions over the findings, the effective states and the feedback already given for
this patient (`Store.prior_feedback`); the policy comes from the knowledge (cards.yaml):

- A finding is snoozed when a card that showed the same finding (same rule, same evidence
  fingerprint) was overridden for a reason with a snooze, within that reason's days, capped
  by the finding's severity then; a finding graded higher than then is shown again at once.
- An order is left out when its suggestion was accepted within `orders_on_file.within_days`
  and the finding it was for is still the same; a more severe finding may still ask for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from cds_service.governance.states import EffectiveStates
from cds_service.store import PriorFeedback
from hooks.findings import Evidence, Finding, FindingStatus, Severity, evidence_fingerprint
from hooks.knowledge import KnowledgeBase
from hooks.knowledge.schema import RuleState

# Findings that make or ride on a card; a "no conclusion" line is never snoozed on its own.
SNOOZABLE = frozenset({FindingStatus.CONCLUSIVE, FindingStatus.UNGRADED, FindingStatus.ADVICE})


class Fate(StrEnum):
    """What happened to a finding: the ledger's `state`."""

    SHOWN = "shown"
    SHADOW = "shadow"
    SNOOZED = "snoozed"


@dataclass(frozen=True, slots=True)
class Judged:
    """One finding and its fate; `finding` may have lost orders accepted before."""

    finding: Finding
    fingerprint: str
    fate: Fate
    cause: PriorFeedback | None = None
    withheld_orders: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SnoozePolicy:
    """Snooze days per override reason, caps per severity, and the accepted-order window."""

    system: str
    days: Mapping[str, int]
    caps: Mapping[Severity, int]
    accepted_days: int
    accepted_wording: str
    order_labels: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_knowledge(cls, kb: KnowledgeBase) -> SnoozePolicy:
        """The policy cards.yaml and rules.yaml state."""
        reasons = kb.cards.override_reasons
        return cls(
            system=reasons.system,
            days={reason.code: reason.snooze_days for reason in reasons.reasons},
            caps=dict(reasons.snooze_cap_days),
            accepted_days=kb.cards.orders_on_file.within_days,
            accepted_wording=kb.wording["order_accepted"],
            order_labels={key: order.label for key, order in kb.cards.orders.items()},
        )

    @property
    def horizon_days(self) -> int:
        """How far back feedback can still snooze anything."""
        return max((*self.days.values(), self.accepted_days))

    def snoozed_until(self, prior: PriorFeedback) -> datetime | None:
        """End of the snooze an override gives its finding (None: it gives none)."""
        if prior.outcome != "overridden" or prior.override_system != self.system:
            return None
        days = self.days.get(prior.override_code or "", 0)
        cap = self.caps.get(Severity(prior.indicator))
        if cap is not None:
            days = min(days, cap)
        return prior.at + timedelta(days=days) if days > 0 else None

    def accepted_until(self, prior: PriorFeedback) -> datetime | None:
        """End of the window in which an accepted suggestion is not made again."""
        if prior.outcome != "accepted" or not prior.accepted_orders:
            return None
        return prior.at + timedelta(days=self.accepted_days)

    def accepted_line(self, order: str, when: datetime) -> Evidence:
        """The card line saying an order was accepted before and is not suggested again."""
        note = self.accepted_wording.format_map({"date": when.date().isoformat()})
        return Evidence(label=self.order_labels.get(order, order), when=when, note=note)


def split(findings: Iterable[Finding], states: EffectiveStates) -> list[Judged]:
    """Shown or shadow, by the effective state of each finding's rule (off rules never ran)."""
    return [
        Judged(
            finding,
            evidence_fingerprint(finding),
            Fate.SHADOW if states.state(finding.rule_id) is not RuleState.ON else Fate.SHOWN,
        )
        for finding in findings
    ]


def needs_lookup(judged: Sequence[Judged]) -> bool:
    """Whether any shown finding could be snoozed (else the call makes no query)."""
    return any(j.fate is Fate.SHOWN and j.finding.status in SNOOZABLE for j in judged)


def apply_feedback(
    judged: Sequence[Judged],
    priors: Sequence[PriorFeedback],
    policy: SnoozePolicy,
    now: datetime,
) -> list[Judged]:
    """Snooze findings and leave out accepted orders, by the feedback already given."""
    snoozes = [(p, until) for p in priors if (until := policy.snoozed_until(p)) and until > now]
    result = [_snooze(j, snoozes) for j in judged]
    present = {(j.finding.rule_id, j.fingerprint) for j in result if j.fate is Fate.SHOWN}
    for prior in priors:
        until = policy.accepted_until(prior)
        if until is None or until <= now or (prior.rule_id, prior.fingerprint) not in present:
            continue
        rank = Severity(prior.indicator).rank
        result = [_without_orders(j, prior, rank, policy) for j in result]
    return result


def _snooze(judged: Judged, snoozes: Sequence[tuple[PriorFeedback, datetime]]) -> Judged:
    finding = judged.finding
    if judged.fate is not Fate.SHOWN or finding.status not in SNOOZABLE:
        return judged
    for prior, _ in sorted(snoozes, key=lambda item: item[1], reverse=True):
        same = (prior.rule_id, prior.fingerprint) == (finding.rule_id, judged.fingerprint)
        if same and finding.severity.rank <= Severity(prior.indicator).rank:
            return replace(judged, fate=Fate.SNOOZED, cause=prior)
    return judged


def _without_orders(
    judged: Judged, prior: PriorFeedback, rank: int, policy: SnoozePolicy
) -> Judged:
    finding = judged.finding
    accepted = [o for o in prior.accepted_orders if o in finding.orders]
    if judged.fate is not Fate.SHOWN or not accepted or finding.severity.rank > rank:
        return judged
    owner = (prior.rule_id, prior.fingerprint) == (finding.rule_id, judged.fingerprint)
    lines = [policy.accepted_line(order, prior.at) for order in accepted] if owner else []
    kept = tuple(order for order in finding.orders if order not in accepted)
    changed = replace(finding, orders=kept, evidence=(*finding.evidence, *lines))
    return replace(judged, finding=changed, withheld_orders=(*judged.withheld_orders, *accepted))
