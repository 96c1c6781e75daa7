"""Evidence lines and "no conclusion" findings for laboratory results and diagnoses.

Values appear both normalised (canonical unit) and as the laboratory reported them.
"""

from __future__ import annotations

from datetime import datetime

from hooks.findings import Evidence, Finding, FindingStatus, Severity
from hooks.patient_view.facts import ConditionRecord, LabResult
from hooks.patient_view.facts.timing import iso_day
from hooks.patient_view.facts.units import format_number
from hooks.patient_view.rules.context import RuleContext


def lab_evidence(
    ctx: RuleContext,
    result: LabResult,
    threshold: str | None = None,
    citation: str | None = None,
    note: str | None = None,
) -> Evidence:
    """A result with its normalised and reported values (and its unit caveat if approximate)."""
    analyte = ctx.kb.analyte(result.analyte)
    as_reported = reported(result)
    value = None
    if result.canonical is not None and not result.approximate:
        value = f"{format_number(result.canonical)} {analyte.canonical_unit}"
    if result.approximate and result.unit is not None:
        caveat = analyte.approximate_units[result.unit]
        note = f"{note}; {caveat}" if note else caveat
    return Evidence(
        label=sentence_case(analyte.display),
        ref=result.ref,
        value=value or as_reported,
        original=as_reported if value and as_reported != value else None,
        when=result.when,
        threshold=threshold,
        citation=citation,
        note=note,
    )


def condition_evidence(record: ConditionRecord) -> Evidence:
    """A diagnosis line."""
    return Evidence(label=record.label, ref=record.ref, when=record.recorded)


def newer_caveats(ctx: RuleContext, result: LabResult) -> list[str]:
    """Why results newer than `result` were not used: not convertible, bounded or unreadable.

    A newer result that could not be read is named, so the card never reads as if `result`
    were the latest the laboratory reported.
    """
    caveats = [unusable_caveat(ctx, newer) for newer in ctx.facts.labs.newer_unusable(result)]
    analyte = ctx.kb.analyte(result.analyte).display
    caveats += [
        ctx.say("unreadable_newer", analyte=analyte, ref=ref.reference)
        for ref in ctx.facts.labs.newer_unreadable(result)
    ]
    return caveats


def unusable_caveat(ctx: RuleContext, result: LabResult) -> str:
    """Why a present result was not used."""
    analyte = ctx.kb.analyte(result.analyte).display
    if result.comparator:
        return ctx.say(
            "comparator",
            analyte=analyte,
            date=iso_day(result.when),
            comparator=result.comparator,
            value=format_number(result.value),
            unit=result.reported_unit,
        )
    return ctx.say(
        "unit_unconvertible",
        analyte=analyte,
        date=iso_day(result.when),
        unit=result.reported_unit or ctx.say("no_unit_word"),
    )


def no_conclusion(ctx: RuleContext, result: LabResult) -> Finding:
    """A listed-only finding for a result that exists but cannot be used."""
    return ctx.finding(
        ctx.rule.templates[0],
        severity=Severity.INFO,
        status=FindingStatus.NO_CONCLUSION,
        orders=(),
        evidence=(lab_evidence(ctx, result),),
        caveats=(unusable_caveat(ctx, result),),
        subject=(result.analyte, result.ref.id),
    )


def incomplete(ctx: RuleContext) -> Finding:
    """A listed-only note: no conclusion was drawn from a missing result (data incomplete)."""
    return ctx.finding(
        ctx.rule.templates[0],
        severity=Severity.INFO,
        status=FindingStatus.NO_CONCLUSION,
        orders=(),
        caveats=(ctx.say("labs_incomplete"),),
    )


def usable_within(ctx: RuleContext, analyte: str, days: int) -> LabResult | None:
    """The latest result if it is recent and usable."""
    result = ctx.facts.labs.current(analyte, ctx.as_of, days)
    return result if result is not None and result.usable else None


def age_words(ctx: RuleContext, when: datetime) -> str:
    """How old a result is, as a clinician says it: "3 days", "11 months", "2 years"."""
    days = max(0, (ctx.as_of - when).days)
    if days < 60:
        return ctx.say("age_days", n=str(days)) if days != 1 else ctx.say("age_day")
    if days < 730:
        return ctx.say("age_months", n=str(round(days / 30.44)))
    return ctx.say("age_years", n=str(days // 365))


def sentence_case(text: str) -> str:
    """Capitalise a leading word unless it is an acronym such as eGFR."""
    if len(text) > 1 and text[1].isupper():
        return text
    return text[:1].upper() + text[1:]


def reported(result: LabResult) -> str:
    """The value and unit exactly as the laboratory reported them."""
    return f"{format_number(result.value)} {result.reported_unit}".strip()


def value_parts(result: LabResult) -> dict[str, str]:
    """{value}, {unit} and {date} as reported by the laboratory."""
    return {
        "value": format_number(result.value),
        "unit": result.reported_unit or result.unit or "",
        "date": iso_day(result.when),
    }
