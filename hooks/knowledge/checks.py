"""Cross-file checks run at load: a knowledge set that fails any of them never reaches a patient.

Every source key resolves; no M/LOOKUP code is enabled for matching; every rule names existing
templates, orders, classes, analytes and groups; every unit is convertible; every template uses
only known placeholders. Each service's rules and their implementations are checked against
each other by `check_catalogue`, which the registry runs for every hosted service: the
parameters fit the implementation's model, and every knowledge key they name exists, is declared
in the rule's inputs or orders, and (for an analyte graded by a limit) has that threshold.
"""

from __future__ import annotations

import re
import string
from collections.abc import Collection, Iterator, Mapping
from typing import TYPE_CHECKING, NoReturn, Protocol

from pydantic import BaseModel

from hooks.knowledge.params import Reference, RuleParams, references
from hooks.knowledge.schema import CodeEntry, KnowledgeError, Product, RuleDef

if TYPE_CHECKING:
    from hooks.knowledge.base import KnowledgeBase

PLACEHOLDERS = frozenset({"drug", "value", "unit", "date", "n", "dx", "analyte", "age", "reason"})
UCUM_SHAPE = re.compile(r"^[A-Za-z0-9\[\]{}._/%*^\-]+$")
ALL_FAMILIES = frozenset({"medications", "labs", "neurology"})
# FHIR R4 ServiceRequest.status codes that can mean "already ordered" (not revoked, not in error).
ORDER_STATUSES = frozenset({"draft", "active", "on-hold", "completed"})


class Implementation(Protocol):
    """What the registry needs to know about a rule's code: the model of its parameters."""

    @property
    def params(self) -> type[RuleParams]:
        """The pydantic model of the rule's `parameters` (knowledge keys typed as such)."""
        ...


def _fail(message: str) -> NoReturn:
    raise KnowledgeError(message)


def _walk(value: object, path: str) -> Iterator[tuple[str, object]]:
    if isinstance(value, BaseModel):
        yield path, value
        for name in type(value).model_fields:
            yield from _walk(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}")
    elif isinstance(value, tuple | list):
        for number, item in enumerate(value):
            yield from _walk(item, f"{path}[{number}]")


def _files(kb: KnowledgeBase) -> dict[str, BaseModel]:
    return {
        "triggers.yaml": kb.triggers,
        "drugs.yaml": kb.drugs,
        "labs.yaml": kb.labs,
        "conditions.yaml": kb.conditions,
        "cards.yaml": kb.cards,
    }


def check_sources_and_flags(kb: KnowledgeBase) -> None:
    """Every `sources` key resolves; an M/LOOKUP code is never switched on for matching."""
    roots: dict[str, object] = {**_files(kb), "rules.yaml": (kb.grading_policy, *kb.rules)}
    for name, root in roots.items():
        for path, node in _walk(root, name.removesuffix(".yaml")):
            for key in getattr(node, "sources", ()) or ():
                if isinstance(key, str) and key not in kb.sources:
                    _fail(f"{name}: {path}.sources: unknown source key {key!r}")
            if isinstance(node, CodeEntry | Product) and node.match and not node.usable:
                _fail(f"{name}: {path}.match: a {node.flag} entry cannot be enabled for matching")


def check_units(kb: KnowledgeBase) -> None:
    """Every unit is UCUM-shaped and convertible to its analyte's canonical unit."""
    known: set[str] = set()
    for key, analyte in kb.labs.analytes.items():
        where = f"labs.yaml: analytes.{key}"
        if analyte.conversions.get(analyte.canonical_unit) != 1.0:
            _fail(f"{where}.conversions: canonical unit needs factor 1.0")
        for unit, factor in analyte.conversions.items():
            if not UCUM_SHAPE.match(unit) or factor <= 0:
                _fail(f"{where}.conversions.{unit}: not a UCUM unit with a positive factor")
        for unit in analyte.approximate_units:
            if unit not in analyte.conversions:
                _fail(f"{where}.approximate_units.{unit}: not one of its conversions")
        for name, limits in analyte.thresholds.items():
            for number, threshold in enumerate(limits):
                units = set(threshold.values)
                if analyte.canonical_unit not in units or not units <= set(analyte.conversions):
                    _fail(
                        f"{where}.thresholds.{name}.{number}.values: units must be convertible, "
                        "canonical first"
                    )
        known.update(analyte.conversions)
    for alias, target in kb.labs.unit_aliases.items():
        if target not in known:
            _fail(f"labs.yaml: unit_aliases.{alias}: {target!r} is no analyte's unit")
    correction = kb.labs.calcium_correction
    for field in ("total", "lab_corrected", "ionized", "albumin"):
        key = getattr(correction, field)
        if key not in kb.labs.analytes:
            _fail(f"labs.yaml: calcium_correction.{field}: unknown analyte {key!r}")
    for analyte_key, unit in (
        (correction.total, correction.calcium_unit),
        (correction.albumin, correction.albumin_unit),
    ):
        if unit not in kb.labs.analytes[analyte_key].conversions:
            _fail(f"labs.yaml: calcium_correction: {unit!r} is not a {analyte_key} unit")


def check_policies(kb: KnowledgeBase) -> None:
    """The repletion and escalation policies name existing analytes, classes and groups."""
    repletion, escalation = kb.labs.repletion, kb.labs.escalation
    analytes = (
        *repletion.analytes,
        *repletion.supplements,
        repletion.unsafe_below.analyte,
        *(key for pair in repletion.replete_first.items() for key in pair),
        *escalation.analytes,
    )
    classes = (
        *repletion.high_risk_classes,
        *repletion.altering_classes,
        *(key for keys in repletion.supplements.values() for key in keys),
        *(key for pair in repletion.unsafe_pairs for key in pair),
        *escalation.drug_classes,
    )
    groups = (
        *repletion.high_risk_conditions,
        *repletion.unsafe_conditions,
        *escalation.conditions,
        *escalation.new_conditions,
    )
    for names, known, what in (
        (analytes, kb.labs.analytes, "analyte"),
        (classes, kb.drugs.classes, "drug class"),
        (groups, kb.conditions.groups, "condition group"),
    ):
        for name in names:
            if name not in known:
                _fail(f"labs.yaml: repletion/escalation: unknown {what} {name!r}")


def check_groups_named(kb: KnowledgeBase) -> None:
    """The condition groups that pregnancy and the complaint's twitch reading name exist."""
    named = (
        ("conditions.yaml: pregnancy.group", (kb.conditions.pregnancy.group,)),
        ("triggers.yaml: complaint.twitch_groups", kb.triggers.complaint.twitch_groups),
    )
    for where, keys in named:
        for key in keys:
            if key not in kb.conditions.groups:
                _fail(f"{where}: unknown condition group {key!r}")


def check_drugs(kb: KnowledgeBase) -> None:
    """Classes, routes and depleted analytes that drugs name all exist."""
    drugs = kb.drugs
    for key, ingredient in drugs.ingredients.items():
        for class_key in ingredient.classes:
            if class_key not in drugs.classes:
                _fail(f"drugs.yaml: ingredients.{key}.classes: unknown class {class_key!r}")
    for code, product in drugs.products.items():
        for ingredient_key in product.ingredients:
            if ingredient_key not in drugs.ingredients:
                _fail(f"drugs.yaml: products.{code}.ingredients: unknown {ingredient_key!r}")
    for key, cls in drugs.classes.items():
        for route in cls.systemic_routes or ():
            if route not in drugs.routes:
                _fail(f"drugs.yaml: classes.{key}.systemic_routes: unknown route {route!r}")
        for field, analytes in (("depletes", cls.depletes), ("raises", cls.raises)):
            for analyte in analytes:
                if analyte not in kb.labs.analytes:
                    _fail(f"drugs.yaml: classes.{key}.{field}: unknown analyte {analyte!r}")


def _check_format(text: str, where: str, allowed: frozenset[str] | None) -> None:
    try:
        names = {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}
    except ValueError as exc:
        _fail(f"{where}: {exc}")
    if allowed is not None and not names <= allowed:
        _fail(f"{where}: unknown placeholder(s) {sorted(names - allowed)}")


def check_cards(kb: KnowledgeBase) -> None:
    """Templates use known placeholders; orders use verified codes; every family has a source."""
    cards = kb.cards
    missing = ALL_FAMILIES - {str(family) for family in cards.families}
    if missing:
        _fail(f"cards.yaml: families: missing {sorted(missing)}")
    for key, template in cards.templates.items():
        _check_format(template.summary, f"cards.yaml: templates.{key}.summary", PLACEHOLDERS)
    for key, order in cards.orders.items():
        for analyte in order.measures:
            if analyte not in kb.labs.analytes:
                _fail(f"cards.yaml: orders.{key}.measures: unknown analyte {analyte!r}")
        for number, test in enumerate(order.tests):
            if not test.usable:
                _fail(
                    f"cards.yaml: orders.{key}.tests[{number}].flag: {test.flag} code in an order"
                )
    for key, text in kb.wording.items():
        _check_format(text, f"rules.yaml: wording.{key}", None)
    bad = sorted(set(cards.orders_on_file.statuses) - ORDER_STATUSES)
    if bad:
        _fail(f"cards.yaml: orders_on_file.statuses: {bad} cannot mean an order is on file")


def _check_rule_refs(kb: KnowledgeBase, rule_ids: set[str]) -> None:
    for rule in kb.rules:
        where = f"rules.yaml: rules[{rule.id}]"
        refs = (
            ("templates", rule.templates, kb.cards.templates),
            ("orders", rule.orders, kb.cards.orders),
            ("sources", rule.sources, kb.sources),
            ("supersedes", rule.supersedes, rule_ids),
            ("inputs.drug_classes", rule.inputs.drug_classes, kb.drugs.classes),
            ("inputs.labs", rule.inputs.labs, kb.labs.analytes),
            ("inputs.conditions", rule.inputs.conditions, kb.conditions.groups),
        )
        for field, names, known in refs:
            for name in names:
                if name not in known:
                    _fail(f"{where}.{field}: unknown {name!r}")
        for template, keys in rule.template_sources.items():
            if template not in rule.templates:
                _fail(f"{where}.template_sources: {template!r} is not one of its templates")
            for key in keys:
                if key not in kb.sources:
                    _fail(f"{where}.template_sources.{template}: unknown source key {key!r}")


def _check_citations(kb: KnowledgeBase) -> None:
    """A rule that ships on or in shadow cites only verified sources (never "unverified citation").

    A rule that is off may cite one: it then stays off, and cannot be switched on at run time.
    """
    for rule in kb.enabled_rules:
        for key in kb.unverified_sources(rule):
            _fail(
                f"rules.yaml: rules[{rule.id}].sources: {key!r} is unverified "
                f'({kb.sources[key].flag}); cite a verified source or ship the rule "off"'
            )


def _check_implementation(kb: KnowledgeBase, rule_id: str, impl: Implementation) -> None:
    """The parameters fit the model, and every knowledge key they name is real and declared."""
    rule = kb.rule(rule_id)
    for reference in references(kb.params(rule, impl.params)):
        _check_reference(kb, rule, reference)


def _check_reference(kb: KnowledgeBase, rule: RuleDef, ref: Reference) -> None:
    """A key exists and is among the rule's inputs (or orders), so the prefetch asks for it."""
    where = f"rules.yaml: rules[{rule.id}].parameters.{ref.field}"
    if ref.kind == "ingredient":
        ingredient = kb.drugs.ingredients.get(ref.key)
        if ingredient is None:
            _fail(f"{where}: unknown ingredient {ref.key!r}")
        if not set(ingredient.classes) & set(rule.inputs.drug_classes):
            _fail(f"{where}: {ref.key!r} is in none of the rule's inputs.drug_classes")
        return
    lists: dict[str, tuple[Collection[str], tuple[str, ...], str]] = {
        "analyte": (kb.labs.analytes.keys(), rule.inputs.labs, "inputs.labs"),
        "drug_class": (kb.drugs.classes.keys(), rule.inputs.drug_classes, "inputs.drug_classes"),
        "group": (kb.conditions.groups.keys(), rule.inputs.conditions, "inputs.conditions"),
        "order": (kb.cards.orders.keys(), rule.orders, "orders"),
    }
    known, declared, listed = lists[ref.kind]
    if ref.key not in known:
        _fail(f"{where}: unknown {ref.kind.replace('_', ' ')} {ref.key!r}")
    if ref.key not in declared:
        _fail(f"{where}: {ref.key!r} is not in the rule's {listed}")
    for name in ref.thresholds:
        if name not in kb.labs.analytes[ref.key].thresholds:
            _fail(f"{where}: labs.yaml analytes.{ref.key} has no {name!r} threshold")


def check_rules(kb: KnowledgeBase) -> None:
    """Rule ids are unique and every reference a rule makes into the knowledge resolves."""
    rule_ids: set[str] = set()
    for rule in kb.rules:
        if rule.id in rule_ids:
            _fail(f"rules.yaml: rules[{rule.id}].id: duplicate")
        rule_ids.add(rule.id)
    _check_rule_refs(kb, rule_ids)
    _check_citations(kb)


def check_catalogue(
    kb: KnowledgeBase, service_id: str, implementations: Mapping[str, Implementation]
) -> None:
    """One service's rules and the implementations it declares agree, parameters included.

    Run by the registry for each hosted service: the knowledge never imports a service.
    """
    declared = {rule.id for rule in kb.catalogue(service_id)}
    for rule_id in sorted(declared):
        impl = implementations.get(rule_id)
        if impl is None:
            _fail(f"rules.yaml: rules[{rule_id}]: no implementation in service {service_id!r}")
        _check_implementation(kb, rule_id, impl)
    for rule_id in sorted(set(implementations) - declared):
        _fail(f"service {service_id!r}: rule {rule_id!r} is implemented but not in rules.yaml")


def check_knowledge(kb: KnowledgeBase) -> None:
    """Run every cross-check of the data itself (services' catalogues: `check_catalogue`)."""
    check_sources_and_flags(kb)
    check_units(kb)
    check_policies(kb)
    check_groups_named(kb)
    check_drugs(kb)
    check_cards(kb)
    check_rules(kb)
