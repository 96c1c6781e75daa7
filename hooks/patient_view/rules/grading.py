"""Grading one laboratory value against one side of its normal range.

The laboratory's own range first, adult defaults second, and for a child (or unknown age)
without a range no grade at all (issue 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hooks.knowledge_schema import Analyte
from hooks.patient_view.facts import Measure
from hooks.patient_view.facts.units import crosses, describe, format_number, to_canonical
from hooks.patient_view.rules.context import RuleContext


class Verdict(StrEnum):
    """Outcome of grading a value against one side of its normal range."""

    NORMAL = "normal"
    ABNORMAL = "abnormal"
    UNGRADED = "ungraded"


@dataclass(frozen=True, slots=True)
class Grade:
    """A verdict, whether the severe limit was crossed, and the limit used (for the card)."""

    verdict: Verdict
    severe: bool
    limit: str
    citation: str | None

    @property
    def abnormal(self) -> bool:
        """Beyond the limit used."""
        return self.verdict is Verdict.ABNORMAL


def canonical(measure: Measure, analyte: Analyte) -> float:
    """A measure in the analyte's canonical unit."""
    return to_canonical(measure.value, measure.unit, analyte)


def beyond_bound(value: Measure, bound: Measure, analyte: Analyte, low_side: bool) -> bool:
    """Below a lower bound or above an upper bound, comparing in one unit."""
    if value.unit == bound.unit:
        first, second = value.value, bound.value
    else:
        first, second = canonical(value, analyte), canonical(bound, analyte)
    return first < second if low_side else first > second


def _severe(ctx: RuleContext, analyte: Analyte, value: Measure, severe: str | None) -> bool:
    threshold = analyte.thresholds.get(severe) if severe else None
    return (
        threshold is not None
        and ctx.facts.demographics.adult
        and crosses(value.value, value.unit, threshold, analyte)
    )


def grade(
    ctx: RuleContext,
    analyte_key: str,
    value: Measure,
    bound: Measure | None,
    default: str,
    severe: str | None = None,
    low_side: bool = True,
) -> Grade:
    """Grade `value` against the laboratory bound, else the named default threshold."""
    analyte = ctx.kb.analyte(analyte_key)
    is_severe = _severe(ctx, analyte, value, severe)
    if bound is not None:
        limit = f"{'<' if low_side else '>'} {format_number(bound.value)} {bound.unit}"
        abnormal = beyond_bound(value, bound, analyte, low_side)
        return Grade(
            Verdict.ABNORMAL if abnormal else Verdict.NORMAL,
            abnormal and is_severe,
            ctx.say("threshold_line", limit=limit, basis=ctx.say("basis_range")),
            None,
        )
    threshold = analyte.thresholds[default]
    crossed = crosses(value.value, value.unit, threshold, analyte)
    limit = describe(threshold, value.unit, analyte)
    citation = threshold.sources[0] if threshold.sources else None
    if not ctx.facts.demographics.adult:
        return Grade(
            Verdict.UNGRADED if crossed else Verdict.NORMAL,
            False,
            ctx.say("ungraded_line", limit=limit),
            citation,
        )
    return Grade(
        Verdict.ABNORMAL if crossed else Verdict.NORMAL,
        crossed and is_severe,
        ctx.say("threshold_line", limit=limit, basis=ctx.say("basis_default")),
        citation,
    )


@dataclass(frozen=True, slots=True)
class UlnMultiple:
    """A value as a multiple of its upper limit of normal."""

    times: float
    limit: str
    citation: str | None


def uln_multiple(
    ctx: RuleContext, analyte_key: str, value: Measure, high: Measure | None
) -> UlnMultiple | None:
    """Value / ULN, the ULN from the laboratory range, else (adults only) the default."""
    analyte = ctx.kb.analyte(analyte_key)
    if high is not None:
        basis, uln, citation = ctx.say("basis_range"), canonical(high, analyte), None
    elif ctx.facts.demographics.adult:
        threshold = analyte.thresholds["uln"]
        uln = threshold.values[analyte.canonical_unit]
        basis, citation = ctx.say("basis_default"), threshold.sources[0]
    else:
        return None
    limit = f"{format_number(uln)} {analyte.canonical_unit}"
    return UlnMultiple(
        canonical(value, analyte) / uln,
        ctx.say("uln_line", limit=limit, basis=basis),
        citation,
    )
