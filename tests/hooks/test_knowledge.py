"""The knowledge loader: the shipped set loads, and a broken file names file and field."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from hooks.knowledge import DEFAULT_DIR, KnowledgeError, load_knowledge
from hooks.knowledge.schema import RuleState
from hooks.patient_view.knee_spasm import SERVICE_ID
from hooks.registry import Registry
from hooks.services import SERVICES
from tests.builders import knowledge


def test_the_version_is_kept_in_the_manifest_only() -> None:
    kb = load_knowledge()
    carriers = [
        path.name
        for path in DEFAULT_DIR.glob("*.yaml")
        if "knowledge_version" in yaml.safe_load(path.read_text())
    ]
    assert carriers == ["manifest.yaml"]
    assert kb.version.split("+", 1)[0].count(".") == 2


@pytest.fixture
def broken(tmp_path: Path) -> Callable[[str, Callable[[dict[str, Any]], None]], Path]:
    """Copy the knowledge folder and apply one edit to one file."""

    def make(name: str, edit: Callable[[dict[str, Any]], None]) -> Path:
        target = tmp_path / "knowledge"
        shutil.copytree(DEFAULT_DIR, target)
        path = target / name
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        edit(data)
        path.write_text(
            yaml.dump(data, Dumper=yaml.CSafeDumper, allow_unicode=True), encoding="utf-8"
        )
        return target

    return make


def _rule(data: dict[str, Any], rule_id: str) -> dict[str, Any]:
    return next(rule for rule in data["rules"] if rule["id"] == rule_id)


CASES: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    (
        "conditions.yaml",
        lambda d: d["pregnancy"].update(group="pregnant"),
        r"conditions\.yaml: pregnancy\.group: unknown condition group 'pregnant'",
    ),
    (
        "triggers.yaml",
        lambda d: d["complaint"].update(twitch_groups=["twitching"]),
        r"triggers\.yaml: complaint\.twitch_groups: unknown condition group 'twitching'",
    ),
    (
        "conditions.yaml",
        lambda d: d["laterality"]["left"].update(flag="M", match=True),
        r"conditions\.yaml: .*laterality\.left\.match: a M entry cannot be enabled",
    ),
    (
        "drugs.yaml",
        lambda d: d["ingredients"]["furosemide"]["rxnorm"][0].update(flag="X"),
        r"drugs\.yaml: ingredients\.furosemide\.rxnorm\.0\.flag",
    ),
    (
        "drugs.yaml",
        lambda d: d["ingredients"]["furosemide"].update(colour="blue"),
        r"drugs\.yaml: ingredients\.furosemide\.colour",
    ),
    (
        "drugs.yaml",
        lambda d: d["ingredients"]["indapamide"]["rxnorm"][0].update(match=True),
        r"drugs\.yaml: .*indapamide.*match: a M entry cannot be enabled",
    ),
    (
        "drugs.yaml",
        lambda d: d["ingredients"]["furosemide"]["rxnorm"][0].update(sources=["NOPE"]),
        r"drugs\.yaml: .*furosemide.*sources: unknown source key 'NOPE'",
    ),
    (
        "drugs.yaml",
        lambda d: d["ingredients"]["furosemide"].update(classes=["diuretic"]),
        r"drugs\.yaml: ingredients\.furosemide\.classes: unknown class 'diuretic'",
    ),
    (
        "labs.yaml",
        lambda d: d["analytes"]["magnesium"]["thresholds"]["low"][0]["values"].update({"mg": 1.7}),
        r"labs\.yaml: analytes\.magnesium\.thresholds\.low\.0\.values",
    ),
    (
        "labs.yaml",
        lambda d: d["analytes"]["potassium"]["conversions"].update({"mmol/L": 2.0}),
        r"labs\.yaml: analytes\.potassium\.conversions: canonical unit needs factor 1\.0",
    ),
    (
        "labs.yaml",
        lambda d: d["unit_aliases"].update({"mEq/l": "meq/dL"}),
        r"labs\.yaml: unit_aliases\.mEq/l",
    ),
    (
        "labs.yaml",
        lambda d: d.update(knowledge_version="9.9.9"),
        r"labs\.yaml: knowledge_version: Extra inputs are not permitted",
    ),
    (
        "rules.yaml",
        lambda d: _rule(d, "A1").update(templates=["A99"]),
        r"rules\.yaml: rules\[A1\]\.templates: unknown 'A99'",
    ),
    (
        "rules.yaml",
        lambda d: _rule(d, "A1").update(orders=["mri"]),
        r"rules\.yaml: rules\[A1\]\.orders: unknown 'mri'",
    ),
    (
        "rules.yaml",
        lambda d: _rule(d, "A7")["parameters"].pop("window_days"),
        r"rules\.yaml: rules\[A7\]\.parameters\.window_days: required",
    ),
    (
        "rules.yaml",
        lambda d: _rule(d, "A7")["parameters"].update(window_days="180"),
        r"rules\[A7\]\.parameters\.window_days: Input should be a valid integer \(got '180'\)",
    ),
    (
        "rules.yaml",
        lambda d: _rule(d, "A10")["parameters"].update(older_than_years=True),
        r"rules\[A10\]\.parameters\.older_than_years: Input should be a valid integer",
    ),
    (
        "rules.yaml",
        lambda d: _rule(d, "C11")["parameters"].update(new_within_days=0),
        r"rules\[C11\]\.parameters\.new_within_days: Input should be greater than 0",
    ),
    (
        "rules.yaml",
        lambda d: _rule(d, "A7")["parameters"].update(windw_days=180),
        r"rules\[A7\]\.parameters\.windw_days: not a parameter of this rule",
    ),
    (
        "rules.yaml",
        lambda d: _rule(d, "B6")["parameters"]["uln_grading"].update(analyte="ckk"),
        r"rules\[B6\]\.parameters\.uln_grading\.analyte: unknown analyte 'ckk'",
    ),
    (
        "rules.yaml",
        lambda d: _rule(d, "B6")["parameters"]["uln_grading"].update(warning_x_uln=20),
        r"rules\[B6\]\.parameters\.uln_grading: Value error, needs 1 <= warning_x_uln <= crit",
    ),
    (
        "rules.yaml",
        lambda d: _rule(d, "B7")["parameters"].update(analyte="sodium"),
        r"rules\[B7\]\.parameters\.analyte: 'sodium' is not in the rule's inputs\.labs",
    ),
    (
        "rules.yaml",
        lambda d: _rule(d, "C7")["parameters"]["checks"][1].update(analyte="albumin"),
        r"rules\[C7\]\.parameters\.checks\.1\.analyte: 'albumin' is not in the rule's inputs",
    ),
    (
        "rules.yaml",
        lambda d: _rule(d, "C3")["parameters"].update(group="gbs"),
        r"rules\[C3\]\.parameters\.group: 'gbs' is not in the rule's inputs\.conditions",
    ),
    (
        "rules.yaml",
        lambda d: _rule(d, "A13")["parameters"].update(fibrates="fibrat"),
        r"rules\[A13\]\.parameters\.fibrates: unknown drug class 'fibrat'",
    ),
    (
        "rules.yaml",
        lambda d: _rule(d, "A13")["parameters"]["limits"].update(verapamil=10),
        r"rules\[A13\]\.parameters\.limits: unknown drug class 'verapamil'",
    ),
    (
        "rules.yaml",
        lambda d: _rule(d, "A6")["parameters"].update(any_duration=["simvastatin"]),
        r"rules\[A6\]\.parameters\.any_duration\.0: 'simvastatin' is in none of the rule's",
    ),
    (
        "rules.yaml",
        lambda d: _rule(d, "A6")["parameters"].update(weakness_order="tsh"),
        r"rules\[A6\]\.parameters\.weakness_order: 'tsh' is not in the rule's orders",
    ),
    (
        "labs.yaml",
        lambda d: d["analytes"]["ck"]["thresholds"].pop("uln"),
        r"rules\[A3\]\.parameters\.uln_grading\.analyte: labs\.yaml analytes\.ck has no 'uln'",
    ),
    (
        "labs.yaml",
        lambda d: d["analytes"]["vitamin_d_25oh"]["thresholds"].pop("severe_low"),
        r"rules\[B5\]\.parameters\.analyte: labs\.yaml analytes\.vitamin_d_25oh has no 'sev",
    ),
    (
        "labs.yaml",
        lambda d: d["calcium_correction"].update(ionized="calcium_ionised"),
        r"labs\.yaml: calcium_correction\.ionized: unknown analyte 'calcium_ionised'",
    ),
    (
        "labs.yaml",
        lambda d: d["repletion"].update(replete_first={"potassium": "magnesum"}),
        r"labs\.yaml: repletion/escalation: unknown analyte 'magnesum'",
    ),
    (
        "rules.yaml",
        lambda d: d["rules"].append({**_rule(d, "C3"), "id": "C99"}),
        r"rules\.yaml: rules\[C99\]: no implementation in service 'knee-spasm-review'",
    ),
    (
        "rules.yaml",
        lambda d: _rule(d, "B1").update(inputs={"labs": ["potasium"]}),
        r"rules\.yaml: rules\[B1\]\.inputs\.labs: unknown 'potasium'",
    ),
    (
        "rules.yaml",
        lambda d: _rule(d, "A4").update(template_sources={"A4": ["NOPE"]}),
        r"rules\.yaml: rules\[A4\]\.template_sources\.A4: unknown source key 'NOPE'",
    ),
    (
        "cards.yaml",
        lambda d: d["templates"]["A1"].update(summary="On {drug} with {dose}"),
        r"cards\.yaml: templates\.A1\.summary: unknown placeholder\(s\) \['dose'\]",
    ),
    (
        "cards.yaml",
        lambda d: d["orders"]["bmp"]["tests"][0].update(flag="M"),
        r"cards\.yaml: orders\.bmp\.tests\[0\]\.flag: M code in an order",
    ),
    (
        "cards.yaml",
        lambda d: d["families"].pop("labs"),
        r"cards\.yaml: families: missing \['labs'\]",
    ),
]


@pytest.mark.parametrize(
    ("name", "edit", "message"), CASES, ids=[c[2].split(":")[1].strip()[:40] for c in CASES]
)
def test_a_broken_file_stops_loading_naming_file_and_field(
    broken: Callable[[str, Callable[[dict[str, Any]], None]], Path],
    name: str,
    edit: Callable[[dict[str, Any]], None],
    message: str,
) -> None:
    with pytest.raises(KnowledgeError, match=message):
        Registry(SERVICES, load_knowledge(broken(name, edit)))


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    target = tmp_path / "knowledge"
    shutil.copytree(DEFAULT_DIR, target)
    (target / "conditions.yaml").unlink()
    with pytest.raises(KnowledgeError, match=r"conditions\.yaml"):
        load_knowledge(target)


def test_prefetch_codes_follow_the_rules_that_may_run() -> None:
    """An off rule may be switched on at run time, so its labs stay in the fixed templates."""
    from dataclasses import replace

    kb = knowledge()
    assert "62292-8" in kb.prefetch_loinc(SERVICE_ID)
    off = tuple(
        r.model_copy(update={"state": RuleState.OFF}) if r.id in ("B5", "A11") else r
        for r in kb.rules
    )
    assert "62292-8" in replace(kb, rules=off).prefetch_loinc(SERVICE_ID)
    # Citing an unverified source keeps a rule off for good: its labs are not asked for.
    unverified = tuple(
        r.model_copy(update={"state": RuleState.OFF, "sources": ("LABEL",)})
        if r.id in ("B5", "A11")
        else r
        for r in kb.rules
    )
    assert "62292-8" not in replace(kb, rules=unverified).prefetch_loinc(SERVICE_ID)
    assert kb.prefetch_loinc("another-service") == ()


def test_an_unchanged_folder_is_parsed_once_and_a_changed_one_again(tmp_path: Path) -> None:
    target = tmp_path / "knowledge"
    shutil.copytree(DEFAULT_DIR, target)
    first = load_knowledge(target)
    assert load_knowledge(target) is first

    path = target / "rules.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "\n# reviewed\n", encoding="utf-8")

    again = load_knowledge(target)
    assert again is not first
    assert again == first  # a comment changes no value
    assert load_knowledge(DEFAULT_DIR) is not first  # another folder, another entry


def test_a_bare_on_in_yaml_is_refused_with_how_to_write_it(tmp_path: Path) -> None:
    target = tmp_path / "knowledge"
    shutil.copytree(DEFAULT_DIR, target)
    rules = target / "rules.yaml"
    rules.write_text(rules.read_text().replace('state: "on"', "state: on", 1))
    with pytest.raises(KnowledgeError, match=r"rules\.yaml: rules\.0\.state: .*in quotes"):
        load_knowledge(target)


def test_a_rule_citing_an_unverified_source_cannot_ship_in_shadow(tmp_path: Path) -> None:
    target = tmp_path / "knowledge"
    shutil.copytree(DEFAULT_DIR, target)
    rules = target / "rules.yaml"
    text = rules.read_text()
    a11 = text.index("  - id: A11")
    end = text.index('state: "off"', a11)
    rules.write_text(text[:end] + 'state: "shadow"' + text[end + len('state: "off"') :])
    with pytest.raises(KnowledgeError, match=r"rules\[A11\]\.sources: 'LABEL' is unverified"):
        load_knowledge(target)
