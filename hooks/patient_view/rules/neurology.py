"""Family C: neurological conditions and red flags (C1-C10).

Diagnoses come from active Conditions (SNOMED exact, ICD-10-CM prefix); fasciculation may also
come from the complaint itself. A known motor neuron disease (C3) explains fasciculations and
weakness, so C1 and C2 stay silent then rather than calling a known diagnosis a red flag.
"""

from __future__ import annotations

from hooks.findings import Evidence, Finding
from hooks.patient_view.facts import ConditionRecord
from hooks.patient_view.facts.conditions import groups_of
from hooks.patient_view.facts.timing import days_between, within
from hooks.patient_view.rules.context import RuleContext, RuleImpl
from hooks.patient_view.rules.evidence import condition_evidence, usable_within


def _diagnosis(ctx: RuleContext, group: str, template: str | None = None) -> list[Finding]:
    """One finding naming the first active diagnosis of a group; all of them as evidence."""
    records = ctx.facts.conditions.active_in(group)
    if not records:
        return []
    return [
        ctx.finding(
            template or ctx.rule.templates[0],
            values={"dx": records[0].label, "dx_short": ctx.kb.conditions.groups[group].display},
            evidence=[condition_evidence(record) for record in records],
        )
    ]


def _fasciculation(ctx: RuleContext) -> list[Evidence]:
    lines = [condition_evidence(r) for r in ctx.facts.conditions.active_in("fasciculation")]
    seen = {line.ref for line in lines}
    for signal in ctx.facts.complaint.evidence:
        if "fasciculation" in groups_of(signal.codes, ctx.kb) and signal.ref not in seen:
            lines.append(Evidence(label=signal.label, ref=signal.ref, when=signal.when))
    return lines


def _known_mnd(ctx: RuleContext) -> bool:
    return bool(ctx.facts.conditions.active_in("mnd"))


def fasciculation_with_weakness(ctx: RuleContext) -> list[Finding]:
    """C1: fasciculation and weakness or atrophy, without a known motor neuron disease."""
    fasciculation = _fasciculation(ctx)
    deficits = ctx.facts.conditions.active_in("weakness", "atrophy")
    if not fasciculation or not deficits or _known_mnd(ctx):
        return []
    return [
        ctx.finding("C1", evidence=[*fasciculation, *(condition_evidence(r) for r in deficits)])
    ]


def _progressive(ctx: RuleContext, history: tuple[ConditionRecord, ...]) -> bool:
    dates = sorted(r.recorded for r in history if r.recorded is not None)
    return len(dates) >= ctx.days("progressive_min_records") and days_between(
        dates[0], dates[-1]
    ) > ctx.days("progressive_min_span_days")


def progressive_weakness(ctx: RuleContext) -> list[Finding]:
    """C2: weakness that is new (within new_within_days) or recorded repeatedly over time."""
    active = ctx.facts.conditions.active_in("weakness")
    if not active or _known_mnd(ctx):
        return []
    new = [r for r in active if within(r.recorded, ctx.as_of, ctx.days("new_within_days"))]
    history = ctx.facts.conditions.history_in("weakness")
    if not new and not _progressive(ctx, history):
        return []
    return [ctx.finding("C2", evidence=[condition_evidence(r) for r in history])]


def known_motor_neuron_disease(ctx: RuleContext) -> list[Finding]:
    """C3: known ALS or motor neuron disease."""
    return _diagnosis(ctx, "mnd")


def spasticity_condition(ctx: RuleContext) -> list[Finding]:
    """C4: MS, spinal cord injury, spastic stroke sequela, cerebral palsy or spasticity."""
    return _diagnosis(ctx, "spasticity")


def spinal_stenosis(ctx: RuleContext) -> list[Finding]:
    """C5: spinal stenosis, radiculopathy or sciatica."""
    return _diagnosis(ctx, "spine")


def cauda_equina(ctx: RuleContext) -> list[Finding]:
    """C6: a new (or undated) cauda equina diagnosis; an established one is not re-alerted."""
    window = ctx.days("new_within_days")
    records = [
        r
        for r in ctx.facts.conditions.active_in("cauda_equina")
        if r.recorded is None or within(r.recorded, ctx.as_of, window)
    ]
    if not records:
        return []
    return [ctx.finding("C6", evidence=[condition_evidence(r) for r in records])]


def endocrine_without_labs(ctx: RuleContext) -> list[Finding]:
    """C7: thyroid disorder without a TSH, or hypoparathyroidism without a calcium, in window."""
    window = ctx.days("lab_window_days")
    missing: list[tuple[str, ConditionRecord]] = []
    thyroid = ctx.facts.conditions.active_in("thyroid")
    if thyroid and usable_within(ctx, "tsh", window) is None:
        missing.append(("tsh", thyroid[0]))
    parathyroid = ctx.facts.conditions.active_in("parathyroid")
    calcium = ("calcium_total", "calcium_corrected", "calcium_ionized")
    if parathyroid and not any(usable_within(ctx, a, window) for a in calcium):
        missing.append(("calcium_total", parathyroid[0]))
    if not missing:
        return []
    first = missing[0][1]
    return [
        ctx.finding(
            "C7",
            values={
                "dx": first.label,
                "dx_short": ctx.kb.conditions.groups["thyroid"].display
                if missing[0][0] == "tsh"
                else ctx.kb.conditions.groups["parathyroid"].display,
            },
            items={"analyte": tuple(ctx.kb.analyte(a).short for a, _ in missing)},
            evidence=[condition_evidence(record) for _, record in missing],
        )
    ]


def peripheral_neuropathy(ctx: RuleContext) -> list[Finding]:
    """C8: peripheral neuropathy."""
    return _diagnosis(ctx, "neuropathy")


def autoimmune_condition(ctx: RuleContext) -> list[Finding]:
    """C9: stiff-person syndrome, myasthenia, myositis, SLE, RA, Sjogren or systemic sclerosis."""
    return _diagnosis(ctx, "autoimmune")


def vascular_mimic(ctx: RuleContext) -> list[Finding]:
    """C10: peripheral arterial disease, claudication or lower-extremity DVT."""
    return _diagnosis(ctx, "vascular")


NEUROLOGY_RULES: dict[str, RuleImpl] = {
    "C1": RuleImpl(fasciculation_with_weakness),
    "C2": RuleImpl(
        progressive_weakness,
        {"new_within_days": int, "progressive_min_records": int, "progressive_min_span_days": int},
    ),
    "C3": RuleImpl(known_motor_neuron_disease),
    "C4": RuleImpl(spasticity_condition),
    "C5": RuleImpl(spinal_stenosis),
    "C6": RuleImpl(cauda_equina, {"new_within_days": int}),
    "C7": RuleImpl(endocrine_without_labs, {"lab_window_days": int}),
    "C8": RuleImpl(peripheral_neuropathy),
    "C9": RuleImpl(autoimmune_condition),
    "C10": RuleImpl(vascular_mimic),
}
