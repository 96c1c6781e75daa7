"""Family A: medications linked to cramps, spasm, twitching or electrolyte loss (A1-A14).

Each function is one catalogue rule; its docstring carries the id. Drugs count only when
systemic (erratum 8) and in current use (drugs.yaml current_use); a lab value a drug explains is
named in the same finding (A1b, A3), and the lab rule stays silent about that Observation
(`supersedes`). Statins live in `rules/statins.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from hooks.findings import Evidence, Finding, Severity
from hooks.knowledge.params import (
    AnalyteKey,
    Days,
    DrugClassKey,
    IngredientKey,
    NoParams,
    OrderKey,
    RuleParams,
    Whole,
)
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


class A1Params(RuleParams):
    """A1: how recent a potassium and a magnesium must be."""

    lab_window_days: Days


class A1bParams(RuleParams):
    """A1b: the analytes it reports when low.

    Its inputs also name what the replacement advice reads (eGFR), so the prefetch asks for it.
    """

    analytes: tuple[AnalyteKey, ...]


class A2Params(RuleParams):
    """A2: magnesium, long-term use, and how recent the magnesium must be."""

    analyte: AnalyteKey
    min_duration_days: Days
    lab_window_days: Days


class A6Params(RuleParams):
    """A6: course length, ingredients that count at any duration, and the orders.

    The potassium panel always; the weakness order (CK) too with an active weakness.
    """

    min_duration_days: Days
    any_duration: tuple[IngredientKey, ...]
    potassium_order: OrderKey
    weakness_order: OrderKey


class A7Params(RuleParams):
    """A7: magnesium, the drug window and how recent the magnesium must be."""

    analyte: AnalyteKey
    window_days: Days
    lab_window_days: Days


class A8Params(RuleParams):
    """A8: the checks asked for, within the act window of the lithium `level`."""

    level: AnalyteKey
    checks: tuple[AnalyteKey, ...]


class A10Params(RuleParams):
    """A10: the fluoroquinolone classes, the steroid classes named as a risk factor, age."""

    classes: tuple[DrugClassKey, ...]
    steroid_classes: tuple[DrugClassKey, ...]
    window_days: Days
    older_than_years: Whole


class A11Params(RuleParams):
    """A11: how long after its last record each class still counts."""

    class_window_days: dict[DrugClassKey, Days]


class A14Params(RuleParams):
    """A14: the gestation from which an NSAID is a warning."""

    from_weeks: Whole


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


def diuretic_without_labs(ctx: RuleContext, p: A1Params) -> list[Finding]:
    """A1: current loop/thiazide diuretic and no usable K or Mg in the lab window."""
    found = exposures(ctx, ctx.rule.inputs.drug_classes)
    if not found:
        return []
    if not ctx.facts.labs.complete:
        return [incomplete(ctx)]  # absence of a result proves nothing on incomplete data
    window = p.lab_window_days
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


def diuretic_with_low_labs(ctx: RuleContext, p: A1bParams) -> list[Finding]:
    """A1b: current diuretic and a low K or Mg taken after the diuretic's continuous start."""
    found = exposures(ctx, ctx.rule.inputs.drug_classes)
    findings = []
    for analyte in p.analytes:
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


def long_term_ppi(ctx: RuleContext, p: A2Params) -> list[Finding]:
    """A2: PPI first recorded > min_duration_days ago (or undated) and no usable Mg in window."""
    found = exposures(ctx, ctx.rule.inputs.drug_classes)
    window = p.lab_window_days
    if not found or usable_within(ctx, p.analyte, window):
        return []
    if not ctx.facts.labs.complete:
        return [incomplete(ctx)]
    first = earliest(*(continuous_start(ctx, e.use) for e in found))
    caveats: list[str] = []
    if first is None:
        caveats.append(ctx.say("start_unknown", drug=", ".join(drug_names(found))))
    elif (ctx.as_of - first).days <= p.min_duration_days:
        return []
    line, why = _last_lab(ctx, p.analyte, window)
    return _drug_finding(ctx, found, evidence=[line], caveats=[*caveats, *why])


def long_acting_beta_agonist(ctx: RuleContext, _: NoParams) -> list[Finding]:
    """A4: long-acting beta-2 agonist (Garrison 2012, adults); a K check only if none is recent."""
    return _drug_finding(ctx, exposures(ctx, ctx.rule.inputs.drug_classes))


def short_acting_beta_agonist(ctx: RuleContext, _: NoParams) -> list[Finding]:
    """A4s: short-acting beta-2 agonist; labelled cramps, a transient K fall, no test needed."""
    return _drug_finding(ctx, exposures(ctx, ctx.rule.inputs.drug_classes), orders=())


def afp_cramp_drug(ctx: RuleContext, _: NoParams) -> list[Finding]:
    """A5: raloxifene, conjugated estrogens, teriparatide, IV iron sucrose or naproxen."""
    return _drug_finding(ctx, exposures(ctx, ctx.rule.inputs.drug_classes))


def systemic_corticosteroid(ctx: RuleContext, p: A6Params) -> list[Finding]:
    """A6: systemic corticosteroid course of >= min_duration_days (any for fludrocortisone)."""
    any_duration = set(p.any_duration)
    minimum = p.min_duration_days
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
    orders = [p.potassium_order, p.weakness_order] if weakness else [p.potassium_order]
    needed, _ = ctx.needed_orders([p.potassium_order])
    template = ctx.rule.templates[0] if needed else f"{ctx.rule.templates[0]}-on-file"
    return _drug_finding(ctx, found, template, orders=orders)


def magnesium_wasting_drug(ctx: RuleContext, p: A7Params) -> list[Finding]:
    """A7: Mg-wasting drug current or within window_days, and no usable Mg in the lab window."""
    found = exposures(ctx, ctx.rule.inputs.drug_classes, p.window_days)
    window = p.lab_window_days
    if not found or usable_within(ctx, p.analyte, window):
        return []
    if not ctx.facts.labs.complete:
        return [incomplete(ctx)]
    line, why = _last_lab(ctx, p.analyte, window)
    return _drug_finding(ctx, found, evidence=[line], caveats=why)


def lithium(ctx: RuleContext, p: A8Params) -> list[Finding]:
    """A8: lithium; asks only for the checks not on file, shows the others.

    On file means within the act window of the lithium level (a year).
    """
    found = exposures(ctx, ctx.rule.inputs.drug_classes)
    if not found:
        return []
    year = ctx.kb.analyte(p.level).act_within_days
    missing = [a for a in p.checks if ctx.recent(a, year) is None]
    template = ctx.rule.templates[0] if missing else f"{ctx.rule.templates[0]}-on-file"
    items = {"analyte": tuple(ctx.kb.analyte(a).short for a in missing)} if missing else {}
    return _drug_finding(ctx, found, template, items=items, recent_within=year)


def stimulant(ctx: RuleContext, _: NoParams) -> list[Finding]:
    """A9: amphetamines, methylphenidate or a caffeine product (tremor, twitching)."""
    return _drug_finding(ctx, exposures(ctx, ctx.rule.inputs.drug_classes))


def fluoroquinolone_knee(ctx: RuleContext, p: A10Params) -> list[Finding]:
    """A10: fluoroquinolone within window_days and knee or leg context; names risk factors."""
    if not ctx.facts.complaint.knee:
        return []
    found = exposures(ctx, p.classes, p.window_days)
    caveats = []
    age = ctx.facts.demographics.min_age
    if age is not None and age > p.older_than_years:
        caveats.append(ctx.say("fq_risk_age", years=str(p.older_than_years)))
    if exposures(ctx, p.steroid_classes):
        caveats.append(ctx.say("fq_risk_steroid"))
    return _drug_finding(ctx, found, caveats=caveats)


def bone_agent(ctx: RuleContext, p: A11Params) -> list[Finding]:
    """A11: bisphosphonate or denosumab (disabled: no verified source; see OMITTED.md)."""
    return _drug_finding(ctx, exposures(ctx, ctx.rule.inputs.drug_classes, p.class_window_days))


def quinine_for_cramps(ctx: RuleContext, _: NoParams) -> list[Finding]:
    """A12: quinine prescribed to a patient with a cramp complaint; pregnancy named."""
    found = exposures(ctx, ctx.rule.inputs.drug_classes)
    pregnancy = ctx.facts.pregnancy
    if not pregnancy.pregnant:
        return _drug_finding(ctx, found)
    lines = [Evidence(label=s.label, ref=s.ref, when=s.when) for s in pregnancy.signals]
    return _drug_finding(ctx, found, f"{ctx.rule.templates[0]}-pregnant", evidence=lines)


def nsaid_in_pregnancy(ctx: RuleContext, p: A14Params) -> list[Finding]:
    """A14: systemic NSAID at >= from_weeks of pregnancy (FDA 2020); unknown gestation: info."""
    pregnancy = ctx.facts.pregnancy
    found = exposures(ctx, ctx.rule.inputs.drug_classes)
    if not pregnancy.pregnant or not found:
        return []
    lines = [Evidence(label=s.label, ref=s.ref, when=s.when) for s in pregnancy.signals]
    weeks = pregnancy.weeks
    if weeks is None:
        return _drug_finding(
            ctx, found, f"{ctx.rule.templates[0]}-unknown", severity=Severity.INFO, evidence=lines
        )
    if weeks < p.from_weeks:
        return []
    return _drug_finding(ctx, found, values={"n": str(weeks)}, evidence=lines)


MEDICATION_RULES: dict[str, RuleImpl[Any]] = {
    "A1": RuleImpl(diuretic_without_labs, A1Params),
    "A1b": RuleImpl(diuretic_with_low_labs, A1bParams),
    "A2": RuleImpl(long_term_ppi, A2Params),
    "A4": RuleImpl(long_acting_beta_agonist, NoParams),
    "A4s": RuleImpl(short_acting_beta_agonist, NoParams),
    "A5": RuleImpl(afp_cramp_drug, NoParams),
    "A6": RuleImpl(systemic_corticosteroid, A6Params),
    "A7": RuleImpl(magnesium_wasting_drug, A7Params),
    "A8": RuleImpl(lithium, A8Params),
    "A9": RuleImpl(stimulant, NoParams),
    "A10": RuleImpl(fluoroquinolone_knee, A10Params),
    "A11": RuleImpl(bone_agent, A11Params),
    "A12": RuleImpl(quinine_for_cramps, NoParams),
    "A14": RuleImpl(nsaid_in_pregnancy, A14Params),
    **STATIN_RULES,
}
