"""The knee-spasm rule catalogue: implementations by id, and the run that applies them in order.

`IMPLEMENTATIONS` is the service's catalogue: the registry checks it against the rules in
rules.yaml whose `service` is the knee-spasm service's id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from hooks.findings import Evidence, Finding, Prompt
from hooks.knowledge import KnowledgeBase
from hooks.knowledge.schema import RuleDef, RuleState
from hooks.patient_view.facts import Facts
from hooks.patient_view.rules.advice import ADVICE_RULES
from hooks.patient_view.rules.context import RuleContext, RuleImpl
from hooks.patient_view.rules.labs import LAB_RULES
from hooks.patient_view.rules.medications import MEDICATION_RULES
from hooks.patient_view.rules.neurology import NEUROLOGY_RULES

IMPLEMENTATIONS: dict[str, RuleImpl[Any]] = {
    **MEDICATION_RULES,
    **LAB_RULES,
    **NEUROLOGY_RULES,
    **ADVICE_RULES,
}
MAX_CONTEXT_LINES = 3


def supersede(findings: list[Finding], kb: KnowledgeBase) -> list[Finding]:
    """Drop a finding when another rule that supersedes it reports the same (analyte, Observation).

    Reference §6 conflict handling: a diuretic with a low potassium is one finding naming both.
    The dropped finding's orders move to the one that covers it, so naming a lab value on a
    medication card never loses the orders the lab rule would have made (issue 8 §4).
    """
    covers: dict[tuple[str, tuple[str, str]], int] = {}
    for number, finding in enumerate(findings):
        if finding.subject is not None:
            for rule in kb.rule(finding.rule_id).supersedes:
                covers.setdefault((rule, finding.subject), number)
    merged = list(findings)
    dropped: set[int] = set()
    seen: set[tuple[str, tuple[str, str]]] = set()
    for number, finding in enumerate(findings):
        if finding.subject is None:
            continue
        key = (finding.rule_id, finding.subject)
        if key in covers:
            owner = covers[key]
            orders = (*merged[owner].orders, *finding.orders)
            merged[owner] = replace(merged[owner], orders=tuple(dict.fromkeys(orders)))
            dropped.add(number)
        elif key in seen:
            dropped.add(number)
        seen.add(key)
    return [finding for number, finding in enumerate(merged) if number not in dropped]


def _applies(rule: RuleDef, facts: Facts) -> bool:
    """Adult-only evidence is never applied to a child or to a patient of unknown age."""
    return rule.population == "all" or facts.demographics.adult


def complaint_prompt(facts: Facts) -> Prompt:
    """The complaint that made the review run, as every card shows it first."""
    signals = facts.complaint.evidence[:MAX_CONTEXT_LINES]
    return Prompt(
        heading="knee" if facts.complaint.knee else "general",
        evidence=tuple(Evidence(label=s.label, ref=s.ref, when=s.when) for s in signals),
    )


def run_rules(
    facts: Facts,
    kb: KnowledgeBase,
    as_of: datetime,
    service_id: str,
    states: Mapping[str, RuleState] | None = None,
) -> list[Finding]:
    """Every rule of the service that is on or in shadow, in catalogue order, deduplicated.

    `states` are the run-time states (default: as the knowledge ships them); an off rule is not
    computed. Shadow findings are withheld by the caller, so one never supersedes a shown
    finding: the shown ones are deduplicated among themselves, and each shadow finding is the
    one it would be if every rule were on.
    """
    states = kb.default_states(service_id) if states is None else states
    findings: list[Finding] = []
    for rule in kb.catalogue(service_id):
        if states.get(rule.id, RuleState.OFF) is not RuleState.OFF and _applies(rule, facts):
            findings.extend(IMPLEMENTATIONS[rule.id].run(RuleContext(facts, rule, kb, as_of)))
    shadow = {rule for rule, state in states.items() if state is RuleState.SHADOW}
    shown = supersede([f for f in findings if f.rule_id not in shadow], kb)
    if not shadow:
        return shown
    return shown + [f for f in supersede(findings, kb) if f.rule_id in shadow]


__all__ = [
    "IMPLEMENTATIONS",
    "RuleContext",
    "RuleImpl",
    "complaint_prompt",
    "run_rules",
    "supersede",
]
