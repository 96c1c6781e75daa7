"""JWK Sets: parsing public verification keys, and a cache of key sets fetched over HTTPS.

Only URLs from the trusted-issuer configuration are ever fetched (never a token's own `jku`
unless that issuer allowlists it). Fetches are rate limited, time limited, size capped and
never follow redirects; the cache honours Cache-Control max-age within configured bounds.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from jwt.exceptions import PyJWTError

from cds_service import outbound
from cds_service.fhir_client import has_dot_segments, http_reason, is_loopback
from cds_service.logs import log_event

DEFAULT_TTL_SECONDS = 300  # when the server sends no max-age
MIN_RSA_BITS = 2048
# The curve decides the algorithm: a P-256 key must not verify an ES384 token, and vice versa.
CURVE_ALGORITHM = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
PublicKey = EllipticCurvePublicKey | RSAPublicKey


class JwksFetchError(Exception):
    """A JWK Set could not be fetched or parsed; `reason` is a category safe to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class JwksUnavailable(Exception):
    """No usable key set for a URL: never fetched successfully, or too stale to trust."""


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """One public key from a JWK Set, with the algorithm its JWK pins (if any)."""

    kid: str
    key: PublicKey
    alg: str | None

    def accepts(self, alg: str) -> bool:
        """True when `alg` matches this key's own type (the guard against key confusion)."""
        if self.alg is not None and self.alg != alg:
            return False
        if isinstance(self.key, RSAPublicKey):
            return alg[:2] in ("RS", "PS")
        return CURVE_ALGORITHM.get(self.key.curve.name) == alg


def key_url_allowed(url: str) -> bool:
    """JWKS URLs must be https; plain http only on a loopback address (tests, local EHRs)."""
    parts = urlsplit(url)
    if parts.username or parts.password or parts.fragment or not parts.hostname:
        return False
    if has_dot_segments(url):
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname))


def parse_jwk(data: Mapping[str, Any]) -> VerificationKey | None:
    """A signing public key, or None for anything else (HMAC secrets, private keys, enc keys)."""
    kid = data.get("kid")
    alg = data.get("alg")
    if not isinstance(kid, str) or not kid or data.get("use", "sig") != "sig":
        return None
    if alg is not None and not isinstance(alg, str):
        return None
    try:
        if data.get("kty") == "EC":
            key: object = ECAlgorithm.from_jwk(dict(data))
        elif data.get("kty") == "RSA":
            key = RSAAlgorithm.from_jwk(dict(data))
        else:
            return None  # `oct` (symmetric) and unknown key types are never verification keys
    except (PyJWTError, ValueError, TypeError, KeyError):
        return None
    if isinstance(key, RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        return None
    if not isinstance(key, EllipticCurvePublicKey | RSAPublicKey):
        return None  # a published private key: refuse it rather than trust a leaked key
    return VerificationKey(kid=kid, key=key, alg=alg)


def parse_jwks(document: object) -> dict[str, VerificationKey]:
    """Usable keys by kid; a kid listed twice is dropped (the spec says kids are unique)."""
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        return {}
    keys: dict[str, VerificationKey] = {}
    duplicates: set[str] = set()
    for entry in entries:
        key = parse_jwk(entry) if isinstance(entry, dict) else None
        if key is None:
            continue
        if key.kid in keys:
            duplicates.add(key.kid)
        keys[key.kid] = key
    return {kid: key for kid, key in keys.items() if kid not in duplicates}


def cache_seconds(cache_control: str | None, low: float, high: float) -> float:
    """Lifetime from Cache-Control max-age, bounded to [low, high]."""
    ttl: float = DEFAULT_TTL_SECONDS
    for directive in (cache_control or "").lower().split(","):
        name, _, value = directive.strip().partition("=")
        if name in ("no-store", "no-cache"):
            ttl = 0
            break
        if name == "max-age" and value.strip().isdigit():
            ttl = int(value.strip())
    return min(max(ttl, low), high)


@dataclass(frozen=True, slots=True)
class _Entry:
    keys: dict[str, VerificationKey]
    fresh_until: float
    usable_until: float  # last-known-good limit when refreshes fail


class JwksCache:
    """Key sets by URL, shared by the threads of one worker."""

    def __init__(
        self,
        *,
        timeout: float,
        min_refresh: float,
        max_cache: float,
        max_bytes: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout = timeout
        self.min_refresh = min_refresh
        self.max_cache = max_cache
        self.max_bytes = max_bytes
        self.clock = clock
        self._entries: dict[str, _Entry] = {}
        self._attempted: dict[str, float] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def key(self, url: str, kid: str) -> VerificationKey | None:
        """The key for `kid` at `url`, refetching (rate limited) when stale or kid is unknown."""
        if (key := self._fresh_key(url, kid)) is not None:
            return key
        with self._lock(url):  # one fetch per URL at a time; the others wait and reuse it
            if (key := self._fresh_key(url, kid)) is not None:
                return key
            entry = self._entries.get(url)
            if self._may_fetch(url):
                entry = self._refresh(url, entry)
            if entry is None or self.clock() >= entry.usable_until:
                raise JwksUnavailable(url)
            return entry.keys.get(kid)

    def _fresh_key(self, url: str, kid: str) -> VerificationKey | None:
        entry = self._entries.get(url)
        if entry is None or self.clock() >= entry.fresh_until:
            return None
        return entry.keys.get(kid)

    def _lock(self, url: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(url, threading.Lock())

    def _may_fetch(self, url: str) -> bool:
        # An unknown kid costs at most one fetch per window: attacker-chosen kids cannot
        # turn us into a request amplifier against the issuer.
        last = self._attempted.get(url)
        return last is None or self.clock() - last >= self.min_refresh

    def _refresh(self, url: str, previous: _Entry | None) -> _Entry | None:
        self._attempted[url] = self.clock()
        try:
            keys, cache_control = fetch_jwks(url, timeout=self.timeout, max_bytes=self.max_bytes)
        except JwksFetchError as exc:
            log_event(logging.WARNING, "jwks fetch failed", reason=exc.reason, jwks_url=url)
            return previous
        ttl = cache_seconds(cache_control, self.min_refresh, self.max_cache)
        now = self.clock()
        entry = _Entry(keys, fresh_until=now + ttl, usable_until=now + ttl + self.max_cache)
        self._entries[url] = entry
        log_event(logging.INFO, "jwks fetched", jwks_url=url, key_count=len(keys))
        return entry


def fetch_jwks(
    url: str, *, timeout: float, max_bytes: int
) -> tuple[dict[str, VerificationKey], str | None]:
    """GET a JWK Set: no redirects, no proxies from the environment, capped size and time.

    `timeout` bounds the whole exchange, connect to last byte: httpx's own timeouts apply per
    read, so a server sending its headers a byte at a time could hold a worker indefinitely.
    """
    if not key_url_allowed(url):
        raise JwksFetchError("url-not-allowed")
    try:
        raw, cache_control = asyncio.run(
            asyncio.wait_for(_get(url, timeout=timeout, max_bytes=max_bytes), timeout)
        )
    except TimeoutError as exc:
        raise JwksFetchError("timeout") from exc
    except httpx.TimeoutException as exc:
        raise JwksFetchError("timeout") from exc
    except httpx.HTTPError as exc:
        raise JwksFetchError("http-error") from exc
    try:
        keys = parse_jwks(orjson.loads(raw))
    except orjson.JSONDecodeError as exc:
        raise JwksFetchError("invalid-json") from exc
    if not keys:
        raise JwksFetchError("no-usable-keys")
    return keys, cache_control


async def _get(url: str, *, timeout: float, max_bytes: int) -> tuple[bytes, str | None]:
    async with (
        outbound.client(timeout) as client,
        client.stream("GET", url, headers={"Accept": "application/json"}) as response,
    ):
        if response.status_code != 200:
            raise JwksFetchError(http_reason(response.status_code))
        try:
            raw = await outbound.read_capped(response, max_bytes)
        except outbound.TooLarge:
            raise JwksFetchError("too-large") from None
        return raw, response.headers.get("cache-control")
