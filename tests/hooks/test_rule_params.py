"""Rules read knowledge keys from their catalogue entry, through typed parameter models.

A key written as a string literal in rule code is invisible to the start-up checks (a renamed
condition group would silently match nothing); so is a key picked from a rule's inputs by
position. These tests keep both out of `hooks/patient_view/rules/`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import TypeGuard

import pytest

import hooks.patient_view.rules as rules_package
from hooks.findings import Severity
from hooks.knowledge import KnowledgeBase, KnowledgeError
from hooks.knowledge.params import Days, RuleParams, references
from hooks.patient_view.rules import IMPLEMENTATIONS
from hooks.patient_view.rules.grading import UlnScale, uln_severity
from tests.builders import knowledge

RULES_DIR = Path(rules_package.__file__).parent
INPUT_LISTS = frozenset({"drug_classes", "labs", "conditions"})


def _knowledge_keys(kb: KnowledgeBase) -> dict[str, str]:
    keys: dict[str, str] = {}
    for kind, names in (
        ("analyte", kb.labs.analytes),
        ("drug class", kb.drugs.classes),
        ("ingredient", kb.drugs.ingredients),
        ("condition group", kb.conditions.groups),
        ("order", kb.cards.orders),
    ):
        for name in names:
            keys.setdefault(name, kind)
    return keys


def _modules() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(RULES_DIR.glob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"))


def test_the_scan_sees_every_rule_module() -> None:
    names = {path.stem for path, _ in _modules()}
    assert {"labs", "medications", "statins", "neurology", "electrolytes", "calcium"} <= names


def test_no_rule_module_names_a_knowledge_key_in_a_string_literal() -> None:
    keys = _knowledge_keys(knowledge())
    found = [
        f"{path.name}:{node.lineno}: {node.value!r} is a {keys[node.value]}"
        for path, tree in _modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in keys
    ]
    assert found == [], "read the key from the rule's parameters or inputs instead"


def _input_subscript(node: ast.AST) -> TypeGuard[ast.Subscript]:
    """`<...>.inputs.drug_classes[...]`: one input given a role by its position."""
    if not isinstance(node, ast.Subscript) or not isinstance(node.value, ast.Attribute):
        return False
    inner = node.value
    return (
        inner.attr in INPUT_LISTS
        and isinstance(inner.value, ast.Attribute)
        and inner.value.attr == "inputs"
    )


def test_no_rule_picks_an_input_by_position() -> None:
    found = [
        f"{path.name}:{node.lineno}"
        for path, tree in _modules()
        for node in ast.walk(tree)
        if _input_subscript(node)
    ]
    assert found == [], "name the role as a parameter instead"


def test_the_positional_scan_recognises_a_positional_read() -> None:
    tree = ast.parse("exposures(ctx, ctx.rule.inputs.drug_classes[:1])")
    assert any(_input_subscript(node) for node in ast.walk(tree))


def test_every_key_a_rule_names_is_found_by_the_checks() -> None:
    """The walk behind the start-up checks reaches nested models, lists and mapping keys."""
    kb = knowledge()
    named = {
        (rule_id, ref.field, ref.key)
        for rule_id, impl in IMPLEMENTATIONS.items()
        for ref in references(kb.params(kb.rule(rule_id), impl.params))
    }
    assert ("B6", "uln_grading.analyte", "ck") in named
    assert ("A3", "orders.critical.2", "ck") in named
    assert ("C7", "checks.1.also.0", "calcium_corrected") in named
    assert ("A13", "limits", "simvastatin_max_10") in named
    assert ("A6", "any_duration.0", "fludrocortisone") in named


class _Window(RuleParams):
    window_days: Days


def test_parameters_are_validated_once_per_rule() -> None:
    kb = knowledge()
    shipped, model = kb.rule("B6"), IMPLEMENTATIONS["B6"].params
    assert kb.params(shipped, model) is kb.params(shipped, model)
    # An edited copy of a rule (same id) is parsed afresh, never served the cached parameters.
    for days in (7, 9):
        edited = kb.rule("A7").model_copy(update={"parameters": {"window_days": days}})
        assert kb.params(edited, _Window).window_days == days


def test_a_bad_parameter_met_at_run_time_still_names_rule_and_field() -> None:
    kb = knowledge()
    rule = kb.rule("A7").model_copy(update={"parameters": {"window_days": "7"}})
    with pytest.raises(KnowledgeError, match=r"rules\[A7\]\.parameters\.window_days: Input"):
        kb.params(rule, _Window)


@pytest.mark.parametrize(
    ("times", "severity"),
    [
        (0.5, None),
        (1.0, None),
        (1.01, Severity.INFO),
        (5.0, Severity.INFO),
        (5.01, Severity.WARNING),
        (10.0, Severity.WARNING),
        (10.01, Severity.CRITICAL),
    ],
)
def test_one_uln_scale_grades_a3_and_b6(times: float, severity: Severity | None) -> None:
    kb = knowledge()
    scales = {
        rule_id: kb.params(kb.rule(rule_id), IMPLEMENTATIONS[rule_id].params).uln_grading
        for rule_id in ("A3", "B6")
    }
    assert all(isinstance(scale, UlnScale) for scale in scales.values())
    graded = {rule_id: uln_severity(scale, times) for rule_id, scale in scales.items()}
    assert graded == {"A3": severity, "B6": severity}
