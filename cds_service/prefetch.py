"""Prefetch resolution (CDS Hooks 2.0 §Prefetch): use what the client sent, fetch the rest.

Per declared key: a value sent is used as sent; `null` means no data exists and is never
refetched; a missing key, an OperationOutcome, or a Bundle with pages we were not sent is
fetched from `fhirServer` (allowlisted only, concurrently, under one deadline). A required key
that still cannot be had is a 412 (the spec's SHALL); an optional one is marked unavailable.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from cds_service.errors import InvalidRequest, PayloadTooLarge, PreconditionFailed
from cds_service.fhir_client import (
    FhirFetchError,
    FhirLimits,
    FhirReader,
    FhirTarget,
    allowed_target,
)
from cds_service.protocol import HookRequest
from cds_service.settings import Settings
from hooks.contexts import FHIR_ID, HookContext
from hooks.fhirdata import JsonObject, KeyStatus, PrefetchValue, ResourceSet
from hooks.registry import TOKEN, ReferenceFollow, ServiceSpec

FHIR_ID_RE = re.compile(FHIR_ID)


@dataclass
class PrefetchStats:
    """Counts for logs and metrics; never values."""

    counts: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    resources: int = 0


@dataclass(frozen=True, slots=True)
class _Plan:
    values: dict[str, PrefetchValue]
    fetch: dict[str, str]  # key -> relative query (or absolute next-page URL)
    seed: dict[str, list[JsonObject]]  # pages already received for a paginated key


def render(template: str, tokens: Mapping[str, str]) -> str | None:
    """Substitute prefetch tokens; None when a token has no value in this call."""
    missing = False

    def substitute(match: Any) -> str:
        nonlocal missing
        value = tokens.get(match.group(1).strip())
        if value is None:
            missing = True
            return ""
        return quote(value, safe="/")

    rendered = TOKEN.sub(substitute, template)
    return None if missing else rendered


def resolve_prefetch(
    spec: ServiceSpec,
    templates: Mapping[str, str],
    request: HookRequest,
    context: HookContext,
    settings: Settings,
    transport: httpx.AsyncBaseTransport | None = None,
) -> tuple[ResourceSet, PrefetchStats]:
    """Resolve every declared prefetch key of `spec` for this request."""
    stats = PrefetchStats()
    plan = _plan(templates, request.prefetch or {}, context.token_values(), stats)
    deadline = time.monotonic() + settings.PREFETCH_DEADLINE_SECONDS
    target = _target(request, settings) if plan.fetch or spec.follow else None
    if plan.fetch:
        fetched = _fetch(target, plan.fetch, settings, deadline, transport)
        _merge(spec, plan, fetched, stats)
    _check_size(plan.values, settings, stats)
    if spec.follow and target is not None:
        _follow_references(spec.follow, plan.values, target, settings, deadline, transport)
        _check_size(plan.values, settings, stats)
    return ResourceSet(plan.values), stats


def _plan(
    templates: Mapping[str, str],
    sent: Mapping[str, Any],
    tokens: Mapping[str, str],
    stats: PrefetchStats,
) -> _Plan:
    plan = _Plan(values={}, fetch={}, seed={})
    for key, template in templates.items():
        if key in sent:
            value = sent[key]
            if value is None:
                plan.values[key] = PrefetchValue(KeyStatus.NULL)
                stats.counts["null"] += 1
                continue
            if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
                raise InvalidRequest(
                    "prefetch value is not a FHIR resource",
                    details=[f"prefetch.{key}: expected a FHIR resource or null"],
                )
            if value["resourceType"] != "OperationOutcome":
                resources, next_url = _unpack_sent(value)
                if next_url is None:
                    plan.values[key] = PrefetchValue(KeyStatus.PREFETCHED, tuple(resources))
                    stats.counts["hit"] += 1
                    continue
                plan.seed[key] = resources
                plan.fetch[key] = next_url
                stats.counts["paged"] += 1
                continue
            stats.counts["operation_outcome"] += 1
        rendered = render(template, tokens)
        if rendered is None:
            stats.counts["unrenderable"] += 1
            continue  # a token with no value (e.g. no encounterId): cannot be fetched
        plan.fetch[key] = rendered
        stats.counts["miss"] += 1
    return plan


def _unpack_sent(value: JsonObject) -> tuple[list[JsonObject], str | None]:
    if value["resourceType"] != "Bundle":
        return [value], None
    # Client-sent JSON: `entry`, `link` and `search` may be any type (found by test_fuzz.py).
    resources = [
        entry["resource"]
        for entry in _array(value.get("entry"))
        if isinstance(entry, dict)
        and isinstance(entry.get("resource"), dict)
        and not (isinstance(entry.get("search"), dict) and entry["search"].get("mode") == "outcome")
    ]
    next_url = next(
        (
            link.get("url")
            for link in _array(value.get("link"))
            if isinstance(link, dict) and link.get("relation") == "next"
        ),
        None,
    )
    return resources, next_url if isinstance(next_url, str) else None


def _array(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _target(request: HookRequest, settings: Settings) -> FhirTarget | None:
    if request.fhir_base is None:
        return None
    token = request.fhir_authorization.access_token if request.fhir_authorization else None
    try:
        return allowed_target(
            request.fhir_base, token, settings.FHIR_ALLOWLIST, settings.FHIR_ALLOW_LOOPBACK_HTTP
        )
    except FhirFetchError:
        return None  # never contacted; required keys become a 412 below


def _fetch(
    target: FhirTarget | None,
    queries: Mapping[str, str],
    settings: Settings,
    deadline: float,
    transport: httpx.AsyncBaseTransport | None,
) -> dict[str, list[JsonObject] | FhirFetchError]:
    if target is None:
        return {key: FhirFetchError("no-usable-fhir-server") for key in queries}
    limits = FhirLimits(settings.FHIR_MAX_PAGES, settings.FHIR_MAX_RESPONSE_BYTES)
    reader = FhirReader(target, limits, deadline, transport)
    return asyncio.run(reader.read_all(queries))


def _merge(
    spec: ServiceSpec,
    plan: _Plan,
    fetched: Mapping[str, list[JsonObject] | FhirFetchError],
    stats: PrefetchStats,
) -> None:
    missing: list[str] = []
    for key in plan.fetch:
        result = fetched[key]
        if isinstance(result, FhirFetchError):
            stats.failures[result.reason] += 1
            if spec.prefetch[key].required:
                missing.append(key)
            else:
                plan.values[key] = PrefetchValue(KeyStatus.UNAVAILABLE)
            continue
        resources = plan.seed.get(key, []) + result
        plan.values[key] = PrefetchValue(KeyStatus.FETCHED, tuple(resources))
        stats.counts["fallback"] += 1
    unrendered = [key for key, p in spec.prefetch.items() if p.required and key not in plan.values]
    missing.extend(key for key in unrendered if key not in missing)
    for key, p in spec.prefetch.items():
        if not p.required and key not in plan.values:
            plan.values[key] = PrefetchValue(KeyStatus.UNAVAILABLE)
    if missing:
        raise PreconditionFailed(
            "required prefetch data could not be obtained",
            details=[
                f"prefetch key {key!r} was not sent and could not be fetched"
                for key in sorted(missing)
            ],
        )


def _check_size(
    values: Mapping[str, PrefetchValue], settings: Settings, stats: PrefetchStats
) -> None:
    stats.resources = sum(len(v.resources) for v in values.values())
    if stats.resources > settings.MAX_PREFETCH_RESOURCES:
        raise PayloadTooLarge(
            "too many resources",
            details=[f"prefetch holds more than {settings.MAX_PREFETCH_RESOURCES} resources"],
        )


def _follow_references(
    follows: Iterable[ReferenceFollow],
    values: dict[str, PrefetchValue],
    target: FhirTarget,
    settings: Settings,
    deadline: float,
    transport: httpx.AsyncBaseTransport | None,
) -> None:
    """Fetch referenced resources (e.g. Medication) the client did not include."""
    present = {
        f"{r.get('resourceType')}/{r.get('id')}" for v in values.values() for r in v.resources
    }
    wanted: set[str] = set()
    for follow in follows:
        for value in values.values():
            for resource in value.resources:
                if resource.get("resourceType") != follow.resource_type:
                    continue
                ref = (resource.get(follow.element) or {}).get("reference")
                if (
                    isinstance(ref, str)
                    and _is_relative(ref, follow.target_type)
                    and ref not in present
                ):
                    wanted.add(ref)
    if not wanted or time.monotonic() >= deadline:
        return
    results = _fetch(target, {ref: ref for ref in sorted(wanted)}, settings, deadline, transport)
    found = tuple(r for result in results.values() if isinstance(result, list) for r in result)
    if found:
        # Unresolvable references stay unresolved; the rules fall back to the reference display.
        values["_references"] = PrefetchValue(KeyStatus.FETCHED, found)


def _is_relative(reference: str, target_type: str) -> bool:
    kind, _, rid = reference.partition("/")
    return kind == target_type and FHIR_ID_RE.match(rid) is not None
