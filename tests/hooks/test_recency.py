"""Recency (labs.yaml act_within_days; addendum §3, §11.4) on the diuretic rules A1 and A1b.

A result older than its act window is shown with its age and a recheck, at most info, and is
never called a cause or acted on; the A1 detail line says how old the last result is in a way
that cannot read as a contradiction.
"""

from __future__ import annotations

from typing import Any

import pytest

from hooks.findings import Severity
from tests.builders import by_rule, findings_for, iso, make_med_request, make_observation, rule_ids

HCTZ = make_med_request("316049", "Hydrochlorothiazide 25 MG", authored=iso(400))


def _k(value: float, days: float) -> dict[str, Any]:
    return make_observation("6298-4", value, when=iso(days))


@pytest.mark.parametrize(
    ("days", "template", "severity"),
    [(90, "A1b", Severity.WARNING), (90.001, "A1b-stale", Severity.INFO)],
)
def test_a_low_k_on_a_diuretic_is_a_possible_contributor_only_within_90_days(
    days: float, template: str, severity: Severity
) -> None:
    findings = findings_for(HCTZ, _k(3.2, days))
    [finding] = by_rule(findings, "A1b")
    assert (finding.template, finding.severity) == (template, severity)
    assert "B1" not in rule_ids(findings)  # one finding names both drug and value


def test_an_old_low_k_is_not_also_reported_as_missing_by_a1() -> None:
    findings = findings_for(HCTZ, _k(3.2, 200))
    assert "A1" not in rule_ids(findings) or "K" not in by_rule(findings, "A1")[0].items.get(
        "analyte", ()
    )


def test_the_last_normal_result_is_worded_by_its_age_not_as_no_result() -> None:
    potassium = _k(4.61, 180)
    [a1] = by_rule(findings_for(HCTZ, potassium), "A1")
    line = next(e for e in a1.evidence if e.ref is not None and e.ref.id == potassium["id"])
    assert line.label == "Last potassium is 6 months old, outside the 90-day window"
    assert line.value == "4.61 mmol/L"
    assert not line.label.startswith("No usable")


def test_with_no_result_at_all_a1_says_there_is_none() -> None:
    [a1] = by_rule(findings_for(HCTZ), "A1")
    assert a1.evidence[-1].label == "No usable magnesium result in the last 90 days"
