"""Statins (A3, A13): muscle symptoms graded by CK, and interactions and dose limits.

A3 (ACC/AHA 2013, EAS 2015/2018, CTT 2022): CK above 10x the upper limit means stop the statin
now and assess for rhabdomyolysis today; a normal CK means look elsewhere before stopping it.
Exposure is dated from the start of continuous use, not the latest renewal. A13 (FDA 2011):
simvastatin's contraindicated partners and dose limits, and statins with fibrates.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from hooks.findings import Evidence, Finding, Severity
from hooks.patient_view.facts.timing import earliest, within
from hooks.patient_view.facts.units import format_number
from hooks.patient_view.rules.context import RuleContext, RuleImpl
from hooks.patient_view.rules.electrolytes import actionable, latest, reason_code
from hooks.patient_view.rules.evidence import age_words, condition_evidence, lab_evidence
from hooks.patient_view.rules.exposure import (
    Exposure,
    continuous_start,
    drug_evidence,
    drug_names,
    exposure_severity,
    exposures,
    route_caveats,
)
from hooks.patient_view.rules.grading import Side, uln_multiple

# A product's strength as printed in its name ("simvastatin 20 MG Oral Tablet", "Zocor 40 mg").
_STRENGTH = re.compile(r"(\d+(?:\.\d+)?)\s*mg\b", re.IGNORECASE)
SIMVASTATIN = "simvastatin"


def _context_notes(ctx: RuleContext, found: Sequence[Exposure]) -> list[str]:
    """Why a statin may not be the cause: the pattern, and use beyond the first year."""
    notes = [ctx.say("statin_atypical")] if ctx.facts.complaint.cramp else []
    since = earliest(*(continuous_start(ctx, e.use) for e in found))
    if since is not None and (ctx.as_of - since).days > ctx.days("first_year_days"):
        notes.append(ctx.say("statin_first_year"))
    return notes


def statin_muscle_symptoms(ctx: RuleContext) -> list[Finding]:
    """A3: current statin; graded by the latest CK, or by new weakness when there is none."""
    found = exposures(ctx, ctx.rule.inputs.drug_classes)
    if not found:
        return []
    evidence = [drug_evidence(ctx, e) for e in found]
    items = {"drug": drug_names(found)}
    caveats = [*route_caveats(ctx, found), *_context_notes(ctx, found)]
    ck = latest(ctx, "ck")
    multiple = uln_multiple(ctx, "ck", ck.measure, ck.high) if ck and ck.measure else None
    if ck is None or multiple is None:
        return [_without_ck(ctx, found, evidence, items, caveats)]
    values = {
        "value": format_number(ck.value),
        "unit": ck.reported_unit,
        "date": ck.when.date().isoformat(),
        "n": format_number(round(multiple.times, 1)),
        "age": age_words(ctx, ck.when),
    }
    lines = [lab_evidence(ctx, ck, multiple.limit, multiple.citation), *evidence]
    subject = ("ck", ck.ref.id)
    orders: tuple[str, ...]
    if not actionable(ctx, ck):
        template, severity, orders = "A3-stale", Severity.INFO, ("ck",)
    elif multiple.times > ctx.number("critical_x_uln"):
        template, severity, orders = "A3-critical", Severity.CRITICAL, ("bmp", "urinalysis", "ck")
    elif multiple.times > 1:
        severity = (
            Severity.WARNING if multiple.times > ctx.number("warning_x_uln") else Severity.INFO
        )
        template, orders = "A3-ck", ("ck", "tsh")
    else:
        template, severity, orders = "A3-normal", Severity.INFO, ("tsh",)
    return [
        ctx.finding(
            template,
            severity=severity,
            values=values,
            evidence=lines,
            orders=orders,
            subject=subject,
            reason=reason_code(ctx, "ck", Side.HIGH) if severity is Severity.CRITICAL else None,
            items=items,
            caveats=caveats,
        )
    ]


def _without_ck(
    ctx: RuleContext,
    found: Sequence[Exposure],
    evidence: list[Evidence],
    items: dict[str, tuple[str, ...]],
    caveats: list[str],
) -> Finding:
    """No usable CK: new weakness means stop until evaluated (ACC/AHA 2013); else check CK."""
    window = ctx.days("new_weakness_days")
    weak = [
        r
        for r in ctx.facts.conditions.active_in(*ctx.rule.inputs.conditions)
        if within(r.recorded, ctx.as_of, window)
    ]
    if weak:
        return ctx.finding(
            "A3-weak",
            severity=Severity.WARNING,
            evidence=[*evidence, *(condition_evidence(r) for r in weak)],
            orders=("ck", "bmp", "urinalysis"),
            items=items,
            caveats=caveats,
        )
    return ctx.finding(
        "A3",
        severity=exposure_severity(ctx, found),
        evidence=evidence,
        orders=("ck", "tsh"),
        items=items,
        caveats=caveats,
    )


def strength_mg(exposure: Exposure) -> float | None:
    """The one strength printed in a single-ingredient product's name, else None."""
    if len(exposure.use.match.ingredients) != 1:
        return None
    found = {float(m) for m in _STRENGTH.findall(exposure.use.label)}
    return found.pop() if len(found) == 1 else None


def statin_interactions(ctx: RuleContext) -> list[Finding]:
    """A13: simvastatin with a contraindicated drug or above a dose limit; statin with fibrate."""
    statins = exposures(ctx, ("statin",))
    simva = [e for e in statins if SIMVASTATIN in e.use.match.ingredients]
    findings: list[Finding] = []
    contraindicated = exposures(ctx, ("simvastatin_contraindicated",))
    if simva and contraindicated:
        findings.append(_pair(ctx, "A13", simva, contraindicated, Severity.WARNING))
    limits = ctx.windows("limits")
    for cls, limit in limits.items():
        partners = exposures(ctx, (cls,))
        if not simva or not partners:
            continue
        strengths = [strength_mg(e) for e in simva]
        known = [s for s in strengths if s is not None]
        if len(known) < len(strengths):
            names = ", ".join(drug_names(simva))
            findings.append(
                _pair(
                    ctx,
                    "A13-dose",
                    simva,
                    partners,
                    Severity.INFO,
                    values={"n": "?", "value": str(limit)},
                    caveats=[ctx.say("strength_unknown", drug=names)],
                )
            )
        elif max(known) > limit:
            values = {"n": format_number(max(known)), "value": str(limit)}
            findings.append(_pair(ctx, "A13-dose", simva, partners, Severity.WARNING, values))
    fibrates = exposures(ctx, ("fibrate",))
    if statins and fibrates and not (simva and contraindicated):
        findings.append(_pair(ctx, "A13-fibrate", statins, fibrates, Severity.INFO, named=fibrates))
    return findings


def _pair(
    ctx: RuleContext,
    template: str,
    statins: Sequence[Exposure],
    partners: Sequence[Exposure],
    severity: Severity,
    values: dict[str, str] | None = None,
    caveats: Sequence[str] = (),
    named: Sequence[Exposure] | None = None,
) -> Finding:
    return ctx.finding(
        template,
        severity=severity,
        values=values,
        items={"drug": drug_names(named if named is not None else partners)},
        evidence=[drug_evidence(ctx, e) for e in (*statins, *partners)],
        caveats=[*route_caveats(ctx, [*statins, *partners]), *caveats],
    )


STATIN_RULES: dict[str, RuleImpl] = {
    "A3": RuleImpl(
        statin_muscle_symptoms,
        {
            "warning_x_uln": float,
            "critical_x_uln": float,
            "new_weakness_days": int,
            "first_year_days": int,
        },
        (("ck", "uln"),),
    ),
    "A13": RuleImpl(statin_interactions, {"limits": dict}),
}
