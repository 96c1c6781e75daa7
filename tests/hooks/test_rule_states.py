"""Run-time rule states in the service: off is not computed, shadow never hides a shown finding."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from hooks.findings import Evidence, ResourceRef, Severity, evidence_fingerprint
from hooks.knowledge.schema import RuleState
from hooks.patient_view import rules as rules_module
from hooks.patient_view.knee_spasm import knee_spasm_review
from hooks.patient_view.rules.context import RuleImpl
from tests.builders import (
    iso,
    knowledge,
    make_call,
    make_complaint,
    make_med_request,
    make_observation,
    make_patient,
)

SERVICE = "knee-spasm-review"


def low_potassium_on_furosemide() -> list[dict[str, Any]]:
    return [
        make_patient(),
        make_complaint(),
        make_med_request("4603", authored=iso(60)),
        make_observation("2823-3", 3.1, when=iso(3), resource_id="k-low"),
    ]


def run(states: dict[str, RuleState] | None = None) -> dict[str, list[Any]]:
    call = make_call(low_potassium_on_furosemide())
    defaults = knowledge().default_states(SERVICE)
    assessment = knee_spasm_review(replace(call, rule_states={**defaults, **(states or {})}))
    found: dict[str, list[Any]] = {}
    for finding in assessment.findings:
        found.setdefault(finding.rule_id, []).append(finding)
    return found


def test_the_diuretic_rule_names_the_low_potassium_and_the_lab_rule_stays_silent() -> None:
    found = run()
    assert "A1b" in found
    assert "B1" not in found  # A1b supersedes B1 on the same Observation


def test_a_shadowed_superseding_rule_does_not_hide_the_shown_lab_finding() -> None:
    found = run({"A1b": RuleState.SHADOW})

    assert found["B1"][0].subject == ("potassium", "k-low")  # shown in A1b's place
    assert found["A1b"][0].subject == ("potassium", "k-low")  # computed, for the ledger


def test_an_off_rule_is_not_computed(monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_run(*_: object) -> list[Any]:
        raise AssertionError("an off rule was computed")

    original = rules_module.IMPLEMENTATIONS["A1b"]
    monkeypatch.setitem(
        rules_module.IMPLEMENTATIONS, "A1b", RuleImpl(must_not_run, original.params)
    )

    found = run({"A1b": RuleState.OFF})

    assert "A1b" not in found
    assert "B1" in found  # nothing supersedes the lab finding any more


def test_a_rule_off_as_shipped_runs_when_switched_on() -> None:
    call = make_call([make_patient(), make_complaint()])
    assert knowledge().rule("B0").state is RuleState.OFF
    assert "B0" not in {f.rule_id for f in knee_spasm_review(call).findings}

    states = {**knowledge().default_states(SERVICE), "B0": RuleState.ON}
    findings = knee_spasm_review(replace(call, rule_states=states)).findings

    assert "B0" in {f.rule_id for f in findings}


def evidence(*lines: tuple[str, str | None, str]) -> tuple[Evidence, ...]:
    from datetime import datetime

    return tuple(
        Evidence(
            label="x",
            ref=ResourceRef("Observation", rid),
            value=value,
            when=datetime.fromisoformat(when),
        )
        for rid, value, when in lines
    )


def test_the_fingerprint_follows_records_and_values_not_wording() -> None:
    [finding] = run()["A1b"]
    same = replace(
        finding,
        values={**finding.values, "age": "2 months"},
        evidence=tuple(replace(e, note="reworded", label="Kalium") for e in finding.evidence),
        severity=Severity.CRITICAL,
    )
    assert evidence_fingerprint(same) == evidence_fingerprint(finding)

    newer = replace(
        finding, evidence=(*finding.evidence, *evidence(("k-new", "3.0 mmol/L", iso(1))))
    )
    assert evidence_fingerprint(newer) != evidence_fingerprint(finding)

    changed = replace(
        finding,
        evidence=tuple(
            replace(e, value="2.9 mmol/L") if e.ref and e.ref.id == "k-low" else e
            for e in finding.evidence
        ),
    )
    assert evidence_fingerprint(changed) != evidence_fingerprint(finding)
