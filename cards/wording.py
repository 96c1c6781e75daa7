"""Filling summary templates from finding values: lists joined, length kept under the spec's limit.

Only named placeholders are substituted (no expression evaluation). A summary over the limit
falls back to short list forms ("X and 2 others"), then to each value's `_short` alternative,
then is cut with an ellipsis.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from cards.catalogue import CardCatalogue
from hooks.findings import Finding
from hooks.knowledge.cards import ListJoiners

SUMMARY_LIMIT = 139  # CDS Hooks 2.0 Card.summary: "less than 140 characters"
_MARKDOWN = re.compile(r"([\\`*_\[\]<>#|])")


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def join_list(items: tuple[str, ...], lists: ListJoiners, short: bool = False) -> str:
    """Join names: X / X and Y / X, Y and Z; short: X and 1 other / X and 2 others."""
    if not items:
        return ""
    if len(items) == 1:
        return lists.one.format(first=items[0])
    if len(items) == 2 and not short:
        return lists.two.format(first=items[0], second=items[1])
    if not short:
        return lists.all.format(init=", ".join(items[:-1]), last=items[-1])
    rest = len(items) - 1
    template = lists.more_one if rest == 1 else lists.more
    return template.format(first=items[0], n=rest)


def _values(
    finding: Finding, lists: ListJoiners, short_lists: bool, short_values: bool
) -> dict[str, str]:
    values = {k: v for k, v in finding.values.items() if not k.endswith("_short")}
    if short_values:
        values.update(
            {k[: -len("_short")]: v for k, v in finding.values.items() if k.endswith("_short")}
        )
    for key, items in finding.items.items():
        values[key] = join_list(items, lists, short_lists)
    return values


def render_summary(finding: Finding, catalogue: CardCatalogue, limit: int = SUMMARY_LIMIT) -> str:
    """The finding's summary sentence, at most `limit` characters."""
    template = catalogue.cards.templates[finding.template].summary
    text = ""
    for short_lists, short_values in ((False, False), (True, False), (True, True)):
        values = _values(finding, catalogue.cards.lists, short_lists, short_values)
        text = " ".join(template.format_map(_Blank(values)).split())
        if len(text) <= limit:
            return text
    return text[: limit - 1].rstrip() + "…"


def escape(text: str) -> str:
    """Record text shown in markdown must not become markup."""
    return _MARKDOWN.sub(r"\\\1", text)


def lookup(mapping: Mapping[str, str], key: str) -> str:
    """A value or an empty string."""
    return mapping.get(key, "")
