"""JWKS fetching and caching: rotation, rate limit, Cache-Control, failures, size, redirects."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from jwt.algorithms import ECAlgorithm

from cds_service.jwks import (
    JwksFetchError,
    VerificationKey,
    cache_seconds,
    fetch_jwks,
    key_url_allowed,
    parse_jwks,
)
from tests.cds_service.auth_support import (
    JwksServer,
    SigningKey,
    bearer,
    es384,
    jwks,
    jwt_app,
    mint,
    request_reasons,
    rs384,
    write_issuers,
)
from tests.conftest import log_lines

ISS = "https://ehr.example.org"


class Clock:
    """Stands in for time.monotonic inside the app's JWKS cache."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return es384("k1")


@pytest.fixture
def server(key: SigningKey) -> Iterator[JwksServer]:
    with JwksServer({"/jwks.json": jwks(key)}) as running:
        yield running


def make(tmp_path: Path, server: JwksServer, path: str = "/jwks.json", **config: Any) -> Flask:
    entry = {"iss": ISS, "jwks_url": server.url(path)}
    return jwt_app(tmp_path, write_issuers(tmp_path, entry), **config)


def with_clock(app: Flask) -> Clock:
    clock = Clock()
    app.extensions["cds"].authenticator.jwks.clock = clock
    return clock


def status(app: Flask, key: SigningKey) -> int:
    return app.test_client().get("/cds-services", headers=bearer(mint(key))).status_code


def test_keys_are_fetched_once_and_then_served_from_cache(
    tmp_path: Path, server: JwksServer, key: SigningKey
) -> None:
    app = make(tmp_path, server)

    assert [status(app, key) for _ in range(3)] == [200, 200, 200]
    assert server.seen == ["/jwks.json"]


def test_a_new_kid_triggers_a_refetch_but_a_second_unknown_kid_in_the_window_does_not(
    tmp_path: Path, server: JwksServer, key: SigningKey, caplog: pytest.LogCaptureFixture
) -> None:
    app = make(tmp_path, server, JWKS_MIN_REFRESH_SECONDS=60)
    clock = with_clock(app)
    rotated = es384("k2")
    assert status(app, key) == 200

    server.documents["/jwks.json"] = jwks(key, rotated)
    clock.now += 61
    after_rotation = status(app, rotated)
    clock.now += 10
    unknown = status(app, es384("k3"))

    assert (after_rotation, unknown) == (200, 401)
    assert request_reasons(caplog)[-1] == "unknown-kid"
    assert server.seen == ["/jwks.json", "/jwks.json"]


def test_an_unknown_kid_right_after_a_fetch_does_not_refetch(
    tmp_path: Path, server: JwksServer, key: SigningKey
) -> None:
    app = make(tmp_path, server, JWKS_MIN_REFRESH_SECONDS=60)
    with_clock(app)
    assert status(app, key) == 200

    assert [status(app, es384(f"k{i}")) for i in range(5)] == [401] * 5
    assert server.seen == ["/jwks.json"]


@pytest.mark.parametrize(
    ("cache_control", "max_cache", "refetch_after"),
    [("max-age=120", 3600, 120), ("max-age=999999", 600, 600), ("no-store", 3600, 60)],
)
def test_cache_lifetime_follows_max_age_within_bounds(
    tmp_path: Path,
    server: JwksServer,
    key: SigningKey,
    cache_control: str,
    max_cache: int,
    refetch_after: int,
) -> None:
    server.headers = {"Cache-Control": cache_control}
    app = make(tmp_path, server, JWKS_MIN_REFRESH_SECONDS=60, JWKS_MAX_CACHE_SECONDS=max_cache)
    clock = with_clock(app)
    status(app, key)

    clock.now += refetch_after - 1
    status(app, key)
    fetches_before = len(server.seen)
    clock.now += 1
    status(app, key)

    assert (fetches_before, len(server.seen)) == (1, 2)


def test_an_unreachable_jwks_gives_401(
    tmp_path: Path, server: JwksServer, key: SigningKey, caplog: pytest.LogCaptureFixture
) -> None:
    server.status = 500
    app = make(tmp_path, server)

    assert status(app, key) == 401
    assert request_reasons(caplog) == ["jwks-unavailable"]


def test_last_known_good_keys_survive_a_failed_refresh_for_a_bounded_time(
    tmp_path: Path, server: JwksServer, key: SigningKey
) -> None:
    server.headers = {"Cache-Control": "max-age=600"}
    app = make(tmp_path, server, JWKS_MAX_CACHE_SECONDS=600)
    clock = with_clock(app)
    assert status(app, key) == 200
    server.status = 503

    clock.now += 601
    stale_but_usable = status(app, key)
    clock.now += 600
    too_stale = status(app, key)

    assert (stale_but_usable, too_stale) == (200, 401)
    assert len(server.seen) == 3


@pytest.mark.parametrize("send_length", [True, False], ids=["declared", "streamed"])
def test_a_jwks_over_the_size_cap_is_refused(
    tmp_path: Path, server: JwksServer, key: SigningKey, send_length: bool
) -> None:
    server.documents["/jwks.json"] = jwks(key, *(es384(f"pad{i}") for i in range(8)))
    server.send_length = send_length
    app = make(tmp_path, server, JWKS_MAX_BYTES=1024)

    assert status(app, key) == 401


def test_a_redirect_from_the_jwks_url_is_not_followed(
    tmp_path: Path, server: JwksServer, key: SigningKey
) -> None:
    server.redirects["/moved.json"] = "/jwks.json"
    app = make(tmp_path, server, path="/moved.json")

    assert status(app, key) == 401
    assert server.seen == ["/moved.json"]


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://ehr.example.org/jwks.json", True),
        ("http://127.0.0.1:9/jwks.json", True),
        ("http://localhost/jwks.json", True),
        ("http://[::1]/jwks.json", True),
        ("http://ehr.example.org/jwks.json", False),
        ("https://user:pw@ehr.example.org/jwks.json", False),
        ("ftp://ehr.example.org/jwks.json", False),
        ("https:///jwks.json", False),
    ],
)
def test_jwks_urls_must_be_https_except_on_loopback(url: str, allowed: bool) -> None:
    assert key_url_allowed(url) is allowed


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, 300),
        ("max-age=90", 90),
        ("public, max-age=5", 60),
        ("max-age=9999", 3600),
        ("no-cache", 60),
        ("max-age=abc", 300),
    ],
)
def test_cache_seconds_reads_max_age_and_clamps(header: str | None, expected: int) -> None:
    assert cache_seconds(header, 60, 3600) == expected


def _only(document: dict[str, Any]) -> VerificationKey:
    (parsed,) = parse_jwks(document).values()
    return parsed


def test_an_ec_key_only_accepts_the_algorithm_of_its_curve() -> None:
    p384 = _only(jwks(es384()))

    assert [a for a in ("ES384", "ES256", "RS384", "HS256", "none") if p384.accepts(a)] == ["ES384"]


def test_an_rsa_key_never_accepts_hmac_or_ec_algorithms() -> None:
    rsa_key = {**rs384().public_jwk}
    rsa_key.pop("alg")
    parsed = _only({"keys": [rsa_key]})

    accepted = [a for a in ("RS384", "PS384", "HS256", "ES384") if parsed.accepts(a)]

    assert accepted == ["RS384", "PS384"]


def test_jwks_parsing_drops_symmetric_private_duplicate_and_encryption_keys() -> None:
    good = es384("good").public_jwk
    leaked = es384("private")
    private = {**ECAlgorithm.to_jwk(leaked.private, as_dict=True), "kid": "private"}
    document = {
        "keys": [
            good,
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            {**es384("enc").public_jwk, "use": "enc"},
            es384("twice").public_jwk,
            es384("twice").public_jwk,
            {**es384("nokid").public_jwk, "kid": ""},
            private,
            "not a key",
        ]
    }

    assert list(parse_jwks(document)) == ["good"]


class DribblingServer:
    """Answers one byte every `interval` seconds: every read succeeds, the answer never ends."""

    def __init__(self, body: bytes, interval: float = 0.2) -> None:
        import socket
        import threading

        self.body = body
        self.interval = interval
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.closed = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/jwks.json"

    def _serve(self) -> None:
        import time

        while not self.closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(self.body)}\r\n"
                for byte in head.encode() + b"X-Pad: " + b"a" * 200 + b"\r\n\r\n" + self.body:
                    if self.closed.is_set():
                        return
                    try:
                        conn.sendall(bytes([byte]))
                    except OSError:
                        break
                    time.sleep(self.interval)

    def __enter__(self) -> DribblingServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closed.set()
        self.sock.close()


def test_a_jwks_server_sending_its_headers_slowly_is_cut_off_at_the_deadline(
    tmp_path: Path, key: SigningKey, caplog: pytest.LogCaptureFixture
) -> None:
    # Regression: httpx's timeouts are per read, so a byte every 0.2 s held a worker for
    # minutes despite CDS_JWKS_TIMEOUT_SECONDS=2.
    import json
    import time

    with DribblingServer(json.dumps(jwks(key)).encode()) as slow:
        path = write_issuers(tmp_path, {"iss": ISS, "jwks_url": slow.url})
        app = jwt_app(tmp_path, path, JWKS_TIMEOUT_SECONDS=1)
        started = time.monotonic()
        answer = status(app, key)
        elapsed = time.monotonic() - started

    assert answer == 401
    assert elapsed < 2.0
    assert request_reasons(caplog) == ["jwks-unavailable"]
    assert '"reason":"timeout"' in log_lines(caplog)


@pytest.mark.parametrize(
    ("path", "status_code", "reason"),
    [
        ("/nowhere.json", 200, "http-4xx"),
        ("/moved.json", 200, "http-3xx"),
        ("/jwks.json", 503, "http-503"),
    ],
)
def test_a_failed_jwks_fetch_names_a_bounded_status_category(
    server: JwksServer, path: str, status_code: int, reason: str
) -> None:
    """The reason becomes a log field: the remote server's status, in the same bounded
    categories as a FHIR server's (never an arbitrary number it chose to send)."""
    server.redirects["/moved.json"] = "/jwks.json"
    server.status = status_code
    with pytest.raises(JwksFetchError) as caught:
        fetch_jwks(server.url(path), timeout=2, max_bytes=65536)
    assert caught.value.reason == reason
