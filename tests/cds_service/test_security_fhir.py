"""The outbound FHIR boundary (SSRF): cases test_prefetch.py does not already cover.

Every server here is on 127.0.0.1; "never contacted" is checked on the server's own log.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask

from cds_service import create_app
from cds_service.fhir_client import (
    FhirFetchError,
    FhirLimits,
    FhirReader,
    FhirTarget,
    ServerNotAllowed,
    allowed_target,
    has_dot_segments,
)
from cds_service.jwks import key_url_allowed
from cds_service.migrate import upgrade
from hooks.findings import Assessment
from hooks.registry import HookCall, Prefetch, cds_service
from tests.conftest import base_config
from tests.fhir_server import LocalFhirServer

PATIENT = {"resourceType": "Patient", "id": "p1"}
TOKEN = "fhir-token-only-for-its-server"


def _obs(i: int) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"o{i}",
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "code": {"text": "padding " * 20},
    }


@cds_service(
    id="ssrf-probe",
    hook="patient-view",
    title="SSRF probe",
    description="Declares two required keys, so a failed fetch is visible as a 412.",
    prefetch={
        "patient": Prefetch("Patient/{{context.patientId}}"),
        "labs": Prefetch("Observation?patient={{context.patientId}}"),
    },
)
def probe(call: HookCall[Any]) -> Assessment:
    return Assessment()


def make(tmp_path: Path, allow: list[str], **config: Any) -> Flask:
    settings = base_config(tmp_path, FHIR_ALLOWLIST=allow, FHIR_ALLOW_LOOPBACK_HTTP=True, **config)
    app = create_app(settings, services=[probe])
    upgrade(app.extensions["cds"].pipeline.store.engine)
    return app


def call(app: Flask, fhir_server: str, **extra: Any) -> int:
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "fhirServer": fhir_server,
        "fhirAuthorization": {
            "access_token": TOKEN,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "user/*.read",
            "subject": "cds-service",
        },
        "context": {"userId": "Practitioner/u1", "patientId": "p1"},
        **extra,
    }
    return app.test_client().post("/cds-services/ssrf-probe", json=body).status_code


def test_a_response_over_the_size_cap_is_refused(tmp_path: Path) -> None:
    with LocalFhirServer([PATIENT, *(_obs(i) for i in range(10))]) as server:
        app = make(tmp_path, [server.base_url], FHIR_MAX_RESPONSE_BYTES=1024)
        status = call(app, server.base_url)

    assert status == 412
    assert any(s.path.startswith("/fhir/Observation") for s in server.seen)


def test_a_streamed_response_without_length_is_cut_off_at_the_cap() -> None:
    # No Content-Length, so only the running byte count can stop it (a mock: no network).
    chunks = [b'{"resourceType": "Patient", "pad": "', b"x" * 4096, b'"}']
    transport = httpx.MockTransport(lambda request: httpx.Response(200, stream=Chunks(chunks)))
    target = FhirTarget("https://127.0.0.1/fhir", None)
    reader = FhirReader(target, FhirLimits(1, 1024), time.monotonic() + 5, transport)

    result = asyncio.run(reader.read_all({"patient": "Patient/p1"}))["patient"]

    assert isinstance(result, FhirFetchError)
    assert result.reason == "response-too-large"


class Chunks(httpx.AsyncByteStream):
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    async def __aiter__(self) -> Any:
        for chunk in self.chunks:
            yield chunk


def test_localhost_is_not_the_allowlisted_127_0_0_1(tmp_path: Path) -> None:
    # Origins compare by name: an alias for an allowlisted host is still a different host.
    with LocalFhirServer([PATIENT]) as server:
        app = make(tmp_path, [server.base_url])
        port = server.httpd.server_address[1]
        status = call(app, f"http://localhost:{port}/fhir")

    assert status == 412
    assert server.seen == []


def test_a_fhir_server_with_credentials_in_the_url_is_never_contacted(tmp_path: Path) -> None:
    with LocalFhirServer([PATIENT]) as server:
        app = make(tmp_path, [server.base_url])
        port = server.httpd.server_address[1]
        status = call(app, f"http://user:pw@127.0.0.1:{port}/fhir")

    assert status == 412
    assert server.seen == []


def test_a_client_sent_next_link_to_another_server_is_never_followed(tmp_path: Path) -> None:
    with LocalFhirServer([PATIENT]) as ours, LocalFhirServer([_obs(1)]) as other:
        app = make(tmp_path, [ours.base_url])
        first_page = {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": _obs(0)}],
            "link": [{"relation": "next", "url": other.base_url + "/Observation?page=2"}],
        }
        status = call(app, ours.base_url, prefetch={"patient": PATIENT, "labs": first_page})

    assert status == 200  # the page that was sent is kept, marked incomplete
    assert other.seen == []  # so the token never reached it


def test_the_token_goes_only_to_the_fhir_server_it_came_with(tmp_path: Path) -> None:
    with LocalFhirServer([PATIENT]) as server, LocalFhirServer([PATIENT]) as bystander:
        app = make(tmp_path, [server.base_url, bystander.base_url])
        call(app, server.base_url)

    assert {s.headers.get("authorization") for s in server.seen} == {f"Bearer {TOKEN}"}
    assert bystander.seen == []


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://fhir.invalid/r4", "fhir-server-not-https"),
        ("https://fhir.invalid/r4?x=1", "fhir-server-malformed"),
        ("https://fhir.invalid/r4#frag", "fhir-server-malformed"),
        ("https://fhir.invalid:8443/r4", "fhir-server-not-allowlisted"),
        ("https://fhir.invalid/r4-evil", "fhir-server-not-allowlisted"),
        ("https://fhir.invalid.evil.test/r4", "fhir-server-not-allowlisted"),
        ("file:///etc/passwd", "fhir-server-not-https"),
    ],
)
def test_only_https_allowlisted_bases_are_targets(url: str, reason: str) -> None:
    allowlist = ["https://fhir.invalid/r4", "http://fhir.invalid/r4"]

    with pytest.raises(ServerNotAllowed) as caught:
        allowed_target(url, "t", allowlist, allow_loopback_http=True)

    assert caught.value.reason == reason


DOT_SEGMENT_PATHS = [
    "/fhir/../secret",
    "/fhir/./../secret",
    "/fhir/%2e%2e/secret",
    "/fhir/%2E%2e/secret",
    "/fhir/.%2e/secret",
    "/fhir/%252e%252e/secret",
    "/fhir/..%2fsecret",
    "/fhir/..%5csecret",
    "/fhir/..\\secret",
    "/fhir/..;/secret",
    "/fhir/Observation/..",
]


@pytest.mark.parametrize("path", DOT_SEGMENT_PATHS)
def test_dot_segments_are_found_however_they_are_spelled(path: str) -> None:
    assert has_dot_segments(f"https://fhir.invalid{path}?x=../y")


@pytest.mark.parametrize(
    "path", ["/fhir/Observation", "/fhir/a..b/c.d", "/fhir/...", "/fhir/Patient/p.1"]
)
def test_dots_inside_a_segment_are_not_dot_segments(path: str) -> None:
    assert not has_dot_segments(f"https://fhir.invalid{path}")


@pytest.mark.parametrize("path", DOT_SEGMENT_PATHS)
def test_a_base_with_dot_segments_is_never_a_target(path: str) -> None:
    with pytest.raises(ServerNotAllowed):
        allowed_target(f"https://fhir.invalid{path}", None, ["https://fhir.invalid/fhir"], False)
    assert not FhirTarget("https://fhir.invalid/fhir", None).owns(f"https://fhir.invalid{path}")


@pytest.mark.parametrize("path", ["/fhir/../secret", "/fhir/./../secret", "/fhir/Observation/.."])
def test_a_client_sent_next_link_cannot_climb_out_of_the_base(tmp_path: Path, path: str) -> None:
    # Regression: the prefix check passed on the raw path, then httpx resolved `..` and
    # fetched /secret on the allowlisted host, with the bearer token.
    with LocalFhirServer([PATIENT]) as server:
        app = make(tmp_path, [server.base_url])
        first_page = {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": _obs(0)}],
            "link": [{"relation": "next", "url": server.origin + path}],
        }
        call(app, server.base_url, prefetch={"patient": PATIENT, "labs": first_page})

    assert [s.path for s in server.seen if not s.path.startswith("/fhir/")] == []
    assert server.seen == []


def test_a_server_sent_next_link_cannot_climb_out_of_the_base(tmp_path: Path) -> None:
    with LocalFhirServer([PATIENT]) as server:
        server.routes["/fhir/Observation?patient=p1"] = {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": _obs(0)}],
            "link": [{"relation": "next", "url": server.base_url + "/../secret"}],
        }
        app = make(tmp_path, [server.base_url])
        status = call(app, server.base_url, prefetch={"patient": PATIENT})

    assert status == 412
    assert [s.path for s in server.seen] == ["/fhir/Observation?patient=p1"]


def test_a_jwks_url_with_dot_segments_is_refused() -> None:
    assert not key_url_allowed("https://ehr.example.org/keys/../admin/jwks.json")
