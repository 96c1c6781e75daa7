"""Container health check: `python -m cds_service.healthcheck` asks /healthz where gunicorn binds.

It reads GUNICORN_BIND as gunicorn_conf does, so an image run with another port, an IPv6
address or a unix socket is still checked at the right place. Exit 0 healthy, 1 not.
"""

from __future__ import annotations

import os
import sys

import httpx

DEFAULT_BIND = "127.0.0.1:8080"  # gunicorn_conf's default
TIMEOUT_SECONDS = 2.0


def probe_target(bind: str) -> tuple[str, str | None]:
    """The /healthz URL for a gunicorn bind address, and the unix socket path if there is one."""
    address = bind.split(",")[0].strip()
    if address.startswith("unix:"):
        return "http://localhost/healthz", address.removeprefix("unix:")
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"not a host:port or unix: address: {address!r}")
    # A wildcard bind listens on loopback too; ask there.
    host = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]", "::": "[::1]"}.get(host, host)  # noqa: S104
    return f"http://{host}:{port}/healthz", None


def main() -> int:
    """Probe once; print why on failure (docker inspect shows it)."""
    try:
        url, socket_path = probe_target(os.environ.get("GUNICORN_BIND") or DEFAULT_BIND)
        transport = httpx.HTTPTransport(uds=socket_path) if socket_path else None
        with httpx.Client(transport=transport, timeout=TIMEOUT_SECONDS, trust_env=False) as client:
            status = client.get(url).status_code
    except (httpx.HTTPError, ValueError) as exc:
        print(f"unhealthy: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"unhealthy: /healthz answered {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
