"""Declarative service registration (after HAPI's `@CdsService`): one decorator per service.

The HTTP layer builds discovery and dispatch only from `ServiceSpec`s; it never names a service.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from hooks.contexts import HOOKS, HookContext, HookDefinition
from hooks.fhirdata import ResourceSet
from hooks.findings import Assessment
from hooks.knowledge import KnowledgeBase
from hooks.knowledge.checks import Implementation, check_catalogue
from hooks.knowledge.schema import RuleState
from hooks.types import JsonObject

C = TypeVar("C", bound=HookContext)
TOKEN = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
SERVICE_ID = re.compile(r"^[a-z0-9][a-z0-9\-]{0,62}$")

QueryTemplate = str | Callable[[KnowledgeBase], str]


class RegistryError(ValueError):
    """A service declaration is invalid; raised at start-up, never per request."""


@dataclass(frozen=True, slots=True)
class Prefetch:
    """One prefetch template.

    `query` may be a function of the knowledge base, so code lists come from the
    knowledge data and cannot drift from the rules. A required key that cannot be had
    makes the call fail with 412; an optional one is reported as unavailable.
    """

    query: QueryTemplate
    required: bool = True

    def render(self, knowledge: KnowledgeBase) -> str:
        """The concrete template string, tokens still in place."""
        return self.query(knowledge) if callable(self.query) else self.query


@dataclass(frozen=True, slots=True)
class ReferenceFollow:
    """A reference element to resolve after prefetch, e.g. MedicationRequest.medicationReference."""

    resource_type: str
    element: str
    target_type: str

    def references(self, resources: Iterable[JsonObject]) -> Iterator[str]:
        """The reference texts this element holds in `resources`, as written.

        Client data: an element or reference of the wrong JSON type is passed over.
        """
        for resource in resources:
            if resource.get("resourceType") != self.resource_type:
                continue
            value = resource.get(self.element)
            text = value.get("reference") if isinstance(value, dict) else None
            if isinstance(text, str):
                yield text


@dataclass(frozen=True, slots=True)
class HookCall(Generic[C]):
    """What a service handler receives: validated context, resolved data and the clock.

    `rule_states`: each of the service's rules' run-time state (rule id -> on/shadow/off);
    None means the states the knowledge ships. An off rule must not be computed; a shadow
    rule's findings are withheld by the caller, so they must not displace a shown finding.
    """

    service_id: str
    hook: str
    hook_instance: str
    context: C
    data: ResourceSet
    as_of: datetime
    knowledge: KnowledgeBase
    rule_states: Mapping[str, RuleState] | None = None

    def states(self) -> Mapping[str, RuleState]:
        """The run-time states, defaulting to the knowledge's."""
        if self.rule_states is not None:
            return self.rule_states
        return self.knowledge.default_states(self.service_id)


Handler = Callable[[HookCall[Any]], Assessment]


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """A declared CDS service; callable as its handler."""

    id: str
    hook: str
    title: str
    description: str
    handler: Handler
    prefetch: Mapping[str, Prefetch] = field(default_factory=dict)
    usage_requirements: str | None = None
    follow: tuple[ReferenceFollow, ...] = ()
    rules: Mapping[str, Implementation] = field(default_factory=dict)

    @property
    def definition(self) -> HookDefinition:
        """The hook this service listens on."""
        return HOOKS[self.hook]

    def templates(self, knowledge: KnowledgeBase) -> dict[str, str]:
        """Prefetch templates as advertised in discovery."""
        return {key: p.render(knowledge) for key, p in self.prefetch.items()}

    def __call__(self, call: HookCall[Any]) -> Assessment:
        """Run the handler."""
        return self.handler(call)


def cds_service(
    *,
    id: str,
    hook: str,
    title: str,
    description: str,
    prefetch: Mapping[str, Prefetch] | None = None,
    usage_requirements: str | None = None,
    follow: Iterable[ReferenceFollow] = (),
    rules: Mapping[str, Implementation] | None = None,
) -> Callable[[Handler], ServiceSpec]:
    """Declare a CDS service; validated here so a bad declaration fails at import.

    `rules` is the service's rule catalogue: rule id -> implementation. The registry checks it
    against the knowledge's rules for this service id (`RuleDef.service`).
    """

    def wrap(handler: Handler) -> ServiceSpec:
        spec = ServiceSpec(
            id=id,
            hook=hook,
            title=title,
            description=description,
            handler=handler,
            prefetch=dict(prefetch or {}),
            usage_requirements=usage_requirements,
            follow=tuple(follow),
            rules=dict(rules or {}),
        )
        _check_declaration(spec)
        return spec

    return wrap


def _check_declaration(spec: ServiceSpec) -> None:
    if not SERVICE_ID.match(spec.id):
        raise RegistryError(f"service id {spec.id!r} is not a lowercase URL segment")
    if spec.hook not in HOOKS:
        raise RegistryError(f"service {spec.id!r}: unknown hook {spec.hook!r}")
    if not spec.description.strip():
        raise RegistryError(f"service {spec.id!r}: description is required")


def check_tokens(spec: ServiceSpec, knowledge: KnowledgeBase) -> None:
    """Every template token must be one the hook allows (CDS Hooks 2.0 §Prefetch tokens)."""
    allowed = spec.definition.tokens
    for key, template in spec.templates(knowledge).items():
        for token in TOKEN.findall(template):
            if token not in allowed:
                raise RegistryError(f"service {spec.id!r} prefetch {key!r}: token {token!r}")


class Registry:
    """The services this server hosts, fixed at start-up; discovery order is by id.

    Building one checks every service: its prefetch tokens, and its rule catalogue against the
    knowledge (a KnowledgeError names the rule). Rules of services not hosted are left alone.
    """

    def __init__(self, services: Iterable[ServiceSpec], knowledge: KnowledgeBase) -> None:
        self._services: dict[str, ServiceSpec] = {}
        for spec in services:
            if spec.id in self._services:
                # HAPI logs and skips or overwrites; for clinical services that hides a bug.
                raise RegistryError(f"duplicate service id {spec.id!r}")
            check_tokens(spec, knowledge)
            check_catalogue(knowledge, spec.id, spec.rules)
            self._services[spec.id] = spec
        self.knowledge = knowledge

    def get(self, service_id: str) -> ServiceSpec | None:
        """The service with this id, if hosted."""
        return self._services.get(service_id)

    def __iter__(self) -> Iterator[ServiceSpec]:
        return iter(sorted(self._services.values(), key=lambda s: s.id))

    def __len__(self) -> int:
        return len(self._services)
