"""`cds-service catalogue`: every rule in words, with the card its example patient gets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from fhir.resources.R4B import get_fhir_model_class

from cds_service.cli import main
from cds_service.workbench.catalogue import (
    EXAMPLES,
    Catalogue,
    build_catalogue,
    load_examples,
    missing_examples,
    resources_of,
)
from hooks.knowledge import load_knowledge
from hooks.knowledge.schema import RuleState


def assert_self_contained(html: str) -> None:
    """Nothing for the browser to fetch: no scripts, stylesheets, images, frames or imports."""
    assert not re.search(r"<(script|link|img|iframe|object|embed)\b", html)
    assert not re.search(r"\bsrc=|@import|url\((?!#)", html)


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return build_catalogue()


def test_every_enabled_rule_has_an_example_that_gives_its_card(catalogue: Catalogue) -> None:
    enabled = {rule.id for rule in load_knowledge().rules if rule.state is not RuleState.OFF}

    assert {r.id for r in catalogue.rules if r.state != "off"} == enabled
    assert missing_examples(catalogue) == []
    for rule in catalogue.rules:
        if rule.state != "off":
            assert rule.example is not None
            card = rule.example.card
            assert card is not None
            findings = (card.extension or {})["org.kneespasmcds.findings"]["findings"]
            assert rule.id in {f["ruleId"] for f in findings if f["status"] != "no-conclusion"}


def test_severity_of_each_example_matches_what_the_rule_acts_at(catalogue: Catalogue) -> None:
    """An example shows the rule at work: its card is at least as urgent as the rule's own level."""
    rank = {"info": 0, "warning": 1, "critical": 2}
    for rule in catalogue.rules:
        if rule.example is not None and rule.example.card is not None and rule.id != "M1":
            assert rank[rule.example.card.indicator] >= rank[rule.severity], rule.id


def test_rules_that_are_off_are_shown_off_without_an_example(catalogue: Catalogue) -> None:
    off = [rule for rule in catalogue.rules if rule.state == "off"]

    assert {rule.id for rule in off} == {"A11", "B0", "C9"}
    assert all(rule.example is None for rule in off)


def test_each_rule_carries_its_thresholds_orders_and_citations(catalogue: Catalogue) -> None:
    a1b = next(rule for rule in catalogue.rules if rule.id == "A1b")

    assert any(t.analyte == "potassium" and t.limit == "< 3.5 mmol/L" for t in a1b.thresholds)
    assert [o.label for o in a1b.orders][:2] == [
        "Order basic metabolic panel",
        "Order serum magnesium",
    ]
    assert a1b.citations
    assert all(c.url is None or c.url.startswith("https://") for c in a1b.citations)


def test_example_patients_are_valid_fhir_r4(catalogue: Catalogue) -> None:
    examples = load_examples()
    for example in examples.examples.values():
        for resource in resources_of(example, examples):
            get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def test_the_command_writes_the_page_and_the_markdown(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["catalogue", "--out", str(tmp_path)])

    assert result.exit_code == 0, result.output
    assert "45 rules (3 off, 42 on)" in result.stdout
    html = (tmp_path / "index.html").read_text()
    markdown = (tmp_path / "catalogue.md").read_text()
    rules = [rule.id for rule in load_knowledge().rules]
    assert re.findall(r'<section class="rule" id="rule-([^"]+)"', html) == rules
    assert re.findall(r"^## (\S+)$", markdown, flags=re.MULTILINE) == rules
    assert "https://doi.org/10.1001/archinternmed.2011.1029" in markdown  # Garrison 2012
    assert "> **On furosemide, potassium 3.1 mmol/L" in markdown
    assert_self_contained(html)


def test_a_rule_without_its_example_card_fails_the_command(tmp_path: Path) -> None:
    data = yaml.safe_load(EXAMPLES.read_text())
    del data["examples"]["C13"]
    data["examples"]["C10"]["resources"] = []  # the claudication is gone: no C10 card
    examples = tmp_path / "examples.yaml"
    examples.write_text(yaml.safe_dump(data))

    result = CliRunner().invoke(
        main, ["catalogue", "--out", str(tmp_path / "out"), "--examples", str(examples)]
    )

    assert result.exit_code == 1
    assert "no example card for C10, C13" in result.stderr
    assert "No example patient for this rule." in (tmp_path / "out" / "index.html").read_text()
