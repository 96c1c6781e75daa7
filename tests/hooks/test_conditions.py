"""Condition statuses, categories and code matching (ICD-10-CM by prefix, SNOMED exact)."""

from __future__ import annotations

from typing import Any

import pytest

from hooks.patient_view.facts.conditions import read_conditions
from tests.builders import knowledge, make_call, make_condition


def _records(*conditions: dict[str, Any]):  # type: ignore[no-untyped-def]
    return read_conditions(make_call(list(conditions)).data, knowledge()).records


@pytest.mark.parametrize(
    ("clinical", "active"),
    [
        ("active", True),
        ("recurrence", True),
        ("relapse", True),
        ("inactive", False),
        ("remission", False),
        ("resolved", False),
    ],
)
def test_only_active_recurrence_and_relapse_count_as_active(clinical: str, active: bool) -> None:
    [record] = _records(make_condition("86044005", clinical=clinical))
    assert record.active is active


@pytest.mark.parametrize("verification", ["entered-in-error", "refuted"])
def test_entered_in_error_and_refuted_conditions_are_dropped(verification: str) -> None:
    assert _records(make_condition("86044005", verification=verification)) == ()


@pytest.mark.parametrize(
    "verification", ["unconfirmed", "provisional", "differential", "confirmed", None]
)
def test_other_verification_statuses_are_kept(verification: str | None) -> None:
    assert len(_records(make_condition("86044005", verification=verification))) == 1


@pytest.mark.parametrize(
    ("category", "active"),
    [
        ("problem-list-item", True),
        ("health-concern", True),
        ("encounter-diagnosis", True),
        (None, True),
        ("social-history", False),
    ],
)
def test_categories_that_count(category: str | None, active: bool) -> None:
    [record] = _records(make_condition("86044005", category=category))
    assert record.active is active


@pytest.mark.parametrize("code", ["G12.21", "G1221", "g12.21", "G12.2"])
def test_icd10cm_matches_by_dot_stripped_prefix(code: str) -> None:
    [record] = _records(make_condition(code, "icd10cm"))
    assert record.groups == {"mnd"}


@pytest.mark.parametrize("code", ["8604400", "860440051"])
def test_snomed_matches_exact_codes_only(code: str) -> None:
    assert _records(make_condition(code, display="ALS-like code")) == ()


def test_unrelated_coded_conditions_are_not_even_validated() -> None:
    assert _records(make_condition("19169002", display="Miscarriage in first trimester")) == ()
