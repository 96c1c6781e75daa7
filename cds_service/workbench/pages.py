"""The workbench's pages: Jinja2 templates, matplotlib charts, markdown-it for card detail.

Every page is one self-contained HTML file: styles inline, charts as inline SVG, no script and
no network reference, so it opens from a mail attachment and prints as it shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markdown_it import MarkdownIt
from markupsafe import Markup

from cds_service.workbench import charts
from cds_service.workbench.models import INDICATORS, ReplayResult, ReportResult

if TYPE_CHECKING:
    from cds_service.workbench.catalogue import Catalogue

MAX_CHART_ROWS = 30
TREND_RULES = 5  # rules drawn in the over-time charts (the most frequent)
STATE_COLOURS = {"shown": "#2f6db5", "shadow": "#52606d", "snoozed": "#8e6c8a", "off": "#9aa5b1"}
ACCEPTANCE_GOAL = 0.30  # McCoy 2022


@cache
def environment() -> Environment:
    """Templates from the package; autoescaped HTML, plain Markdown."""
    env = Environment(
        loader=PackageLoader("cds_service.workbench", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals["pct"] = percent
    env.filters["markdown"] = markdown
    env.filters["mdcell"] = markdown_cell
    env.filters["blockquote"] = blockquote
    return env


def markdown_cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def blockquote(text: str) -> str:
    """Markdown quoted line by line."""
    return "\n".join(f"> {line}".rstrip() for line in text.splitlines())


def percent(part: float, whole: float) -> str:
    """`part` of `whole` as a percentage, or n/a when there is no whole."""
    return f"{100 * part / whole:.1f}%" if whole else "n/a"


@cache
def _markdown() -> MarkdownIt:
    # Card detail is GitHub-flavoured markdown from our own catalogue; raw HTML stays off anyway.
    return MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def markdown(text: str | None) -> Markup:
    """Card detail rendered as an EHR would (CommonMark with tables, no raw HTML)."""
    return Markup(_markdown().render(text or ""))  # noqa: S704 - markdown-it escapes input


def _trim(labels: Sequence[str], values: Sequence[float]) -> tuple[list[str], list[float]]:
    return list(labels[:MAX_CHART_ROWS]), list(values[:MAX_CHART_ROWS])


def render_replay(result: ReplayResult) -> str:
    """index.html of a replay."""
    s = result.summary
    labels, values = _trim(
        [f"{r.rule} {r.title}"[:48] for r in s.by_rule], [r.per_100_patients for r in s.by_rule]
    )
    found: dict[str, Any] = {
        "rules": charts.hbar(
            "Firing rate per rule",
            labels,
            values,
            xlabel="patients per 100 evaluated",
            counts=False,
        ),
        "indicators": charts.hbar(
            "Indicator mix",
            list(INDICATORS),
            [c.count for c in s.by_indicator],
            xlabel="cards",
            colours=[charts.INDICATOR_COLOURS[i] for i in INDICATORS],
        ),
        "orders": charts.hbar(
            "Orders suggested",
            *_trim([o.key for o in s.by_order], [o.count for o in s.by_order]),
            xlabel="suggestions",
        ),
    }
    if result.comparison is not None:
        changed = [d for d in result.comparison.by_rule if d.before or d.after]
        shown = changed[:MAX_CHART_ROWS]
        found["baseline"] = charts.grouped_hbar(
            "Patients per rule: baseline and proposed",
            [d.rule for d in shown],
            [d.before for d in shown],
            [d.after for d in shown],
            xlabel="patients",
        )
    page = environment().get_template("replay.html.j2")
    return page.render(r=result, charts={k: Markup(v) for k, v in found.items()})  # noqa: S704


def render_catalogue(catalogue: Catalogue) -> tuple[str, str]:
    """The catalogue's page and its Markdown twin (for review by e-mail)."""
    from cds_service.workbench.catalogue import families_by_severity

    counts = families_by_severity(catalogue.rules)
    families = sorted(counts)
    chart = charts.stacked_hbar(
        "Rules by family and indicator",
        families,
        {ind: [counts[f].get(ind, 0) for f in families] for ind in INDICATORS},
        colours=charts.INDICATOR_COLOURS,
        xlabel="rules",
    )
    env = environment()
    html = env.get_template("catalogue.html.j2").render(c=catalogue, chart=Markup(chart))  # noqa: S704
    text = env.get_template("catalogue.md.j2").render(c=catalogue)
    return html, text


def render_report(result: ReportResult) -> str:
    """index.html of a ledger report."""
    window = _window(result)
    found: dict[str, str] = {}
    if result.cards:
        shown = result.by_rule[:MAX_CHART_ROWS]
        states = sorted({s for rule in shown for s in rule.states}, key=list(STATE_COLOURS).index)
        found["rules"] = charts.stacked_hbar(
            "Findings per rule, by state",
            [rule.rule for rule in shown],
            {s: [rule.states.get(s, 0) for rule in shown] for s in states},
            colours=STATE_COLOURS,
            xlabel="findings (a shown finding: a card)",
        )
        found["indicators"] = charts.hbar(
            "Indicator mix",
            list(INDICATORS),
            [result.by_indicator.get(i, 0) for i in INDICATORS],
            xlabel="cards",
            colours=[charts.INDICATOR_COLOURS[i] for i in INDICATORS],
        )
        top = [rule.rule for rule in result.by_rule[:TREND_RULES]]
        starts = [p.start for p in result.periods]
        found["acceptance"] = charts.lines(
            "Acceptance per rule over time",
            starts,
            {
                rule: [
                    p.accepted_by_rule.get(rule, 0) / p.by_rule[rule]
                    if p.by_rule.get(rule)
                    else None
                    for p in result.periods
                ]
                for rule in top
            },
            ylabel="accepted",
            goal=ACCEPTANCE_GOAL,
            goal_label="goal 30%",
            percent=True,
        )
        found["volume"] = charts.lines(
            "Cards per rule over time",
            starts,
            {rule: [float(p.by_rule.get(rule, 0)) for p in result.periods] for rule in top},
            ylabel="cards",
        )
    if result.override_reasons:
        reasons = result.override_reasons[:MAX_CHART_ROWS]
        found["reasons"] = charts.hbar(
            "Override reasons",
            [(r.display or r.code or "(none given)")[:48] for r in reasons],
            [r.count for r in reasons],
            xlabel="times given",
        )
    page = environment().get_template("report.html.j2")
    return page.render(
        r=result,
        window=window,
        charts={k: Markup(v) for k, v in found.items()},  # noqa: S704
    )


def _window(result: ReportResult) -> str:
    since = result.since.date().isoformat() if result.since else "the first card"
    until = result.until.date().isoformat() if result.until else "now"
    return f"{since} to {until}"
