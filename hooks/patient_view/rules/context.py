"""A rule's view of one patient: facts, its definition, the knowledge and the clock.

`RuleImpl` is what the registry checks each of the service's rules.yaml entries against: a
function and the pydantic model of its parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic

from hooks.findings import CodeRef, Evidence, Family, Finding, FindingStatus, Severity
from hooks.knowledge import KnowledgeBase
from hooks.knowledge.params import P
from hooks.knowledge.schema import RuleDef
from hooks.patient_view.facts import Facts, LabResult, OrderRecord
from hooks.patient_view.facts.units import format_number


@dataclass(frozen=True, slots=True)
class RuleContext:
    """One rule's view of one patient."""

    facts: Facts
    rule: RuleDef
    kb: KnowledgeBase
    as_of: datetime

    def say(self, key: str, /, **values: str) -> str:
        """Wording from rules.yaml."""
        return self.kb.say(key, **values)

    def _sources(self, template: str) -> tuple[str, ...]:
        """A template's own citations when rules.yaml gives them, else the rule's."""
        return self.rule.template_sources.get(template, self.rule.sources)

    def template(self, key: str) -> str:
        """`key` if the rule lists it, else its nearest listed base ("B1-critical" -> "B1")."""
        while key not in self.rule.templates and "-" in key:
            key = key.rsplit("-", 1)[0]
        return key if key in self.rule.templates else self.rule.templates[0]

    def measures(self, order: str) -> tuple[str, ...]:
        """The analytes an order measures (cards.yaml)."""
        return self.kb.cards.orders[order].measures

    def recent(self, analyte: str, days: int | None = None) -> LabResult | None:
        """A usable result within `days`, else within the analyte's act (or stale) window."""
        spec = self.kb.analyte(analyte)
        window = days or spec.act_within_days or spec.stale_after_days
        return self.facts.labs.current(analyte, self.as_of, window)

    def needed_orders(
        self, orders: Iterable[str], repeat: str | None = None, days: int | None = None
    ) -> tuple[tuple[str, ...], list[LabResult]]:
        """Orders still needed, and the recent results that made the others unnecessary.

        An order is dropped when what this rule needs from it (the analytes it measures that the
        rule reads, else all it measures) has a recent usable result, unless it measures `repeat`
        (the result the finding is about: rechecking it is the point).
        """
        kept: list[str] = []
        on_file: list[LabResult] = []
        reads = set(self.rule.inputs.labs)
        for key in dict.fromkeys(orders):
            measures = self.measures(key)
            if not measures or repeat in measures:
                kept.append(key)
                continue
            wanted = [a for a in measures if a in reads] or list(measures)
            found = [self.recent(analyte, days) for analyte in wanted]
            if any(result is None for result in found):
                kept.append(key)
            else:
                on_file.extend(r for r in found if r is not None and r not in on_file)
        return tuple(kept), on_file

    def ordered(self, orders: Iterable[str]) -> tuple[tuple[str, ...], list[OrderRecord]]:
        """Orders not yet made, and the ServiceRequests on file that stand for the others.

        An order is made when every test it creates has a request for the same code on file
        (cards.yaml `orders_on_file`), authored after the newest result of what the order
        measures: a request older than that result was fulfilled by it, so a recheck is new.
        """
        policy = self.kb.cards.orders_on_file
        kept: list[str] = []
        found: list[OrderRecord] = []
        for key in orders:
            results = (self.facts.labs.latest(analyte) for analyte in self.measures(key))
            after = max((r.when for r in results if r is not None), default=None)
            requests = [
                self.facts.orders.on_file(
                    test.system, test.code, policy.statuses, self.as_of, policy.within_days, after
                )
                for test in self.kb.cards.orders[key].tests
            ]
            if all(requests):
                found.extend(r for r in requests if r is not None and r not in found)
            else:
                kept.append(key)
        return tuple(kept), found

    def finding(
        self,
        template: str,
        *,
        severity: Severity | None = None,
        values: Mapping[str, str] | None = None,
        items: Mapping[str, tuple[str, ...]] | None = None,
        evidence: Iterable[Evidence] = (),
        orders: Iterable[str] | None = None,
        caveats: Iterable[str] = (),
        status: FindingStatus = FindingStatus.CONCLUSIVE,
        subject: tuple[str, str] | None = None,
        sources: Iterable[str] | None = None,
        reason: CodeRef | None = None,
        priority: str | None = None,
        recent_within: int | None = None,
    ) -> Finding:
        """A finding of this rule; severity, orders and sources default to the rule's.

        Orders for tests already on file are dropped, and the results that made them
        unnecessary become evidence lines ("on file"), so the card says so instead of asking;
        so are orders already made (a ServiceRequest on file), with the request as evidence.
        """
        template = self.template(template)
        severity = severity or self.rule.severity
        chosen = tuple(
            key
            for key in (self.rule.orders if orders is None else orders)
            if severity is Severity.CRITICAL or not self.kb.cards.orders[key].critical_only
        )
        kept, on_file = self.needed_orders(chosen, subject[0] if subject else None, recent_within)
        kept, ordered = self.ordered(kept)
        lines = list(evidence)
        shown = {line.ref for line in lines if line.ref is not None}
        note = self.say("on_file")
        for result in on_file:
            if result.ref not in shown:
                lines.append(self._on_file(result, note))
        for request in ordered:
            if request.ref not in shown:
                lines.append(self._ordered(request))
        return Finding(
            rule_id=self.rule.id,
            rule_version=self.rule.version,
            family=Family(self.rule.family),
            severity=severity,
            template=template,
            values=dict(values or {}),
            items=dict(items or {}),
            evidence=tuple(lines),
            sources=tuple(self._sources(template) if sources is None else sources),
            orders=kept,
            caveats=tuple(caveats),
            status=status,
            subject=subject,
            reason=reason,
            priority=priority,
        )

    def _ordered(self, request: OrderRecord) -> Evidence:
        note = self.say("order_on_file", status=request.status)
        return Evidence(label=request.label, ref=request.ref, when=request.authored, note=note)

    def _on_file(self, result: LabResult, note: str) -> Evidence:
        analyte = self.kb.analyte(result.analyte)
        value = f"{format_number(result.value)} {result.reported_unit}".strip()
        label = analyte.display[:1].upper() + analyte.display[1:]
        return Evidence(label=label, ref=result.ref, value=value, when=result.when, note=note)


@dataclass(frozen=True, slots=True)
class RuleImpl(Generic[P]):
    """A rule function and the model of its rules.yaml `parameters` (checked at start-up).

    The function receives the validated parameters: every knowledge key it reads comes from
    its catalogue entry (parameters or inputs), where the registry's checks can see it.
    """

    function: Callable[[RuleContext, P], Sequence[Finding]]
    params: type[P]

    def run(self, ctx: RuleContext) -> Sequence[Finding]:
        """Apply the rule to one patient with its parameters (validated once per knowledge set)."""
        return self.function(ctx, ctx.kb.params(ctx.rule, self.params))
