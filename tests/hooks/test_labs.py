"""Laboratory facts: which results count, units, ranges, the latest value."""

from __future__ import annotations

from typing import Any

import pytest

from hooks.patient_view.facts.labs import LabFacts, read_labs
from tests.builders import AS_OF, iso, knowledge, make_call, make_observation


def _labs(*observations: dict[str, Any], min_age: int | None = 60) -> LabFacts:
    return read_labs(make_call(list(observations)).data, knowledge(), AS_OF, min_age)


@pytest.mark.parametrize(
    ("status", "counts"),
    [
        ("final", True),
        ("amended", True),
        ("corrected", True),
        ("preliminary", False),
        ("registered", False),
        ("cancelled", False),
        ("entered-in-error", False),
    ],
)
def test_only_final_amended_corrected_results_count(status: str, counts: bool) -> None:
    assert (
        _labs(make_observation("2823-3", 3.0, status=status)).latest("potassium") is not None
    ) is counts


def test_latest_result_per_analyte_wins_even_when_an_older_one_is_abnormal() -> None:
    old = make_observation("2823-3", 2.9, when=iso(20), resource_id="old")
    new = make_observation("6298-4", 4.1, when=iso(2), resource_id="new")
    assert _labs(old, new).latest("potassium").ref.id == "new"  # type: ignore[union-attr]


def test_an_entered_in_error_newer_result_does_not_hide_the_valid_one() -> None:
    valid = make_observation("2823-3", 3.1, when=iso(10), resource_id="valid")
    wrong = make_observation("2823-3", 4.4, when=iso(1), status="entered-in-error")
    assert _labs(valid, wrong).latest("potassium").ref.id == "valid"  # type: ignore[union-attr]


def test_a_malformed_newest_result_falls_back_to_the_previous_valid_one() -> None:
    valid = make_observation("2823-3", 3.1, when=iso(10), resource_id="valid")
    broken = make_observation("2823-3", 4.4, when=iso(1), resource_id="broken")
    broken["valueQuantity"]["value"] = "four point four"
    call = make_call([valid, broken])

    labs = read_labs(call.data, knowledge(), AS_OF, 60)

    assert labs.latest("potassium").ref.id == "valid"  # type: ignore[union-attr]
    assert call.data.invalid == ["Observation/broken"]


def test_an_older_unreadable_result_is_never_read_nor_named_as_newer() -> None:
    newest = make_observation("2823-3", 3.9, when=iso(1), resource_id="newest")
    older = [make_observation("2823-3", 4.0, when=iso(5 + i)) for i in range(5)]
    older[0]["valueQuantity"]["value"] = "four"
    call = make_call([*older, newest])

    labs = read_labs(call.data, knowledge(), AS_OF, 60)

    [latest] = labs.results["potassium"]
    assert latest.ref.id == "newest"
    assert call.data.invalid == []  # values are read newest first, only as far as needed
    assert labs.newer_unreadable(latest) == ()
    assert labs.complete  # the analyte is known: only that result is missing


def test_unconvertible_unit_is_kept_but_unusable() -> None:
    result = _labs(make_observation("2823-3", 3.0, "mg")).latest("potassium")
    assert result is not None
    assert result.canonical is None
    assert not result.usable


def test_bounded_value_is_not_usable() -> None:
    result = _labs(make_observation("2157-6", 5000, "U/L", comparator=">")).latest("ck")
    assert result is not None
    assert not result.usable


def test_reference_range_is_read_in_its_own_unit() -> None:
    result = _labs(make_observation("19123-9", 1.5, "mg/dL", low=1.8, high=2.4)).latest("magnesium")
    assert result is not None
    assert (result.low.value, result.low.unit) == (1.8, "mg/dL")  # type: ignore[union-attr]


def test_reference_range_without_unit_takes_the_result_unit() -> None:
    result = _labs(make_observation("2823-3", 3.4, low=3.6, range_unit=None)).latest("potassium")
    assert result is not None
    assert result.low is not None
    assert result.low.unit == "mmol/L"


def test_non_normal_range_types_are_ignored() -> None:
    therapeutic = {
        "low": {"value": 4.0, "unit": "mmol/L"},
        "type": {"coding": [{"code": "treatment"}]},
    }
    result = _labs(make_observation("2823-3", 3.4, reference_range=[therapeutic])).latest(
        "potassium"
    )
    assert result is not None
    assert result.low is None


@pytest.mark.parametrize(("age", "applies"), [(10, True), (17, True), (18, False), (None, False)])
def test_age_specific_range_applies_only_to_that_age(age: int | None, applies: bool) -> None:
    child_range = {
        "low": {"value": 3.4, "unit": "mmol/L"},
        "age": {"low": {"value": 1, "unit": "a"}, "high": {"value": 17, "unit": "a"}},
    }
    result = _labs(
        make_observation("2823-3", 3.3, reference_range=[child_range]), min_age=age
    ).latest("potassium")
    assert result is not None
    assert (result.low is not None) is applies


def test_future_dated_results_are_ignored() -> None:
    assert _labs(make_observation("2823-3", 3.0, when=iso(-1))).latest("potassium") is None


@pytest.mark.parametrize(("hours_apart", "found"), [(24, True), (-24, True), (24.01, False)])
def test_albumin_near_a_calcium_within_one_day_either_side(hours_apart: float, found: bool) -> None:
    albumin = make_observation("1751-7", 3.0, "g/dL", when=iso(10, hours=hours_apart))
    labs = _labs(albumin)
    calcium_time = AS_OF.replace(day=22, month=3)
    assert (labs.near("albumin", calcium_time, 1) is not None) is found
