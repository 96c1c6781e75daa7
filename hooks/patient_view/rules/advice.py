"""Advice carried by other cards (M1): non-drug management of nocturnal leg cramps.

Never a card of its own: nightly stretching helps idiopathic cramps (Hallegraeff 2012), but a
card for every cramp would be the blanket advice AFP 2012 warns against.
"""

from __future__ import annotations

from typing import Any

from hooks.findings import Finding, FindingStatus, Severity
from hooks.knowledge.params import NoParams
from hooks.patient_view.rules.context import RuleContext, RuleImpl


def stretching(ctx: RuleContext, _: NoParams) -> list[Finding]:
    """M1: an adult with a cramp complaint (not only fasciculation): stretching and a handout."""
    if not ctx.facts.complaint.cramp:
        return []
    return [ctx.finding("M1", severity=Severity.INFO, status=FindingStatus.ADVICE, orders=())]


ADVICE_RULES: dict[str, RuleImpl[Any]] = {"M1": RuleImpl(stretching, NoParams)}
