"""The image's HEALTHCHECK (`python -m cds_service.healthcheck`) follows GUNICORN_BIND."""

from __future__ import annotations

import os
import socketserver
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from cds_service.healthcheck import probe_target
from tests.live import LiveServer, free_port


@pytest.mark.parametrize(
    ("bind", "url", "socket_path"),
    [
        ("0.0.0.0:8080", "http://127.0.0.1:8080/healthz", None),
        ("127.0.0.1:9000", "http://127.0.0.1:9000/healthz", None),
        ("[::]:8443", "http://[::1]:8443/healthz", None),
        ("[::1]:8080", "http://[::1]:8080/healthz", None),
        ("cds.internal:8080", "http://cds.internal:8080/healthz", None),
        ("unix:/run/cds/gunicorn.sock", "http://localhost/healthz", "/run/cds/gunicorn.sock"),
        ("0.0.0.0:8080,unix:/tmp/x.sock", "http://127.0.0.1:8080/healthz", None),
    ],
)
def test_the_probe_asks_where_gunicorn_listens(
    bind: str, url: str, socket_path: str | None
) -> None:
    assert probe_target(bind) == (url, socket_path)


def test_a_bind_without_a_port_is_refused() -> None:
    with pytest.raises(ValueError, match="host:port"):
        probe_target("localhost")


def check(bind: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GUNICORN_BIND": bind}
    return subprocess.run(
        [sys.executable, "-m", "cds_service.healthcheck"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_healthy_on_the_live_server_unhealthy_where_nothing_listens(
    live_server: LiveServer,
) -> None:
    healthy = check(f"0.0.0.0:{live_server.port}")
    dead = check(f"0.0.0.0:{free_port()}")

    assert healthy.returncode == 0, healthy.stderr
    assert dead.returncode == 1
    assert dead.stderr.startswith("unhealthy: ConnectError")


def test_a_unix_socket_bind_is_probed_over_the_socket(tmp_path: Path) -> None:
    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/healthz" else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    path = tmp_path / "gunicorn.sock"

    class UnixHttp(socketserver.UnixStreamServer):
        def get_request(self):  # type: ignore[no-untyped-def]
            request, _ = super().get_request()
            return request, ("local", 0)  # BaseHTTPRequestHandler wants a (host, port)

    with UnixHttp(str(path), Health) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        result = check(f"unix:{path}")
        server.shutdown()

    assert result.returncode == 0, result.stderr


def test_the_probe_does_not_load_the_application() -> None:
    """It runs every 30 s beside the workers: importing Flask and the FHIR models cost 2 s."""
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, cds_service.healthcheck; print(sorted(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    for heavy in ("'flask'", "'pydantic'", "'fhir'", "'cds_service.app'", "'hooks'"):
        assert heavy not in loaded, heavy
