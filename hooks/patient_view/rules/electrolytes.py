"""Electrolyte findings, low and high: grade, recency, replacement safety and escalation.

One implementation for potassium, magnesium, sodium and calcium, used by the lab rules (B1-B4
and their high-side twins) and by A1b (a diuretic with a low K or Mg). Policies (addendum §3,
§4, §11): a result older than its analyte's act window is shown with its age and a recheck, at
most info; potassium or magnesium replacement is advised only where it is safe, otherwise the
card says what to do instead; a low K or Mg with digoxin, a QT-prolonging drug, heart failure,
an arrhythmia or new weakness is critical.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from hooks.findings import CodeRef, Evidence, Finding, FindingStatus, Severity
from hooks.patient_view.facts import LabResult, Measure
from hooks.patient_view.facts.timing import within
from hooks.patient_view.rules.context import RuleContext
from hooks.patient_view.rules.evidence import (
    age_words,
    condition_evidence,
    lab_evidence,
    newer_caveats,
    no_conclusion,
    sentence_case,
    value_parts,
)
from hooks.patient_view.rules.exposure import Exposure, drug_evidence, drug_names, exposures
from hooks.patient_view.rules.grading import Grade, Side, Verdict, crosses_any, grade_result


class Advice(StrEnum):
    """Whether a low K or Mg may be treated on this result (the template variant when not)."""

    REPLETE = ""
    RECHECK_FIRST = "first"
    UNSAFE = "caution"


@dataclass(frozen=True, slots=True)
class Judged:
    """A usable result graded on one side, and whether it is recent enough to act on."""

    result: LabResult
    grade: Grade
    side: Side
    actionable: bool
    value: Measure | None = None  # the value judged when not the result's own (corrected Ca)


def latest(ctx: RuleContext, analyte: str) -> LabResult | None:
    """The newest usable result within the analyte's stale window."""
    return ctx.facts.labs.current(analyte, ctx.as_of, ctx.kb.analyte(analyte).stale_after_days)


def actionable(ctx: RuleContext, result: LabResult) -> bool:
    """Recent enough for "act now" wording and a grade above info (the analyte's act window)."""
    window = ctx.kb.analyte(result.analyte).act_within_days
    return window is None or within(result.when, ctx.as_of, window)


def judge(ctx: RuleContext, analyte: str, side: Side) -> Judged | None:
    """The newest usable result of an analyte graded on one side, or None without one."""
    result = latest(ctx, analyte)
    grade = grade_result(ctx, result, side) if result is not None else None
    if result is None or grade is None:
        return None
    return Judged(result, grade, side, actionable(ctx, result))


def recheck_orders(ctx: RuleContext, analyte: str) -> tuple[str, ...]:
    """The rule's orders that measure the analyte: what a result too old to act on asks for."""
    return tuple(key for key in ctx.rule.orders if analyte in ctx.measures(key))


def unusable_only(ctx: RuleContext, analyte: str) -> list[Finding]:
    """A listed-only "no conclusion" when the newest recent result cannot be used."""
    newest = ctx.facts.labs.latest(analyte)
    stale = ctx.kb.analyte(analyte).stale_after_days
    if newest is None or newest.usable or not within(newest.when, ctx.as_of, stale):
        return []
    return [no_conclusion(ctx, newest)]


def contributors(ctx: RuleContext, analyte: str, side: Side) -> list[Exposure]:
    """Current drugs the knowledge names as lowering (depletes) or raising the analyte."""
    classes = [
        key
        for key, cls in ctx.kb.drugs.classes.items()
        if analyte in (cls.depletes if side is Side.LOW else cls.raises)
    ]
    return exposures(ctx, classes) if classes else []


def _noted(ctx: RuleContext, found: Sequence[Exposure], note: str) -> list[Evidence]:
    """Drug lines with a leading note ("possible contributor", "raises the urgency")."""
    lines = []
    for exposure in found:
        line = drug_evidence(ctx, exposure)
        lines.append(
            Evidence(label=line.label, ref=line.ref, when=line.when, note=f"{note}; {line.note}")
        )
    return lines


def advice(ctx: RuleContext, judged: Judged) -> tuple[Advice, str, list[Evidence]]:
    """Whether K/Mg replacement may be advised; if not, why, with the evidence for it."""
    policy = ctx.kb.labs.repletion
    reasons: list[str] = []
    lines: list[Evidence] = []
    severe = ctx.facts.conditions.active_in(*policy.unsafe_conditions)
    if severe:
        reasons.append(ctx.say("unsafe_ckd"))
        lines += [condition_evidence(record) for record in severe]
    kidney = latest(ctx, policy.unsafe_below.analyte)
    if (
        kidney is not None
        and kidney.canonical is not None
        and kidney.canonical < policy.unsafe_below.value
    ):
        reasons.append(ctx.say("unsafe_egfr"))
        lines.append(lab_evidence(ctx, kidney))
    supplements = exposures(ctx, policy.supplements.get(judged.result.analyte, ()))
    if supplements:
        reasons.append(ctx.say("unsafe_supplement", drug=", ".join(drug_names(supplements))))
        lines += [drug_evidence(ctx, e) for e in supplements]
    for first, second in policy.unsafe_pairs:
        pair = [*exposures(ctx, (first,)), *exposures(ctx, (second,))]
        if exposures(ctx, (first,)) and exposures(ctx, (second,)):
            reasons.append(ctx.say("unsafe_pair", drug=", ".join(drug_names(pair))))
            lines += [drug_evidence(ctx, e) for e in pair]
    if reasons:
        return Advice.UNSAFE, "; ".join(reasons), lines
    return _recency_advice(ctx, judged)


def _recency_advice(ctx: RuleContext, judged: Judged) -> tuple[Advice, str, list[Evidence]]:
    """In a high-risk patient, only a result from the last week taken after any drug change."""
    policy = ctx.kb.labs.repletion
    result = judged.result
    changed = [
        e
        for e in exposures(ctx, policy.altering_classes)
        if e.use.start is not None and e.use.start > result.when
    ]
    if changed:
        reason = ctx.say("first_changed", drug=", ".join(drug_names(changed)))
        return Advice.RECHECK_FIRST, reason, [drug_evidence(ctx, e) for e in changed]
    risky = exposures(ctx, policy.high_risk_classes)
    risky_dx = ctx.facts.conditions.active_in(*policy.high_risk_conditions)
    if (risky or risky_dx) and not within(result.when, ctx.as_of, policy.high_risk_within_days):
        names = ", ".join([*drug_names(risky), *(record.label for record in risky_dx)])
        lines = [drug_evidence(ctx, e) for e in risky] + [condition_evidence(r) for r in risky_dx]
        return Advice.RECHECK_FIRST, ctx.say("first_high_risk", drug=names), lines
    return Advice.REPLETE, "", []


def escalation(ctx: RuleContext, judged: Judged) -> list[Evidence]:
    """Contexts that make a low K or Mg critical (addendum §4, §11): the evidence for each."""
    policy = ctx.kb.labs.escalation
    result = judged.result
    measure = result.measure
    if judged.side is not Side.LOW or result.analyte not in policy.analytes or measure is None:
        return []
    limited = bool(ctx.kb.analyte(result.analyte).thresholds.get("escalate_low"))
    if limited and crosses_any(ctx, result.analyte, "escalate_low", measure) is None:
        return []
    note = ctx.say("escalates")
    lines = _noted(ctx, exposures(ctx, policy.drug_classes), note)
    conditions = ctx.facts.conditions
    found = list(conditions.active_in(*policy.conditions))
    found += [
        record
        for record in conditions.active_in(*policy.new_conditions)
        if within(record.recorded, ctx.as_of, policy.new_within_days)
    ]
    for record in found:
        lines.append(Evidence(label=record.label, ref=record.ref, when=record.recorded, note=note))
    return lines


def _also_low(ctx: RuleContext, judged: Judged) -> list[str]:
    """With a low K, a recent low Mg means the K will not correct until Mg is replaced [PG-MG].

    Which analyte must be replaced first is labs.yaml's `repletion.replete_first`.
    """
    first = ctx.kb.labs.repletion.replete_first.get(judged.result.analyte)
    if first is None or judged.side is not Side.LOW:
        return []
    other = judge(ctx, first, Side.LOW)
    if other is None or not (other.actionable and other.grade.abnormal):
        return []
    display = ctx.kb.analyte(first).display
    return [
        ctx.say(
            "also_low",
            label=sentence_case(display),
            analyte=ctx.kb.analyte(judged.result.analyte).display,
            other=display,
            **value_parts(other.result),
        )
    ]


def reason_code(ctx: RuleContext, analyte: str, side: Side) -> CodeRef | None:
    """The coded disorder a low or high value names (hypokalaemia, hypercalcaemia, ...)."""
    disorder = ctx.kb.analyte(analyte).disorders.get(side.value)
    if disorder is None or not disorder.usable:
        return None
    system = getattr(ctx.kb.systems, disorder.system)
    return CodeRef(system, disorder.code, disorder.display or disorder.code)


@dataclass(frozen=True, slots=True)
class Shown:
    """How a judged value is presented: its label, summary values and extra evidence."""

    label: str | None = None
    parts: dict[str, str] | None = None
    evidence: tuple[Evidence, ...] = ()


def electrolyte_finding(
    ctx: RuleContext,
    judged: Judged,
    base: str,
    *,
    drugs: Sequence[Exposure] = (),
    shown: Shown | None = None,
    extra: str | None = None,
) -> Finding | None:
    """The finding for one graded result, or None when it is normal on this side.

    `drugs` are the ones the rule attributes the value to (A1b); other current contributors
    are listed as possible contributors, and named in the summary when no drug is attributed.
    `extra` is a rule's own template for the plain case (B2 on a PPI: "B2-ppi").
    """
    shown = shown or Shown()
    result, grade = judged.result, judged.grade
    if grade.verdict is Verdict.NORMAL:
        return None
    analyte = result.analyte
    values = {**(shown.parts or value_parts(result)), "age": age_words(ctx, result.when)}
    items: dict[str, tuple[str, ...]] = {
        "analyte": (shown.label or sentence_case(ctx.kb.analyte(analyte).display),)
    }
    evidence = [*shown.evidence] or [lab_evidence(ctx, result, grade.limit, grade.citation)]
    if grade.critical_limit:
        evidence.append(Evidence(label=grade.critical_limit, citation=grade.critical_citation))
    if grade.verdict is Verdict.UNGRADED:
        return ctx.finding(
            "ungraded",
            severity=Severity.INFO,
            status=FindingStatus.UNGRADED,
            values=values,
            items=items,
            evidence=evidence,
            orders=(),
            subject=(analyte, result.ref.id),
        )
    named = {e.use.ref for e in drugs}
    others = [e for e in contributors(ctx, analyte, judged.side) if e.use.ref not in named]
    evidence += [drug_evidence(ctx, e) for e in drugs]
    evidence += _noted(ctx, others, ctx.say("contributor"))
    if drugs or others:
        items["drug"] = drug_names(drugs or others)
    variant, severity, lines, reason = _variant(ctx, judged, bool(items.get("drug")))
    template = f"{base}-{variant}" if variant else base
    if extra and variant in ("", "drug"):
        template = extra
    if reason:
        values.update(reason=reason, reason_short=ctx.say("reason_short"))
    return ctx.finding(
        template,
        severity=severity,
        values=values,
        items=items,
        evidence=[*evidence, *lines],
        caveats=[
            *_also_low(ctx, judged),
            *newer_caveats(ctx, result),
        ],
        orders=None if judged.actionable else recheck_orders(ctx, analyte),
        subject=(analyte, result.ref.id),
        reason=reason_code(ctx, analyte, judged.side),
    )


def _variant(
    ctx: RuleContext, judged: Judged, drug_named: bool
) -> tuple[str, Severity, list[Evidence], str]:
    """The template variant, severity, extra evidence and reason, by the policies above."""
    if not judged.actionable:
        return "stale", Severity.INFO, [], ""
    escalated = escalation(ctx, judged)
    critical = judged.grade.critical or bool(escalated)
    severity = Severity.CRITICAL if critical else ctx.rule.severity
    replaceable = ctx.kb.labs.repletion.analytes
    kind, reason, lines = (
        advice(ctx, judged)
        if judged.side is Side.LOW and judged.result.analyte in replaceable
        else (Advice.REPLETE, "", [])
    )
    if critical:
        variant = "critical-caution" if kind is Advice.UNSAFE else "critical"
        return variant, severity, [*escalated, *lines], reason if kind is Advice.UNSAFE else ""
    if kind is not Advice.REPLETE:
        return kind.value, severity, lines, reason
    return ("drug" if drug_named else ""), severity, [], ""
