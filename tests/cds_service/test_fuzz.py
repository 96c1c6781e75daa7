"""Property-based fuzzing of invocation and feedback bodies: never a 500, and every error is
a well-formed FHIR R4B OperationOutcome."""

from __future__ import annotations

import copy
import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import orjson
import pytest
from fhir.resources.R4B.operationoutcome import OperationOutcome
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.fuzz import paths
from tests.cds_service.auth_support import (
    BASE,
    SigningKey,
    bearer,
    es384,
    jwks,
    jwt_app,
    write_issuers,
)
from tests.cds_service.support import URL, full_request
from tests.conftest import make_app

FEEDBACK_URL = URL + "/feedback"
ERROR_STATUSES = {400, 404, 412, 413, 415}
FUZZ = settings(max_examples=200, deadline=None)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=25,
)
FEEDBACK = {
    "feedback": [
        {
            "card": "4e0a3a1e-3283-4575-ab82-028d55fe2719",
            "outcome": "accepted",
            "acceptedSuggestions": [{"id": "e56e1945-20b3-4393-8503-a1a20fd73152"}],
            "outcomeTimestamp": "2021-12-11T10:05:31Z",
        },
        {
            "card": "4e0a3a1e-3283-4575-ab82-028d55fe2719",
            "outcome": "overridden",
            "overrideReason": {
                "reason": {"code": "x", "system": "https://example.org/o"},
                "userComment": "text",
            },
            "outcomeTimestamp": "2020-12-11T00:00:00Z",
        },
    ]
}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    # One app for every example (hypothesis forbids function-scoped fixtures per example).
    return make_app(Path(tmp_path_factory.mktemp("fuzz")), MAX_BODY_BYTES=64 * 1024)


@st.composite
def mutated(draw: st.DrawFn, valid: dict[str, Any]) -> Any:
    """A valid body with a few structural edits: replace, delete, wrap or stringify a node."""
    body: Any = copy.deepcopy(valid)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        where = draw(st.sampled_from(paths(body)))
        operation = draw(st.sampled_from(["replace", "delete", "wrap", "stringify"]))
        if not where:
            body = draw(json_values) if operation == "replace" else [body]
            continue
        parent = body
        for step in where[:-1]:
            parent = parent[step]
        last, node = where[-1], parent[where[-1]]
        if operation == "delete":
            del parent[last]
        elif operation == "replace":
            parent[last] = draw(json_values)
        elif operation == "wrap":
            parent[last] = [node]
        else:
            parent[last] = orjson.dumps(node).decode()
    return body


def check(response: Any) -> None:
    assert response.status_code != 500
    if response.status_code == 200:
        return
    assert response.status_code in ERROR_STATUSES, response.status_code
    assert response.mimetype == "application/fhir+json"
    outcome = OperationOutcome.model_validate(response.get_json())
    assert outcome.issue
    assert all(issue.severity == "error" and issue.diagnostics for issue in outcome.issue)


@FUZZ
@given(body=json_values)
def test_random_json_to_a_service_is_never_a_500(app: Flask, body: Any) -> None:
    check(app.test_client().post(URL, json=body))


@FUZZ
@given(body=json_values)
def test_random_json_to_feedback_is_never_a_500(app: Flask, body: Any) -> None:
    check(app.test_client().post(FEEDBACK_URL, json=body))


@FUZZ
@given(data=st.data())
def test_mutated_hook_requests_are_never_a_500(app: Flask, data: st.DataObject) -> None:
    body = data.draw(mutated(full_request(app)))

    check(app.test_client().post(URL, json=body))


@FUZZ
@given(body=mutated(FEEDBACK))
def test_mutated_feedback_is_never_a_500(app: Flask, body: Any) -> None:
    check(app.test_client().post(FEEDBACK_URL, json=body))


@settings(max_examples=100, deadline=None)
@given(raw=st.binary(max_size=256))
def test_arbitrary_bytes_are_a_clean_4xx(app: Flask, raw: bytes) -> None:
    response = app.test_client().post(URL, data=raw, content_type="application/json")

    check(response)
    assert response.status_code != 200


@pytest.mark.parametrize(
    "patch",
    [
        {"entry": 5},
        {"entry": "not-a-list"},
        {"link": 7},
        {"link": ["next"]},
        {"entry": [{"resource": {"resourceType": "Condition"}, "search": []}]},
        {"entry": [{"resource": {"resourceType": "Condition"}, "search": "outcome"}]},
    ],
)
def test_malformed_client_bundles_are_never_a_500(app: Flask, patch: dict[str, Any]) -> None:
    # Regression: a non-object `search` once raised AttributeError (a 500) in prefetch.py.
    body = full_request(app)
    key = next(k for k, v in body["prefetch"].items() if v and v["resourceType"] == "Bundle")
    body["prefetch"][key] = {**body["prefetch"][key], **patch}

    check(app.test_client().post(URL, json=body))


ISS = "https://ehr.example.org"
KEY: SigningKey = es384("fuzz-key")
CLAIMS = ["iss", "aud", "exp", "iat", "nbf", "jti", "tenant"]
# Around now, as numbers and as numeric strings (PyJWT's int() accepts both), plus non-finite.
near_now = st.integers(min_value=-1000, max_value=1000).map(lambda d: int(time.time()) + d)
claim_values = json_values | near_now | near_now.map(str) | st.sampled_from([float("inf"), 1e300])
HEADERS = ["typ", "kid", "jku", "crit", "x5u", "zip"]  # alg: PyJWT signs with it


@pytest.fixture(scope="module")
def jwt_service(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    tmp = Path(tmp_path_factory.mktemp("fuzz-jwt"))
    return jwt_app(tmp, write_issuers(tmp, {"iss": ISS, "jwks": jwks(KEY), "tenant": "t1"}))


def signed(claims: dict[str, Any], header: dict[str, Any]) -> str:
    """Sign any payload bytes with the trusted key: only the claim checks stand in the way."""
    body = json.dumps(claims).encode()
    return jwt.api_jws.encode(body, KEY.private, algorithm="ES384", headers=header)


@FUZZ
@given(
    claims=st.dictionaries(st.sampled_from(CLAIMS), claim_values, max_size=4),
    header=st.dictionaries(st.sampled_from(HEADERS), json_values, max_size=2),
    drop=st.lists(st.sampled_from(CLAIMS), max_size=2),
)
def test_signed_tokens_with_arbitrary_claims_get_200_or_a_bare_401(
    jwt_service: Flask, claims: dict[str, Any], header: dict[str, Any], drop: list[str]
) -> None:
    now = int(time.time())
    valid = {
        "iss": ISS,
        "aud": BASE + "/cds-services",
        "exp": now + 60,
        "iat": now,
        "jti": str(uuid.uuid4()),
        "tenant": "t1",
    }
    payload = {k: v for k, v in {**valid, **claims}.items() if k not in drop}
    headers = {"kid": KEY.kid, "typ": "JWT", **header}
    if not isinstance(headers.get("kid"), str):
        headers["kid"] = KEY.kid  # PyJWT will not even sign a non-string kid

    response = jwt_service.test_client().get(
        "/cds-services", headers=bearer(signed(payload, headers))
    )

    assert response.status_code in (200, 401)
    if response.status_code == 401:
        assert response.data == b""
    else:  # accepted: then every rule really held
        aud = payload["aud"]
        assert aud == BASE + "/cds-services" or (
            isinstance(aud, list) and BASE + "/cds-services" in aud
        )
        assert (payload["iss"], payload["tenant"], headers["typ"]) == (ISS, "t1", "JWT")
        assert payload["iat"] <= now + 30  # the leeway
        assert payload["exp"] > now - 30
        assert payload["exp"] - payload["iat"] <= 300
        assert isinstance(payload["jti"], str)
        assert payload["jti"]
