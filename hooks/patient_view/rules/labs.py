"""Family B: electrolytes and nutrients, low and high (B0-B9).

Lab cards fire only on a specific trigger (AFP 2012, erratum 2): an abnormal result, kidney
disease, or a rise in creatinine. The newest usable result decides; a newer unusable one is
named as a caveat, and one that is the only result gives a listed-only "no conclusion". Grading,
recency, replacement safety and escalation are shared with A1b (`rules/electrolytes.py`).
"""

from __future__ import annotations

from dataclasses import replace

from hooks.findings import Finding, FindingStatus, Severity
from hooks.patient_view.facts import LabResult
from hooks.patient_view.facts.units import format_number
from hooks.patient_view.rules.calcium import (
    CalciumKind,
    CalciumReading,
    calcium_evidence,
    calcium_label,
    calcium_parts,
    grade_calcium,
    read_calcium,
)
from hooks.patient_view.rules.context import RuleContext, RuleImpl
from hooks.patient_view.rules.electrolytes import (
    Judged,
    Shown,
    actionable,
    electrolyte_finding,
    judge,
    latest,
    reason_code,
    unusable_only,
)
from hooks.patient_view.rules.evidence import (
    age_words,
    condition_evidence,
    lab_evidence,
    no_conclusion,
    sentence_case,
    usable_within,
    value_parts,
)
from hooks.patient_view.rules.exposure import (
    continuous_start,
    drug_evidence,
    drug_names,
    exposures,
)
from hooks.patient_view.rules.grading import (
    Side,
    Verdict,
    crosses_any,
    grade_result,
    uln_multiple,
)


def _electrolyte(
    ctx: RuleContext, analyte: str, side: Side, extra: str | None = None
) -> list[Finding]:
    """The shared shape of B1, B1h, B2, B2h, B4 and B4h.

    An unusable result is listed once, by the low-side rule, not by both twins.
    """
    judged = judge(ctx, analyte, side)
    if judged is None:
        return unusable_only(ctx, analyte) if side is Side.LOW else []
    finding = electrolyte_finding(ctx, judged, ctx.rule.templates[0], extra=extra)
    return [finding] if finding is not None else []


def no_recent_electrolytes(ctx: RuleContext) -> list[Finding]:
    """B0: no usable K, Mg or Ca in window_days and no drug trigger (disabled: AFP 2012)."""
    if exposures(ctx, ctx.rule.inputs.drug_classes) or not ctx.facts.labs.complete:
        return []
    window = ctx.days("window_days")
    if any(usable_within(ctx, analyte, window) for analyte in ctx.rule.inputs.labs):
        return []
    return [ctx.finding("B0")]


def low_potassium(ctx: RuleContext) -> list[Finding]:
    """B1: low potassium; critical below the critical limits or with an escalating context."""
    return _electrolyte(ctx, "potassium", Side.LOW)


def high_potassium(ctx: RuleContext) -> list[Finding]:
    """B1h: high potassium (adults >= 5.5, critical >= 6.0 mmol/L, UKKA); names likely drugs."""
    return _electrolyte(ctx, "potassium", Side.HIGH)


def low_magnesium(ctx: RuleContext) -> list[Finding]:
    """B2: low magnesium; on a PPI the card says to consider stopping or switching it."""
    ppi = exposures(ctx, ctx.names("ppi_classes"))
    return _electrolyte(ctx, "magnesium", Side.LOW, "ppi" if ppi else None)


def high_magnesium(ctx: RuleContext) -> list[Finding]:
    """B2h: high magnesium (adults > 1.10 mmol/L; critical > 2.02 without a laboratory flag)."""
    return _electrolyte(ctx, "magnesium", Side.HIGH)


def low_sodium(ctx: RuleContext) -> list[Finding]:
    """B4: low sodium; the summary names a thiazide only when one is current."""
    return _electrolyte(ctx, "sodium", Side.LOW)


def high_sodium(ctx: RuleContext) -> list[Finding]:
    """B4h: high sodium (adults > 145; critical > 158 mmol/L without a laboratory flag)."""
    return _electrolyte(ctx, "sodium", Side.HIGH)


def _calcium(ctx: RuleContext, side: Side) -> list[Finding]:
    reading = read_calcium(ctx)
    if reading is None:
        return []
    if reading.kind is CalciumKind.UNUSABLE:
        return [no_conclusion(ctx, reading.result)] if side is Side.LOW else []
    if reading.kind is CalciumKind.NO_ALBUMIN and side is Side.LOW:
        return []  # B3b's: a low total without albumin cannot confirm hypocalcaemia
    grade_ = grade_calcium(ctx, reading, side)
    judged = Judged(reading.result, grade_, side, actionable(ctx, reading.result), reading.value)
    caveats = []
    if reading.kind is CalciumKind.CORRECTED and ctx.facts.conditions.active_in("ckd"):
        caveats.append(ctx.say("ca_ckd"))
    shown = Shown(
        label=calcium_label(ctx, reading),
        parts=calcium_parts(reading),
        evidence=tuple(calcium_evidence(ctx, reading, grade_)),
    )
    finding = electrolyte_finding(ctx, judged, ctx.rule.templates[0], shown=shown)
    if finding is None:
        return []
    return [_with_caveats(finding, caveats)]


def _with_caveats(finding: Finding, caveats: list[str]) -> Finding:
    return replace(finding, caveats=(*finding.caveats, *caveats)) if caveats else finding


def low_calcium(ctx: RuleContext) -> list[Finding]:
    """B3: low ionized, laboratory-corrected or albumin-corrected calcium."""
    return _calcium(ctx, Side.LOW)


def high_calcium(ctx: RuleContext) -> list[Finding]:
    """B3h: high calcium (adults > 10.4 mg/dL; critical > 12.9 or >= 14 mg/dL); names drugs."""
    return _calcium(ctx, Side.HIGH)


def low_calcium_without_albumin(ctx: RuleContext) -> list[Finding]:
    """B3b: low total calcium with neither albumin nor ionized calcium within the window."""
    reading = read_calcium(ctx)
    if reading is None or reading.kind is not CalciumKind.NO_ALBUMIN:
        return []
    grade_ = grade_calcium(ctx, reading, Side.LOW)
    if grade_.verdict is Verdict.NORMAL:
        return []
    judged = Judged(reading.result, grade_, Side.LOW, actionable(ctx, reading.result))
    if grade_.critical or grade_.verdict is Verdict.UNGRADED:
        return _critical_total(ctx, judged, reading)
    return [
        ctx.finding(
            "B3b" if judged.actionable else "B3b-stale",
            severity=Severity.INFO,
            values={**value_parts(reading.result), "age": age_words(ctx, reading.result.when)},
            evidence=[lab_evidence(ctx, reading.result, grade_.limit, grade_.citation)],
            subject=(reading.result.analyte, reading.result.ref.id),
        )
    ]


def _critical_total(ctx: RuleContext, judged: Judged, reading: CalciumReading) -> list[Finding]:
    """A critical (or ungraded) total calcium is shown as such even without albumin."""
    shown = Shown(label=calcium_label(ctx, reading), parts=calcium_parts(reading))
    finding = electrolyte_finding(ctx, judged, "B3b", shown=shown)
    return [finding] if finding is not None else []


def low_vitamin_d(ctx: RuleContext) -> list[Finding]:
    """B5: low 25-OH vitamin D.

    No repletion advice while treatment is current (or started after the result), and none on
    a result older than its act window.
    """
    judged = judge(ctx, "vitamin_d_25oh", Side.LOW)
    if judged is None:
        return unusable_only(ctx, "vitamin_d_25oh")
    if judged.grade.verdict is Verdict.NORMAL:
        return []
    treatment = exposures(ctx, ctx.names("treatment_classes"))
    result = judged.result
    if treatment and judged.grade.verdict is Verdict.ABNORMAL:
        started_after = [
            e
            for e in treatment
            if (start := continuous_start(ctx, e.use)) is not None and start > result.when
        ]
        variant = "B5-predates" if started_after else "B5-treated"
        return [
            ctx.finding(
                variant,
                severity=Severity.INFO,
                values={**value_parts(result), "age": age_words(ctx, result.when)},
                items={"drug": drug_names(treatment)},
                evidence=[
                    lab_evidence(ctx, result, judged.grade.limit, judged.grade.citation),
                    *(drug_evidence(ctx, e) for e in treatment),
                ],
                orders=(),
                subject=("vitamin_d_25oh", result.ref.id),
            )
        ]
    severe = result.measure is not None and crosses_any(
        ctx, "vitamin_d_25oh", "severe_low", result.measure
    )
    base = electrolyte_finding(ctx, judged, "B5")
    if base is None or not judged.actionable or base.status is FindingStatus.UNGRADED:
        return [base] if base is not None else []
    return [replace(base, severity=Severity.WARNING if severe else Severity.INFO)]


def _ck_severity(ctx: RuleContext, times: float) -> Severity:
    if times > ctx.number("critical_x_uln"):
        return Severity.CRITICAL
    if times > ctx.number("warning_x_uln"):
        return Severity.WARNING
    return Severity.INFO


def raised_ck(ctx: RuleContext) -> list[Finding]:
    """B6: CK above the upper limit: info > 1x, warning > 5x, critical > 10x (erratum 10).

    Above the critical multiple: assess for rhabdomyolysis today (creatinine, potassium,
    urinalysis, repeat CK); an older result only asks for a recheck.
    """
    result = latest(ctx, "ck")
    if result is None:
        return unusable_only(ctx, "ck")
    measure = result.measure
    if measure is None:
        return [no_conclusion(ctx, result)]
    multiple = uln_multiple(ctx, "ck", measure, result.high)
    if multiple is None:
        return _ck_ungraded(ctx, result)
    if multiple.times <= 1:
        return []
    fresh = actionable(ctx, result)
    severity = _ck_severity(ctx, multiple.times) if fresh else Severity.INFO
    template = "B6" if fresh else "B6-stale"
    if severity is Severity.CRITICAL:
        template = "B6-critical"
    return [
        ctx.finding(
            template,
            severity=severity,
            values={
                **value_parts(result),
                "n": format_number(round(multiple.times, 1)),
                "age": age_words(ctx, result.when),
            },
            evidence=[lab_evidence(ctx, result, multiple.limit, multiple.citation)],
            orders=None if fresh else ("ck",),
            subject=("ck", result.ref.id),
            reason=reason_code(ctx, "ck", Side.HIGH) if severity is Severity.CRITICAL else None,
        )
    ]


def _ck_ungraded(ctx: RuleContext, result: LabResult) -> list[Finding]:
    """No laboratory range and no default for the patient's age: shown only if above adults'."""
    measure = result.measure
    assert measure is not None
    adult = ctx.kb.analyte("ck").thresholds.get("uln", ())
    limit = next((t for t in adult if t.usable and t.sex is None), None)
    if limit is None or measure.value <= limit.values.get(measure.unit, float("inf")):
        return []
    line = ctx.say(
        "ungraded_line",
        limit=f"{format_number(limit.values[measure.unit])} {measure.unit}",
        reason=ctx.say(f"ungraded_{ctx.facts.demographics.age_band}"),
    )
    return [
        ctx.finding(
            "ungraded",
            severity=Severity.INFO,
            status=FindingStatus.UNGRADED,
            values={**value_parts(result), "age": age_words(ctx, result.when)},
            items={"analyte": (sentence_case(ctx.kb.analyte("ck").display),)},
            evidence=[lab_evidence(ctx, result, line)],
            orders=(),
            subject=("ck", result.ref.id),
        )
    ]


def ck_raised(ctx: RuleContext, days: int) -> LabResult | None:
    """A usable CK within `days` above its upper limit (for B7 and the statin rules)."""
    ck = usable_within(ctx, "ck", days)
    if ck is None or ck.measure is None:
        return None
    multiple = uln_multiple(ctx, "ck", ck.measure, ck.high)
    return ck if multiple is not None and multiple.times > 1 else None


def abnormal_tsh(ctx: RuleContext) -> list[Finding]:
    """B7: TSH above or below the laboratory range (or its flags); warning with a raised CK."""
    result = latest(ctx, "tsh")
    if result is None:
        return unusable_only(ctx, "tsh")
    high, low = grade_result(ctx, result, Side.HIGH), grade_result(ctx, result, Side.LOW)
    if high is None or low is None:
        return [no_conclusion(ctx, result)]
    crossed = high if high.abnormal else low if low.abnormal else None
    if crossed is None:
        odd = high if high.verdict is Verdict.UNGRADED else low
        if odd.verdict is not Verdict.UNGRADED:
            return []
        judged = Judged(result, odd, Side.HIGH, actionable(ctx, result))
        finding = electrolyte_finding(ctx, judged, "B7")
        return [finding] if finding is not None else []
    ck = ck_raised(ctx, ctx.days("ck_lookback_days"))
    evidence = [lab_evidence(ctx, result, crossed.limit, crossed.citation)]
    if ck is not None:
        evidence.append(lab_evidence(ctx, ck))
    fresh = actionable(ctx, result)
    severity = Severity.INFO if not fresh else Severity.WARNING if ck else ctx.rule.severity
    return [
        ctx.finding(
            "B7" if fresh else "B7-stale",
            severity=severity,
            values={**value_parts(result), "age": age_words(ctx, result.when)},
            evidence=evidence,
            subject=("tsh", result.ref.id),
        )
    ]


def chronic_kidney_disease(ctx: RuleContext) -> list[Finding]:
    """B8: eGFR below the laboratory range (adults: < 60) or an active CKD diagnosis."""
    result = latest(ctx, "egfr")
    if result is not None:
        judged = judge(ctx, "egfr", Side.LOW)
        if judged is not None and judged.grade.verdict is not Verdict.NORMAL:
            finding = electrolyte_finding(ctx, judged, "B8")
            if finding is not None:
                return [finding]
    records = ctx.facts.conditions.active_in("ckd")
    unusable = unusable_only(ctx, "egfr")
    if not records:
        return unusable
    first = records[0]
    return [
        ctx.finding(
            "B8-dx",
            values={"dx": first.label, "dx_short": ctx.kb.conditions.groups["ckd"].display},
            evidence=[condition_evidence(record) for record in records],
            caveats=[c for f in unusable for c in f.caveats],
        )
    ]


def acute_kidney_injury(ctx: RuleContext) -> list[Finding]:
    """B9: creatinine rise meeting KDIGO 2012 AKI criteria, on a recent result.

    A rise of >= rise_mg_dl within rise_hours, or >= ratio x the lowest result of the prior
    baseline_days. Stage 2-3 (>= 2x, or >= 4.0 mg/dL) is critical, stage 1 a warning.
    """
    series = [(r, r.canonical) for r in ctx.facts.labs.usable_series("creatinine")]
    if not series or not actionable(ctx, series[0][0]):
        return []
    newest, level = series[0]
    earlier = [(r, v) for r, v in series[1:] if v is not None and v > 0 and r.when < newest.when]
    if level is None or not earlier:
        return []
    hours = ctx.number("rise_hours") * 3600
    rises = [
        (r, v)
        for r, v in earlier
        if (newest.when - r.when).total_seconds() <= hours and level - v >= ctx.number("rise_mg_dl")
    ]
    baseline, lowest = min(earlier, key=lambda item: item[1] or 0.0)
    assert lowest is not None
    ratio = level / lowest
    if ratio >= ctx.number("ratio"):
        reference, reference_level = baseline, lowest
    elif rises:
        reference, reference_level = rises[0]
        assert reference_level is not None
    else:
        return []
    stage_two = ratio >= ctx.number("critical_ratio") or level >= ctx.number("critical_mg_dl")
    return [
        ctx.finding(
            "B9-critical" if stage_two else "B9",
            severity=Severity.CRITICAL if stage_two else ctx.rule.severity,
            values={**value_parts(newest), "n": format_number(round(level / reference_level, 1))},
            evidence=[lab_evidence(ctx, newest), lab_evidence(ctx, reference)],
            subject=("creatinine", newest.ref.id),
            reason=reason_code(ctx, "creatinine", Side.HIGH),
        )
    ]


LAB_RULES: dict[str, RuleImpl] = {
    "B0": RuleImpl(no_recent_electrolytes, {"window_days": int}),
    "B1": RuleImpl(low_potassium),
    "B1h": RuleImpl(high_potassium),
    "B2": RuleImpl(low_magnesium, {"ppi_classes": tuple}),
    "B2h": RuleImpl(high_magnesium),
    "B3": RuleImpl(low_calcium),
    "B3h": RuleImpl(high_calcium),
    "B3b": RuleImpl(low_calcium_without_albumin),
    "B4": RuleImpl(low_sodium),
    "B4h": RuleImpl(high_sodium),
    "B5": RuleImpl(low_vitamin_d, {"treatment_classes": tuple}),
    "B6": RuleImpl(raised_ck, {"warning_x_uln": float, "critical_x_uln": float}, (("ck", "uln"),)),
    "B7": RuleImpl(abnormal_tsh, {"ck_lookback_days": int}),
    "B8": RuleImpl(chronic_kidney_disease),
    "B9": RuleImpl(
        acute_kidney_injury,
        {
            "rise_mg_dl": float,
            "rise_hours": float,
            "ratio": float,
            "critical_ratio": float,
            "critical_mg_dl": float,
        },
    ),
}
