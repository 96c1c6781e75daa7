"""The registry checks each service's own rule catalogue; a second service needs no change to the
knee-spasm service, and neither runs the other's rules."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from typing import Any

import pytest
import yaml

from hooks.findings import Assessment, Finding, Severity
from hooks.knowledge import DEFAULT_DIR, KnowledgeBase, KnowledgeError, load_knowledge
from hooks.knowledge.checks import Implementation
from hooks.knowledge.params import AnalyteKey, Days, RuleParams
from hooks.patient_view.knee_spasm import SERVICE_ID, knee_spasm_review
from hooks.registry import HookCall, Prefetch, Registry, ServiceSpec, cds_service
from tests.builders import make_call, make_complaint, make_med_request, make_patient

OTHER = "cramp-triage-probe"


class _Params(RuleParams):
    analyte: AnalyteKey
    window_days: Days
    lab_window_days: Days


class _Impl:
    """The smallest implementation the registry accepts: the model of its parameters."""

    params: type[RuleParams] = _Params


def _other_service(rules: Mapping[str, Implementation]) -> ServiceSpec:
    @cds_service(
        id=OTHER,
        hook="patient-view",
        title="Probe",
        description="A second service with its own rules.",
        prefetch={"patient": Prefetch("Patient/{{context.patientId}}")},
        rules=rules,
    )
    def other(call: HookCall[Any]) -> Assessment:
        rule = call.knowledge.rules_for(OTHER)[0]
        finding = Finding(rule.id, rule.version, rule.family, Severity.INFO, rule.templates[0])
        return Assessment((finding,))

    return other


@pytest.fixture(scope="module")
def two_services(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    """The shipped knowledge plus one rule that belongs to the other service."""
    target = tmp_path_factory.mktemp("kb") / "knowledge"
    shutil.copytree(DEFAULT_DIR, target)
    path = target / "rules.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    template = next(rule for rule in data["rules"] if rule["id"] == "A7")
    data["rules"].append({**template, "id": "Z1", "service": OTHER})
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return load_knowledge(target)


def _knee_rule_ids(kb: KnowledgeBase) -> set[str]:
    call = make_call([make_patient(), make_complaint(), make_med_request("9071")], kb=kb)
    return {finding.rule_id for finding in knee_spasm_review(call).findings}


def test_each_service_runs_only_its_own_rules(two_services: KnowledgeBase) -> None:
    registry = Registry([knee_spasm_review, _other_service({"Z1": _Impl()})], two_services)
    assert [spec.id for spec in registry] == [OTHER, SERVICE_ID]
    assert [rule.id for rule in two_services.rules_for(OTHER)] == ["Z1"]
    assert "Z1" not in _knee_rule_ids(two_services)
    assert _knee_rule_ids(two_services) == _knee_rule_ids(load_knowledge())


def test_a_rule_of_a_service_without_its_implementation_is_refused(
    two_services: KnowledgeBase,
) -> None:
    with pytest.raises(KnowledgeError, match=r"rules\[Z1\]: no implementation in service"):
        Registry([_other_service({})], two_services)


def test_an_implementation_without_a_rule_is_refused(two_services: KnowledgeBase) -> None:
    with pytest.raises(KnowledgeError, match=r"rule 'Z2' is implemented but not in rules\.yaml"):
        Registry([_other_service({"Z1": _Impl(), "Z2": _Impl()})], two_services)


def test_a_service_not_hosted_leaves_its_rules_unchecked(two_services: KnowledgeBase) -> None:
    assert len(Registry([knee_spasm_review], two_services)) == 1
