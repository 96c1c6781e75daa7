"""Unit resolution and conversion to an analyte's canonical unit (reference §3.2, erratum 6).

The UCUM code decides; the unit string is a fallback through the knowledge's aliases. A unit
the analyte does not list gives None: no conclusion, never a guessed factor.
"""

from __future__ import annotations

import operator
from collections.abc import Callable

from hooks.knowledge import KnowledgeBase
from hooks.knowledge.schema import Analyte, Threshold

COMPARE: dict[str, Callable[[float, float], bool]] = {
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}
SYMBOL = {"lt": "<", "le": "≤", "gt": ">", "ge": "≥"}


def resolve_unit(
    code: str | None, system: str | None, unit: str | None, analyte: Analyte, kb: KnowledgeBase
) -> str | None:
    """The UCUM unit of a quantity if the analyte knows it, else None."""
    if code and system == kb.systems.ucum:
        return code if code in analyte.conversions else None
    for text in (unit, code):
        if not text:
            continue
        if text in analyte.conversions:
            return text
        aliases = kb.labs.unit_aliases
        target = aliases.get(text) or _folded(kb).get(text.casefold())
        if target in analyte.conversions:
            return target
    return None


def _folded(kb: KnowledgeBase) -> dict[str, str]:
    return {alias.casefold(): target for alias, target in kb.labs.unit_aliases.items()}


def to_canonical(value: float, unit: str, analyte: Analyte) -> float:
    """Convert a value in a known unit of the analyte."""
    return value * analyte.conversions[unit]


def crosses(value: float, unit: str, threshold: Threshold, analyte: Analyte) -> bool:
    """Whether a value is beyond a threshold, in the result's own unit when the source states it."""
    compare = COMPARE[threshold.comparator]
    if unit in threshold.values:
        return compare(value, threshold.values[unit])
    canonical = to_canonical(value, unit, analyte)
    return compare(canonical, threshold.values[analyte.canonical_unit])


def describe(threshold: Threshold, unit: str, analyte: Analyte) -> str:
    """The limit as a clinician reads it, in the result's unit when the source states one."""
    shown = unit if unit in threshold.values else analyte.canonical_unit
    return f"{SYMBOL[threshold.comparator]} {format_number(threshold.values[shown])} {shown}"


def format_number(value: float) -> str:
    """At most two decimals, no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"
