"""Every error class renders the status and OperationOutcome it promises (httpx's mapping test)."""

from __future__ import annotations

import pytest

from cds_service import errors
from cds_service.errors import CdsError

EXPECTED = {
    "InvalidRequest": (400, "invalid"),
    "Unauthorized": (401, "login"),
    "UnknownService": (404, "not-found"),
    "MethodNotAllowed": (405, "not-supported"),
    "PayloadTooLarge": (413, "too-costly"),
    "UnsupportedMediaType": (415, "not-supported"),
    "PreconditionFailed": (412, "incomplete"),
    "ServiceUnavailable": (503, "transient"),
    "InternalError": (500, "exception"),
}


def test_every_error_class_is_listed_here() -> None:
    assert {cls.__name__ for cls in CdsError.__subclasses__()} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_error_class_has_its_status_and_issue_code(name: str) -> None:
    cls = getattr(errors, name)
    error = cls("reason") if name == "Unauthorized" else cls("message", details=["one", "two"])

    assert (error.status, error.issue_code) == EXPECTED[name]
    outcome = error.outcome()
    assert outcome["resourceType"] == "OperationOutcome"
    assert all(issue["code"] == error.issue_code for issue in outcome["issue"])
    assert outcome["issue"][0]["details"]["text"].startswith(error.error_id)


def test_error_ids_are_unique() -> None:
    ids = [cls.error_id for cls in CdsError.__subclasses__()]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(
    ("code", "expected"),
    [(404, 404), (405, 405), (413, 413), (415, 415), (400, 400), (431, 400), (None, 500)],
)
def test_werkzeug_statuses_map_into_the_tree(code: int | None, expected: int) -> None:
    assert errors.from_http_status(code).status == expected
