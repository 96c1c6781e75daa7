"""The one Bundle unpacker: client prefetch, server pages and files alike."""

from __future__ import annotations

from typing import Any

import pytest

from cds_service.bundles import Page, unpack

PATIENT = {"resourceType": "Patient", "id": "p1"}


def bundle(**fields: Any) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", **fields}


def test_a_resource_that_is_not_a_bundle_is_a_page_of_itself() -> None:
    assert unpack(PATIENT) == Page((PATIENT,))


def test_search_outcomes_and_unreadable_entries_are_left_out() -> None:
    warning = {"resourceType": "OperationOutcome", "id": "w"}
    entries = [
        {"resource": PATIENT, "search": {"mode": "match"}},
        {"resource": warning, "search": {"mode": "outcome"}},
        {"resource": "not a resource"},
        7,
        {"search": {"mode": "match"}},
    ]
    assert unpack(bundle(entry=entries)).resources == (PATIENT,)


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ([{"relation": "self", "url": "a"}, {"relation": "next", "url": "b"}], "b"),
        ([{"relation": "next", "url": 5}], None),
        ("next", None),
        ([7, {"relation": "next"}], None),
    ],
)
def test_the_next_link_is_read_as_written(link: Any, expected: str | None) -> None:
    assert unpack(bundle(link=link)).next_url == expected


@pytest.mark.parametrize(("total", "short"), [(2, True), (1, False), ("2", False), (None, False)])
def test_a_total_above_the_matches_says_the_set_was_cut_short(total: Any, short: bool) -> None:
    value = bundle(entry=[{"resource": PATIENT}], total=total)
    assert unpack(value).short is short
