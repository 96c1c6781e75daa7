"""Drug exposure as rules see it: systemic (or route-unknown) records in a set of classes.

Erratum 8: eye, ear, skin and (for most classes) inhaled products never count; where the
route is unknown and local forms exist, rules say so instead of warning. An active record is
current exposure only with a recent sign of use, never when dated before the patient's birth,
and a drug is dated from the earliest start of its continuous use (drugs.yaml current_use).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from hooks.findings import Evidence, Severity
from hooks.patient_view.facts import MedicationUse
from hooks.patient_view.facts.timing import within
from hooks.patient_view.rules.context import RuleContext


@dataclass(frozen=True, slots=True)
class Exposure:
    """A recognised medication record relevant to a rule, with its route verdict."""

    use: MedicationUse
    names: tuple[str, ...]
    uncertain: bool


def _systemic_routes(ctx: RuleContext, classes: Iterable[str]) -> set[str]:
    """Routes that count as systemic: a class's own list, else the routes drugs.yaml marks."""
    drugs = ctx.kb.drugs
    default = {key for key, route in drugs.routes.items() if route.systemic}
    routes: set[str] = set()
    for key in classes:
        listed = drugs.classes[key].systemic_routes
        routes.update(listed if listed is not None else default)
    return routes


def _names(ctx: RuleContext, use: MedicationUse, classes: set[str]) -> tuple[str, ...]:
    ingredients = ctx.kb.drugs.ingredients
    names = tuple(
        ingredients[key].display
        for key in sorted(use.match.ingredients)
        if set(ingredients[key].classes) & classes
    )
    return names or (use.label,)


def exposures(
    ctx: RuleContext, classes: Iterable[str], window_days: int | Mapping[str, int] | None = None
) -> list[Exposure]:
    """Systemic (or route-unknown) records in the classes: current, or last seen in a window.

    A local route (eye/ear/skin, or inhaled for classes that do not list it) excludes the
    record (erratum 8). An unknown route counts, flagged `uncertain` when the ingredient also
    exists in local forms, so the rule can say so instead of warning.
    """
    wanted = set(classes)
    found = []
    for use in ctx.facts.medications.in_classes(wanted):
        if _before_birth(ctx, use):
            continue
        if not (in_use(ctx, use) or _in_window(ctx, use, wanted, window_days)):
            continue
        if use.local_atc or (use.route and use.route not in _systemic_routes(ctx, wanted)):
            continue
        local_forms = any(
            ctx.kb.drugs.ingredients[key].local_forms for key in use.match.ingredients
        )
        found.append(Exposure(use, _names(ctx, use, wanted), use.route is None and local_forms))
    return found


def _before_birth(ctx: RuleContext, use: MedicationUse) -> bool:
    """A record dated before the patient was born is a data error, never exposure."""
    born = ctx.facts.demographics.born
    start = use.start
    return born is not None and start is not None and start.date() < born


def in_use(ctx: RuleContext, use: MedicationUse) -> bool:
    """Current status and a recent sign of use (or no dates at all to judge by)."""
    if not use.current:
        return False
    seen = use.last_seen or use.start
    return (
        seen is None
        or within(seen, ctx.as_of, ctx.kb.drugs.current_use.recent_within_days)
        or seen > ctx.as_of
    )


def continuous_start(ctx: RuleContext, use: MedicationUse) -> datetime | None:
    """The earliest start of uninterrupted use of this record's ingredient(s)."""
    start = use.start
    if start is None or not use.match.ingredients:
        return start
    gap = timedelta(days=ctx.kb.drugs.current_use.continuity_gap_days)
    same = [
        other
        for other in ctx.facts.medications.uses
        if other.start is not None
        and other.match.ingredients & use.match.ingredients
        and not _before_birth(ctx, other)
    ]
    for other in sorted(same, key=_start_of, reverse=True):
        assert other.start is not None
        if other.start < start and (other.last_seen or other.start) >= start - gap:
            start = other.start
    return start


def _start_of(use: MedicationUse) -> datetime:
    assert use.start is not None
    return use.start


def _in_window(
    ctx: RuleContext,
    use: MedicationUse,
    classes: set[str],
    window_days: int | Mapping[str, int] | None,
) -> bool:
    if window_days is None:
        return False
    if isinstance(window_days, int):
        return within(use.last_seen, ctx.as_of, window_days)
    return any(
        within(use.last_seen, ctx.as_of, days)
        for cls, days in window_days.items()
        if cls in classes and cls in use.match.classes
    )


def drug_names(found: Iterable[Exposure]) -> tuple[str, ...]:
    """Distinct drug names in order of appearance."""
    names: list[str] = []
    for exposure in found:
        names.extend(name for name in exposure.names if name not in names)
    return tuple(names)


def drug_evidence(ctx: RuleContext, exposure: Exposure) -> Evidence:
    """One detail line per medication record, dated from the start of continuous use."""
    use = exposure.use
    basis = ctx.say(f"basis_{use.match.basis.value}", key=use.match.key)
    route = use.route or ctx.say("route_unknown_word")
    note = ctx.say("drug_note", status=use.status, basis=basis, route=route)
    since = continuous_start(ctx, use)
    if since is not None and use.start is not None and since < use.start:
        note = f"{note}; {ctx.say('drug_since', date=since.date().isoformat())}"
    return Evidence(label=", ".join(exposure.names), ref=use.ref, when=since, note=note)


def route_caveats(ctx: RuleContext, found: Iterable[Exposure]) -> tuple[str, ...]:
    """Say where a drug may be a local (eye/skin/inhaled) product."""
    return tuple(
        ctx.say("route_unknown", drug=", ".join(exposure.names))
        for exposure in found
        if exposure.uncertain
    )


def exposure_severity(ctx: RuleContext, found: Sequence[Exposure]) -> Severity:
    """The rule's severity, or info when every exposure's route is uncertain."""
    if found and all(exposure.uncertain for exposure in found):
        return Severity.INFO
    return ctx.rule.severity
