"""Family C: neurological conditions and red flags (C1-C13).

Diagnoses come from active Conditions (SNOMED exact, ICD-10-CM prefix); fasciculation may also
come from the complaint itself. A known motor neuron disease (C3) explains fasciculations and
weakness, so C1 and C2 stay silent then rather than calling a known diagnosis a red flag.
Emergencies (Guillain-Barre syndrome, cauda equina, a possible DVT with a risk factor) are
critical; a diagnosis recorded long ago is not re-alerted as an emergency.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hooks.fhirviews import Coding
from hooks.findings import CodeRef, Evidence, Finding, Severity
from hooks.knowledge.params import AnalyteKey, Days, GroupKey, RuleParams, Whole
from hooks.patient_view.facts import ConditionRecord
from hooks.patient_view.facts.conditions import groups_of
from hooks.patient_view.facts.timing import days_between, iso_day, within
from hooks.patient_view.rules.context import RuleContext, RuleImpl
from hooks.patient_view.rules.evidence import condition_evidence, incomplete, usable_within
from hooks.patient_view.rules.exposure import drug_evidence, drug_names, exposures


class DiagnosisParams(RuleParams):
    """A rule about the active diagnoses of one condition group."""

    group: GroupKey


class NewDiagnosisParams(DiagnosisParams):
    """Only diagnoses recorded within new_within_days (or undated) count."""

    new_within_days: Days


class MndAwareParams(RuleParams):
    """Fasciculation and weakness mean little in a known motor neuron disease (C3)."""

    fasciculation: GroupKey
    known_mnd: GroupKey


class C1Params(MndAwareParams):
    """C1: focal weakness or atrophy groups (critical), and generalised weakness (warning)."""

    focal: tuple[GroupKey, ...]
    general: GroupKey


class C2Params(MndAwareParams):
    """C2: weakness that is new or progressive; silent after a recent GBS (C11)."""

    weakness: GroupKey
    recent_gbs: GroupKey
    new_within_days: Days
    progressive_min_records: Whole
    progressive_min_span_days: Days
    gbs_days: Days


class LabCheck(RuleParams):
    """A diagnosis and the test it needs.

    `analyte` is ordered and named when neither it nor a result in `also` is on file.
    """

    group: GroupKey
    analyte: AnalyteKey
    also: tuple[AnalyteKey, ...] = ()


class C7Params(RuleParams):
    """C7: the diagnoses and the tests each needs within lab_window_days."""

    lab_window_days: Days
    checks: tuple[LabCheck, ...]


class C8Params(DiagnosisParams):
    """C8: neuropathy, except records also in the `excluded` group (GBS is C11's)."""

    excluded: GroupKey


class C12Params(RuleParams):
    """C12: leg swelling (one leg, unspecified, both legs), DVT now and past, risk groups."""

    one_leg: GroupKey
    swelling: GroupKey
    both_legs: GroupKey
    dvt: GroupKey
    past_dvt: GroupKey
    risk_groups: tuple[GroupKey, ...]
    new_within_days: Days
    recent_dvt_days: Days


def _values(ctx: RuleContext, record: ConditionRecord, group: str) -> dict[str, str]:
    return {"dx": record.label, "dx_short": ctx.kb.conditions.groups[group].display}


def _named(
    ctx: RuleContext,
    records: Sequence[ConditionRecord],
    group: str,
    *,
    coded_reason: bool = False,
) -> list[Finding]:
    """One finding naming the first of `records` (and when it was recorded); all as evidence."""
    if not records:
        return []
    values = _values(ctx, records[0], group)
    template = ctx.rule.templates[0]
    if records[0].recorded is not None:
        values["date"] = iso_day(records[0].recorded)
    else:
        template += "-undated"  # falls back to the plain template when there is no variant
    return [
        ctx.finding(
            template,
            values=values,
            evidence=[condition_evidence(record) for record in records],
            reason=_reason(ctx, records[0]) if coded_reason else None,
        )
    ]


def _diagnosis(ctx: RuleContext, group: str) -> list[Finding]:
    """The active diagnoses of a group, named in one finding."""
    return _named(ctx, ctx.facts.conditions.active_in(group), group)


def _reason(ctx: RuleContext, record: ConditionRecord) -> CodeRef | None:
    """The diagnosis itself as the reason for its orders (its first SNOMED or ICD coding)."""
    systems = (ctx.kb.systems.snomed, ctx.kb.systems.icd10cm)
    code: Coding | None = next((c for c in record.codes if c.system in systems), None)
    return CodeRef(code.system, code.code, code.display or record.label) if code else None


def _fasciculation(ctx: RuleContext, p: MndAwareParams) -> list[Evidence]:
    lines = [condition_evidence(r) for r in ctx.facts.conditions.active_in(p.fasciculation)]
    seen = {line.ref for line in lines}
    for signal in ctx.facts.complaint.evidence:
        if p.fasciculation in groups_of(signal.codes, ctx.kb) and signal.ref not in seen:
            lines.append(Evidence(label=signal.label, ref=signal.ref, when=signal.when))
    return lines


def _known_mnd(ctx: RuleContext, p: MndAwareParams) -> bool:
    return bool(ctx.facts.conditions.active_in(p.known_mnd))


def fasciculation_with_weakness(ctx: RuleContext, p: C1Params) -> list[Finding]:
    """C1: fasciculation with focal weakness or atrophy (critical).

    With generalised weakness only: a warning and an urgent referral. Never with a known motor
    neuron disease.
    """
    fasciculation = _fasciculation(ctx, p)
    if not fasciculation or _known_mnd(ctx, p):
        return []
    conditions = ctx.facts.conditions
    focal = conditions.active_in(*p.focal)
    general = [r for r in conditions.active_in(p.general) if r not in focal]
    if focal:
        return [
            ctx.finding(
                "C1",
                severity=Severity.CRITICAL,
                evidence=[*fasciculation, *(condition_evidence(r) for r in (*focal, *general))],
                reason=_reason(ctx, focal[0]),
            )
        ]
    if general:
        return [
            ctx.finding(
                "C1-general",
                severity=Severity.WARNING,
                evidence=[*fasciculation, *(condition_evidence(r) for r in general)],
                priority="urgent",
                reason=_reason(ctx, general[0]),
            )
        ]
    return []


def _progressive(p: C2Params, history: tuple[ConditionRecord, ...]) -> bool:
    dates = sorted(r.recorded for r in history if r.recorded is not None)
    return (
        len(dates) >= p.progressive_min_records
        and days_between(dates[0], dates[-1]) > p.progressive_min_span_days
    )


def progressive_weakness(ctx: RuleContext, p: C2Params) -> list[Finding]:
    """C2: weakness that is new (within new_within_days) or recorded repeatedly over time.

    Silent with a known motor neuron disease, and with a fasciculation (C1 names both).
    """
    active = ctx.facts.conditions.active_in(p.weakness)
    if (
        not active
        or _known_mnd(ctx, p)
        or _fasciculation(ctx, p)
        or _new(ctx, p.recent_gbs, p.gbs_days)
    ):
        return []  # C3, C1 or C11 already name what the weakness means
    new = [r for r in active if within(r.recorded, ctx.as_of, p.new_within_days)]
    history = ctx.facts.conditions.history_in(p.weakness)
    if not new and not _progressive(p, history):
        return []
    return [ctx.finding("C2", evidence=[condition_evidence(r) for r in history])]


def known_motor_neuron_disease(ctx: RuleContext, p: DiagnosisParams) -> list[Finding]:
    """C3: known ALS or motor neuron disease."""
    return _diagnosis(ctx, p.group)


def spasticity_condition(ctx: RuleContext, p: DiagnosisParams) -> list[Finding]:
    """C4: spastic neurological condition; already on an antispasticity drug, review it."""
    records = ctx.facts.conditions.active_in(p.group)
    if not records:
        return []
    treated = exposures(ctx, ctx.rule.inputs.drug_classes)
    evidence = [condition_evidence(r) for r in records]
    if not treated:
        return [ctx.finding("C4", values=_values(ctx, records[0], p.group), evidence=evidence)]
    return [
        ctx.finding(
            "C4-treated",
            values=_values(ctx, records[0], p.group),
            items={"drug": drug_names(treated)},
            evidence=[*evidence, *(drug_evidence(ctx, e) for e in treated)],
        )
    ]


def spinal_stenosis(ctx: RuleContext, p: DiagnosisParams) -> list[Finding]:
    """C5: spinal stenosis, radiculopathy or sciatica."""
    return _diagnosis(ctx, p.group)


def _new(ctx: RuleContext, group: str, window: int) -> list[ConditionRecord]:
    """Active records of a group recorded within `window` days, or undated."""
    return [
        r
        for r in ctx.facts.conditions.active_in(group)
        if r.recorded is None or within(r.recorded, ctx.as_of, window)
    ]


def cauda_equina(ctx: RuleContext, p: NewDiagnosisParams) -> list[Finding]:
    """C6: a new (or undated) cauda equina diagnosis; an established one is not re-alerted."""
    records = _new(ctx, p.group, p.new_within_days)
    if not records:
        return []
    return [
        ctx.finding(
            "C6",
            evidence=[condition_evidence(r) for r in records],
            reason=_reason(ctx, records[0]),
        )
    ]


def endocrine_without_labs(ctx: RuleContext, p: C7Params) -> list[Finding]:
    """C7: thyroid disorder without a TSH, or hypoparathyroidism without a calcium, in window.

    Orders only the missing test (no PTH for a thyroid disorder).
    """
    window = p.lab_window_days
    missing: list[tuple[str, str, ConditionRecord]] = []
    for check in p.checks:
        records = ctx.facts.conditions.active_in(check.group)
        done = (check.analyte, *check.also)
        if records and not any(usable_within(ctx, a, window) for a in done):
            missing.append((check.analyte, check.group, records[0]))
    if not missing:
        return []
    if not ctx.facts.labs.complete:
        return [incomplete(ctx)]  # absence of a result proves nothing on incomplete data
    _, group, first = missing[0]
    orders = [o for o in ctx.rule.orders for a, _, _ in missing if a in ctx.measures(o)]
    return [
        ctx.finding(
            "C7",
            values=_values(ctx, first, group),
            items={"analyte": tuple(ctx.kb.analyte(a).short for a, _, _ in missing)},
            evidence=[condition_evidence(record) for _, _, record in missing],
            orders=orders,
        )
    ]


def peripheral_neuropathy(ctx: RuleContext, p: C8Params) -> list[Finding]:
    """C8: peripheral neuropathy (Guillain-Barre syndrome is C11's, never a routine card)."""
    active = ctx.facts.conditions.active_in(p.group)
    return _named(ctx, [r for r in active if p.excluded not in r.groups], p.group)


def autoimmune_condition(ctx: RuleContext, p: DiagnosisParams) -> list[Finding]:
    """C9: autoimmune neuromuscular disease (disabled: no verified source; see OMITTED.md)."""
    return _diagnosis(ctx, p.group)


def vascular_mimic(ctx: RuleContext, p: DiagnosisParams) -> list[Finding]:
    """C10: peripheral arterial disease or claudication."""
    return _diagnosis(ctx, p.group)


def guillain_barre(ctx: RuleContext, p: NewDiagnosisParams) -> list[Finding]:
    """C11: Guillain-Barre syndrome recorded recently (or undated): same-day emergency."""
    return _named(ctx, _new(ctx, p.group, p.new_within_days), p.group, coded_reason=True)


def _laterality(ctx: RuleContext, record: ConditionRecord) -> set[str]:
    """Sides named by the body site: SNOMED qualifier codes, or the words left and right."""
    codes = {c.code for c in record.body_site_codes}
    words = set(record.body_site_words.split())
    sides = set()
    laterality = ctx.kb.conditions.laterality
    for side, entry in (("left", laterality.left), ("right", laterality.right)):
        code = entry.code if entry.usable else None
        if code in codes or ctx.say(f"laterality_{side}") in words:
            sides.add(side)
    return sides


def _one_leg_swollen(ctx: RuleContext, p: C12Params) -> list[ConditionRecord]:
    """Recent one-sided leg swelling; swelling of both legs anywhere on file cancels it."""
    conditions = ctx.facts.conditions
    window = p.new_within_days
    recent = [
        r
        for r in conditions.active_in(p.one_leg, p.swelling)
        if within(r.recorded, ctx.as_of, window)
    ]
    both = [r for r in conditions.active_in(p.both_legs) if within(r.recorded, ctx.as_of, window)]
    one_sided = [r for r in recent if p.one_leg in r.groups or len(_laterality(ctx, r)) == 1]
    return [] if both else one_sided


def _dvt_risks(ctx: RuleContext, p: C12Params) -> list[Evidence]:
    conditions = ctx.facts.conditions
    note = ctx.say("dvt_risk")
    lines = [
        Evidence(label=r.label, ref=r.ref, when=r.recorded, note=note)
        for r in conditions.active_in(*p.risk_groups)
    ]
    lines += [
        Evidence(label=r.label, ref=r.ref, when=r.recorded, note=ctx.say("dvt_old"))
        for r in (*conditions.history_in(p.past_dvt), *conditions.history_in(p.dvt))
    ]
    lines += [
        Evidence(label=s.label, ref=s.ref, when=s.when, note=note)
        for s in ctx.facts.pregnancy.signals
        if ctx.facts.pregnancy.pregnant
    ]
    for exposure in exposures(ctx, ctx.rule.inputs.drug_classes):
        line = drug_evidence(ctx, exposure)
        lines.append(Evidence(label=line.label, ref=line.ref, when=line.when, note=note))
    return lines


def possible_dvt(ctx: RuleContext, p: C12Params) -> list[Finding]:
    """C12: one-sided leg swelling with a leg complaint: possible DVT (NICE NG158 Wells score).

    Critical with a risk factor. A recent DVT on file is named; an old one is a risk factor.
    """
    recent_dvt = [
        r
        for r in ctx.facts.conditions.active_in(p.dvt)
        if within(r.recorded, ctx.as_of, p.recent_dvt_days)
    ]
    if recent_dvt:
        return [
            ctx.finding(
                "C12-known",
                severity=Severity.WARNING,
                values=_values(ctx, recent_dvt[0], p.dvt),
                evidence=[condition_evidence(r) for r in recent_dvt],
                orders=(),
            )
        ]
    swollen = _one_leg_swollen(ctx, p)
    if not swollen:
        return []
    risks = [line for line in _dvt_risks(ctx, p) if line.ref not in {r.ref for r in swollen}]
    values = _values(ctx, swollen[0], p.one_leg)
    evidence = [*(condition_evidence(r) for r in swollen), *risks]
    if risks:
        return [
            ctx.finding("C12", values=values, evidence=evidence, reason=_reason(ctx, swollen[0]))
        ]
    return [
        ctx.finding(
            "C12-no-risk",
            severity=Severity.WARNING,
            values=values,
            evidence=evidence,
            reason=_reason(ctx, swollen[0]),
        )
    ]


def cirrhosis(ctx: RuleContext, p: DiagnosisParams) -> list[Finding]:
    """C13: cirrhosis, a recognised association of muscle cramps."""
    return _diagnosis(ctx, p.group)


NEUROLOGY_RULES: dict[str, RuleImpl[Any]] = {
    "C1": RuleImpl(fasciculation_with_weakness, C1Params),
    "C2": RuleImpl(progressive_weakness, C2Params),
    "C3": RuleImpl(known_motor_neuron_disease, DiagnosisParams),
    "C4": RuleImpl(spasticity_condition, DiagnosisParams),
    "C5": RuleImpl(spinal_stenosis, DiagnosisParams),
    "C6": RuleImpl(cauda_equina, NewDiagnosisParams),
    "C7": RuleImpl(endocrine_without_labs, C7Params),
    "C8": RuleImpl(peripheral_neuropathy, C8Params),
    "C9": RuleImpl(autoimmune_condition, DiagnosisParams),
    "C10": RuleImpl(vascular_mimic, DiagnosisParams),
    "C11": RuleImpl(guillain_barre, NewDiagnosisParams),
    "C12": RuleImpl(possible_dvt, C12Params),
    "C13": RuleImpl(cirrhosis, DiagnosisParams),
}
