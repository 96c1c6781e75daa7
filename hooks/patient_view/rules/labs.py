"""Family B: electrolytes and nutrients (B0-B8).

Lab cards fire only on a specific trigger (AFP 2012, erratum 2): an abnormal current result,
or CKD. The latest valid result decides; an unusable one (unconvertible unit, bounded value)
gives a listed-only "no conclusion"; a child's result without a laboratory range is shown
ungraded, never judged against adult defaults.
"""

from __future__ import annotations

from hooks.findings import Evidence, Finding, FindingStatus, Severity
from hooks.patient_view.facts import LabResult
from hooks.patient_view.facts.units import format_number
from hooks.patient_view.rules.calcium import (
    CalciumKind,
    calcium_evidence,
    calcium_parts,
    grade_calcium,
    read_calcium,
)
from hooks.patient_view.rules.context import RuleContext, RuleImpl
from hooks.patient_view.rules.evidence import (
    condition_evidence,
    lab_evidence,
    no_conclusion,
    sentence_case,
    usable_within,
    value_parts,
)
from hooks.patient_view.rules.exposure import drug_evidence, exposures, stale_days
from hooks.patient_view.rules.grading import Grade, Verdict, grade, uln_multiple

CALCIUM_TEMPLATES = {
    CalciumKind.IONIZED: "B3-ionized",
    CalciumKind.LAB_CORRECTED: "B3",
    CalciumKind.CORRECTED: "B3",
    CalciumKind.MEASURED: "B3-measured",
}


def contributors(ctx: RuleContext, analyte: str) -> list[Evidence]:
    """Current drugs whose class depletes the analyte, named as possible contributors."""
    classes = [k for k, cls in ctx.kb.drugs.classes.items() if analyte in cls.depletes]
    note = ctx.say("contributor")
    return [
        Evidence(label=line.label, ref=line.ref, when=line.when, note=f"{note}; {line.note}")
        for line in (drug_evidence(ctx, e) for e in exposures(ctx, classes))
    ]


def ungraded(
    ctx: RuleContext, result: LabResult, verdict: Grade, parts: dict[str, str] | None = None
) -> Finding:
    """A value outside the adult range in a patient for whom adult defaults do not apply."""
    return ctx.finding(
        "ungraded",
        severity=Severity.INFO,
        status=FindingStatus.UNGRADED,
        values=parts or value_parts(result),
        items={"analyte": (sentence_case(ctx.kb.analyte(result.analyte).display),)},
        evidence=[lab_evidence(ctx, result, verdict.limit, verdict.citation)],
        orders=(),
        subject=(result.analyte, result.ref.id),
    )


def _current(ctx: RuleContext, analyte: str, days: int | None = None) -> LabResult | None:
    window = days or stale_days(ctx, analyte)
    return ctx.facts.labs.current(analyte, ctx.as_of, window)


def _low_lab(
    ctx: RuleContext,
    analyte: str,
    severe: str = "critical_low",
    severe_severity: Severity = Severity.CRITICAL,
) -> list[Finding]:
    result = _current(ctx, analyte)
    if result is None:
        return []
    if not result.usable or result.measure is None:
        return [no_conclusion(ctx, result)]
    verdict = grade(ctx, analyte, result.measure, result.low, "low", severe)
    if verdict.verdict is Verdict.UNGRADED:
        return [ungraded(ctx, result, verdict)]
    if not verdict.abnormal:
        return []
    return [
        ctx.finding(
            ctx.rule.templates[0],
            severity=severe_severity if verdict.severe else ctx.rule.severity,
            values=value_parts(result),
            evidence=[
                lab_evidence(ctx, result, verdict.limit, verdict.citation),
                *contributors(ctx, analyte),
            ],
            subject=(analyte, result.ref.id),
        )
    ]


def no_recent_electrolytes(ctx: RuleContext) -> list[Finding]:
    """B0: no usable K, Mg or Ca in window_days and no drug trigger (disabled: AFP 2012)."""
    if exposures(ctx, ctx.rule.inputs.drug_classes):
        return []
    window = ctx.days("window_days")
    if any(usable_within(ctx, analyte, window) for analyte in ctx.rule.inputs.labs):
        return []
    return [ctx.finding("B0")]


def low_potassium(ctx: RuleContext) -> list[Finding]:
    """B1: potassium below the laboratory range (adults: < 3.5, critical < 2.5 mmol/L)."""
    return _low_lab(ctx, "potassium")


def low_magnesium(ctx: RuleContext) -> list[Finding]:
    """B2: magnesium below the laboratory range (adults: < 0.70 mmol/L, critical < 0.50)."""
    return _low_lab(ctx, "magnesium")


def low_calcium(ctx: RuleContext) -> list[Finding]:
    """B3: low ionized, laboratory-corrected or albumin-corrected calcium."""
    reading = read_calcium(ctx)
    if reading is None or reading.kind is CalciumKind.NO_ALBUMIN:
        return []
    if reading.kind is CalciumKind.UNUSABLE:
        return [no_conclusion(ctx, reading.result)]
    verdict = grade_calcium(ctx, reading)
    if verdict.verdict is Verdict.UNGRADED:
        return [ungraded(ctx, reading.result, verdict, calcium_parts(reading))]
    if not verdict.abnormal:
        return []
    ckd = ctx.facts.conditions.active_in("ckd")
    caveats = [ctx.say("ca_ckd")] if ckd and reading.kind is CalciumKind.CORRECTED else []
    return [
        ctx.finding(
            CALCIUM_TEMPLATES[reading.kind],
            severity=Severity.CRITICAL if verdict.severe else ctx.rule.severity,
            values=calcium_parts(reading),
            evidence=[
                *calcium_evidence(ctx, reading, verdict),
                *contributors(ctx, "calcium_total"),
            ],
            caveats=caveats,
            subject=(reading.result.analyte, reading.result.ref.id),
        )
    ]


def low_calcium_without_albumin(ctx: RuleContext) -> list[Finding]:
    """B3b: low total calcium with neither albumin nor ionized calcium within the window."""
    reading = read_calcium(ctx)
    if reading is None or reading.kind is not CalciumKind.NO_ALBUMIN:
        return []
    verdict = grade(ctx, "calcium_total", reading.value, reading.result.low, "low")
    if verdict.verdict is Verdict.UNGRADED:
        return [ungraded(ctx, reading.result, verdict)]
    if not verdict.abnormal:
        return []
    return [
        ctx.finding(
            "B3b",
            values=value_parts(reading.result),
            evidence=[lab_evidence(ctx, reading.result, verdict.limit, verdict.citation)],
            subject=(reading.result.analyte, reading.result.ref.id),
        )
    ]


def low_sodium(ctx: RuleContext) -> list[Finding]:
    """B4: sodium below the laboratory range (adults: < 135, critical < 125 mmol/L)."""
    return _low_lab(ctx, "sodium")


def low_vitamin_d(ctx: RuleContext) -> list[Finding]:
    """B5: 25-OH vitamin D < 20 ng/mL (info), < 12 ng/mL (warning), lab range preferred."""
    return _low_lab(ctx, "vitamin_d_25oh", "severe_low", Severity.WARNING)


def _ck_severity(ctx: RuleContext, times: float) -> Severity:
    if times > ctx.number("critical_x_uln"):
        return Severity.CRITICAL
    if times > ctx.number("warning_x_uln"):
        return Severity.WARNING
    return Severity.INFO


def raised_ck(ctx: RuleContext) -> list[Finding]:
    """B6: CK above the upper limit: info > 1x, warning > 5x, critical > 10x (erratum 10)."""
    result = _current(ctx, "ck", ctx.days("lookback_days"))
    if result is None:
        return []
    if not result.usable or result.measure is None:
        return [no_conclusion(ctx, result)]
    multiple = uln_multiple(ctx, "ck", result.measure, result.high)
    if multiple is None:
        verdict = grade(ctx, "ck", result.measure, None, "uln", low_side=False)
        return [ungraded(ctx, result, verdict)] if verdict.verdict is Verdict.UNGRADED else []
    if multiple.times <= 1:
        return []
    return [
        ctx.finding(
            "B6",
            severity=_ck_severity(ctx, multiple.times),
            values={**value_parts(result), "n": format_number(round(multiple.times, 1))},
            evidence=[lab_evidence(ctx, result, multiple.limit, multiple.citation)],
            subject=("ck", result.ref.id),
        )
    ]


def _ck_raised(ctx: RuleContext) -> LabResult | None:
    ck = usable_within(ctx, "ck", ctx.days("ck_lookback_days"))
    if ck is None or ck.measure is None:
        return None
    multiple = uln_multiple(ctx, "ck", ck.measure, ck.high)
    return ck if multiple is not None and multiple.times > 1 else None


def abnormal_tsh(ctx: RuleContext) -> list[Finding]:
    """B7: TSH above or below the laboratory range (adults: > 4.5 or < 0.1 mIU/L)."""
    result = _current(ctx, "tsh")
    if result is None:
        return []
    if not result.usable or result.measure is None:
        return [no_conclusion(ctx, result)]
    high = grade(ctx, "tsh", result.measure, result.high, "high", low_side=False)
    low = grade(ctx, "tsh", result.measure, result.low, "low")
    crossed = high if high.abnormal else low if low.abnormal else None
    if crossed is None:
        odd = high if high.verdict is Verdict.UNGRADED else low
        return [ungraded(ctx, result, odd)] if odd.verdict is Verdict.UNGRADED else []
    ck = _ck_raised(ctx)
    evidence = [lab_evidence(ctx, result, crossed.limit, crossed.citation)]
    if ck is not None:
        evidence.append(lab_evidence(ctx, ck))
    return [
        ctx.finding(
            "B7",
            severity=Severity.WARNING if ck is not None else ctx.rule.severity,
            values=value_parts(result),
            evidence=evidence,
            subject=("tsh", result.ref.id),
        )
    ]


def chronic_kidney_disease(ctx: RuleContext) -> list[Finding]:
    """B8: eGFR below the laboratory range (adults: < 60) or an active CKD diagnosis."""
    result = _current(ctx, "egfr")
    unusable = result is not None and not result.usable
    if result is not None and result.usable and result.measure is not None:
        verdict = grade(ctx, "egfr", result.measure, result.low, "low")
        if verdict.abnormal:
            return [
                ctx.finding(
                    "B8",
                    values=value_parts(result),
                    evidence=[lab_evidence(ctx, result, verdict.limit, verdict.citation)],
                    subject=("egfr", result.ref.id),
                )
            ]
        if verdict.verdict is Verdict.UNGRADED:
            return [ungraded(ctx, result, verdict)]
    records = ctx.facts.conditions.active_in("ckd")
    if not records:
        return [no_conclusion(ctx, result)] if result is not None and unusable else []
    first = records[0]
    caveats = [no_conclusion(ctx, result).caveats[0]] if result is not None and unusable else []
    return [
        ctx.finding(
            "B8-dx",
            values={"dx": first.label, "dx_short": ctx.kb.conditions.groups["ckd"].display},
            evidence=[condition_evidence(record) for record in records],
            caveats=caveats,
        )
    ]


LAB_RULES: dict[str, RuleImpl] = {
    "B0": RuleImpl(no_recent_electrolytes, {"window_days": int}),
    "B1": RuleImpl(low_potassium, {}, (("potassium", "low"), ("potassium", "critical_low"))),
    "B2": RuleImpl(low_magnesium, {}, (("magnesium", "low"), ("magnesium", "critical_low"))),
    "B3": RuleImpl(
        low_calcium,
        {},
        (("calcium_total", "low"), ("calcium_corrected", "low"), ("calcium_ionized", "low")),
    ),
    "B3b": RuleImpl(low_calcium_without_albumin, {}, (("calcium_total", "low"),)),
    "B4": RuleImpl(low_sodium, {}, (("sodium", "low"), ("sodium", "critical_low"))),
    "B5": RuleImpl(
        low_vitamin_d, {}, (("vitamin_d_25oh", "low"), ("vitamin_d_25oh", "severe_low"))
    ),
    "B6": RuleImpl(
        raised_ck,
        {"lookback_days": int, "warning_x_uln": float, "critical_x_uln": float},
        (("ck", "uln"),),
    ),
    "B7": RuleImpl(abnormal_tsh, {"ck_lookback_days": int}, (("tsh", "high"), ("tsh", "low"))),
    "B8": RuleImpl(chronic_kidney_disease, {}, (("egfr", "low"),)),
}
