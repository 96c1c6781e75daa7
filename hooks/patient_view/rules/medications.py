"""Family A: medications linked to cramps, spasm, twitching or electrolyte loss (A1-A14).

Each function is one catalogue rule; its docstring carries the id. Drugs count only when
systemic (erratum 8) and in current use (drugs.yaml current_use); a lab value a drug explains is
named in the same finding (A1b, A3), and the lab rule stays silent about that Observation
(`supersedes`). Statins live in `rules/statins.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from hooks.findings import Evidence, Finding, Severity
from hooks.patient_view.facts.timing import earliest
from hooks.patient_view.rules.context import RuleContext, RuleImpl
from hooks.patient_view.rules.electrolytes import Shown, electrolyte_finding, judge
from hooks.patient_view.rules.evidence import (
    age_words,
    incomplete,
    reported,
    unusable_caveat,
    usable_within,
)
from hooks.patient_view.rules.exposure import (
    Exposure,
    continuous_start,
    drug_evidence,
    drug_names,
    exposure_severity,
    exposures,
    route_caveats,
)
from hooks.patient_view.rules.grading import Side
from hooks.patient_view.rules.statins import STATIN_RULES


def _drug_finding(
    ctx: RuleContext,
    found: Sequence[Exposure],
    template: str | None = None,
    *,
    severity: Severity | None = None,
    values: dict[str, str] | None = None,
    orders: Sequence[str] | None = None,
    evidence: Sequence[Evidence] = (),
    caveats: Sequence[str] = (),
    items: dict[str, tuple[str, ...]] | None = None,
    recent_within: int | None = None,
) -> list[Finding]:
    """The common shape: name the drugs, list their records, say where the route is unknown."""
    if not found:
        return []
    return [
        ctx.finding(
            template or ctx.rule.templates[0],
            severity=severity or exposure_severity(ctx, found),
            values=values,
            items={"drug": drug_names(found), **(items or {})},
            evidence=[*(drug_evidence(ctx, exposure) for exposure in found), *evidence],
            caveats=[*route_caveats(ctx, found), *caveats],
            orders=orders,
            recent_within=recent_within,
        )
    ]


def _last_lab(ctx: RuleContext, analyte: str, days: int) -> tuple[Evidence, list[str]]:
    """The last result of an analyte and its age, or that there is none; why it is unused."""
    latest = ctx.facts.labs.latest_usable(analyte) or ctx.facts.labs.latest(analyte)
    display = ctx.kb.analyte(analyte).display
    if latest is None:
        return Evidence(label=ctx.say("missing_lab", analyte=display, days=str(days))), []
    line = Evidence(
        label=ctx.say("last_lab", analyte=display, age=age_words(ctx, latest.when), days=str(days)),
        ref=latest.ref,
        when=latest.when,
        value=reported(latest),
    )
    return line, [unusable_caveat(ctx, latest)] if not latest.usable else []


def diuretic_without_labs(ctx: RuleContext) -> list[Finding]:
    """A1: current loop/thiazide diuretic and no usable K or Mg in the lab window."""
    found = exposures(ctx, ctx.rule.inputs.drug_classes)
    if not found:
        return []
    if not ctx.facts.labs.complete:
        return [incomplete(ctx)]  # absence of a result proves nothing on incomplete data
    window = ctx.days("lab_window_days")
    missing: list[str] = []
    lines: list[Evidence] = []
    caveats: list[str] = []
    for analyte in ctx.rule.inputs.labs:
        judged = judge(ctx, analyte, Side.LOW)
        if usable_within(ctx, analyte, window) is not None or (judged and judged.grade.abnormal):
            continue  # recent, or a low value that A1b/B1/B2 report with its age
        line, why = _last_lab(ctx, analyte, window)
        missing.append(analyte)
        lines.append(line)
        caveats.extend(why)
    if not missing:
        return []
    wanted = {order for order in ctx.rule.orders for a in missing if a in ctx.measures(order)}
    return _drug_finding(
        ctx,
        found,
        orders=[order for order in ctx.rule.orders if order in wanted],
        evidence=lines,
        caveats=caveats,
        items={"analyte": tuple(ctx.kb.analyte(a).short for a in missing)},
    )


def diuretic_with_low_labs(ctx: RuleContext) -> list[Finding]:
    """A1b: current diuretic and a low K or Mg taken after the diuretic's continuous start."""
    found = exposures(ctx, ctx.rule.inputs.drug_classes)
    findings = []
    for analyte in ctx.rule.inputs.labs:
        judged = judge(ctx, analyte, Side.LOW)
        if judged is None or not judged.grade.abnormal:
            continue
        started = [
            e
            for e in found
            if (start := continuous_start(ctx, e.use)) is not None and start <= judged.result.when
        ]
        if not started:
            continue  # not attributable to the drug: B1/B2 report it
        shown = Shown(label=ctx.kb.analyte(analyte).display)
        finding = electrolyte_finding(ctx, judged, "A1b", drugs=started, shown=shown)
        if finding is not None:
            findings.append(
                replace(finding, caveats=(*finding.caveats, *route_caveats(ctx, started)))
            )
    return findings


def long_term_ppi(ctx: RuleContext) -> list[Finding]:
    """A2: PPI first recorded > min_duration_days ago (or undated) and no usable Mg in window."""
    found = exposures(ctx, ctx.rule.inputs.drug_classes)
    window = ctx.days("lab_window_days")
    if not found or usable_within(ctx, "magnesium", window):
        return []
    if not ctx.facts.labs.complete:
        return [incomplete(ctx)]
    first = earliest(*(continuous_start(ctx, e.use) for e in found))
    caveats: list[str] = []
    if first is None:
        caveats.append(ctx.say("start_unknown", drug=", ".join(drug_names(found))))
    elif (ctx.as_of - first).days <= ctx.days("min_duration_days"):
        return []
    line, why = _last_lab(ctx, "magnesium", window)
    return _drug_finding(ctx, found, evidence=[line], caveats=[*caveats, *why])


def long_acting_beta_agonist(ctx: RuleContext) -> list[Finding]:
    """A4: long-acting beta-2 agonist (Garrison 2012, adults); a K check only if none is recent."""
    return _drug_finding(ctx, exposures(ctx, ctx.rule.inputs.drug_classes))


def short_acting_beta_agonist(ctx: RuleContext) -> list[Finding]:
    """A4s: short-acting beta-2 agonist; labelled cramps, a transient K fall, no test needed."""
    return _drug_finding(ctx, exposures(ctx, ctx.rule.inputs.drug_classes), orders=())


def afp_cramp_drug(ctx: RuleContext) -> list[Finding]:
    """A5: raloxifene, conjugated estrogens, teriparatide, IV iron sucrose or naproxen."""
    return _drug_finding(ctx, exposures(ctx, ctx.rule.inputs.drug_classes))


def systemic_corticosteroid(ctx: RuleContext) -> list[Finding]:
    """A6: systemic corticosteroid course of >= min_duration_days (any for fludrocortisone)."""
    any_duration = set(ctx.names("any_duration"))
    minimum = ctx.days("min_duration_days")
    found = [
        e
        for e in exposures(ctx, ctx.rule.inputs.drug_classes)
        if e.use.match.ingredients & any_duration
        or (
            (start := continuous_start(ctx, e.use)) is not None
            and (ctx.as_of - start).days >= minimum
        )
    ]
    weakness = ctx.facts.conditions.active_in(*ctx.rule.inputs.conditions)
    orders = ["bmp", "ck"] if weakness else ["bmp"]
    needed, _ = ctx.needed_orders(["bmp"])
    template = ctx.rule.templates[0] if needed else f"{ctx.rule.templates[0]}-on-file"
    return _drug_finding(ctx, found, template, orders=orders)


def magnesium_wasting_drug(ctx: RuleContext) -> list[Finding]:
    """A7: Mg-wasting drug current or within window_days, and no usable Mg in the lab window."""
    found = exposures(ctx, ctx.rule.inputs.drug_classes, ctx.days("window_days"))
    window = ctx.days("lab_window_days")
    if not found or usable_within(ctx, "magnesium", window):
        return []
    if not ctx.facts.labs.complete:
        return [incomplete(ctx)]
    line, why = _last_lab(ctx, "magnesium", window)
    return _drug_finding(ctx, found, evidence=[line], caveats=why)


def lithium(ctx: RuleContext) -> list[Finding]:
    """A8: lithium; asks only for the checks not on file within a year, shows the others."""
    found = exposures(ctx, ctx.rule.inputs.drug_classes)
    if not found:
        return []
    year = ctx.kb.analyte("lithium").act_within_days
    missing = [a for a in ctx.names("checks") if ctx.recent(a, year) is None]
    template = ctx.rule.templates[0] if missing else f"{ctx.rule.templates[0]}-on-file"
    items = {"analyte": tuple(ctx.kb.analyte(a).short for a in missing)} if missing else {}
    return _drug_finding(ctx, found, template, items=items, recent_within=year)


def stimulant(ctx: RuleContext) -> list[Finding]:
    """A9: amphetamines, methylphenidate or a caffeine product (tremor, twitching)."""
    return _drug_finding(ctx, exposures(ctx, ctx.rule.inputs.drug_classes))


def fluoroquinolone_knee(ctx: RuleContext) -> list[Finding]:
    """A10: fluoroquinolone within window_days and knee or leg context; names risk factors."""
    if not ctx.facts.complaint.knee:
        return []
    classes = ctx.rule.inputs.drug_classes
    found = exposures(ctx, classes[:1], ctx.days("window_days"))
    caveats = []
    age = ctx.facts.demographics.min_age
    if age is not None and age > ctx.days("older_than_years"):
        caveats.append(ctx.say("fq_risk_age", years=str(ctx.days("older_than_years"))))
    if exposures(ctx, classes[1:]):
        caveats.append(ctx.say("fq_risk_steroid"))
    return _drug_finding(ctx, found, caveats=caveats)


def bone_agent(ctx: RuleContext) -> list[Finding]:
    """A11: bisphosphonate or denosumab (disabled: no verified source; see OMITTED.md)."""
    return _drug_finding(
        ctx, exposures(ctx, ctx.rule.inputs.drug_classes, ctx.windows("class_window_days"))
    )


def quinine_for_cramps(ctx: RuleContext) -> list[Finding]:
    """A12: quinine prescribed to a patient with a cramp complaint; pregnancy named."""
    found = exposures(ctx, ctx.rule.inputs.drug_classes)
    pregnancy = ctx.facts.pregnancy
    if not pregnancy.pregnant:
        return _drug_finding(ctx, found)
    lines = [Evidence(label=s.label, ref=s.ref, when=s.when) for s in pregnancy.signals]
    return _drug_finding(ctx, found, f"{ctx.rule.templates[0]}-pregnant", evidence=lines)


def nsaid_in_pregnancy(ctx: RuleContext) -> list[Finding]:
    """A14: systemic NSAID at >= from_weeks of pregnancy (FDA 2020); unknown gestation: info."""
    pregnancy = ctx.facts.pregnancy
    found = exposures(ctx, ctx.rule.inputs.drug_classes[:1])
    if not pregnancy.pregnant or not found:
        return []
    lines = [Evidence(label=s.label, ref=s.ref, when=s.when) for s in pregnancy.signals]
    weeks = pregnancy.weeks
    if weeks is None:
        return _drug_finding(
            ctx, found, f"{ctx.rule.templates[0]}-unknown", severity=Severity.INFO, evidence=lines
        )
    if weeks < ctx.days("from_weeks"):
        return []
    return _drug_finding(ctx, found, values={"n": str(weeks)}, evidence=lines)


MEDICATION_RULES: dict[str, RuleImpl] = {
    "A1": RuleImpl(diuretic_without_labs, {"lab_window_days": int}),
    "A1b": RuleImpl(diuretic_with_low_labs),
    "A2": RuleImpl(long_term_ppi, {"min_duration_days": int, "lab_window_days": int}),
    "A4": RuleImpl(long_acting_beta_agonist),
    "A4s": RuleImpl(short_acting_beta_agonist),
    "A5": RuleImpl(afp_cramp_drug),
    "A6": RuleImpl(systemic_corticosteroid, {"min_duration_days": int, "any_duration": tuple}),
    "A7": RuleImpl(magnesium_wasting_drug, {"window_days": int, "lab_window_days": int}),
    "A8": RuleImpl(lithium, {"checks": tuple}),
    "A9": RuleImpl(stimulant),
    "A10": RuleImpl(fluoroquinolone_knee, {"window_days": int, "older_than_years": int}),
    "A11": RuleImpl(bone_agent, {"class_window_days": dict}),
    "A12": RuleImpl(quinine_for_cramps),
    "A14": RuleImpl(nsaid_in_pregnancy, {"from_weeks": int}),
    **STATIN_RULES,
}
