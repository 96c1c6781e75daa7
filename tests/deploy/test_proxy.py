"""The kit's nginx in front of the real service on loopback: slow clients, body limit, TLS.

gunicorn's gthread workers read a request body with no timeout, so a client that trickles its
body holds a worker for as long as it likes. The first test measures that against bare
gunicorn (the control: it must starve, or the harness proves nothing) and then through nginx,
which buffers whole requests and hands workers only complete ones.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask
from openapi_schema_validator import OAS31Validator

from cds_service.openapi import build_openapi
from cds_service.settings import Settings
from tests.cds_service.support import URL, full_request
from tests.deploy.nginx import Proxy, start_proxy
from tests.live import LiveServer, start_server

pytestmark = pytest.mark.slow

SLOW_CLIENTS = 5
NORMAL_REQUESTS = 8
WITHIN_SECONDS = 2.0
MAX_BODY = Settings().MAX_BODY_BYTES


@pytest.fixture(scope="session")
def proxy(live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    """nginx with the kit's template before the shared live server, same body limit."""
    max_body = int(live_server.env.get("CDS_MAX_BODY_BYTES", MAX_BODY))
    yield from start_proxy(
        tmp_path_factory.mktemp("nginx"), f"127.0.0.1:{live_server.port}", max_body
    )


@pytest.fixture(scope="module")
def bare_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Its own gunicorn for the control: slow clients are meant to starve its workers."""
    yield from start_server(tmp_path_factory.mktemp("bare"), AUTH="off")


class SlowClients:
    """Connections that send complete headers, then one body byte per second, forever."""

    def __init__(self, host: str, port: int, path: str, tls: ssl.SSLContext | None) -> None:
        self.sockets: list[socket.socket] = []
        self.stop = threading.Event()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            "Content-Length: 100000\r\n\r\n{"
        ).encode()
        for _ in range(SLOW_CLIENTS):
            sock = socket.create_connection((host, port), timeout=5)
            if tls is not None:
                sock = tls.wrap_socket(sock, server_hostname=host)
            sock.sendall(head)
            self.sockets.append(sock)
        self.thread = threading.Thread(target=self._trickle, daemon=True)
        self.thread.start()

    def _trickle(self) -> None:
        while not self.stop.wait(1.0):
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.sendall(b" ")

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        for sock in self.sockets:
            sock.close()


def served_within(base: str, body: dict[str, Any], verify: Any) -> int:
    """How many of NORMAL_REQUESTS concurrent hook calls got a 200 within WITHIN_SECONDS."""

    def call(_: int) -> bool:
        try:
            response = httpx.post(f"{base}{URL}", json=body, timeout=WITHIN_SECONDS, verify=verify)
        except httpx.TimeoutException:
            return False
        return response.status_code == 200

    with ThreadPoolExecutor(NORMAL_REQUESTS) as pool:
        return sum(pool.map(call, range(NORMAL_REQUESTS)))


def test_slow_clients_starve_bare_gunicorn_but_not_the_proxy(
    app: Flask, bare_server: LiveServer, live_server: LiveServer, proxy: Proxy
) -> None:
    body = full_request(app)
    bare = SlowClients("127.0.0.1", bare_server.port, URL, None)
    time.sleep(0.5)  # let both workers take a slow request
    try:
        started = time.perf_counter()
        direct = served_within(bare_server.base, body, True)
        direct_seconds = time.perf_counter() - started
    finally:
        bare.close()

    slow = SlowClients("127.0.0.1", proxy.port, URL, proxy.tls_context())
    time.sleep(0.5)
    try:
        started = time.perf_counter()
        proxied = served_within(proxy.base, body, proxy.tls_context())
        proxied_seconds = time.perf_counter() - started
    finally:
        slow.close()

    print(
        f"\nslow clients: {SLOW_CLIENTS} at 1 byte/s; {NORMAL_REQUESTS} normal hook calls "
        f"with a {WITHIN_SECONDS:.0f} s timeout; gunicorn 2 workers x 1 thread\n"
        f"  bare gunicorn: {direct}/{NORMAL_REQUESTS} served ({direct_seconds:.2f} s)\n"
        f"  behind nginx:  {proxied}/{NORMAL_REQUESTS} served ({proxied_seconds:.2f} s)"
    )
    assert direct < NORMAL_REQUESTS, "control: bare gunicorn was not starved by slow clients"
    assert proxied == NORMAL_REQUESTS


def outcome_validator() -> OAS31Validator:
    document = build_openapi()
    schema = {"$ref": "#/components/schemas/OperationOutcomeBody"}
    return OAS31Validator({**schema, "components": document["components"]})


def test_an_oversized_body_is_refused_by_nginx_before_the_service(
    proxy: Proxy, live_server: LiveServer
) -> None:
    request_id = f"oversize-{uuid.uuid4().hex}"
    too_big = b" " * MAX_BODY + b"{}"

    declared = httpx.post(
        f"{proxy.base}{URL}",
        content=too_big,
        headers={"Content-Type": "application/json", "X-Request-ID": request_id},
        verify=proxy.tls_context(),
    )
    chunked = httpx.post(
        f"{proxy.base}{URL}",
        content=iter([too_big[:1_000_000], too_big[1_000_000:]]),
        headers={"Content-Type": "application/json"},
        verify=proxy.tls_context(),
    )

    assert declared.status_code == 413
    assert chunked.status_code == 413
    assert declared.headers["Content-Type"] == "application/fhir+json"
    assert declared.headers["X-Request-ID"] == request_id
    assert list(outcome_validator().iter_errors(declared.json())) == []
    assert not any(request_id in line for line in live_server.access_lines())
    nginx_line = next(json.loads(x) for x in proxy.access_lines() if request_id in x)
    assert nginx_line["status"] == 413


def test_a_body_at_the_limit_reaches_the_service(proxy: Proxy) -> None:
    """nginx and the service share one limit: exactly CDS_MAX_BODY_BYTES is the service's call."""
    at_limit = b" " * (MAX_BODY - 2) + b"{}"

    response = httpx.post(
        f"{proxy.base}{URL}",
        content=at_limit,
        headers={"Content-Type": "application/json"},
        verify=proxy.tls_context(),
        timeout=30,
    )

    assert response.status_code == 400  # parsed by the service: `{}` is not a hook request
    assert "hookInstance" in response.text


def test_the_cds_endpoints_work_through_tls(
    app: Flask, proxy: Proxy, live_server: LiveServer
) -> None:
    tls = proxy.tls_context()
    with httpx.Client(base_url=proxy.base, verify=tls, timeout=10) as client:
        discovery = client.get("/cds-services")
        call = client.post(URL, json=full_request(app))
        feedback = client.post(
            f"{URL}/feedback",
            json={
                "feedback": [
                    {
                        "card": "c",
                        "outcome": "overridden",
                        "outcomeTimestamp": "2026-01-01T00:00:00Z",
                    }
                ]
            },
        )
        health = [client.get(path).status_code for path in ("/healthz", "/readyz", "/openapi.json")]
        tls_version = (
            client.get("/healthz")
            .extensions["network_stream"]
            .get_extra_info("ssl_object")
            .version()
        )

    direct = httpx.get(f"{live_server.base}/cds-services").json()
    assert discovery.status_code == 200
    assert discovery.json() == direct
    assert call.status_code == 200
    assert call.json() == {"cards": []}
    assert call.headers["Cache-Control"] == "no-store"
    assert feedback.json() == {"stored": 1, "unknownCards": ["c"]}
    assert health == [200, 200, 200]
    assert tls_version in ("TLSv1.2", "TLSv1.3")
    assert discovery.headers["Strict-Transport-Security"].startswith("max-age=")


def test_only_public_endpoints_are_exposed(proxy: Proxy, live_server: LiveServer) -> None:
    tls = proxy.tls_context()

    metrics = httpx.get(f"{proxy.base}/metrics", verify=tls)
    other = httpx.get(f"{proxy.base}/cds-servicesX", verify=tls)
    direct_metrics = httpx.get(f"{live_server.base}/metrics")

    assert direct_metrics.status_code == 200  # it exists, but only inside
    assert metrics.status_code == 404
    assert other.status_code == 404
    assert list(outcome_validator().iter_errors(metrics.json())) == []


def test_request_ids_join_nginx_and_service_logs(proxy: Proxy, live_server: LiveServer) -> None:
    tls = proxy.tls_context()
    sent = f"ehr-{uuid.uuid4().hex}"

    kept = httpx.get(f"{proxy.base}/cds-services", headers={"X-Request-ID": sent}, verify=tls)
    made = httpx.get(f"{proxy.base}/cds-services", verify=tls)
    bad = httpx.get(f"{proxy.base}/cds-services", headers={"X-Request-ID": "a b"}, verify=tls)

    assert kept.headers.get_list("X-Request-ID") == [sent]
    generated = made.headers["X-Request-ID"]
    assert len(generated) == 32
    assert bad.headers["X-Request-ID"] != "a b"
    time.sleep(0.2)  # the access log line is written after the response
    service_ids = {event.get("request_id") for event in live_server.app_events()}
    assert {sent, generated} <= service_ids
    nginx_ids = {json.loads(line)["request_id"] for line in proxy.access_lines()}
    assert {sent, generated} <= nginx_ids


def test_an_unreachable_service_is_a_503_outcome(tmp_path: Path) -> None:
    for proxy in start_proxy(tmp_path, "127.0.0.1:9", MAX_BODY):  # discard port: nobody there
        response = httpx.get(f"{proxy.base}/cds-services", verify=proxy.tls_context())

        assert response.status_code == 503
        assert list(outcome_validator().iter_errors(response.json())) == []
