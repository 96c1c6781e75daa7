"""Resolved prefetch data: raw FHIR JSON per key, by type and by id. No IO here.

Readers take resources by type (`raw`) and read them through `hooks.fhirviews`; `parse`
validates one against FHIR R4B (projected to the elements a service reads), which is done only
for what a card cites (`hooks.citations`) and the Patient: validating every resource of a large
record would cost ~0.2 ms each.

Raw JSON is client data, so any element may hold any JSON type. A resource a reader cannot
read, or that fails validation, is unreadable: it is skipped, and counted by type and reason
(`unreadable()`), never by content. (Checking every resource's shape up front would cost
~1.3 us each, 2.6 ms on a 2,000-resource record.)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

from fhir.resources.R4B.resource import Resource
from pydantic import ValidationError

from hooks.types import JsonObject

R = TypeVar("R", bound=Resource)


class KeyStatus(StrEnum):
    """How a prefetch key was satisfied."""

    PREFETCHED = "prefetched"  # sent by the client, used as sent
    NULL = "null"  # client said: no data exists (CDS Hooks 2.0 prefetch `null`)
    FETCHED = "fetched"  # fetched from fhirServer
    UNAVAILABLE = "unavailable"  # optional key that could not be had


@dataclass(frozen=True, slots=True)
class PrefetchValue:
    """The resources behind one prefetch key, in the order the server returned them.

    `complete` is False when the set is known to lack records (a `next` page that could not
    be fetched): rules must not conclude from the absence of a record in it.
    """

    status: KeyStatus
    resources: tuple[JsonObject, ...] = ()
    complete: bool = True


class Unreadable(StrEnum):
    """Why a resource was skipped."""

    MALFORMED = "malformed"  # a raw filter met a JSON type FHIR does not allow (status: [])
    INVALID = "invalid"  # fails FHIR R4B validation of the elements a reader asked for


OTHER = "other"  # the type label of skipped resources no reader asked for


@dataclass(frozen=True)
class ResourceSet:
    """All resolved prefetch data of one call, indexed by resource type.

    `invalid` lists `Type/id` of every skipped resource (for tests and debugging; never
    logged); `unreadable()` counts them by type and reason (for logs, metrics and cards).
    """

    values: Mapping[str, PrefetchValue]
    invalid: list[str] = field(default_factory=list)
    _index: dict[str, list[JsonObject]] | None = field(default=None, repr=False, compare=False)
    _skipped: dict[int, tuple[str, Unreadable]] = field(
        default_factory=dict, repr=False, compare=False
    )
    _asked: set[str] = field(default_factory=set, repr=False, compare=False)
    _ids: dict[tuple[str, str], JsonObject] | None = field(default=None, repr=False, compare=False)

    def status(self, key: str) -> KeyStatus:
        """Status of a key; a key the service never declared counts as unavailable."""
        value = self.values.get(key)
        return value.status if value else KeyStatus.UNAVAILABLE

    def complete(self, key: str) -> bool:
        """Whether a key's data is whole; an unavailable or undeclared key is not."""
        value = self.values.get(key)
        return value is not None and value.complete and value.status is not KeyStatus.UNAVAILABLE

    def complete_type(self, resource_type: str) -> bool:
        """Whether every record of a type that the client or server has is here.

        False when an incomplete key holds that type, or holds nothing to tell its type by
        (no resources, or one whose resourceType is not a string: it could be any type).
        """
        for value in self.values.values():
            if value.complete:
                continue
            kinds = [r.get("resourceType") for r in value.resources]
            if not kinds or resource_type in kinds or not all(isinstance(k, str) for k in kinds):
                return False
        return True

    def raw(self, resource_type: str) -> Iterator[JsonObject]:
        """Every readable resource of a type across keys, deduplicated by id."""
        self._asked.add(resource_type)
        return iter(self._by_type().get(resource_type, ()))

    def find(self, resource_type: str, resource_id: str) -> JsonObject | None:
        """The resource with this type and id, if the call's data holds it."""
        if self._ids is None:
            ids = {
                (kind, rid): raw
                for kind, found in self._by_type().items()
                for raw in found
                if isinstance(rid := raw.get("id"), str)
            }
            object.__setattr__(self, "_ids", ids)
        assert self._ids is not None
        return self._ids.get((resource_type, resource_id))

    def unreadable(self) -> dict[tuple[str, str], int]:
        """How many resources were skipped, by (resource type, reason).

        Types no reader asked for are reported as `other`: a resourceType is client text, and
        these counts become log fields and metric labels.
        """
        counts: dict[tuple[str, str], int] = {}
        for kind, reason in self._skipped.values():
            label = kind if kind in self._asked else OTHER
            counts[label, reason.value] = counts.get((label, reason.value), 0) + 1
        return counts

    def unreadable_count(self, resource_type: str) -> int:
        """How many resources of one type were skipped, for any reason."""
        return sum(1 for kind, _ in self._skipped.values() if kind == resource_type)

    def skip(self, raw: JsonObject, resource_type: str, reason: Unreadable) -> None:
        """Note a resource a reader could not read; counted once however many readers try."""
        if id(raw) not in self._skipped:
            self._skipped[id(raw)] = (resource_type, reason)
            self.invalid.append(f"{resource_type}/{raw.get('id', '?')}")

    def _by_type(self) -> dict[str, list[JsonObject]]:
        """Resources grouped by type, built once: readers ask per type, many times per call."""
        if self._index is None:
            index: dict[str, list[JsonObject]] = {}
            seen: set[tuple[str, str]] = set()
            for value in self.values.values():
                for resource in value.resources:
                    kind, rid = resource.get("resourceType"), resource.get("id")
                    if not isinstance(kind, str):
                        self.skip(resource, OTHER, Unreadable.MALFORMED)
                        continue
                    if isinstance(rid, str):
                        if (kind, rid) in seen:
                            continue
                        seen.add((kind, rid))
                    index.setdefault(kind, []).append(resource)
            object.__setattr__(self, "_index", index)
        assert self._index is not None
        return self._index

    def parse(
        self, model: type[R], raw: JsonObject, fields: Iterable[str] | None = None
    ) -> R | None:
        """Validate one resource (projected to `fields` if given); note it in `invalid` if bad."""
        projected = raw
        if fields is not None:
            keep = frozenset(fields).union(("resourceType", "id"))
            projected = {key: value for key, value in raw.items() if key in keep}
        parsed = parse_resource(model, projected)
        if parsed is None:
            self.skip(raw, model.get_resource_type(), Unreadable.INVALID)
        return parsed


def parse_resource(model: type[R], raw: JsonObject) -> R | None:
    """Validate one resource; None when it does not conform to FHIR R4(B)."""
    try:
        return model.model_validate(raw)
    except (ValidationError, ValueError, TypeError, OverflowError):
        return None
