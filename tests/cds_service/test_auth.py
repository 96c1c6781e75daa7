"""JWT verification end to end: the 401 matrix, accepted tokens, jku allowlist and tenants."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.cds_service.auth_support import (
    BASE,
    DROP,
    JwksServer,
    SigningKey,
    bearer,
    claims,
    es384,
    hand_signed,
    jwks,
    jwt_app,
    mint,
    request_reasons,
    rs384,
    write_issuers,
)
from tests.cds_service.support import URL, full_request

ISS = "https://ehr.example.org"
FEEDBACK_URL = URL + "/feedback"
FEEDBACK = {
    "feedback": [
        {
            "card": "4e0a3a1e-3283-4575-ab82-028d55fe2719",
            "outcome": "accepted",
            "acceptedSuggestions": [{"id": "e56e1945-20b3-4393-8503-a1a20fd73152"}],
            "outcomeTimestamp": "2021-12-11T10:05:31Z",
        }
    ]
}


@dataclass(frozen=True)
class Keys:
    es: SigningKey
    rs: SigningKey
    stranger: SigningKey  # same kid as `es`, different key


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys(es=es384("es-1"), rs=rs384("rs-1"), stranger=es384("es-1"))


@pytest.fixture
def server(keys: Keys) -> Iterator[JwksServer]:
    with JwksServer({"/jwks.json": jwks(keys.es, keys.rs)}) as running:
        yield running


def _app(tmp_path: Path, server: JwksServer) -> Flask:
    entry = {"iss": ISS, "jwks_url": server.url("/jwks.json"), "jku": [server.url("/jku.json")]}
    return jwt_app(tmp_path, write_issuers(tmp_path, entry))


@pytest.fixture
def app(tmp_path: Path, server: JwksServer) -> Flask:
    """A fresh app and JWKS server, for tests that inspect what was fetched."""
    return _app(tmp_path, server)


@pytest.fixture(scope="module")
def shared_app(tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> Iterator[Flask]:
    """One app for the read-only matrices: every token has a fresh jti, so none interfere."""
    with JwksServer({"/jwks.json": jwks(keys.es, keys.rs)}) as running:
        yield _app(tmp_path_factory.mktemp("auth"), running)


def assert_bare_401(response: Any) -> None:
    assert response.status_code == 401
    assert response.data == b""
    assert response.headers["WWW-Authenticate"] == "Bearer"


NOW = int(time.time())
Mint = Callable[[Keys], str]
NEGATIVE: list[tuple[str, Mint, str]] = [
    ("expired", lambda k: mint(k.es, exp=int(time.time()) - 120, iat=NOW - 400), "expired"),
    (
        "iat-in-future",
        lambda k: mint(k.es, iat=int(time.time()) + 120, exp=int(time.time()) + 300),
        "not-yet-valid",
    ),
    (
        "lifetime-over-5-minutes",
        lambda k: mint(k.es, exp=int(time.time()) + 301),
        "lifetime-too-long",
    ),
    ("wrong-aud-path", lambda k: mint(k.es, aud=BASE + "/cds-services/other"), "wrong-audience"),
    (
        "wrong-aud-host",
        lambda k: mint(k.es, aud="https://evil.test/cds-services"),
        "wrong-audience",
    ),
    ("aud-array-without-us", lambda k: mint(k.es, aud=["https://a.test"]), "wrong-audience"),
    ("wrong-iss", lambda k: mint(k.es, iss="https://evil.example.org"), "untrusted-issuer"),
    ("unknown-kid", lambda k: mint(k.es, header={"kid": "nobody"}), "unknown-kid"),
    ("bad-signature", lambda k: mint(k.stranger), "bad-signature"),
    (
        "alg-none",
        lambda k: hand_signed({"alg": "none", "typ": "JWT", "kid": "es-1"}, claims(), None),
        "alg-not-allowed",
    ),
    (
        "hs256-keyed-with-the-public-pem",
        lambda k: hand_signed(
            {"alg": "HS256", "typ": "JWT", "kid": "rs-1"}, claims(), k.rs.public_pem
        ),
        "alg-not-allowed",
    ),
    (
        "es384-header-on-an-rsa-kid",
        lambda k: mint(k.es, header={"kid": "rs-1"}),
        "key-alg-mismatch",
    ),
    ("rs256-not-allowlisted", lambda k: mint(k.rs, alg="RS256"), "alg-not-allowed"),
    ("missing-jti", lambda k: mint(k.es, jti=DROP), "missing-jti"),
    ("empty-jti", lambda k: mint(k.es, jti=""), "invalid-jti"),
    ("missing-kid", lambda k: mint(k.es, header={"kid": DROP}), "missing-kid"),
    ("missing-exp", lambda k: mint(k.es, exp=DROP), "missing-exp"),
    ("missing-iat", lambda k: mint(k.es, iat=DROP), "missing-iat"),
    ("missing-aud", lambda k: mint(k.es, aud=DROP), "missing-aud"),
    ("exp-as-string", lambda k: mint(k.es, exp=str(int(time.time()) + 60)), "invalid-time-claim"),
    ("iat-as-string", lambda k: mint(k.es, iat=str(int(time.time()))), "invalid-time-claim"),
    ("typ-not-jwt", lambda k: mint(k.es, header={"typ": "at+jwt"}), "bad-typ"),
    # RFC 7515 §4.1.11: PyJWT refuses `crit` extensions it does not understand.
    ("crit-header", lambda k: mint(k.es, header={"crit": ["exp"]}), "malformed-token"),
    ("garbage", lambda k: "not.a.jwt", "malformed-token"),
]


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [(m, r) for _, m, r in NEGATIVE],
    ids=[name for name, _, _ in NEGATIVE],
)
def test_a_bad_token_gets_a_bare_401_for_its_reason(
    shared_app: Flask, keys: Keys, caplog: pytest.LogCaptureFixture, make_token: Mint, reason: str
) -> None:
    response = shared_app.test_client().get("/cds-services", headers=bearer(make_token(keys)))

    assert_bare_401(response)
    assert request_reasons(caplog) == [reason]


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing-token"),
        ("Basic dXNlcjpwdw==", "malformed-header"),
        ("Bearer", "malformed-header"),
    ],
)
@pytest.mark.parametrize("method_path", [("GET", "/cds-services"), ("POST", FEEDBACK_URL)])
def test_discovery_and_feedback_need_a_bearer_token(
    shared_app: Flask,
    caplog: pytest.LogCaptureFixture,
    header: str | None,
    reason: str,
    method_path: tuple[str, str],
) -> None:
    method, path = method_path
    headers = {"Authorization": header} if header else {}

    response = shared_app.test_client().open(path, method=method, headers=headers, json=FEEDBACK)

    assert_bare_401(response)
    assert request_reasons(caplog) == [reason]


def test_an_oversized_token_is_refused_before_parsing(shared_app: Flask, keys: Keys) -> None:
    token = mint(keys.es, padding="x" * 9000)

    response = shared_app.test_client().get("/cds-services", headers=bearer(token))

    assert_bare_401(response)


@pytest.mark.parametrize("key_name", ["es", "rs"])
def test_es384_and_rs384_tokens_are_accepted_on_every_endpoint(
    shared_app: Flask, keys: Keys, key_name: str
) -> None:
    key: SigningKey = getattr(keys, key_name)
    client = shared_app.test_client()

    discovery = client.get("/cds-services", headers=bearer(mint(key)))
    invocation = client.post(URL, json=full_request(shared_app), headers=bearer(mint(key, URL)))
    feedback = client.post(FEEDBACK_URL, json=FEEDBACK, headers=bearer(mint(key, FEEDBACK_URL)))

    assert [discovery.status_code, invocation.status_code, feedback.status_code] == [200] * 3
    assert invocation.get_json() == {"cards": []}


def test_a_token_for_discovery_is_not_accepted_by_a_service(shared_app: Flask, keys: Keys) -> None:
    response = shared_app.test_client().post(
        URL, json=full_request(shared_app), headers=bearer(mint(keys.es))
    )

    assert_bare_401(response)


def test_aud_may_be_an_array_that_contains_the_endpoint(shared_app: Flask, keys: Keys) -> None:
    token = mint(keys.es, aud=["https://other.test", BASE + "/cds-services"])

    assert shared_app.test_client().get("/cds-services", headers=bearer(token)).status_code == 200


def test_small_clock_skew_is_tolerated(shared_app: Flask, keys: Keys) -> None:
    now = int(time.time())
    token = mint(keys.es, iat=now + 20, exp=now + 300)  # leeway is 30 s

    assert shared_app.test_client().get("/cds-services", headers=bearer(token)).status_code == 200


def test_an_allowlisted_jku_is_used_instead_of_jwks_url(
    tmp_path: Path, server: JwksServer, keys: Keys
) -> None:
    other = es384("jku-key")
    server.documents["/jku.json"] = jwks(other)
    entry = {"iss": ISS, "jwks_url": server.url("/jwks.json"), "jku": [server.url("/jku.json")]}
    app = jwt_app(tmp_path, write_issuers(tmp_path, entry))
    token = mint(other, header={"jku": server.url("/jku.json")})

    response = app.test_client().get("/cds-services", headers=bearer(token))

    assert response.status_code == 200
    assert server.seen == ["/jku.json"]


def test_a_jku_off_the_allowlist_is_never_fetched(
    app: Flask, server: JwksServer, keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    attacker = es384("attacker")
    server.documents["/evil.json"] = jwks(attacker)
    token = mint(attacker, header={"jku": server.url("/evil.json")})

    response = app.test_client().get("/cds-services", headers=bearer(token))

    assert_bare_401(response)
    assert request_reasons(caplog) == ["jku-not-allowed"]
    assert server.seen == []


def test_a_jku_equal_to_the_configured_jwks_url_is_accepted(
    app: Flask, server: JwksServer, keys: Keys
) -> None:
    token = mint(keys.es, header={"jku": server.url("/jwks.json")})

    assert app.test_client().get("/cds-services", headers=bearer(token)).status_code == 200


@pytest.mark.parametrize(("tenant", "status"), [("tenant-a", 200), ("tenant-b", 401), (DROP, 401)])
def test_an_issuer_with_a_tenant_only_accepts_that_tenant(
    tmp_path: Path, server: JwksServer, keys: Keys, tenant: object, status: int
) -> None:
    entry = {"iss": ISS, "jwks_url": server.url("/jwks.json"), "tenant": "tenant-a"}
    app = jwt_app(tmp_path, write_issuers(tmp_path, entry))

    response = app.test_client().get("/cds-services", headers=bearer(mint(keys.es, tenant=tenant)))

    assert response.status_code == status


def test_jwt_mode_with_no_issuers_rejects_even_a_well_formed_token(
    tmp_path: Path, keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    app = jwt_app(tmp_path, None)

    response = app.test_client().get("/cds-services", headers=bearer(mint(keys.es)))

    assert_bare_401(response)
    assert request_reasons(caplog) == ["untrusted-issuer"]
