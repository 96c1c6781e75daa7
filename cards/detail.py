"""The card detail (GitHub-flavoured markdown), one card's findings in full.

It lists what prompted the review (the complaint), every finding with its evidence, what could
not be concluded and the full references. Record text is escaped so it cannot become markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cards.catalogue import CardCatalogue
from cards.wording import escape, render_summary
from hooks.findings import Evidence, Finding, FindingStatus, Prompt


def _when(evidence: Evidence) -> str:
    value = evidence.when
    if value is None:
        return ""
    return value.date().isoformat() if isinstance(value, datetime) else value.isoformat()


def evidence_line(evidence: Evidence, catalogue: CardCatalogue) -> str:
    """One evidence bullet: what, value (normalised and as reported), when, where, limit, note."""
    words = catalogue.cards.detail
    text = escape(evidence.label)
    if evidence.value:
        text += f": {escape(evidence.value)}"
    if evidence.original:
        text += f" ({words.reported_label} {escape(evidence.original)})"
    if evidence.when is not None:
        text += f", {_when(evidence)}"
    if evidence.ref is not None:
        text += f" — `{evidence.ref.reference}`"
    if evidence.threshold:
        text += f"; {words.threshold_label} {escape(evidence.threshold)}"
        citation = catalogue.citations.get(evidence.citation or "")
        if citation is not None:
            text += f" [{escape(citation.short)}]"
    if evidence.note:
        text += f"; {escape(evidence.note)}"
    return text


def _prompt(prompt: Prompt, catalogue: CardCatalogue) -> list[str]:
    lines = [catalogue.cards.detail.prompts[prompt.heading]]
    lines += [f"- {evidence_line(evidence, catalogue)}" for evidence in prompt.evidence]
    return lines


def _finding_block(number: int, finding: Finding, catalogue: CardCatalogue) -> list[str]:
    status = ""
    if finding.status is FindingStatus.UNGRADED:
        status = f", {catalogue.cards.detail.ungraded_status}"
    head = f"{number}. **{finding.rule_id}** ({finding.severity.value}{status}): " + escape(
        render_summary(finding, catalogue, limit=10_000)
    )
    lines = [head]
    lines += [f"   - {evidence_line(e, catalogue)}" for e in finding.evidence]
    lines += [f"   - {escape(caveat)}" for caveat in finding.caveats]
    note = catalogue.cards.templates[finding.template].note
    if note:
        lines.append(f"   - {escape(note)}")
    shorts = [catalogue.citations[k].short for k in finding.sources if k in catalogue.citations]
    if shorts:
        lines.append(f"   - {catalogue.cards.detail.sources_label}: {escape('; '.join(shorts))}")
    return lines


def _references(findings: Sequence[Finding], catalogue: CardCatalogue) -> list[str]:
    keys: list[str] = []
    for finding in findings:
        cited = [*finding.sources, *(e.citation for e in finding.evidence if e.citation)]
        keys.extend(k for k in cited if k not in keys and k in catalogue.citations)
    lines = []
    for key in keys:
        citation = catalogue.citations[key]
        link = f" <{citation.url}>" if citation.url else ""
        lines.append(f"- **{escape(citation.short)}**: {escape(citation.citation)}{link}")
    return lines


def _advice(findings: Sequence[Finding], catalogue: CardCatalogue) -> list[str]:
    lines = []
    for finding in findings:
        lines.append(f"- {escape(render_summary(finding, catalogue, limit=10_000))}")
        note = catalogue.cards.templates[finding.template].note
        if note:
            lines.append(f"- {escape(note)}")
    return lines


def render_detail(
    findings: Sequence[Finding], prompt: Prompt | None, catalogue: CardCatalogue
) -> str:
    """The markdown detail of one card; `findings` are already in display order."""
    words = catalogue.cards.detail
    hidden = (FindingStatus.NO_CONCLUSION, FindingStatus.ADVICE)
    shown = [f for f in findings if f.status not in hidden]
    unused = [f for f in findings if f.status is FindingStatus.NO_CONCLUSION]
    advice = [f for f in findings if f.status is FindingStatus.ADVICE]
    parts = ["\n".join(_prompt(prompt, catalogue))] if prompt is not None else []
    parts.append(words.findings_heading)
    blocks = [_finding_block(n, f, catalogue) for n, f in enumerate(shown, start=1)]
    parts.append("\n".join(line for block in blocks for line in block))
    if unused:
        lines = [f"- {escape(c)}" for f in unused for c in f.caveats]
        parts += [words.no_conclusion_heading, "\n".join(lines)]
    if advice:
        parts += [words.management_heading, "\n".join(_advice(advice, catalogue))]
    parts += [words.references_heading, "\n".join(_references([*shown, *advice], catalogue))]
    return "\n\n".join(parts)
