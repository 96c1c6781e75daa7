"""The typed views over raw FHIR JSON: any JSON type in, plain values or absence out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from hooks.fhirviews import (
    EMPTY,
    OBSERVATION_TIMES,
    Coding,
    codes,
    concept,
    concepts,
    instant,
    malformed_concept,
    objects,
    quantity,
    ref_of,
    reference,
    time_of,
)
from hooks.findings import ResourceRef

SNOMED = "http://snomed.info/sct"


@pytest.mark.parametrize(
    "value", [None, 5, "text", [], [5], {"coding": 7}, {"coding": [True]}, {"text": 9}]
)
def test_an_unreadable_concept_is_empty(value: Any) -> None:
    assert concept(value) == EMPTY
    assert concept(value).label == ""


def test_a_concept_keeps_only_codings_with_a_system_and_a_code() -> None:
    value = {
        "coding": [
            {"system": SNOMED, "code": "55300003", "display": "Cramp"},
            {"system": SNOMED, "code": ["55300003"]},
            {"code": "x"},
        ],
        "text": "Leg cramp",
    }
    read = concept(value)
    assert read.codings == (Coding(SNOMED, "55300003", "Cramp"),)
    assert (read.label, read.all_text) == ("Leg cramp", "Leg cramp Cramp")
    assert codes(value, SNOMED) == ["55300003"]


def test_a_list_of_concepts_is_merged_or_kept_apart() -> None:
    value = [{"text": "a"}, 3, {"coding": [{"system": "s", "code": "b"}]}]
    assert concept(value).codings == (Coding("s", "b"),)
    assert [c.label for c in concepts(value)] == ["a", "b"]


@pytest.mark.parametrize(
    ("value", "malformed"),
    [(None, False), ({"text": "x"}, False), ([{"coding": []}], False), (5, True),
     ({"coding": 7}, True), ({"coding": [{"code": ["x"]}]}, True), ({"text": 3}, True)],
)  # fmt: skip
def test_a_malformed_concept_is_told_from_an_absent_one(value: Any, malformed: bool) -> None:
    assert malformed_concept(value) is malformed


@pytest.mark.parametrize(
    "value", [None, {}, {"value": "3.1"}, {"value": True}, {"value": float("nan")}, {"value": []}]
)
def test_a_quantity_needs_a_finite_number(value: Any) -> None:
    assert quantity(value) is None


def test_a_quantity_reads_its_unit_as_sent() -> None:
    read = quantity({"value": 3, "unit": "mmol/L", "code": "mmol/L", "comparator": 5})
    assert read is not None
    assert (read.value, read.reported_unit, read.comparator) == (3.0, "mmol/L", None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-03-05", datetime(2021, 3, 5, tzinfo=UTC)),
        ("2021-03-05T10:00:00+02:00", datetime(2021, 3, 5, 8, tzinfo=UTC)),
        ("2021-03-05T10:00:00", datetime(2021, 3, 5, 10, tzinfo=UTC)),
        ("2021", None),
        ("2021-03", None),
        ("2021-02-30", None),
        ("0001-01-01T00:00:00+14:00", None),
        (20210305, None),
    ],
)
def test_instant_reads_full_dates_only(text: Any, expected: datetime | None) -> None:
    assert instant(text) == expected


def test_the_first_present_time_element_decides() -> None:
    assert time_of({"effectivePeriod": {"start": "2021-03-05"}}, OBSERVATION_TIMES) == datetime(
        2021, 3, 5, tzinfo=UTC
    )
    # A present but unreadable date is unknown: never replaced by a later element's guess.
    garbled = {"effectiveDateTime": "2021-13-01", "issued": "2021-03-05T00:00:00Z"}
    assert time_of(garbled, OBSERVATION_TIMES) is None
    assert time_of({"effectiveInstant": "2021-03-05T00:00:00Z"}, OBSERVATION_TIMES) is not None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"reference": "Condition/c1"}, ResourceRef("Condition", "c1")),
        ({"reference": "https://ehr.example/fhir/Condition/c1"}, ResourceRef("Condition", "c1")),
        ({"reference": "urn:uuid:abc"}, ResourceRef("", "abc")),
        ({"reference": "#med1"}, None),
        ({"reference": "c1"}, None),
        ({"reference": 5}, None),
        ("Condition/c1", None),
    ],
)
def test_a_reference_names_type_and_id(value: Any, expected: ResourceRef | None) -> None:
    assert reference(value) == expected


def test_a_resource_without_a_usable_id_is_named_with_a_question_mark() -> None:
    assert ref_of({"resourceType": "Observation", "id": 5}) == ResourceRef("Observation", "?")


@pytest.mark.parametrize(
    ("value", "expected"),
    [([{"a": 1}, 2, "x", [3], {"b": 2}], [{"a": 1}, {"b": 2}]), ({"a": 1}, []), (None, [])],
)
def test_objects_keeps_only_the_json_objects_of_a_list(value: Any, expected: Any) -> None:
    assert objects(value) == expected
