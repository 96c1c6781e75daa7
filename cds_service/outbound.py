"""The one outbound HTTP helper, for FHIR servers and JWK Sets alike.

Every client it makes follows no redirects (callers check each hop themselves), ignores proxy
settings from the environment (a proxy must never see a bearer token), and every body is read
with a size cap. The caller sets the deadline; `read_capped` never reads past `max_bytes`.
"""

from __future__ import annotations

import functools
import ssl

import httpx

__all__ = ["TooLarge", "client", "read_capped", "tls_context"]


class TooLarge(Exception):
    """A response declared or sent more than the cap."""


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One verifying TLS context per process: building one costs ~30 ms of CPU per client."""
    return httpx.create_ssl_context()


def client(
    timeout: float,
    *,
    headers: dict[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """An async client: no redirects, no environment proxies, `timeout` per network step."""
    return httpx.AsyncClient(
        headers=headers,
        timeout=httpx.Timeout(max(timeout, 0.001)),
        verify=tls_context(),
        follow_redirects=False,
        transport=transport,
        trust_env=False,
    )


async def read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    """The body, or TooLarge as soon as the declared or received size passes `max_bytes`."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)
