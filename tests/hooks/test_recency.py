"""Depleting-drug recency (labs.yaml depleting_drug_recency, reference §3.4).

While a diuretic or magnesium-wasting drug is current, a potassium or magnesium older than 90
days says nothing about today: it is shown and rechecked (A1), never called a cause (A1b/B1).
"""

from __future__ import annotations

from typing import Any

import pytest

from hooks.findings import Severity
from tests.builders import by_rule, findings_for, iso, make_med_request, make_observation, rule_ids

HCTZ = make_med_request("316049", "Hydrochlorothiazide 25 MG", authored=iso(400))
TACROLIMUS = make_med_request("42316", "tacrolimus", authored=iso(400), route="oral")


def _k(value: float, days: float) -> dict[str, Any]:
    return make_observation("6298-4", value, when=iso(days))


@pytest.mark.parametrize(("days", "expected"), [(89, "A1b"), (91, "A1")])
def test_a_low_k_on_a_diuretic_is_a_cause_only_within_90_days(days: float, expected: str) -> None:
    findings = findings_for(HCTZ, _k(3.2, days))

    assert expected in rule_ids(findings)
    assert "B1" not in rule_ids(findings)


def test_an_old_low_k_on_a_diuretic_is_shown_on_the_recheck_finding() -> None:
    potassium = _k(3.2, 200)

    [a1] = by_rule(findings_for(HCTZ, potassium), "A1")

    assert a1.severity is Severity.INFO
    assert "K" in a1.items["analyte"]
    assert any(e.ref is not None and e.ref.id == potassium["id"] for e in a1.evidence)


def test_without_a_depleting_drug_a_low_k_counts_for_a_year() -> None:
    assert "B1" in rule_ids(findings_for(_k(3.2, 200)))
    assert "B1" not in rule_ids(findings_for(_k(3.2, 366)))


def test_a_magnesium_wasting_drug_also_shortens_the_window() -> None:
    low_mg = make_observation("19123-9", 1.2, "mg/dL", when=iso(120))

    assert "B2" in rule_ids(findings_for(low_mg))
    assert "B2" not in rule_ids(findings_for(TACROLIMUS, low_mg))
