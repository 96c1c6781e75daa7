"""Family B: electrolytes and nutrients, low and high (B0-B9).

Lab cards fire only on a specific trigger (AFP 2012, erratum 2): an abnormal result, kidney
disease, or a rise in creatinine. The newest usable result decides; a newer unusable one is
named as a caveat, and one that is the only result gives a listed-only "no conclusion". Grading,
recency, replacement safety and escalation are shared with A1b (`rules/electrolytes.py`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from pydantic import Strict

from hooks.findings import Finding, FindingStatus, Severity
from hooks.knowledge.params import (
    Amount,
    AnalyteKey,
    Days,
    DrugClassKey,
    GroupKey,
    NoParams,
    Ref,
    RuleParams,
)
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
    recheck_orders,
    unusable_only,
)
from hooks.patient_view.rules.evidence import (
    age_words,
    condition_evidence,
    lab_evidence,
    newer_caveats,
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
    UlnAnalyte,
    UlnScale,
    Verdict,
    crosses_any,
    grade_result,
    uln_multiple,
    uln_severity,
)


class AnalyteParams(RuleParams):
    """A rule about one analyte's latest result."""

    analyte: AnalyteKey


class B0Params(RuleParams):
    """B0: how recent an electrolyte must be."""

    window_days: Days


class B2Params(AnalyteParams):
    """B2: the drug classes that make a low magnesium a PPI card (B2-ppi)."""

    ppi_classes: tuple[DrugClassKey, ...]


class CalciumParams(RuleParams):
    """B3, B3h: the condition that makes the albumin correction unreliable (CKD)."""

    correction_unreliable: GroupKey


# B5 grades a low vitamin D as severe below the analyte's `severe_low` limit.
SevereLowAnalyte = Annotated[str, Strict(), Ref("analyte", ("severe_low",))]


class B5Params(RuleParams):
    """B5: vitamin D, and the classes that mean treatment is already current."""

    analyte: SevereLowAnalyte
    treatment_classes: tuple[DrugClassKey, ...]


class B6Params(RuleParams):
    """B6: CK graded by multiples of its upper limit (one scale with A3)."""

    uln_grading: UlnScale


class B7Params(AnalyteParams):
    """B7: TSH, and a CK above its upper limit within ck_lookback_days (warning)."""

    ck: UlnAnalyte
    ck_lookback_days: Days


class B8Params(AnalyteParams):
    """B8: eGFR, and the diagnosis group that also means CKD."""

    group: GroupKey


class B9Params(AnalyteParams):
    """B9: creatinine and the KDIGO 2012 criteria (mg/dL, hours, ratios)."""

    rise_mg_dl: Amount
    rise_hours: Amount
    ratio: Amount
    critical_ratio: Amount
    critical_mg_dl: Amount


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


def no_recent_electrolytes(ctx: RuleContext, p: B0Params) -> list[Finding]:
    """B0: no usable K, Mg or Ca in window_days and no drug trigger (disabled: AFP 2012)."""
    if exposures(ctx, ctx.rule.inputs.drug_classes) or not ctx.facts.labs.complete:
        return []
    window = p.window_days
    if any(usable_within(ctx, analyte, window) for analyte in ctx.rule.inputs.labs):
        return []
    return [ctx.finding("B0")]


def low_potassium(ctx: RuleContext, p: AnalyteParams) -> list[Finding]:
    """B1: low potassium; critical below the critical limits or with an escalating context."""
    return _electrolyte(ctx, p.analyte, Side.LOW)


def high_potassium(ctx: RuleContext, p: AnalyteParams) -> list[Finding]:
    """B1h: high potassium (adults >= 5.5, critical >= 6.0 mmol/L, UKKA); names likely drugs."""
    return _electrolyte(ctx, p.analyte, Side.HIGH)


def low_magnesium(ctx: RuleContext, p: B2Params) -> list[Finding]:
    """B2: low magnesium; on a PPI the card says to consider stopping or switching it."""
    ppi = exposures(ctx, p.ppi_classes)
    return _electrolyte(ctx, p.analyte, Side.LOW, "B2-ppi" if ppi else None)


def high_magnesium(ctx: RuleContext, p: AnalyteParams) -> list[Finding]:
    """B2h: high magnesium (adults > 1.10 mmol/L; critical > 2.02 without a laboratory flag)."""
    return _electrolyte(ctx, p.analyte, Side.HIGH)


def low_sodium(ctx: RuleContext, p: AnalyteParams) -> list[Finding]:
    """B4: low sodium; the summary names a thiazide only when one is current."""
    return _electrolyte(ctx, p.analyte, Side.LOW)


def high_sodium(ctx: RuleContext, p: AnalyteParams) -> list[Finding]:
    """B4h: high sodium (adults > 145; critical > 158 mmol/L without a laboratory flag)."""
    return _electrolyte(ctx, p.analyte, Side.HIGH)


def _calcium(ctx: RuleContext, p: CalciumParams, side: Side) -> list[Finding]:
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
    unreliable = ctx.facts.conditions.active_in(p.correction_unreliable)
    if reading.kind is CalciumKind.CORRECTED and unreliable:
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


def low_calcium(ctx: RuleContext, p: CalciumParams) -> list[Finding]:
    """B3: low ionized, laboratory-corrected or albumin-corrected calcium."""
    return _calcium(ctx, p, Side.LOW)


def high_calcium(ctx: RuleContext, p: CalciumParams) -> list[Finding]:
    """B3h: high calcium (adults > 10.4 mg/dL; critical > 12.9 or >= 14 mg/dL); names drugs."""
    return _calcium(ctx, p, Side.HIGH)


def low_calcium_without_albumin(ctx: RuleContext, _: NoParams) -> list[Finding]:
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


def low_vitamin_d(ctx: RuleContext, p: B5Params) -> list[Finding]:
    """B5: low 25-OH vitamin D.

    No repletion advice while treatment is current (or started after the result), and none on
    a result older than its act window.
    """
    judged = judge(ctx, p.analyte, Side.LOW)
    if judged is None:
        return unusable_only(ctx, p.analyte)
    if judged.grade.verdict is Verdict.NORMAL:
        return []
    treatment = exposures(ctx, p.treatment_classes)
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
                subject=(p.analyte, result.ref.id),
            )
        ]
    severe = result.measure is not None and crosses_any(
        ctx, p.analyte, "severe_low", result.measure
    )
    base = electrolyte_finding(ctx, judged, "B5")
    if base is None or not judged.actionable or base.status is FindingStatus.UNGRADED:
        return [base] if base is not None else []
    return [replace(base, severity=Severity.WARNING if severe else Severity.INFO)]


def raised_ck(ctx: RuleContext, p: B6Params) -> list[Finding]:
    """B6: CK above the upper limit: info > 1x, warning > 5x, critical > 10x (erratum 10).

    Above the critical multiple: assess for rhabdomyolysis today (creatinine, potassium,
    urinalysis, repeat CK); an older result only asks for a recheck.
    """
    scale = p.uln_grading
    result = latest(ctx, scale.analyte)
    if result is None:
        return unusable_only(ctx, scale.analyte)
    measure = result.measure
    if measure is None:
        return [no_conclusion(ctx, result)]
    multiple = uln_multiple(ctx, scale.analyte, measure, result.high)
    if multiple is None:
        return _ck_ungraded(ctx, result)
    graded = uln_severity(scale, multiple.times)
    if graded is None:
        return []
    fresh = actionable(ctx, result)
    severity = graded if fresh else Severity.INFO
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
            caveats=newer_caveats(ctx, result),
            orders=None if fresh else recheck_orders(ctx, result.analyte),
            subject=(result.analyte, result.ref.id),
            reason=reason_code(ctx, result.analyte, Side.HIGH)
            if severity is Severity.CRITICAL
            else None,
        )
    ]


def _ck_ungraded(ctx: RuleContext, result: LabResult) -> list[Finding]:
    """No laboratory range and no default for the patient's age: shown only if above adults'."""
    measure = result.measure
    assert measure is not None
    analyte = ctx.kb.analyte(result.analyte)
    adult = analyte.thresholds.get("uln", ())
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
            items={"analyte": (sentence_case(analyte.display),)},
            evidence=[lab_evidence(ctx, result, line)],
            orders=(),
            subject=(result.analyte, result.ref.id),
        )
    ]


def above_uln(ctx: RuleContext, analyte: str, days: int) -> LabResult | None:
    """A usable result within `days` above its upper limit (B7's raised CK)."""
    found = usable_within(ctx, analyte, days)
    if found is None or found.measure is None:
        return None
    multiple = uln_multiple(ctx, analyte, found.measure, found.high)
    return found if multiple is not None and multiple.times > 1 else None


def abnormal_tsh(ctx: RuleContext, p: B7Params) -> list[Finding]:
    """B7: TSH above or below the laboratory range (or its flags); warning with a raised CK."""
    result = latest(ctx, p.analyte)
    if result is None:
        return unusable_only(ctx, p.analyte)
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
    ck = above_uln(ctx, p.ck, p.ck_lookback_days)
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
            subject=(p.analyte, result.ref.id),
        )
    ]


def chronic_kidney_disease(ctx: RuleContext, p: B8Params) -> list[Finding]:
    """B8: eGFR below the laboratory range (adults: < 60) or an active CKD diagnosis."""
    result = latest(ctx, p.analyte)
    if result is not None:
        judged = judge(ctx, p.analyte, Side.LOW)
        if judged is not None and judged.grade.verdict is not Verdict.NORMAL:
            finding = electrolyte_finding(ctx, judged, "B8")
            if finding is not None:
                return [finding]
    records = ctx.facts.conditions.active_in(p.group)
    unusable = unusable_only(ctx, p.analyte)
    if not records:
        return unusable
    first = records[0]
    return [
        ctx.finding(
            "B8-dx",
            values={"dx": first.label, "dx_short": ctx.kb.conditions.groups[p.group].display},
            evidence=[condition_evidence(record) for record in records],
            caveats=[c for f in unusable for c in f.caveats],
        )
    ]


def acute_kidney_injury(ctx: RuleContext, p: B9Params) -> list[Finding]:
    """B9: creatinine rise meeting KDIGO 2012 AKI criteria, on a recent result.

    A rise of >= rise_mg_dl within rise_hours, or >= ratio x the lowest result of the prior
    baseline_days. Stage 2-3 (>= 2x, or >= 4.0 mg/dL) is critical, stage 1 a warning.
    """
    series = [(r, r.canonical) for r in ctx.facts.labs.usable_series(p.analyte)]
    if not series or not actionable(ctx, series[0][0]):
        return []
    newest, level = series[0]
    earlier = [(r, v) for r, v in series[1:] if v is not None and v > 0 and r.when < newest.when]
    if level is None or not earlier:
        return []
    hours = p.rise_hours * 3600
    rises = [
        (r, v)
        for r, v in earlier
        if (newest.when - r.when).total_seconds() <= hours and level - v >= p.rise_mg_dl
    ]
    baseline, lowest = min(earlier, key=lambda item: item[1] or 0.0)
    assert lowest is not None
    ratio = level / lowest
    if ratio >= p.ratio:
        reference, reference_level = baseline, lowest
    elif rises:
        reference, reference_level = rises[0]
        assert reference_level is not None
    else:
        return []
    stage_two = ratio >= p.critical_ratio or level >= p.critical_mg_dl
    return [
        ctx.finding(
            "B9-critical" if stage_two else "B9",
            severity=Severity.CRITICAL if stage_two else ctx.rule.severity,
            values={**value_parts(newest), "n": format_number(round(level / reference_level, 1))},
            evidence=[lab_evidence(ctx, newest), lab_evidence(ctx, reference)],
            subject=(p.analyte, newest.ref.id),
            reason=reason_code(ctx, p.analyte, Side.HIGH),
        )
    ]


LAB_RULES: dict[str, RuleImpl[Any]] = {
    "B0": RuleImpl(no_recent_electrolytes, B0Params),
    "B1": RuleImpl(low_potassium, AnalyteParams),
    "B1h": RuleImpl(high_potassium, AnalyteParams),
    "B2": RuleImpl(low_magnesium, B2Params),
    "B2h": RuleImpl(high_magnesium, AnalyteParams),
    "B3": RuleImpl(low_calcium, CalciumParams),
    "B3h": RuleImpl(high_calcium, CalciumParams),
    "B3b": RuleImpl(low_calcium_without_albumin, NoParams),
    "B4": RuleImpl(low_sodium, AnalyteParams),
    "B4h": RuleImpl(high_sodium, AnalyteParams),
    "B5": RuleImpl(low_vitamin_d, B5Params),
    "B6": RuleImpl(raised_ck, B6Params),
    "B7": RuleImpl(abnormal_tsh, B7Params),
    "B8": RuleImpl(chronic_kidney_disease, B8Params),
    "B9": RuleImpl(acute_kidney_injury, B9Params),
}
