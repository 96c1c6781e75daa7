"""An order already made (a ServiceRequest on file) is not suggested again, and the card says so."""

from __future__ import annotations

from typing import Any

import pytest

from hooks.findings import Finding
from tests.builders import (
    by_rule,
    findings_for,
    iso,
    make_med_request,
    make_observation,
    make_service_request,
)

MAGNESIUM, BMP = "19123-9", "51990-0"


def diuretic_without_magnesium(*extra: dict[str, Any]) -> Finding:
    """A1: furosemide, a recent normal potassium, no magnesium: asks for a magnesium."""
    furosemide = make_med_request("4603", authored=iso(60))
    potassium = make_observation("2823-3", 4.2, when=iso(10))
    [finding] = by_rule(findings_for(furosemide, potassium, *extra), "A1")
    return finding


def test_without_an_order_on_file_the_magnesium_is_suggested() -> None:
    assert diuretic_without_magnesium().orders == ("magnesium",)


def test_an_active_order_on_file_is_not_suggested_again_and_the_card_says_so() -> None:
    request = make_service_request(MAGNESIUM, authored=iso(5), display="Magnesium [Mass/volume]")

    finding = diuretic_without_magnesium(request)

    assert finding.orders == ()
    [line] = [e for e in finding.evidence if e.ref and e.ref.id == request["id"]]
    assert line.label == "Magnesium [Mass/volume]"
    assert line.note == "active order on file: not reordered"


@pytest.mark.parametrize(
    "request_",
    [
        make_service_request(MAGNESIUM, status="entered-in-error", authored=iso(5)),
        make_service_request(MAGNESIUM, status="revoked", authored=iso(5)),
        make_service_request(MAGNESIUM, authored=iso(31)),  # older than orders_on_file
        make_service_request(MAGNESIUM, authored=None),  # undated: cannot be judged
        make_service_request("2823-3", authored=iso(5)),  # another test
    ],
    ids=["entered-in-error", "revoked", "too-old", "undated", "other-code"],
)
def test_requests_that_do_not_stand_for_the_order(request_: dict[str, Any]) -> None:
    assert diuretic_without_magnesium(request_).orders == ("magnesium",)


def low_potassium_on_furosemide(*extra: dict[str, Any]) -> Finding:
    furosemide = make_med_request("4603", authored=iso(60))
    potassium = make_observation("2823-3", 3.1, when=iso(3))
    magnesium = make_observation("19123-9", 0.8, when=iso(3))
    [finding] = by_rule(findings_for(furosemide, potassium, magnesium, *extra), "A1b")
    return finding


def test_the_order_that_produced_the_low_result_does_not_stop_the_recheck() -> None:
    fulfilled = make_service_request(BMP, status="completed", authored=iso(4))

    assert "bmp" in low_potassium_on_furosemide(fulfilled).orders


def test_a_recheck_ordered_after_the_low_result_is_not_suggested_again() -> None:
    recheck = make_service_request(BMP, authored=iso(1))

    finding = low_potassium_on_furosemide(recheck)

    assert "bmp" not in finding.orders
    assert recheck["id"] in {e.ref.id for e in finding.evidence if e.ref}
