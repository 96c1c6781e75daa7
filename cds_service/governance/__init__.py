"""Run-time governance: rule states and shadow mode, snooze by feedback, and the findings ledger.

The pipeline asks `Governance` for a service's effective rule states before the rules run
(off rules are not computed), then which findings to show: shadow findings are withheld, and
findings a clinician dismissed are snoozed by the feedback already given. Every finding shown,
shadowed or snoozed is recorded in the ledger (`ledger_records`). Lookups fail open: when the
database cannot answer, cards are shown and the miss is reported for the metrics.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta

from cards.builders import IssuedCard
from cds_service.governance.snooze import (
    SNOOZABLE,
    Fate,
    Judged,
    SnoozePolicy,
    apply_feedback,
    needs_lookup,
    split,
)
from cds_service.governance.states import EffectiveStates, RuleStateCache
from cds_service.governance.switches import read_states, remember_snapshot
from cds_service.logs import log_event
from cds_service.store import DatabaseError, FindingRecord, Store
from hooks.findings import Finding
from hooks.knowledge import KnowledgeBase

STATES_MISS = "states"
SNOOZE_MISS = "snooze"

__all__ = [
    "SNOOZE_MISS",
    "STATES_MISS",
    "EffectiveStates",
    "Fate",
    "Governance",
    "Judged",
    "ledger_records",
]


class Governance:
    """Rule states (cached per process) and the snooze lookup, for one set of hosted services."""

    def __init__(
        self,
        kb: KnowledgeBase,
        service_ids: Iterable[str],
        store: Store | None,
        ttl: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.policy = SnoozePolicy.from_knowledge(kb)
        self.clock = clock
        self.cache = RuleStateCache(
            kb,
            service_ids,
            read=(lambda: read_states(store)) if store is not None else None,
            ttl=ttl,
            remember=(
                (lambda s: remember_snapshot(store, s.service_id, s.digest, s.snapshot()))
                if store is not None
                else None
            ),
        )

    def states(self, service_id: str) -> tuple[EffectiveStates, bool]:
        """The service's effective rule states, and whether the database missed."""
        return self.cache.get(service_id)

    def judge(
        self,
        service_id: str,
        findings: Sequence[Finding],
        patient_id: str,
        states: EffectiveStates,
    ) -> tuple[list[Judged], bool]:
        """Each finding's fate (shown, shadow, snoozed), and whether the database missed.

        At most one query, and none when no shown finding could be snoozed.
        """
        judged = split(findings, states)
        if self.store is None or not needs_lookup(judged):
            return judged, False
        now = self.clock()
        since = now - timedelta(days=self.policy.horizon_days)
        fingerprints = {j.fingerprint for j in judged if j.fate is Fate.SHOWN}
        try:
            priors = self.store.prior_feedback(service_id, patient_id, fingerprints, since)
        except DatabaseError as exc:  # fail open: decision support is shown, the miss counted
            log_event(
                logging.WARNING,
                "snooze lookup failed; cards shown",
                service_id=service_id,
                reason=exc.reason,
            )
            return judged, True
        return apply_feedback(judged, priors, self.policy, now), False


def ledger_records(judged: Sequence[Judged], issued: Sequence[IssuedCard]) -> list[FindingRecord]:
    """What the ledger keeps of a call: every finding on a card, in shadow, or snoozed.

    A shown finding that no card carries (a "no conclusion" line of a family without a card,
    advice with only critical cards) was not issued, and is not recorded.
    """
    cards = {id(finding): issue for issue in issued for finding in issue.findings}
    suggested: dict[int, dict[str, str]] = {}
    for issue in issued:
        for suggestion in issue.suggested:
            suggested.setdefault(id(suggestion.finding), {})[suggestion.uuid] = suggestion.order
    records: list[FindingRecord] = []
    for item in judged:
        finding = item.finding
        card = cards.get(id(finding))
        if item.fate is Fate.SHOWN and card is None:
            continue
        if item.fate is not Fate.SHOWN and finding.status not in SNOOZABLE:
            continue
        records.append(
            FindingRecord(
                rule_id=finding.rule_id,
                rule_version=finding.rule_version,
                family=finding.family.value,
                indicator=finding.severity.value,
                status=finding.status.value,
                state=item.fate.value,
                fingerprint=item.fingerprint,
                card_uuid=card.uuid if card is not None else None,
                suggested=suggested.get(id(finding), {}),
                withheld_orders=item.withheld_orders,
                snoozed_by=item.cause.feedback_id if item.cause is not None else None,
            )
        )
    return records
