"""A rule's view of one patient: facts, its definition, the knowledge and the clock.

`RuleImpl` is what the knowledge loader checks each rules.yaml entry against.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from hooks.findings import Evidence, Family, Finding, FindingStatus, Severity
from hooks.knowledge import KnowledgeBase
from hooks.knowledge_schema import ParamValue, RuleDef
from hooks.patient_view.facts import Facts


@dataclass(frozen=True, slots=True)
class RuleContext:
    """One rule's view of one patient."""

    facts: Facts
    rule: RuleDef
    kb: KnowledgeBase
    as_of: datetime

    def param(self, name: str) -> ParamValue:
        """A rule parameter (presence and type are checked when knowledge loads)."""
        return self.rule.parameters[name]

    def days(self, name: str) -> int:
        """An integer parameter, e.g. a window in days."""
        value = self.param(name)
        assert isinstance(value, int)
        return value

    def number(self, name: str) -> float:
        """A numeric parameter."""
        value = self.param(name)
        assert isinstance(value, int | float)
        return float(value)

    def names(self, name: str) -> tuple[str, ...]:
        """A list-of-keys parameter."""
        value = self.param(name)
        assert isinstance(value, tuple)
        return value

    def windows(self, name: str) -> dict[str, int]:
        """A key -> days parameter."""
        value = self.param(name)
        assert isinstance(value, dict)
        return value

    def say(self, key: str, /, **values: str) -> str:
        """Wording from rules.yaml."""
        return self.kb.say(key, **values)

    def _sources(self, template: str) -> tuple[str, ...]:
        """A template's own citations when rules.yaml gives them, else the rule's."""
        return self.rule.template_sources.get(template, self.rule.sources)

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
    ) -> Finding:
        """A finding of this rule; severity, orders and sources default to the rule's."""
        return Finding(
            rule_id=self.rule.id,
            rule_version=self.rule.version,
            family=Family(self.rule.family),
            severity=severity or self.rule.severity,
            template=template,
            values=dict(values or {}),
            items=dict(items or {}),
            evidence=tuple(evidence),
            sources=tuple(self._sources(template) if sources is None else sources),
            orders=tuple(self.rule.orders if orders is None else orders),
            caveats=tuple(caveats),
            status=status,
            subject=subject,
        )


@dataclass(frozen=True, slots=True)
class RuleImpl:
    """A rule function and what it needs from the knowledge (checked at load)."""

    run: Callable[[RuleContext], Sequence[Finding]]
    params: Mapping[str, type] = field(default_factory=dict)
    thresholds: tuple[tuple[str, str], ...] = ()
