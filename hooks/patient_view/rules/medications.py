"""Family A: medications linked to cramps, spasm, myalgia or electrolyte loss (A1-A12).

Each function is one catalogue rule; its docstring carries the id. Drugs count only when
systemic (erratum 8); a lab value a drug explains is named in the same finding (A1b, A3, A11),
and the lab rule stays silent about that Observation (`supersedes` in rules.yaml).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from hooks.findings import Evidence, Finding, Severity
from hooks.patient_view.facts import LabResult
from hooks.patient_view.facts.timing import earliest
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
    reported,
    unusable_caveat,
    usable_within,
    value_parts,
)
from hooks.patient_view.rules.exposure import (
    Exposure,
    drug_evidence,
    drug_names,
    exposure_severity,
    exposures,
    route_caveats,
    stale_days,
)
from hooks.patient_view.rules.grading import Grade, grade, uln_multiple

DIURETICS = ("loop_diuretic", "thiazide")
DIURETIC_LABS = ("potassium", "magnesium")


def _drug_finding(
    ctx: RuleContext,
    found: Sequence[Exposure],
    template: str | None = None,
    *,
    severity: Severity | None = None,
    values: dict[str, str] | None = None,
    orders: Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
    subject: tuple[str, str] | None = None,
) -> list[Finding]:
    """The common shape: name the drugs, list their records, say where the route is unknown."""
    if not found:
        return []
    return [
        ctx.finding(
            template or ctx.rule.templates[0],
            severity=severity or exposure_severity(ctx, found),
            values=values,
            items={"drug": drug_names(found)},
            evidence=[drug_evidence(ctx, exposure) for exposure in found],
            caveats=route_caveats(ctx, found),
            orders=orders,
            sources=sources,
            subject=subject,
        )
    ]


def _extend(
    finding: Finding,
    evidence: Sequence[Evidence] = (),
    caveats: Sequence[str] = (),
    items: dict[str, tuple[str, ...]] | None = None,
) -> Finding:
    """A copy with more evidence, caveats or list items (findings are frozen)."""
    return replace(
        finding,
        evidence=(*finding.evidence, *evidence),
        caveats=(*finding.caveats, *caveats),
        items={**finding.items, **(items or {})},
    )


def _missing_lab(ctx: RuleContext, analyte: str, days: int) -> tuple[Evidence, list[str]]:
    """An evidence line saying no usable result is recent, with why an existing one is unused."""
    latest = ctx.facts.labs.latest(analyte)
    line = Evidence(
        label=ctx.say("missing_lab", analyte=ctx.kb.analyte(analyte).display, days=str(days)),
        ref=latest.ref if latest else None,
        when=latest.when if latest else None,
        value=reported(latest) if latest else None,
    )
    caveats = [unusable_caveat(ctx, latest)] if latest is not None and not latest.usable else []
    return line, caveats


def _low_result(ctx: RuleContext, analyte: str) -> tuple[LabResult | None, Grade | None]:
    """The latest current usable result of an analyte and its low grade, if any."""
    result = usable_within(ctx, analyte, stale_days(ctx, analyte))
    if result is None or result.measure is None:
        return None, None
    return result, grade(ctx, analyte, result.measure, result.low, "low", "critical_low")


def diuretic_without_labs(ctx: RuleContext) -> list[Finding]:
    """A1: current loop/thiazide diuretic and no usable K or Mg in the lab window."""
    found = exposures(ctx, DIURETICS)
    if not found:
        return []
    window = ctx.days("lab_window_days")
    missing: list[str] = []
    lines: list[Evidence] = []
    caveats: list[str] = []
    for analyte in DIURETIC_LABS:
        _, low = _low_result(ctx, analyte)
        if usable_within(ctx, analyte, window) is not None or (low is not None and low.abnormal):
            continue  # recent, or A1b's
        line, why = _missing_lab(ctx, analyte, window)
        missing.append(analyte)
        lines.append(line)
        caveats.extend(why)
    if not missing:
        return []
    orders = [o for o, a in (("bmp", "potassium"), ("magnesium", "magnesium")) if a in missing]
    [finding] = _drug_finding(ctx, found, orders=orders)
    return [
        _extend(
            finding,
            items={"analyte": tuple(ctx.kb.analyte(a).short for a in missing)},
            evidence=lines,
            caveats=caveats,
        )
    ]


def diuretic_with_low_labs(ctx: RuleContext) -> list[Finding]:
    """A1b: current diuretic and a low K or Mg taken after the diuretic started."""
    found = exposures(ctx, DIURETICS)
    findings = []
    for analyte in DIURETIC_LABS:
        result, low = _low_result(ctx, analyte)
        if result is None or low is None or not low.abnormal:
            continue
        started = [e for e in found if e.use.start is not None and e.use.start <= result.when]
        if not started:
            continue  # not attributable to the drug: B1/B2 report it
        finding = ctx.finding(
            "A1b",
            severity=Severity.CRITICAL if low.severe else ctx.rule.severity,
            values=value_parts(result),
            items={"drug": drug_names(started), "analyte": (ctx.kb.analyte(analyte).display,)},
            evidence=[
                lab_evidence(ctx, result, low.limit, low.citation),
                *(drug_evidence(ctx, e) for e in started),
            ],
            caveats=route_caveats(ctx, started),
            subject=(analyte, result.ref.id),
        )
        findings.append(finding)
    return findings


def long_term_ppi(ctx: RuleContext) -> list[Finding]:
    """A2: PPI first recorded > min_duration_days ago (or undated) and no usable Mg in window."""
    found = exposures(ctx, ("ppi",))
    if not found or usable_within(ctx, "magnesium", ctx.days("lab_window_days")):
        return []
    all_ppi = ctx.facts.medications.in_classes(("ppi",))
    first = earliest(*(use.start for use in all_ppi))
    caveats: list[str] = []
    if first is None:
        caveats.append(ctx.say("start_unknown", drug=", ".join(drug_names(found))))
    elif (ctx.as_of - first).days <= ctx.days("min_duration_days"):
        return []
    line, why = _missing_lab(ctx, "magnesium", ctx.days("lab_window_days"))
    [finding] = _drug_finding(ctx, found)
    return [_extend(finding, evidence=[line], caveats=[*caveats, *why])]


def statin_muscle_symptoms(ctx: RuleContext) -> list[Finding]:
    """A3: current statin; names a raised CK (graded >ULN / >5x / >10x) and active weakness."""
    found = exposures(ctx, ("statin",))
    if not found:
        return []
    severity, template = exposure_severity(ctx, found), "A3"
    values: dict[str, str] = {}
    subject: tuple[str, str] | None = None
    evidence = [drug_evidence(ctx, e) for e in found]
    ck = usable_within(ctx, "ck", ctx.days("ck_lookback_days"))
    multiple = uln_multiple(ctx, "ck", ck.measure, ck.high) if ck and ck.measure else None
    if ck is not None and multiple is not None and multiple.times > 1:
        template, subject = "A3-ck", ("ck", ck.ref.id)
        values = {**value_parts(ck), "n": format_number(round(multiple.times, 1))}
        evidence.insert(0, lab_evidence(ctx, ck, multiple.limit, multiple.citation))
        if multiple.times > ctx.number("critical_x_uln"):
            severity = Severity.CRITICAL
        elif multiple.times > ctx.number("warning_x_uln"):
            severity = Severity.WARNING
    weakness = ctx.facts.conditions.active_in("weakness")
    if weakness and severity is Severity.INFO:
        severity = Severity.WARNING
    evidence.extend(condition_evidence(record) for record in weakness)
    orders = ["ck"] + ([] if usable_within(ctx, "tsh", ctx.days("tsh_window_days")) else ["tsh"])
    return [
        ctx.finding(
            template,
            severity=severity,
            values=values,
            items={"drug": drug_names(found)},
            evidence=evidence,
            orders=orders,
            caveats=route_caveats(ctx, found),
            subject=subject,
        )
    ]


def beta_agonist(ctx: RuleContext) -> list[Finding]:
    """A4: beta-2 agonist or methylxanthine; Garrison 2012 cited for LABAs only (erratum 9)."""
    found = exposures(ctx, ctx.rule.inputs.drug_classes)
    laba = [e for e in found if "laba" in e.use.match.classes]
    others = [e for e in found if e not in laba]
    orders = [] if usable_within(ctx, "potassium", ctx.days("lab_window_days")) else ["bmp"]
    return [
        *_drug_finding(ctx, laba, "A4-laba", orders=orders),
        *_drug_finding(ctx, others, "A4", orders=orders),
    ]


def afp_cramp_drug(ctx: RuleContext) -> list[Finding]:
    """A5: raloxifene, conjugated estrogens, teriparatide, IV iron sucrose or naproxen."""
    return _drug_finding(ctx, exposures(ctx, ("afp_cramp_drug",)))


def systemic_corticosteroid(ctx: RuleContext) -> list[Finding]:
    """A6: systemic corticosteroid course of >= min_duration_days (any for fludrocortisone)."""
    any_duration = set(ctx.names("any_duration"))
    minimum = ctx.days("min_duration_days")
    found = [
        e
        for e in exposures(ctx, ("corticosteroid",))
        if e.use.match.ingredients & any_duration
        or (e.use.start is not None and (ctx.as_of - e.use.start).days >= minimum)
    ]
    weakness = ctx.facts.conditions.active_in("weakness")
    orders = ["bmp", "ck"] if weakness else ["bmp"]
    return _drug_finding(ctx, found, orders=orders)


def magnesium_wasting_drug(ctx: RuleContext) -> list[Finding]:
    """A7: Mg-wasting drug current or within window_days, and no usable Mg in the lab window."""
    found = exposures(ctx, ("mg_wasting",), ctx.days("window_days"))
    if not found or usable_within(ctx, "magnesium", ctx.days("lab_window_days")):
        return []
    line, why = _missing_lab(ctx, "magnesium", ctx.days("lab_window_days"))
    return [_extend(f, evidence=[line], caveats=why) for f in _drug_finding(ctx, found)]


def lithium(ctx: RuleContext) -> list[Finding]:
    """A8: lithium carbonate or citrate (never the orotate supplement, erratum 7)."""
    return _drug_finding(ctx, exposures(ctx, ("lithium",)))


def stimulant(ctx: RuleContext) -> list[Finding]:
    """A9: amphetamines, methylphenidate, modafinil or a caffeine product."""
    return _drug_finding(ctx, exposures(ctx, ("stimulant",)))


def fluoroquinolone_knee(ctx: RuleContext) -> list[Finding]:
    """A10: fluoroquinolone within window_days and knee or leg context."""
    if not ctx.facts.complaint.knee:
        return []
    return _drug_finding(ctx, exposures(ctx, ("fluoroquinolone",), ctx.days("window_days")))


def bone_agent(ctx: RuleContext) -> list[Finding]:
    """A11: bisphosphonate or denosumab; names a low calcium (A11-low, warning)."""
    found = exposures(ctx, ("bisphosphonate", "rankl_inhibitor"), ctx.windows("class_window_days"))
    if not found:
        return []
    reading = read_calcium(ctx)
    if reading is None or reading.kind in (CalciumKind.NO_ALBUMIN, CalciumKind.UNUSABLE):
        return _drug_finding(ctx, found)
    calcium_grade = grade_calcium(ctx, reading)
    if not calcium_grade.abnormal:
        return _drug_finding(ctx, found)
    [finding] = _drug_finding(
        ctx,
        found,
        "A11-low",
        severity=Severity.WARNING,
        values=calcium_parts(reading),
        subject=(reading.result.analyte, reading.result.ref.id),
    )
    return [_extend(finding, evidence=calcium_evidence(ctx, reading, calcium_grade))]


def quinine_for_cramps(ctx: RuleContext) -> list[Finding]:
    """A12: quinine prescribed to a patient with a cramp complaint."""
    return _drug_finding(ctx, exposures(ctx, ("quinine",)))


MEDICATION_RULES: dict[str, RuleImpl] = {
    "A1": RuleImpl(diuretic_without_labs, {"lab_window_days": int}),
    "A1b": RuleImpl(
        diuretic_with_low_labs,
        {},
        (
            ("potassium", "low"),
            ("potassium", "critical_low"),
            ("magnesium", "low"),
            ("magnesium", "critical_low"),
        ),
    ),
    "A2": RuleImpl(long_term_ppi, {"min_duration_days": int, "lab_window_days": int}),
    "A3": RuleImpl(
        statin_muscle_symptoms,
        {
            "ck_lookback_days": int,
            "tsh_window_days": int,
            "warning_x_uln": float,
            "critical_x_uln": float,
        },
        (("ck", "uln"),),
    ),
    "A4": RuleImpl(beta_agonist, {"lab_window_days": int}),
    "A5": RuleImpl(afp_cramp_drug),
    "A6": RuleImpl(systemic_corticosteroid, {"min_duration_days": int, "any_duration": tuple}),
    "A7": RuleImpl(magnesium_wasting_drug, {"window_days": int, "lab_window_days": int}),
    "A8": RuleImpl(lithium),
    "A9": RuleImpl(stimulant),
    "A10": RuleImpl(fluoroquinolone_knee, {"window_days": int}),
    "A11": RuleImpl(
        bone_agent,
        {"class_window_days": dict},
        (("calcium_total", "low"), ("calcium_corrected", "low"), ("calcium_ionized", "low")),
    ),
    "A12": RuleImpl(quinine_for_cramps),
}
