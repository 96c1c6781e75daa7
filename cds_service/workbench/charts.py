"""Charts as inline SVG, drawn by matplotlib (object API: no pyplot, no global figure state).

Text stays text (`svg.fonttype: none`), so charts are small, searchable and print sharply; a
fixed hash salt and no date make the output byte-stable. Element ids are prefixed per chart so
several charts can share one HTML page.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from itertools import count
from typing import Any

import matplotlib as mpl
from matplotlib import dates, ticker
from matplotlib.figure import Figure

INDICATOR_COLOURS = {"info": "#2f6db5", "warning": "#d98a00", "critical": "#c0392b"}
BEFORE, AFTER = "#9aa5b1", "#2f6db5"
INK = "#1f2933"
_RC: dict[Any, Any] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "cds-workbench",
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.edgecolor": "#cbd2d9",
    "axes.labelcolor": INK,
    "xtick.color": INK,
    "ytick.color": INK,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_ids = count(1)
_ID = re.compile(r'(id="|url\(#|href="#)([^")]+)')


def _svg(figure: Figure, label: str) -> str:
    buffer = io.StringIO()
    with mpl.rc_context(_RC):
        figure.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    prefix = f"c{next(_ids)}-"
    text = _ID.sub(lambda m: m.group(1) + prefix + m.group(2), text)
    return text.replace("<svg ", f'<svg class="chart" role="img" aria-label="{_attr(label)}" ', 1)


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def _figure(rows: int) -> Figure:
    with mpl.rc_context(_RC):
        return Figure(figsize=(7.0, max(1.4, 0.28 * rows + 0.8)), layout="constrained")


def hbar(
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    xlabel: str,
    colours: Sequence[str] | None = None,
    fmt: str = "{:g}",
    counts: bool = True,
) -> str:
    """Horizontal bars, first label on top, each bar labelled with its value."""
    with mpl.rc_context(_RC):
        figure = _figure(len(labels))
        axes = figure.subplots()
        positions = list(range(len(labels)))[::-1]
        bars = axes.barh(positions, values, color=list(colours) if colours else AFTER)
        axes.set_yticks(positions, labels)
        axes.set_xlabel(xlabel)
        axes.set_title(title, loc="left", fontsize=10, color=INK)
        axes.bar_label(bars, labels=[fmt.format(v) for v in values], padding=3, fontsize=8)
        axes.margins(x=0.12)
        if counts:
            axes.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    return _svg(figure, title)


def stacked_hbar(
    title: str,
    labels: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    colours: Mapping[str, str],
    xlabel: str,
) -> str:
    """Horizontal bars split into named segments (e.g. rules per family by indicator)."""
    with mpl.rc_context(_RC):
        figure = _figure(len(labels) + 1)
        axes = figure.subplots()
        positions = list(range(len(labels)))[::-1]
        left = [0.0] * len(labels)
        for name, values in series.items():
            bars = axes.barh(positions, values, left=left, color=colours.get(name), label=name)
            axes.bar_label(
                bars, labels=[f"{v:g}" if v else "" for v in values], label_type="center",
                color="white", fontsize=8,
            )  # fmt: skip
            left = [a + b for a, b in zip(left, values, strict=True)]
        axes.set_yticks(positions, labels)
        axes.set_xlabel(xlabel)
        axes.set_title(title, loc="left", fontsize=10, color=INK)
        axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        axes.margins(x=0.04)
        axes.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    return _svg(figure, title)


def grouped_hbar(
    title: str,
    labels: Sequence[str],
    before: Sequence[float],
    after: Sequence[float],
    *,
    xlabel: str,
    names: tuple[str, str] = ("baseline", "proposed"),
) -> str:
    """Before/after bars per label (a knowledge change under review)."""
    with mpl.rc_context(_RC):
        figure = _figure(2 * len(labels))
        axes = figure.subplots()
        height = 0.4
        positions = list(range(len(labels)))[::-1]
        first = axes.barh([p + height / 2 for p in positions], before, height, color=BEFORE)
        second = axes.barh([p - height / 2 for p in positions], after, height, color=AFTER)
        first.set_label(names[0])
        second.set_label(names[1])
        axes.set_yticks(positions, labels)
        axes.set_xlabel(xlabel)
        axes.set_title(title, loc="left", fontsize=10, color=INK)
        axes.bar_label(first, padding=2, fontsize=7)
        axes.bar_label(second, padding=2, fontsize=7)
        axes.legend(loc="lower right", frameon=False)
        axes.margins(x=0.12)
        axes.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    return _svg(figure, title)


def lines(
    title: str,
    x: Sequence[datetime],
    series: Mapping[str, Sequence[float | None]],
    *,
    ylabel: str,
    goal: float | None = None,
    goal_label: str = "",
    percent: bool = False,
) -> str:
    """One line per series over time; an optional dashed goal line (e.g. 30% acceptance)."""
    with mpl.rc_context(_RC):
        figure = Figure(figsize=(7.0, 3.0), layout="constrained")
        axes = figure.subplots()
        for name, values in series.items():
            points = [(t, v) for t, v in zip(x, values, strict=True) if v is not None]
            if points:
                times: Any = [t for t, _ in points]  # matplotlib's stubs omit datetime
                axes.plot(
                    times,
                    [v for _, v in points],
                    marker="o",
                    ms=3,
                    label=name,
                )
        if goal is not None:
            axes.axhline(goal, color="#7b8794", linestyle="--", linewidth=1, label=goal_label)
        axes.xaxis.set_major_formatter(dates.DateFormatter("%Y-%m-%d"))  # type: ignore[no-untyped-call]
        if percent:
            axes.set_ylim(0, 1.05)
            axes.yaxis.set_major_formatter(ticker.PercentFormatter(1.0))
        else:
            axes.set_ylim(bottom=0)
            axes.yaxis.set_major_locator(ticker.MaxNLocator(integer=True))
        axes.set_ylabel(ylabel)
        axes.set_title(title, loc="left", fontsize=10, color=INK)
        axes.tick_params(axis="x", labelrotation=30, labelsize=7)
        if series or goal is not None:
            axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=7)
    return _svg(figure, title)
