"""Prefetch resolution (CDS Hooks 2.0 §Prefetch): use what the client sent, fetch the rest.

Per declared key: a value sent is used as sent; `null` means no data exists and is never
refetched; a missing key, an OperationOutcome, or a Bundle with pages we were not sent is
fetched from `fhirServer` (allowlisted only, concurrently, under one deadline). A required key
that still cannot be had is a 412 (the spec's SHALL); an optional one is marked unavailable.

Pages a client sent are never dropped: when the rest cannot be fetched, the key keeps what was
sent (and any pages read since) and is marked incomplete, so no rule concludes from a record's
absence in it. Every failure is counted by key and cause, and a 412 names the cause.
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

from cds_service import bundles
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
from hooks.fhirdata import KeyStatus, PrefetchValue, ResourceSet
from hooks.registry import TOKEN, ReferenceFollow, ServiceSpec
from hooks.types import JsonObject

FHIR_ID_RE = re.compile(FHIR_ID)
REFERENCES = "_references"  # the key under which followed references are kept and counted


# What a 412 says about each cause; never the submitted URL or token.
CAUSES = {
    "no-fhir-server": "the request has no fhirServer to fetch it from",
    "fhir-server-malformed": "fhirServer carries credentials, a query, a fragment or dot segments",
    "fhir-server-not-https": "fhirServer is not https (plain http is allowed only on loopback "
    "with CDS_FHIR_ALLOW_LOOPBACK_HTTP)",
    "fhir-server-not-allowlisted": "fhirServer is not on CDS_FHIR_ALLOWLIST",
    "unrenderable": "its query needs a context value this call does not have",
    "deadline": "the FHIR server did not answer within CDS_PREFETCH_DEADLINE_SECONDS",
    "timeout": "the FHIR server did not answer within CDS_PREFETCH_DEADLINE_SECONDS",
    "connect-error": "the FHIR server could not be reached",
    "http-401": "the FHIR server refused the fhirAuthorization token (HTTP 401)",
    "http-403": "the FHIR server forbade the read (HTTP 403)",
    "response-too-large": "a FHIR response exceeded CDS_FHIR_MAX_RESPONSE_BYTES",
    "too-many-pages": "the search has more than CDS_FHIR_MAX_PAGES pages",
    "too-many-redirects": "the FHIR server redirected too many times",
    "url-off-server": "the FHIR server redirected outside fhirServer",
    "next-link-off-server": "a next link points outside fhirServer",
    "url-dot-segments": "a next link or redirect holds dot segments",
    "invalid-json": "the FHIR server did not answer with JSON",
    "not-a-resource": "the FHIR server did not answer with a FHIR resource",
    "server-operation-outcome": "the FHIR server answered with an OperationOutcome",
}


def describe(cause: str) -> str:
    """A 412 diagnostic for one cause: a fixed sentence and the cause's code."""
    if cause.startswith("http-") and cause not in CAUSES:
        text = f"the FHIR server answered HTTP {cause.removeprefix('http-')}"
    else:
        text = CAUSES.get(cause, "the FHIR read failed")
    return f"{text} ({cause})"


@dataclass
class PrefetchStats:
    """Counts for logs and metrics; never values.

    `failures` maps each declared key (or `_references`) that could not be read in full to
    its cause; `incomplete` maps each key used with records known to be missing to its cause;
    `unreadable` counts the resources skipped because they could not be read.
    """

    counts: Counter[str] = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)
    incomplete: dict[str, str] = field(default_factory=dict)
    resources: int = 0
    # Resources skipped as unreadable, by (resource type, reason); filled after the rules ran.
    unreadable: dict[tuple[str, str], int] = field(default_factory=dict)


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
    if spec.follow and isinstance(target, FhirTarget):
        _follow_references(spec.follow, plan.values, target, settings, deadline, transport, stats)
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
                page = bundles.unpack(value)
                resources, next_url, short = list(page.resources), page.next_url, page.short
                if next_url is None:
                    plan.values[key] = PrefetchValue(
                        KeyStatus.PREFETCHED, tuple(resources), complete=not short
                    )
                    stats.counts["hit"] += 1
                    if short:
                        stats.counts["incomplete"] += 1
                        stats.incomplete[key] = "bundle-total-exceeds-entries"
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


def _target(request: HookRequest, settings: Settings) -> FhirTarget | FhirFetchError:
    """The fhirServer to call, or why none may be (it is then never contacted)."""
    if request.fhir_base is None:
        return FhirFetchError("no-fhir-server")
    token = request.fhir_authorization.access_token if request.fhir_authorization else None
    try:
        return allowed_target(
            request.fhir_base, token, settings.FHIR_ALLOWLIST, settings.FHIR_ALLOW_LOOPBACK_HTTP
        )
    except FhirFetchError as refused:
        return refused


def _fetch(
    target: FhirTarget | FhirFetchError | None,
    queries: Mapping[str, str],
    settings: Settings,
    deadline: float,
    transport: httpx.AsyncBaseTransport | None,
) -> dict[str, list[JsonObject] | FhirFetchError]:
    if not isinstance(target, FhirTarget):
        reason = target.reason if target is not None else "no-fhir-server"
        return {key: FhirFetchError(reason) for key in queries}
    limits = FhirLimits(settings.FHIR_MAX_PAGES, settings.FHIR_MAX_RESPONSE_BYTES)
    reader = FhirReader(target, limits, deadline, transport)
    return asyncio.run(reader.read_all(queries))


def _merge(
    spec: ServiceSpec,
    plan: _Plan,
    fetched: Mapping[str, list[JsonObject] | FhirFetchError],
    stats: PrefetchStats,
) -> None:
    missing: dict[str, str] = {}
    for key in plan.fetch:
        result = fetched[key]
        if isinstance(result, FhirFetchError):
            stats.failures[key] = result.reason
            if key in plan.seed:
                # The client sent the first page(s): keep them, and say the set is partial.
                resources = plan.seed[key] + result.partial
                plan.values[key] = PrefetchValue(
                    KeyStatus.PREFETCHED, tuple(resources), complete=False
                )
                stats.counts["incomplete"] += 1
                stats.incomplete[key] = result.reason
            elif spec.prefetch[key].required:
                missing[key] = result.reason
            else:
                plan.values[key] = PrefetchValue(KeyStatus.UNAVAILABLE)
            continue
        resources = plan.seed.get(key, []) + result
        plan.values[key] = PrefetchValue(KeyStatus.FETCHED, tuple(resources))
        stats.counts["fallback"] += 1
    for key, p in spec.prefetch.items():
        if key in plan.values or key in missing:
            continue
        if p.required:
            missing[key] = stats.failures[key] = "unrenderable"
        else:
            plan.values[key] = PrefetchValue(KeyStatus.UNAVAILABLE)
    if missing:
        raise PreconditionFailed(
            "required prefetch data could not be obtained",
            details=[
                f"prefetch key {key!r} was not sent and could not be fetched: "
                f"{describe(missing[key])}"
                for key in sorted(missing)
            ],
            causes=stats.failures,
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
    stats: PrefetchStats,
) -> None:
    """Fetch referenced resources (e.g. Medication) the client did not include."""
    present = {
        f"{r.get('resourceType')}/{r.get('id')}" for v in values.values() for r in v.resources
    }
    wanted = {
        ref
        for follow in follows
        for value in values.values()
        for ref in follow.references(value.resources)
        if _is_relative(ref, follow.target_type) and ref not in present
    }
    if not wanted or time.monotonic() >= deadline:
        return
    results = _fetch(target, {ref: ref for ref in sorted(wanted)}, settings, deadline, transport)
    failed = [r.reason for r in results.values() if isinstance(r, FhirFetchError)]
    if failed:
        # References are client data: they are counted under one fixed key, never named.
        stats.failures[REFERENCES] = failed[0]
    found = tuple(r for result in results.values() if isinstance(result, list) for r in result)
    if found:
        # Unresolvable references stay unresolved; the rules fall back to the reference display.
        values[REFERENCES] = PrefetchValue(KeyStatus.FETCHED, found)


def _is_relative(reference: str, target_type: str) -> bool:
    kind, _, rid = reference.partition("/")
    return kind == target_type and FHIR_ID_RE.match(rid) is not None
