"""Reading codes, text and references out of fhir.resources models, without interpreting them.

fhir.resources models are untyped for mypy, so values are checked with isinstance here and
only plain Python types leave this module.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hooks.findings import ResourceRef
from hooks.knowledge.index import normalise_text


@dataclass(frozen=True, slots=True)
class Code:
    """One coding: system, code and display (empty string when absent)."""

    system: str
    code: str
    display: str


def codes_of(concepts: Any) -> tuple[Code, ...]:
    """Codings of a CodeableConcept or a list of them."""
    found: list[Code] = []
    for concept in _as_list(concepts):
        for coding in getattr(concept, "coding", None) or ():
            system, code = getattr(coding, "system", None), getattr(coding, "code", None)
            if isinstance(system, str) and isinstance(code, str):
                display = getattr(coding, "display", None)
                found.append(Code(system, code, display if isinstance(display, str) else ""))
    return tuple(found)


def words_of(concepts: Any) -> str:
    """Text and coding displays of concepts, normalised for word matching."""
    parts: list[str] = []
    for concept in _as_list(concepts):
        text = getattr(concept, "text", None)
        if isinstance(text, str):
            parts.append(text)
        for coding in getattr(concept, "coding", None) or ():
            display = getattr(coding, "display", None)
            if isinstance(display, str):
                parts.append(display)
    return normalise_text(" ".join(parts))


def label_of(concept: Any) -> str:
    """What a clinician would call the concept: its text, else its first display, else code."""
    for candidate in _as_list(concept):
        text = getattr(candidate, "text", None)
        if isinstance(text, str) and text.strip():
            return text.strip()
        for code in codes_of(candidate):
            if code.display:
                return code.display
        for code in codes_of(candidate):
            return code.code
    return ""


def status_code(concept: Any) -> str | None:
    """The code of a status CodeableConcept (Condition clinical/verification status)."""
    for code in codes_of(concept):
        return code.code
    return None


def code_set(concepts: Any) -> set[str]:
    """Just the code values (system ignored), e.g. for category and status tests."""
    return {code.code for code in codes_of(concepts)}


def ref_of(resource: Any) -> ResourceRef:
    """Type/id reference of a parsed resource."""
    rid = getattr(resource, "id", None)
    return ResourceRef(str(resource.get_resource_type()), rid if isinstance(rid, str) else "?")


def has_system(codes: Iterable[Code], systems: Iterable[str]) -> bool:
    """Whether any coding is from one of the systems."""
    wanted = set(systems)
    return any(code.system in wanted for code in codes)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]
