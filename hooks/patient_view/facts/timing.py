"""Windows and instants as the rules compare them: every lookback uses `within`.

Reading a FHIR date is `hooks.fhirviews.instant`: a partial date gives no instant, so a window
is never judged on a guess.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta


def within(when: datetime | None, as_of: datetime, days: int) -> bool:
    """Whether `when` lies in the `days` before `as_of`, both edges included."""
    return when is not None and as_of - timedelta(days=days) <= when <= as_of


def days_between(first: datetime, second: datetime) -> float:
    """Absolute distance in days."""
    return abs((second - first).total_seconds()) / 86400


def iso_day(when: datetime | date | None) -> str:
    """The calendar day shown on cards (UTC), or an empty string when unknown."""
    if when is None:
        return ""
    return when.date().isoformat() if isinstance(when, datetime) else when.isoformat()


def earliest(*values: datetime | None) -> datetime | None:
    """The earliest known instant."""
    known = [value for value in values if value is not None]
    return min(known) if known else None


def latest(*values: datetime | None) -> datetime | None:
    """The latest known instant."""
    known = [value for value in values if value is not None]
    return max(known) if known else None
