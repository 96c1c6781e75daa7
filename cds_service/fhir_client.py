"""Outbound FHIR reads for prefetch fallback: the only httpx user, and the SSRF boundary.

Rules: only allowlisted bases (scheme, host, port and path prefix); https unless loopback is
explicitly allowed; no redirect off the base; responses capped in size; pagination bounded;
the bearer token goes only to the fhirServer it came with and is never logged.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urljoin, urlsplit

import httpx
import orjson

from cds_service import bundles, outbound
from hooks.types import JsonObject

DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_REDIRECTS = 3
KNOWN_STATUSES = frozenset({400, 401, 403, 405, 406, 408, 429, 500, 502, 503, 504})
# Enough rounds to undo any encoding a server might decode before resolving the path.
MAX_UNQUOTE_ROUNDS = 4


class FhirFetchError(Exception):
    """A FHIR read failed; `reason` is a short category safe to log.

    `partial` holds the resources of the pages read before the failure, so a caller that
    already has earlier pages can keep everything it was given.
    """

    def __init__(self, reason: str, partial: list[JsonObject] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.partial = partial or []


class ServerNotAllowed(FhirFetchError):
    """fhirServer is not on the allowlist (or not https); it was never contacted."""


@dataclass(frozen=True, slots=True)
class FhirLimits:
    """Bounds on one call's outbound traffic."""

    max_pages: int
    max_response_bytes: int


@dataclass(frozen=True, slots=True)
class FhirTarget:
    """An allowlisted fhirServer and the token that belongs to it."""

    base: str
    token: str | None

    def owns(self, url: str) -> bool:
        """True when `url` lies under this base: same origin and path prefix."""
        return _under(url, self.base)


def is_loopback(host: str) -> bool:
    """Loopback by address or by the name localhost; no DNS lookups."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def has_dot_segments(url: str) -> bool:
    """True when the path holds a `.` or `..` segment, raw or in any encoded disguise.

    The HTTP client (and many servers) resolve them after our prefix check, so
    `https://allowed/fhir/../secret` would be fetched as `https://allowed/secret`. Encoded
    dots (`%2e`), encoded or back slashes and `;` path parameters (`..;`, as Tomcat reads
    them) are all decoded before looking, so no spelling slips through.
    """
    path = urlsplit(url).path
    for _ in range(MAX_UNQUOTE_ROUNDS):
        decoded = unquote(path)
        if decoded == path:
            break
        path = decoded
    segments = path.replace("\\", "/").split("/")
    return any(segment.split(";", 1)[0] in (".", "..") for segment in segments)


def any_loopback_port(base: str) -> bool:
    """True for an allowlist entry such as `http://127.0.0.1:*`: a loopback host, any port."""
    parts = urlsplit(base)
    return parts.netloc.endswith(":*") and is_loopback(parts.hostname or "")


def _origin(url: str) -> tuple[str, str, int] | None:
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        return None
    return parts.scheme, parts.hostname.lower(), port


def _under(url: str, base: str, *, any_port: bool = False) -> bool:
    """`url` lies under `base`; with `any_port`, a `:*` loopback base matches every port."""
    if has_dot_segments(url) or has_dot_segments(base):
        return False
    origin = _origin(url)
    base_origin: tuple[str, str, int] | None
    if any_port and any_loopback_port(base):
        wild = urlsplit(base)
        base_origin = (wild.scheme, (wild.hostname or "").lower(), origin[2] if origin else 0)
    else:
        base_origin = _origin(base)
    if origin is None or origin != base_origin:
        return False
    path, base_path = urlsplit(url).path, urlsplit(base).path.rstrip("/")
    return path == base_path or path.startswith(base_path + "/")


def allowed_target(
    fhir_server: str, token: str | None, allowlist: list[str], allow_loopback_http: bool
) -> FhirTarget:
    """Return the target if fhirServer may be called; raise ServerNotAllowed otherwise."""
    parts = urlsplit(fhir_server)
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ServerNotAllowed("fhir-server-malformed")
    if has_dot_segments(fhir_server):
        raise ServerNotAllowed("fhir-server-malformed")
    host = parts.hostname or ""
    if parts.scheme != "https" and not (
        parts.scheme == "http" and allow_loopback_http and is_loopback(host)
    ):
        raise ServerNotAllowed("fhir-server-not-https")
    # `:*` (any port) entries are a local-testing allowance: honoured only in that mode.
    if not any(_under(fhir_server, base, any_port=allow_loopback_http) for base in allowlist):
        raise ServerNotAllowed("fhir-server-not-allowlisted")
    return FhirTarget(base=fhir_server.rstrip("/"), token=token)


class FhirReader:
    """Concurrent FHIR reads against one target, under one deadline."""

    def __init__(
        self,
        target: FhirTarget,
        limits: FhirLimits,
        deadline: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.target = target
        self.limits = limits
        self.deadline = deadline  # time.monotonic() value
        self._transport = transport

    async def read_all(
        self, queries: Mapping[str, str]
    ) -> dict[str, list[JsonObject] | FhirFetchError]:
        """Fetch every query concurrently; each result is its resources or the failure."""
        headers = {"Accept": "application/fhir+json"}
        if self.target.token:
            headers["Authorization"] = f"Bearer {self.target.token}"
        remaining = max(self.deadline - time.monotonic(), 0.0)
        keys = list(queries)
        # Pages land here as they arrive, so a read cut short still yields what it got.
        received: dict[str, list[JsonObject]] = {key: [] for key in keys}
        async with outbound.client(remaining, headers=headers, transport=self._transport) as client:
            tasks = [
                asyncio.ensure_future(self._read_query(client, queries[k], received[k]))
                for k in keys
            ]
            if not tasks:
                return {}
            _, pending = await asyncio.wait(tasks, timeout=remaining)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        out: dict[str, list[JsonObject] | FhirFetchError] = {}
        for key, task in zip(keys, tasks, strict=True):
            if task.cancelled():
                out[key] = FhirFetchError("deadline", received[key])
            elif (exc := task.exception()) is not None:
                reason = exc.reason if isinstance(exc, FhirFetchError) else _reason(exc)
                out[key] = FhirFetchError(reason, received[key])
            else:
                out[key] = task.result()
        return out

    async def _read_query(
        self, client: httpx.AsyncClient, query: str, resources: list[JsonObject]
    ) -> list[JsonObject]:
        # Absolute URLs are next-page links a client sent; _get checks they are ours.
        absolute = query.startswith(("https://", "http://"))
        url: str | None = query if absolute else f"{self.target.base}/{query.lstrip('/')}"
        pages = 0
        while url is not None:
            pages += 1
            if pages > self.limits.max_pages:
                raise FhirFetchError("too-many-pages")
            body = await self._get(client, url)
            if body is None:  # 404/410 on a read: the resource does not exist
                return resources
            page, url = self._unpack(body)
            resources.extend(page)
        return resources

    def _unpack(self, body: JsonObject) -> tuple[tuple[JsonObject, ...], str | None]:
        if body.get("resourceType") == "OperationOutcome":
            raise FhirFetchError("server-operation-outcome")
        page = bundles.unpack(body)
        next_url = page.next_url
        if next_url is not None:
            next_url = urljoin(self.target.base + "/", str(next_url))
            if has_dot_segments(next_url):
                raise FhirFetchError("url-dot-segments")
            if not self.target.owns(next_url):
                raise FhirFetchError("next-link-off-server")
        return page.resources, next_url

    async def _get(self, client: httpx.AsyncClient, url: str) -> JsonObject | None:
        for _ in range(MAX_REDIRECTS + 1):
            if has_dot_segments(url):
                raise FhirFetchError("url-dot-segments")
            if not self.target.owns(url):
                raise FhirFetchError("url-off-server")
            async with client.stream("GET", url) as response:
                if response.is_redirect:
                    url = urljoin(url, response.headers.get("location", ""))
                    continue
                if response.status_code in (404, 410):
                    return None
                if response.status_code != 200:
                    raise FhirFetchError(http_reason(response.status_code))
                try:
                    raw = await outbound.read_capped(response, self.limits.max_response_bytes)
                except outbound.TooLarge:
                    raise FhirFetchError("response-too-large") from None
            return _parse(raw)
        raise FhirFetchError("too-many-redirects")


def _parse(raw: bytes) -> JsonObject:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise FhirFetchError("invalid-json") from exc
    if not isinstance(body, dict):
        raise FhirFetchError("not-a-resource")
    return body


def http_reason(status: int) -> str:
    """A failure category for an HTTP status: common ones by number, the rest by class.

    The status comes from a remote server, and reasons become metric labels: bounded.
    """
    if status in KNOWN_STATUSES:
        return f"http-{status}"
    return f"http-{status // 100}xx" if 100 <= status < 600 else "http-other"


def _reason(exc: BaseException) -> str:
    """Map httpx failures to a loggable category (never the URL or token)."""
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        return "connect-error"
    if isinstance(exc, httpx.HTTPError):
        return "http-error"
    return "unexpected"
