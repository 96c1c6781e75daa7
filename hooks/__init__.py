"""The API for writing a CDS service: declare it, read its prefetch, return an assessment.

A service is a function decorated with `cds_service`; it receives a `HookCall` (validated
context, prefetch data as a `ResourceSet`, the clock and the `KnowledgeBase`) and returns an
`Assessment` (findings and the prompt that heads every card). Facts are read through the FHIR
views in `hooks.fhirviews`; what a finding cites is checked with `Citations`. Everything a
service author needs is importable from here; other modules are internal.
"""

from __future__ import annotations

from hooks.citations import Citations, Projections
from hooks.contexts import HOOKS, HookContext, HookDefinition, PatientViewContext
from hooks.fhirdata import KeyStatus, PrefetchValue, ResourceSet, Unreadable
from hooks.findings import (
    Assessment,
    CodeRef,
    Evidence,
    Family,
    Finding,
    FindingStatus,
    Prompt,
    ResourceRef,
    Severity,
)
from hooks.knowledge import KnowledgeBase, KnowledgeError, load_knowledge
from hooks.knowledge.schema import RuleState
from hooks.registry import (
    HookCall,
    Prefetch,
    ReferenceFollow,
    Registry,
    RegistryError,
    ServiceSpec,
    cds_service,
)
from hooks.types import JsonObject

__all__ = [
    "HOOKS",
    "Assessment",
    "Citations",
    "CodeRef",
    "Evidence",
    "Family",
    "Finding",
    "FindingStatus",
    "HookCall",
    "HookContext",
    "HookDefinition",
    "JsonObject",
    "KeyStatus",
    "KnowledgeBase",
    "KnowledgeError",
    "PatientViewContext",
    "Prefetch",
    "PrefetchValue",
    "Projections",
    "Prompt",
    "ReferenceFollow",
    "Registry",
    "RegistryError",
    "ResourceRef",
    "ResourceSet",
    "RuleState",
    "ServiceSpec",
    "Severity",
    "Unreadable",
    "cds_service",
    "load_knowledge",
]
