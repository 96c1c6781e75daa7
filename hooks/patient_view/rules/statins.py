"""Statins (A3, A13): muscle symptoms graded by CK, and interactions and dose limits.

A3 (ACC/AHA 2013, EAS 2015/2018, CTT 2022): CK above 10x the upper limit means stop the statin
now and assess for rhabdomyolysis today; a normal CK means look elsewhere before stopping it.
Exposure is dated from the start of continuous use, not the latest renewal. A13 (FDA 2011):
simvastatin's contraindicated partners and dose limits, and statins with fibrates.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from hooks.findings import Evidence, Finding, Severity
from hooks.knowledge.params import (
    Days,
    DrugClassKey,
    IngredientKey,
    OrderKey,
    RuleParams,
    Whole,
)
from hooks.patient_view.facts.timing import earliest, within
from hooks.patient_view.facts.units import format_number
from hooks.patient_view.rules.context import RuleContext, RuleImpl
from hooks.patient_view.rules.electrolytes import actionable, latest, reason_code, recheck_orders
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
from hooks.patient_view.rules.grading import Side, UlnScale, uln_multiple, uln_severity

# A product's strength as printed in its name ("simvastatin 20 MG Oral Tablet", "Zocor 40 mg").
_STRENGTH = re.compile(r"(\d+(?:\.\d+)?)\s*mg\b", re.IGNORECASE)


class A3Orders(RuleParams):
    """What A3 orders in each case (a CK too old to act on asks for a new CK)."""

    normal: tuple[OrderKey, ...]
    raised: tuple[OrderKey, ...]
    critical: tuple[OrderKey, ...]
    weak: tuple[OrderKey, ...]
    without_ck: tuple[OrderKey, ...]


class A3Params(RuleParams):
    """A3: the CK scale (one with B6), weakness and first-year windows, orders per case."""

    uln_grading: UlnScale
    new_weakness_days: Days
    first_year_days: Days
    orders: A3Orders


class A13Params(RuleParams):
    """A13: statins, simvastatin and its contraindicated partners, fibrates, dose limits."""

    statins: DrugClassKey
    simvastatin: IngredientKey
    contraindicated: DrugClassKey
    fibrates: DrugClassKey
    limits: dict[DrugClassKey, Whole]  # mg


def _context_notes(ctx: RuleContext, p: A3Params, found: Sequence[Exposure]) -> list[str]:
    """Why a statin may not be the cause: the pattern, and use beyond the first year."""
    notes = [ctx.say("statin_atypical")] if ctx.facts.complaint.cramp else []
    since = earliest(*(continuous_start(ctx, e.use) for e in found))
    if since is not None and (ctx.as_of - since).days > p.first_year_days:
        notes.append(ctx.say("statin_first_year"))
    return notes


def statin_muscle_symptoms(ctx: RuleContext, p: A3Params) -> list[Finding]:
    """A3: current statin; graded by the latest CK, or by new weakness when there is none."""
    found = exposures(ctx, ctx.rule.inputs.drug_classes)
    if not found:
        return []
    evidence = [drug_evidence(ctx, e) for e in found]
    items = {"drug": drug_names(found)}
    caveats = [*route_caveats(ctx, found), *_context_notes(ctx, p, found)]
    scale = p.uln_grading
    ck = latest(ctx, scale.analyte)
    multiple = uln_multiple(ctx, scale.analyte, ck.measure, ck.high) if ck and ck.measure else None
    if ck is None or multiple is None:
        return [_without_ck(ctx, p, found, evidence, items, caveats)]
    values = {
        "value": format_number(ck.value),
        "unit": ck.reported_unit,
        "date": ck.when.date().isoformat(),
        "n": format_number(round(multiple.times, 1)),
        "age": age_words(ctx, ck.when),
    }
    lines = [lab_evidence(ctx, ck, multiple.limit, multiple.citation), *evidence]
    subject = (ck.analyte, ck.ref.id)
    graded = uln_severity(scale, multiple.times)
    orders: tuple[str, ...]
    if not actionable(ctx, ck):
        template, severity, orders = "A3-stale", Severity.INFO, recheck_orders(ctx, ck.analyte)
    elif graded is Severity.CRITICAL:
        template, severity, orders = "A3-critical", graded, p.orders.critical
    elif graded is not None:
        template, severity, orders = "A3-ck", graded, p.orders.raised
    else:
        template, severity, orders = "A3-normal", Severity.INFO, p.orders.normal
    return [
        ctx.finding(
            template,
            severity=severity,
            values=values,
            evidence=lines,
            orders=orders,
            subject=subject,
            reason=reason_code(ctx, ck.analyte, Side.HIGH)
            if severity is Severity.CRITICAL
            else None,
            items=items,
            caveats=caveats,
        )
    ]


def _without_ck(
    ctx: RuleContext,
    p: A3Params,
    found: Sequence[Exposure],
    evidence: list[Evidence],
    items: dict[str, tuple[str, ...]],
    caveats: list[str],
) -> Finding:
    """No usable CK: new weakness means stop until evaluated (ACC/AHA 2013); else check CK."""
    window = p.new_weakness_days
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
            orders=p.orders.weak,
            items=items,
            caveats=caveats,
        )
    return ctx.finding(
        "A3",
        severity=exposure_severity(ctx, found),
        evidence=evidence,
        orders=p.orders.without_ck,
        items=items,
        caveats=caveats,
    )


def strength_mg(exposure: Exposure) -> float | None:
    """The one strength printed in a single-ingredient product's name, else None."""
    if len(exposure.use.match.ingredients) != 1:
        return None
    found = {float(m) for m in _STRENGTH.findall(exposure.use.label)}
    return found.pop() if len(found) == 1 else None


def statin_interactions(ctx: RuleContext, p: A13Params) -> list[Finding]:
    """A13: simvastatin with a contraindicated drug or above a dose limit; statin with fibrate."""
    statins = exposures(ctx, (p.statins,))
    simva = [e for e in statins if p.simvastatin in e.use.match.ingredients]
    findings: list[Finding] = []
    contraindicated = exposures(ctx, (p.contraindicated,))
    if simva and contraindicated:
        findings.append(_pair(ctx, "A13", simva, contraindicated, Severity.WARNING))
    for cls, limit in p.limits.items():
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
    fibrates = exposures(ctx, (p.fibrates,))
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


STATIN_RULES: dict[str, RuleImpl[Any]] = {
    "A3": RuleImpl(statin_muscle_symptoms, A3Params),
    "A13": RuleImpl(statin_interactions, A13Params),
}
