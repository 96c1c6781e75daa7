"""The one Bundle unpacker: a client's prefetch, a FHIR server's search page, a file's Bundle.

Bundles come from outside, so `entry`, `link`, `search` and `total` may hold any JSON type;
what cannot be read is left out, never raised on.
"""

from __future__ import annotations

from dataclasses import dataclass

from hooks.fhirviews import objects
from hooks.types import JsonObject


@dataclass(frozen=True, slots=True)
class Page:
    """What one Bundle holds.

    `resources`: the entries' resources, search outcomes (warnings, not patient data) left out.
    `next_url`: the `next` link as written (resolve and check it before following it).
    `short`: the Bundle says more resources match than it holds (`total` above its matches).
    """

    resources: tuple[JsonObject, ...]
    next_url: str | None = None
    short: bool = False


def unpack(value: JsonObject) -> Page:
    """A Bundle's page; any other resource is a page of itself."""
    if value.get("resourceType") != "Bundle":
        return Page((value,))
    resources: list[JsonObject] = []
    matches = 0
    for entry in objects(value.get("entry")):
        if not isinstance(entry.get("resource"), dict):
            continue
        search = entry.get("search")
        mode = search.get("mode") if isinstance(search, dict) else None
        if mode == "outcome":
            continue
        resources.append(entry["resource"])
        matches += mode in (None, "match")
    next_url = next(
        (link.get("url") for link in objects(value.get("link")) if link.get("relation") == "next"),
        None,
    )
    # A searchset's `total` counts every match; with no next link, more matches than entries
    # means the sender cut the set short (e.g. one page, the link dropped).
    total = value.get("total")
    short = type(total) is int and total > matches
    return Page(tuple(resources), next_url if isinstance(next_url, str) else None, short)
