"""Which calcium value to judge (reference §3.2).

Ionized calcium if measured within the albumin window of (or after) the latest total; a
laboratory-corrected calcium as is; otherwise total calcium corrected for an albumin within
±max_days_apart, and only when that albumin is below the reference value. The analytes are those
labs.yaml's `calcium_correction` names.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hooks.findings import Evidence
from hooks.knowledge.schema import CalciumCorrection
from hooks.patient_view.facts import LabResult, Measure
from hooks.patient_view.facts.timing import days_between, iso_day, within
from hooks.patient_view.facts.units import format_number
from hooks.patient_view.rules.context import RuleContext
from hooks.patient_view.rules.evidence import lab_evidence, sentence_case
from hooks.patient_view.rules.grading import Grade, Side, canonical, grade


class CalciumKind(StrEnum):
    """How the judged calcium value was obtained."""

    IONIZED = "ionized"
    LAB_CORRECTED = "lab-corrected"
    CORRECTED = "corrected"
    MEASURED = "measured"
    NO_ALBUMIN = "no-albumin"
    UNUSABLE = "unusable"


@dataclass(frozen=True, slots=True)
class CalciumReading:
    """The calcium result behind a judgement, the value judged, and the albumin used."""

    kind: CalciumKind
    result: LabResult
    value: Measure
    albumin: LabResult | None = None

    @property
    def analyte(self) -> str:
        """The analyte whose thresholds apply: the result's own (ionized, total or corrected)."""
        return self.result.analyte


def _stale(ctx: RuleContext, analyte: str) -> int:
    return ctx.kb.analyte(analyte).stale_after_days


def _policy(ctx: RuleContext) -> CalciumCorrection:
    return ctx.kb.labs.calcium_correction


def _latest_total(ctx: RuleContext) -> LabResult | None:
    """The newest usable total (or laboratory-corrected) calcium, else the newest unusable one."""
    labs = ctx.facts.labs
    policy = _policy(ctx)
    found = []
    for key in (policy.total, policy.lab_corrected):
        result = labs.latest_usable(key) or labs.latest(key)
        if result is not None and within(result.when, ctx.as_of, _stale(ctx, key)):
            found.append(result)
    return max(found, key=lambda r: r.when, default=None)


def _corrected(ctx: RuleContext, total: LabResult, albumin: LabResult) -> CalciumReading:
    rule = _policy(ctx)
    ca_analyte, alb_analyte = ctx.kb.analyte(rule.total), ctx.kb.analyte(rule.albumin)
    assert total.measure is not None
    assert albumin.measure is not None
    calcium = canonical(total.measure, ca_analyte) / ca_analyte.conversions[rule.calcium_unit]
    alb = canonical(albumin.measure, alb_analyte) / alb_analyte.conversions[rule.albumin_unit]
    if alb >= rule.reference_albumin:
        return CalciumReading(
            CalciumKind.MEASURED, total, Measure(calcium, rule.calcium_unit), albumin
        )
    corrected = calcium + rule.coefficient * (rule.reference_albumin - alb)
    return CalciumReading(
        CalciumKind.CORRECTED, total, Measure(corrected, rule.calcium_unit), albumin
    )


def read_calcium(ctx: RuleContext) -> CalciumReading | None:
    """The calcium value to judge now, or None without a current result."""
    labs = ctx.facts.labs
    policy = _policy(ctx)
    window = policy.max_days_apart
    ionized = labs.current(policy.ionized, ctx.as_of, _stale(ctx, policy.ionized))
    ionized = ionized if ionized is not None and ionized.usable else None
    total = _latest_total(ctx)
    if (
        ionized is not None
        and ionized.measure is not None
        and (
            total is None
            or ionized.when > total.when
            or days_between(ionized.when, total.when) <= window
        )
    ):
        return CalciumReading(CalciumKind.IONIZED, ionized, ionized.measure)
    if total is None:
        return None
    if total.measure is None or not total.usable:
        return CalciumReading(CalciumKind.UNUSABLE, total, Measure(total.value, ""))
    if total.analyte == policy.lab_corrected:
        return CalciumReading(CalciumKind.LAB_CORRECTED, total, total.measure)
    albumin = labs.near(policy.albumin, total.when, window)
    if albumin is None:
        return CalciumReading(CalciumKind.NO_ALBUMIN, total, total.measure)
    return _corrected(ctx, total, albumin)


def grade_calcium(ctx: RuleContext, reading: CalciumReading, side: Side) -> Grade:
    """Against the laboratory range of the calcium result, else the defaults.

    The laboratory's flags describe the value it measured, so they are not applied to a value
    this service corrected for albumin.
    """
    result = reading.result
    flags = frozenset() if reading.kind is CalciumKind.CORRECTED else result.interpretation
    bound = result.low if side is Side.LOW else result.high
    return grade(ctx, reading.analyte, reading.value, side, bound=bound, interpretation=flags)


def calcium_evidence(
    ctx: RuleContext, reading: CalciumReading, result_grade: Grade
) -> list[Evidence]:
    """The calcium line (with the corrected value when corrected) and the albumin line."""
    note = None
    if reading.albumin is not None:
        key = "ca_corrected" if reading.kind is CalciumKind.CORRECTED else "ca_uncorrected"
        note = ctx.say(
            key,
            value=format_number(reading.value.value),
            unit=reading.value.unit,
            date=iso_day(reading.albumin.when),
        )
    lines = [lab_evidence(ctx, reading.result, result_grade.limit, result_grade.citation, note)]
    if reading.albumin is not None:
        lines.append(lab_evidence(ctx, reading.albumin))
    return lines


def calcium_parts(reading: CalciumReading) -> dict[str, str]:
    """{value}, {unit}, {date} of the judged value (the corrected one when corrected)."""
    if reading.kind is CalciumKind.CORRECTED:
        value, unit = format_number(reading.value.value), reading.value.unit
    else:
        value = format_number(reading.result.value)
        unit = reading.result.reported_unit or reading.value.unit
    return {"value": value, "unit": unit, "date": iso_day(reading.result.when)}


def calcium_label(ctx: RuleContext, reading: CalciumReading) -> str:
    """What was judged, as the summary names it: calcium, albumin-corrected or ionized."""
    policy = _policy(ctx)
    key = {
        CalciumKind.IONIZED: policy.ionized,
        CalciumKind.CORRECTED: policy.lab_corrected,
        CalciumKind.LAB_CORRECTED: policy.lab_corrected,
    }.get(reading.kind, policy.total)
    return sentence_case(ctx.kb.analyte(key).display)
