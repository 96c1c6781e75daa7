"""Real servers on loopback for the tests that need one: gunicorn with the production config.

Session-scoped and shared (starting one costs seconds): `live_server` runs with auth off,
`live_jwt_server` with JWT auth and a test issuer. Each writes its access log and JSON
application log to files the tests can read.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_healthy

CLI = Path(sys.executable).parent / "cds-service"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class LiveServer:
    """A running gunicorn: its base URL, its logs and its settings."""

    base: str
    port: int
    access_log: Path
    app_log: Path
    env: dict[str, str]

    def access_lines(self) -> list[str]:
        return self.access_log.read_text(encoding="utf-8", errors="replace").splitlines()

    def app_events(self) -> list[dict[str, object]]:
        events = []
        for line in self.app_log.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("{"):
                events.append(json.loads(line))
        return events


def server_env(folder: Path, **settings: str) -> dict[str, str]:
    """The parent environment without CDS_* (tests configure explicitly), plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")}
    env.update(
        {
            "CDS_DATABASE_URL": f"sqlite:///{folder / 'live.sqlite3'}",
            "CDS_INSTANCE_PATH": str(folder / "instance"),
            **{f"CDS_{k}": v for k, v in settings.items()},
        }
    )
    return env


def start_server(
    folder: Path,
    workers: int = 2,
    extra_env: dict[str, str] | None = None,
    port: int | None = None,
    **settings: str,
) -> Iterator[LiveServer]:
    """Migrate, serve with `cds-service serve`, yield, then stop and wait."""
    folder.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    env = server_env(folder, **settings)
    env.update(extra_env or {})
    subprocess.run([CLI, "db", "upgrade"], env=env, check=True, capture_output=True)
    access_log, app_log = folder / "access.log", folder / "app.log"
    with access_log.open("wb") as out, app_log.open("wb") as err:
        process = subprocess.Popen(
            [CLI, "serve", "--port", str(port), "--workers", str(workers)],
            env=env,
            stdout=out,
            stderr=err,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, process)
        yield LiveServer(base, port, access_log, app_log, env)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """gunicorn, two workers, auth off, SQLite: shared by the API and proxy tests."""
    yield from start_server(tmp_path_factory.mktemp("live"), AUTH="off")


ISSUER = "https://ehr.live.test"


@dataclass(frozen=True)
class JwtServer:
    """A live server that trusts one test issuer, and a minting function for its tokens."""

    server: LiveServer
    key: Any

    def bearer(self, path: str) -> dict[str, str]:
        """A fresh single-use token for `path` on this server."""
        from tests.cds_service.auth_support import mint

        token = mint(self.key, path, iss=ISSUER, aud=f"{self.server.base}{path}")
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def live_jwt_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JwtServer]:
    """gunicorn with CDS_AUTH=jwt, an inline-key issuer and the base URL as the JWT audience."""
    from tests.cds_service.auth_support import es384, jwks

    folder = tmp_path_factory.mktemp("live-jwt")
    key = es384("live-1")
    issuers = folder / "issuers.json"
    issuers.write_text(json.dumps({"issuers": [{"iss": ISSUER, "jwks": jwks(key)}]}))
    port = free_port()
    for server in start_server(
        folder,
        port=port,
        AUTH="jwt",
        TRUSTED_ISSUERS=str(issuers),
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
    ):
        yield JwtServer(server, key)
