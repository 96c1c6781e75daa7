"""The loaded knowledge as rules and card builders read it: validated files plus lookup tables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import cast

from hooks.knowledge.cards import CardsFile
from hooks.knowledge.index import KnowledgeIndex
from hooks.knowledge.params import P, RuleParams, parse_params
from hooks.knowledge.schema import (
    Analyte,
    ConditionsFile,
    DrugsFile,
    GradingPolicy,
    LabsFile,
    RuleDef,
    RuleState,
    SourceDef,
    Systems,
    TriggersFile,
)


@dataclass(frozen=True)
class KnowledgeBase:
    """Everything the rules and card builders read, validated and indexed."""

    version: str
    systems: Systems
    sources: Mapping[str, SourceDef]
    triggers: TriggersFile
    drugs: DrugsFile
    labs: LabsFile
    conditions: ConditionsFile
    rules: tuple[RuleDef, ...]
    grading_policy: GradingPolicy
    wording: Mapping[str, str]
    cards: CardsFile
    index: KnowledgeIndex
    # (rule id, model) -> (the rule parsed, its parameters); filled when the registry checks.
    _params: dict[tuple[str, type[RuleParams]], tuple[RuleDef, RuleParams]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def rule(self, rule_id: str) -> RuleDef:
        """The rule with this id (KeyError if none: a programming error, not clinical data)."""
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)

    @property
    def enabled_rules(self) -> tuple[RuleDef, ...]:
        """Rules that run as shipped (on or in shadow), of every service, in catalogue order."""
        return tuple(rule for rule in self.rules if rule.state is not RuleState.OFF)

    def catalogue(self, service_id: str) -> tuple[RuleDef, ...]:
        """One service's rules, whatever their state, in catalogue order."""
        return tuple(rule for rule in self.rules if rule.service == service_id)

    def rules_for(self, service_id: str) -> tuple[RuleDef, ...]:
        """One service's rules that run as shipped (on or in shadow), in catalogue order."""
        return tuple(rule for rule in self.catalogue(service_id) if rule.state is not RuleState.OFF)

    def default_states(self, service_id: str) -> dict[str, RuleState]:
        """The state each of one service's rules ships in."""
        return {rule.id: rule.state for rule in self.catalogue(service_id)}

    def unverified_sources(self, rule: RuleDef) -> tuple[str, ...]:
        """Sources the rule cites that are not verified: such a rule may never run."""
        cited = {*rule.sources, *(key for keys in rule.template_sources.values() for key in keys)}
        return tuple(
            key
            for key in sorted(cited)
            if key in self.sources and self.sources[key].flag not in ("V", "V*")
        )

    def switchable(self, service_id: str) -> tuple[RuleDef, ...]:
        """One service's rules that may be on or in shadow at run time: all citations verified."""
        return tuple(r for r in self.catalogue(service_id) if not self.unverified_sources(r))

    def params(self, rule: RuleDef, model: type[P]) -> P:
        """A rule's parameters as its implementation's model, validated once per rule and model.

        A KnowledgeError names the rule and the field (the registry makes that happen at
        start-up); afterwards a rule run costs a dictionary lookup, not a validation.
        """
        key = (rule.id, model)
        cached = self._params.get(key)
        if cached is None or cached[0] is not rule:
            cached = (rule, parse_params(rule, model))
            self._params[key] = cached
        return cast(P, cached[1])

    def analyte(self, key: str) -> Analyte:
        """One laboratory analyte definition."""
        return self.labs.analytes[key]

    def say(self, key: str, /, **values: str) -> str:
        """Render a wording entry of rules.yaml with named values."""
        return self.wording[key].format_map(values)

    def prefetch_loinc(self, service_id: str) -> tuple[str, ...]:
        """LOINC codes for one service's prefetch, generated from the knowledge (erratum 5).

        Every analyte read by a rule of the service that may run (a rule off as shipped can be
        switched on at run time, and discovery's templates are fixed at start-up), and the
        pregnancy-status code when one of them reads pregnancy.
        """
        rules = self.switchable(service_id)
        analytes: list[str] = []
        for rule in rules:
            analytes.extend(a for a in rule.inputs.labs if a not in analytes)
        codes = [
            entry.code
            for key in analytes
            for entry in self.labs.analytes[key].loinc
            if entry.usable
        ]
        status = self.conditions.pregnancy.status_loinc
        group = self.conditions.pregnancy.group
        if status.usable and any(group in r.inputs.conditions for r in rules):
            codes.append(status.code)
        return tuple(codes)

    def complaint_snomed(self) -> tuple[str, ...]:
        """Verified SNOMED CT complaint and knee codes, for the symptom Observation query."""
        entries = (*self.triggers.complaint.snomed, *self.triggers.knee.snomed)
        return tuple(entry.code for entry in entries if entry.usable)
