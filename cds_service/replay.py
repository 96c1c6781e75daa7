"""JWT replay protection: each (iss, jti) is accepted once, across every worker and replica.

Redis (SET NX with expiry) when CDS_REDIS_URL is set, else the `jwt_replay` table. A
per-process set would let a replay through on any other worker, so none is kept here.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from typing import Protocol

import redis

from cds_service.errors import ServiceUnavailable
from cds_service.logs import log_event
from cds_service.settings import ConfigError, Settings
from cds_service.store import DatabaseError, Store

PURGE_INTERVAL_SECONDS = 60


class ReplayCache(Protocol):
    """Claims a JWT id; True the first time, False for a replay."""

    def first_use(self, iss: str, jti: str, expires_at: float) -> bool:
        """Record (iss, jti) until `expires_at` (epoch seconds); False if already recorded."""
        ...


def replay_key(iss: str, jti: str) -> str:
    """Fixed-width key: the jti is attacker-chosen text, so it is hashed, never stored raw."""
    return hashlib.sha256(f"{iss}\x00{jti}".encode()).hexdigest()


def _unavailable(kind: str, exc: Exception, retry_after: float = 1) -> ServiceUnavailable:
    log_event(logging.ERROR, "replay cache unavailable", reason=kind, error_type=type(exc).__name__)
    return ServiceUnavailable(
        "authentication unavailable",
        details=[f"the replay cache does not answer ({kind}); retry later"],
        retry_after=max(1, math.ceil(retry_after)),
    )


class RedisReplayCache:
    """SET key NX EX ttl: atomic across every process that shares the Redis."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    def first_use(self, iss: str, jti: str, expires_at: float) -> bool:
        """Claim the key; Redis expires it when the token could no longer be accepted."""
        ttl = max(1, math.ceil(expires_at - time.time()))
        try:
            created = self.client.set(self.prefix + replay_key(iss, jti), b"1", nx=True, ex=ttl)
        except redis.TimeoutError as exc:
            raise _unavailable("redis-timeout", exc) from None
        except redis.ConnectionError as exc:
            raise _unavailable("redis-unreachable", exc) from None
        except redis.RedisError as exc:
            raise _unavailable("redis-error", exc) from None
        return bool(created)


class DatabaseReplayCache:
    """Insert-unique into `jwt_replay`; expired rows are purged at most once a minute."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._next_purge = 0.0
        self._lock = threading.Lock()

    def first_use(self, iss: str, jti: str, expires_at: float) -> bool:
        """Claim the row; a unique-key conflict with a live row is a replay."""
        now = int(time.time())
        try:
            self._purge_if_due(now)
            return self.store.claim_jti(replay_key(iss, jti), math.ceil(expires_at), now)
        except DatabaseError as exc:
            raise _unavailable(f"database-{exc.reason}", exc, self.store.cooldown) from None

    def _purge_if_due(self, now: int) -> None:
        with self._lock:
            if time.monotonic() < self._next_purge:
                return
            self._next_purge = time.monotonic() + PURGE_INTERVAL_SECONDS
        self.store.purge_jtis(now)


def build_replay_cache(settings: Settings, store: Store | None) -> ReplayCache:
    """Redis when configured, else the service database."""
    if settings.REDIS_URL:
        client = redis.Redis.from_url(
            settings.REDIS_URL,
            socket_timeout=settings.REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=settings.REDIS_TIMEOUT_SECONDS,
        )
        return RedisReplayCache(client, settings.REDIS_KEY_PREFIX)
    if store is None:
        raise ConfigError("JWT replay protection needs a database or CDS_REDIS_URL")
    return DatabaseReplayCache(store)
