"""Effective rule states: the knowledge's defaults, the switches set in the database, and a digest.

A rule's effective state is the lower of its own state (as set, else as shipped) and the
service-wide switch (on or shadow); a rule citing an unverified source is always off. The
digest names the effective states of one service, so a card can be traced to them.

Each process keeps the states for `ttl` seconds (`CDS_RULE_STATES_TTL_SECONDS`) and then reads
them again, so every worker and replica agrees within that time of a change. When the database
cannot answer, the last states read are kept (or, before any read, the shipped defaults) and
the miss is reported to the caller, which counts it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from cds_service.governance.switches import SERVICE_WIDE, Setting
from cds_service.logs import log_event
from cds_service.store import DatabaseError
from hooks.knowledge import KnowledgeBase
from hooks.knowledge.schema import RuleState

Stored = Mapping[str, Mapping[str, Setting]]


@dataclass(frozen=True, slots=True)
class EffectiveStates:
    """One service's effective rule states and their digest."""

    service_id: str
    rules: Mapping[str, RuleState]
    mode: RuleState
    digest: str

    def state(self, rule_id: str) -> RuleState:
        """A rule's state; a rule outside the service's catalogue follows the service switch."""
        return self.rules.get(rule_id, self.mode)

    def snapshot(self) -> dict[str, str]:
        """The states as plain strings (what the digest is computed over)."""
        return {**{rule: state.value for rule, state in self.rules.items()}, "*": self.mode.value}


def lower(first: RuleState, second: RuleState) -> RuleState:
    """The more restrictive of two states (off < shadow < on)."""
    return first if first.rank <= second.rank else second


def states_digest(service_id: str, snapshot: Mapping[str, str]) -> str:
    """First 16 hex digits of the SHA-256 of the service id and its effective states."""
    text = json.dumps({"service": service_id, "states": dict(snapshot)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def effective_states(
    kb: KnowledgeBase, service_id: str, stored: Mapping[str, Setting]
) -> EffectiveStates:
    """Combine the shipped defaults with the switches set for one service."""
    wide = stored.get(SERVICE_WIDE)
    mode = wide.state if wide is not None else RuleState.ON
    rules: dict[str, RuleState] = {}
    for rule in kb.catalogue(service_id):
        setting = stored.get(rule.id)
        own = setting.state if setting is not None else rule.state
        if kb.unverified_sources(rule):
            own = RuleState.OFF
        rules[rule.id] = lower(own, mode)
    partial = EffectiveStates(service_id, rules, mode, "")
    return EffectiveStates(service_id, rules, mode, states_digest(service_id, partial.snapshot()))


class RuleStateCache:
    """Effective states per service, reread from the database at most once per `ttl` seconds.

    `read` returns every state set (all services); None means there is no database (the
    offline CLI), and the shipped defaults apply. `remember` keeps a new digest's states.
    """

    def __init__(
        self,
        kb: KnowledgeBase,
        service_ids: Iterable[str],
        read: Callable[[], Stored] | None,
        ttl: float,
        remember: Callable[[EffectiveStates], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._kb = kb
        self._ids = tuple(service_ids)
        self._read = read
        self._ttl = ttl
        self._remember = remember
        self._clock = clock
        self._lock = threading.Lock()
        self._current = self._combine({})
        self._expires = float("-inf") if read is not None else float("inf")
        self._seen: set[str] = set()

    def get(self, service_id: str) -> tuple[EffectiveStates, bool]:
        """The service's effective states, and whether the database failed to answer."""
        if self._clock() < self._expires:
            return self._current[service_id], False
        with self._lock:
            if self._clock() < self._expires:  # another thread refreshed meanwhile
                return self._current[service_id], False
            missed = not self._refresh()
            self._expires = self._clock() + self._ttl
            return self._current[service_id], missed

    def _refresh(self) -> bool:
        assert self._read is not None
        try:
            stored = self._read()
        except DatabaseError as exc:  # fail open: keep deciding with the last states known
            log_event(logging.WARNING, "rule states unavailable", reason=exc.reason)
            return False
        self._current = self._combine(stored)
        for states in self._current.values():
            if states.digest not in self._seen and self._remember is not None:
                self._keep(states)
        return True

    def _keep(self, states: EffectiveStates) -> None:
        assert self._remember is not None
        try:
            self._remember(states)
            self._seen.add(states.digest)
        except DatabaseError as exc:  # the snapshot is for tracing; a call never fails on it
            log_event(logging.WARNING, "rule state snapshot not kept", reason=exc.reason)

    def _combine(self, stored: Stored) -> dict[str, EffectiveStates]:
        return {
            service_id: effective_states(self._kb, service_id, stored.get(service_id, {}))
            for service_id in self._ids
        }
