"""Grading one laboratory value against one side of its range, and its critical limits.

Order (addendum §1.3, §2): the laboratory's interpretation code, then its reference range, then
the default for the patient's age band (and sex). Critical: an LL/HH/AA flag, a limit that always
applies (a guideline's severe grade, children's limits), or a panic-limit fallback when the
laboratory sent no flag. No default applies under 1 year or at an unknown age: such a value is
shown ungraded, never judged. A value graded by multiples of its upper limit (CK) uses one
scale and one implementation everywhere (`UlnScale`, erratum 10).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Self

from pydantic import Strict, model_validator

from hooks.findings import Severity
from hooks.knowledge.params import Amount, Ref, RuleParams
from hooks.knowledge.schema import Analyte, Threshold
from hooks.patient_view.facts import LabResult, Measure
from hooks.patient_view.facts.units import crosses, describe, format_number, to_canonical
from hooks.patient_view.rules.context import RuleContext


class Side(StrEnum):
    """Which side of the normal range a rule looks at."""

    LOW = "low"
    HIGH = "high"


class Verdict(StrEnum):
    """Outcome of grading a value against one side of its normal range."""

    NORMAL = "normal"
    ABNORMAL = "abnormal"
    UNGRADED = "ungraded"


@dataclass(frozen=True, slots=True)
class Grade:
    """A verdict, whether it is critical, and the limits used (for the card's evidence line)."""

    verdict: Verdict
    critical: bool
    limit: str
    citation: str | None
    critical_limit: str | None = None
    critical_citation: str | None = None

    @property
    def abnormal(self) -> bool:
        """Beyond the limit used."""
        return self.verdict is Verdict.ABNORMAL


def canonical(measure: Measure, analyte: Analyte) -> float:
    """A measure in the analyte's canonical unit."""
    return to_canonical(measure.value, measure.unit, analyte)


def applicable(ctx: RuleContext, analyte_key: str, name: str) -> list[Threshold]:
    """Verified limits of this name for the patient's age band; sex-specific ones first."""
    demographics = ctx.facts.demographics
    limits = [
        t
        for t in ctx.kb.analyte(analyte_key).thresholds.get(name, ())
        if t.usable and t.applies(demographics.min_age, demographics.sex)
    ]
    specific = [t for t in limits if t.sex is not None]
    return specific or limits


def beyond_bound(value: Measure, bound: Measure, analyte: Analyte, side: Side) -> bool:
    """Below a lower bound or above an upper bound, comparing in one unit."""
    if value.unit == bound.unit:
        first, second = value.value, bound.value
    else:
        first, second = canonical(value, analyte), canonical(bound, analyte)
    return first < second if side is Side.LOW else first > second


def _basis(ctx: RuleContext, threshold: Threshold) -> str:
    if threshold.min_age >= ctx.kb.labs.adult_age_years:
        return ctx.say("basis_default")
    upper = str(threshold.max_age) if threshold.max_age is not None else "+"
    return ctx.say("basis_child_default", ages=f"{threshold.min_age}-{upper}")


def _line(ctx: RuleContext, threshold: Threshold, value: Measure, analyte: Analyte) -> str:
    limit = describe(threshold, value.unit, analyte)
    return ctx.say("threshold_line", limit=limit, basis=_basis(ctx, threshold))


@dataclass(frozen=True, slots=True)
class _Call:
    """What the laboratory's flags say about one side: abnormal, normal or nothing."""

    abnormal: bool | None
    critical: bool
    codes: frozenset[str]


def _flags(ctx: RuleContext, codes: frozenset[str], side: Side, directional: bool | None) -> _Call:
    """Read interpretation codes; A/AA need `directional` (the range's or default's answer)."""
    table = ctx.kb.labs.interpretation
    known = codes & {*table.low, *table.high, *table.abnormal, *table.normal}
    if not known:
        return _Call(None, False, frozenset())
    same_side = set(table.low if side is Side.LOW else table.high)
    critical = bool(known & set(table.critical))
    if known & same_side:
        return _Call(True, critical, known)
    if known & set(table.abnormal) and directional:
        return _Call(True, critical, known)
    return _Call(False, False, known)


def _default_verdict(
    ctx: RuleContext, analyte_key: str, value: Measure, side: Side
) -> tuple[Verdict, str, str | None]:
    """The age-band default, or UNGRADED with the reason when no default applies."""
    analyte = ctx.kb.analyte(analyte_key)
    limits = applicable(ctx, analyte_key, side.value)
    if limits:
        threshold = limits[0]
        crossed = crosses(value.value, value.unit, threshold, analyte)
        verdict = Verdict.ABNORMAL if crossed else Verdict.NORMAL
        return verdict, _line(ctx, threshold, value, analyte), _citation(threshold)
    adult = [t for t in analyte.thresholds.get(side.value, ()) if t.usable and t.min_age >= 18]
    if not adult or not crosses(value.value, value.unit, adult[0], analyte):
        return Verdict.NORMAL, "", None
    limit = describe(adult[0], value.unit, analyte)
    reason = ctx.say(f"ungraded_{ctx.facts.demographics.age_band}")
    return Verdict.UNGRADED, ctx.say("ungraded_line", limit=limit, reason=reason), None


def _citation(threshold: Threshold) -> str | None:
    return threshold.sources[0] if threshold.sources else None


def grade(
    ctx: RuleContext,
    analyte_key: str,
    value: Measure,
    side: Side,
    *,
    bound: Measure | None = None,
    interpretation: frozenset[str] = frozenset(),
) -> Grade:
    """Grade `value` on one side; `bound` is the laboratory's limit on that side, if any."""
    analyte = ctx.kb.analyte(analyte_key)
    if bound is not None:
        directional = beyond_bound(value, bound, analyte, side)
        symbol = "<" if side is Side.LOW else ">"
        range_line = ctx.say(
            "threshold_line",
            limit=f"{symbol} {format_number(bound.value)} {bound.unit}",
            basis=ctx.say("basis_range"),
        )
        verdict = Verdict.ABNORMAL if directional else Verdict.NORMAL
        limit, citation = range_line, None
    else:
        verdict, limit, citation = _default_verdict(ctx, analyte_key, value, side)
        directional = verdict is Verdict.ABNORMAL
    call = _flags(ctx, interpretation, side, directional)
    if call.abnormal is not None:
        verdict = Verdict.ABNORMAL if call.abnormal else Verdict.NORMAL
        codes = "/".join(sorted(call.codes))
        limit = ctx.say("basis_interpretation", codes=codes) + (f"; {limit}" if limit else "")
    return _critical(ctx, analyte_key, value, side, verdict, limit, citation, call)


def _critical(
    ctx: RuleContext,
    analyte_key: str,
    value: Measure,
    side: Side,
    verdict: Verdict,
    limit: str,
    citation: str | None,
    call: _Call,
) -> Grade:
    """Add criticality: the laboratory's LL/HH/AA, or a crossed critical limit for the age band.

    A limit that always applies also overrides a laboratory "normal" flag: a potassium of 2.3
    flagged N is a contradiction the clinician must see, not a reassurance.
    """
    analyte = ctx.kb.analyte(analyte_key)
    if call.critical and verdict is Verdict.ABNORMAL:
        return Grade(verdict, True, limit, citation)
    flagged = call.abnormal is not None
    crossed = [
        t
        for t in applicable(ctx, analyte_key, f"critical_{side.value}")
        if not (t.without_interpretation and flagged)
        and crosses(value.value, value.unit, t, analyte)
    ]
    if not crossed:
        return Grade(verdict, False, limit, citation)
    threshold = crossed[0]
    critical_line = ctx.say("critical_line", line=_line(ctx, threshold, value, analyte))
    return Grade(
        Verdict.ABNORMAL,
        True,
        limit or critical_line,
        citation,
        critical_line,
        _citation(threshold),
    )


def crosses_any(ctx: RuleContext, analyte_key: str, name: str, value: Measure) -> Threshold | None:
    """The first applicable limit of this name that the value crosses (e.g. escalate_low)."""
    analyte = ctx.kb.analyte(analyte_key)
    return next(
        (
            t
            for t in applicable(ctx, analyte_key, name)
            if crosses(value.value, value.unit, t, analyte)
        ),
        None,
    )


def grade_result(ctx: RuleContext, result: LabResult, side: Side) -> Grade | None:
    """Grade a usable result against its own range bound and flags; None if unusable."""
    measure = result.measure
    if not result.usable or measure is None:
        return None
    bound = result.low if side is Side.LOW else result.high
    return grade(
        ctx, result.analyte, measure, side, bound=bound, interpretation=result.interpretation
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
    """Value / ULN: the laboratory's upper limit, else the default for the age band and sex."""
    analyte = ctx.kb.analyte(analyte_key)
    defaults: Sequence[Threshold] = applicable(ctx, analyte_key, "uln")
    if high is not None:
        basis, uln, citation = ctx.say("basis_range"), canonical(high, analyte), None
    elif defaults:
        threshold = defaults[0]
        uln = threshold.values[analyte.canonical_unit]
        citation = _citation(threshold)
        basis = (
            ctx.say("basis_default_sex", sex=threshold.sex)
            if threshold.sex
            else _basis(ctx, threshold)
        )
    else:
        return None
    limit = f"{format_number(uln)} {analyte.canonical_unit}"
    return UlnMultiple(
        canonical(value, analyte) / uln,
        ctx.say("uln_line", limit=limit, basis=basis),
        citation,
    )


# An analyte graded by multiples of its upper limit must define a "uln" default (labs.yaml).
UlnAnalyte = Annotated[str, Strict(), Ref("analyte", ("uln",))]


class UlnScale(RuleParams):
    """Grading by multiples of the upper limit: above 1x info, then warning, then critical.

    Shared by every rule that grades this way (A3, B6), so they cannot drift apart.
    """

    analyte: UlnAnalyte
    warning_x_uln: Amount
    critical_x_uln: Amount

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if not 1 <= self.warning_x_uln <= self.critical_x_uln:
            raise ValueError("needs 1 <= warning_x_uln <= critical_x_uln")
        return self


def uln_severity(scale: UlnScale, times: float) -> Severity | None:
    """None at or below the upper limit; above it info, warning or critical by the scale."""
    if times <= 1:
        return None
    if times > scale.critical_x_uln:
        return Severity.CRITICAL
    if times > scale.warning_x_uln:
        return Severity.WARNING
    return Severity.INFO
