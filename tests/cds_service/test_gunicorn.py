"""gunicorn as shipped: configuration layers, a hard request timeout, JSON logs with the
field allowlist, request ids, and metrics files across worker restarts."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from cds_service.logs import ALLOWED_FIELDS
from tests.cds_service.support import URL
from tests.cds_service.test_cli import free_port
from tests.cds_service.test_metrics import parse, value
from tests.conftest import wait_healthy

ROOT = Path(__file__).resolve().parents[2]
CANARY = "zqcanary7731"


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CDS_", "PROMETHEUS_", "GUNICORN_", "WEB_CONCURRENCY"))
    }
    env.update(
        CDS_AUTH="off",
        CDS_DATABASE_URL=f"sqlite:///{tmp_path / 'srv.sqlite3'}",
        CDS_INSTANCE_PATH=str(tmp_path / "instance"),
        TMPDIR=str(tmp_path),
        **extra,
    )
    return env


SETTINGS = [
    "workers", "timeout", "bind", "certfile", "keyfile", "forwarded_allow_ips",
    "control_socket", "control_socket_disable", "logger_class",
]  # fmt: skip
# Each case: (GUNICORN_CMD_ARGS, options after `--`, serve's own options). One subprocess for
# all of them: importing gunicorn_conf sets process-wide environment, and costs a second.
PROBE = """
import json, os, sys
from cds_service.server import Server
out = []
for env_args, args, overrides in json.loads(sys.argv[1]):
    os.environ["GUNICORN_CMD_ARGS"] = env_args
    cfg = Server(args, overrides).cfg
    out.append({name: str(cfg.settings[name].get()) for name in json.loads(sys.argv[2])})
print(json.dumps(out))
"""


def gunicorn_settings(
    tmp_path: Path, cases: list[tuple[str, list[str], dict[str, Any]]], **env: str
) -> list[dict[str, str]]:
    """The settings `cds-service serve` would run gunicorn with, per case."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(cases), json.dumps(SETTINGS)],
        env=clean_env(tmp_path, **env),
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    settings: list[dict[str, str]] = json.loads(result.stdout)
    return settings


def test_gunicorn_configuration_is_layered_as_gunicorn_layers_it(tmp_path: Path) -> None:
    plain, from_env, layered = gunicorn_settings(
        tmp_path,
        [
            ("", [], {}),
            (
                "--workers 1 --timeout 17 --certfile c.pem --keyfile k.pem "
                "--forwarded-allow-ips 10.0.0.1",
                [],
                {},
            ),
            ("--workers 1 --timeout 17", ["--workers", "3", "--timeout", "19"], {"workers": 2}),
        ],
        WEB_CONCURRENCY="3",
    )

    # The production defaults apply when nothing else is said.
    assert (plain["workers"], plain["bind"]) == ("3", "['127.0.0.1:8080']")
    assert plain["logger_class"].endswith("JsonLogger")
    # Regression: `cds-service serve` ignored GUNICORN_CMD_ARGS (--workers 1 started 4).
    assert (from_env["workers"], from_env["timeout"]) == ("1", "17")
    assert (from_env["certfile"], from_env["keyfile"]) == ("c.pem", "k.pem")
    assert from_env["forwarded_allow_ips"] == "['10.0.0.1']"
    # Options after `--` beat the environment; serve's own options beat both.
    assert (layered["workers"], layered["timeout"]) == ("2", "19")
    # gunicorn 27 defaults to one control socket path per user: two instances clobber it.
    assert plain["control_socket_disable"] == "True"


def test_a_control_socket_needs_a_path_of_the_instance_s_own(tmp_path: Path) -> None:
    [own] = gunicorn_settings(
        tmp_path, [("", [], {})], GUNICORN_CONTROL_SOCKET=str(tmp_path / "one.ctl")
    )

    assert (own["control_socket_disable"], own["control_socket"]) == (
        "False",
        str(tmp_path / "one.ctl"),
    )


def stop(server: subprocess.Popen[bytes]) -> tuple[str, str]:
    server.terminate()
    out, err = server.communicate(timeout=30)
    return out.decode(), err.decode()


@pytest.mark.slow
def test_a_hung_request_ends_its_worker_and_the_next_request_is_served(tmp_path: Path) -> None:
    # Regression: gthread's heartbeat kept gunicorn's timeout from firing: hung forever.
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        "python:cds_service.gunicorn_conf",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        "--timeout",
        "2",
        "tests.hanging_wsgi:app",
    ]
    server = subprocess.Popen(
        command, env=clean_env(tmp_path), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, server)
        started = time.monotonic()
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{base}/hang", timeout=10)
        cut_after = time.monotonic() - started
        wait_healthy(base, server)
        after = httpx.get(f"{base}/ok", timeout=5)
    finally:
        _, err = stop(server)

    assert 1 <= cut_after < 3.5
    assert after.status_code == 200
    lines = [json.loads(line) for line in err.splitlines()]
    [kill] = [e for e in lines if e["event"].startswith("a request outlived the worker timeout")]
    assert kill["level"] == "critical"
    assert kill["age_seconds"] >= 1


def raw_request(base: str, request: bytes) -> bytes:
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request)
        return sock.recv(65536)


@pytest.mark.slow
def test_cds_service_serve_as_shipped(tmp_path: Path) -> None:
    """One real server: one worker recycled every 10 requests, metrics on their own port."""
    port, metrics_port = free_port(), free_port()
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = clean_env(
        tmp_path,
        GUNICORN_CMD_ARGS="--workers 1 --max-requests 10 --max-requests-jitter 0",
        CDS_METRICS_BIND=f"127.0.0.1:{metrics_port}",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    cli = Path(sys.executable).parent / "cds-service"
    subprocess.run([cli, "db", "upgrade"], env=env, check=True, capture_output=True)
    server = subprocess.Popen(
        [cli, "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    rid = "0123456789abcdef0123456789abcdef"
    try:
        wait_healthy(base, server)
        echoed = httpx.get(f"{base}/cds-services", headers={"X-Request-ID": rid}, timeout=5)
        replaced = httpx.get(
            f"{base}/cds-services", headers={"X-Request-ID": f"{CANARY} x"}, timeout=5
        )
        for _ in range(24):  # past two recycles of the only worker
            assert httpx.get(f"{base}/cds-services", timeout=5).status_code == 200
        # Caller text that must reach no log: an unknown service, a bad header, a method.
        unknown = httpx.post(f"{base}/cds-services/{CANARY}", json={}, timeout=5)
        invalid = httpx.post(f"{base}{URL}", json={"hook": "patient-view"}, timeout=5)
        raw_request(base, f"GET /healthz HTTP/1.1\r\nHost: x\r\n{CANARY}(: 1\r\n\r\n".encode())
        raw_request(base, f"{CANARY.upper()} /healthz HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        main_metrics = httpx.get(f"{base}/metrics", timeout=5)
        scraped = parse(httpx.get(f"http://127.0.0.1:{metrics_port}", timeout=5).text)
        files = sorted(p.name for p in metrics_dir.glob("*.db"))
    finally:
        out, err = stop(server)

    assert (unknown.status_code, invalid.status_code) == (404, 400)
    assert echoed.headers["X-Request-ID"] == rid
    assert CANARY not in replaced.headers["X-Request-ID"]
    # Metrics: served apart, every worker's requests counted, dead workers' files folded away.
    assert main_metrics.status_code == 404
    labels = {"method": "GET", "route": "/cds-services", "service": "none", "status": "200"}
    assert value(scraped, "cds_http_requests_total", **labels) == 26
    pids = {name.rsplit("_", 1)[-1] for name in files if not name.endswith("_archive.db")}
    assert len(pids) == 1  # the live worker's; the two recycled ones were folded and removed
    assert "counter_archive.db" in files
    # Logs: every line JSON, no caller text, access lines by route template.
    lines = [json.loads(line) for line in (out + err).splitlines()]
    assert CANARY not in out + err
    assert CANARY.upper() not in out + err
    booted = [e for e in lines if e["event"].startswith("Booting worker with pid")]
    assert len(booted) >= 3  # GUNICORN_CMD_ARGS: one worker, recycled every 10 requests
    access = [e for e in lines if e.get("logger") == "gunicorn.access"]
    assert {"method": "POST", "route": "/cds-services/<service_id>", "status": 404} in [
        {k: e.get(k) for k in ("method", "route", "status")} for e in access
    ]
    assert {e["request_id"] for e in access if "request_id" in e} >= {rid}
    assert all(
        set(e) <= {"time", "level", "logger", "event", "error_type", *ALLOWED_FIELDS} for e in lines
    )
