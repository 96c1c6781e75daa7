"""ServiceRequests on file: what has already been ordered, so a card does not suggest it again.

Only the code, status and authoredOn are read. An entered-in-error request never counts, nor
does one whose code, status or date cannot be read: suggesting an order twice is safer than
guessing it was made.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from hooks.fhirdata import ResourceSet
from hooks.fhirviews import concept, instant, ref_of, status
from hooks.findings import ResourceRef

# The elements read below (and those R4 requires): a cited request is validated projected to them.
ORDER_FIELDS = ("status", "intent", "subject", "code", "authoredOn")
# An order placed moments ago may carry a time a little ahead of ours.
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """One ServiceRequest: its codes, status and when it was authored."""

    ref: ResourceRef
    codes: frozenset[tuple[str, str]]
    status: str
    authored: datetime
    label: str


@dataclass(frozen=True, slots=True)
class OrderFacts:
    """The patient's ServiceRequests that could stand for an order already made, newest first."""

    records: tuple[OrderRecord, ...] = ()

    def on_file(
        self,
        system: str,
        code: str,
        statuses: Iterable[str],
        as_of: datetime,
        days: int,
        after: datetime | None = None,
    ) -> OrderRecord | None:
        """The newest request for this code in one of `statuses`, authored in the last `days`.

        With `after`, only a request authored after that moment counts (one made before the
        newest result of what it measures has been fulfilled by that result).
        """
        wanted = set(statuses)
        earliest = as_of - timedelta(days=days)
        for record in self.records:
            if (system, code) not in record.codes or record.status not in wanted:
                continue
            if not earliest <= record.authored <= as_of + CLOCK_SKEW:
                continue
            if after is None or record.authored > after:
                return record
        return None


def read_orders(data: ResourceSet) -> OrderFacts:
    """Every dated ServiceRequest with a coded test that is not entered in error, newest first."""
    records: list[OrderRecord] = []
    for raw in data.raw("ServiceRequest"):
        state = status(raw)
        authored = instant(raw.get("authoredOn"))
        code = concept(raw.get("code"))
        if state is None or state == "entered-in-error" or authored is None or not code.codings:
            continue
        codes = frozenset((c.system, c.code) for c in code.codings)
        records.append(OrderRecord(ref_of(raw), codes, state, authored, code.label))
    records.sort(key=lambda record: record.authored, reverse=True)
    return OrderFacts(tuple(records))
