"""Drug exposure as rules see it: systemic (or route-unknown) records in a set of classes.

Erratum 8: eye, ear, skin and (for most classes) inhaled products never count; where the
route is unknown and local forms exist, rules say so instead of warning.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

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
        if not (use.current or _in_window(ctx, use, wanted, window_days)):
            continue
        if use.local_atc or (use.route and use.route not in _systemic_routes(ctx, wanted)):
            continue
        local_forms = any(
            ctx.kb.drugs.ingredients[key].local_forms for key in use.match.ingredients
        )
        found.append(Exposure(use, _names(ctx, use, wanted), use.route is None and local_forms))
    return found


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
    """One detail line per medication record."""
    use = exposure.use
    basis = ctx.say(f"basis_{use.match.basis.value}", key=use.match.key)
    route = use.route or ctx.say("route_unknown_word")
    return Evidence(
        label=", ".join(exposure.names),
        ref=use.ref,
        when=use.start,
        note=ctx.say("drug_note", status=use.status, basis=basis, route=route),
    )


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


def stale_days(ctx: RuleContext, analyte: str) -> int:
    """How old a result of `analyte` may be and still say something about today.

    Shorter while a current drug depletes the analyte (labs.yaml depleting_drug_recency).
    """
    recency = ctx.kb.labs.depleting_drug_recency
    default = ctx.kb.analyte(analyte).stale_after_days
    if analyte in recency.analytes and exposures(ctx, recency.drug_classes):
        return min(default, recency.days)
    return default
