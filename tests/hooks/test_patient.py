"""Demographics: deceased patients get nothing; adult defaults only for sure adults."""

from __future__ import annotations

import pytest

from hooks.patient_view.facts.patient import read_demographics
from tests.builders import AS_OF, make_call, make_patient


def _demographics(**kwargs: object):  # type: ignore[no-untyped-def]
    call = make_call([make_patient(**kwargs)])  # type: ignore[arg-type]
    return read_demographics(call.data, AS_OF, 18)


@pytest.mark.parametrize(
    ("deceased", "expected"),
    [
        (True, True),
        ("2021-02-21T00:00:00+00:00", True),
        (False, False),
        (None, False),
    ],
)
def test_deceased_boolean_or_datetime_marks_the_patient_deceased(
    deceased: object, expected: bool
) -> None:
    assert _demographics(deceased=deceased).deceased is expected


@pytest.mark.parametrize(
    ("birth_date", "adult"),
    [
        ("2003-04-01", True),  # eighteenth birthday on the day of the call
        ("2003-04-02", False),  # one day short
        ("1950", True),
        ("2003", False),  # 17 or 18: treated as a child
        ("2002-12", True),
        (None, False),  # unknown age: no adult defaults
    ],
)
def test_adult_defaults_apply_only_when_surely_18(birth_date: str | None, adult: bool) -> None:
    assert _demographics(birth_date=birth_date).adult is adult


def test_missing_patient_gives_no_demographics() -> None:
    assert read_demographics(make_call([]).data, AS_OF, 18) is None
