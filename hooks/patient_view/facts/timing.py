"""FHIR dates to aware UTC instants, and the window test every lookback uses.

Partial dates (YYYY, YYYY-MM) give no instant: a window cannot be judged on a guess.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta


def instant(value: object) -> datetime | None:
    """A FHIR date, dateTime or instant as aware UTC; naive times are read as UTC.

    None when the instant falls outside the years 1-9999 once moved to UTC (for example
    `0001-01-01T00:00:00+14:00`): such a date cannot be placed, so it is treated as unknown.
    """
    if isinstance(value, datetime):
        try:
            return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        except OverflowError:
            return None
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return None


def raw_instant(value: object) -> datetime | None:
    """A date string from raw JSON, for pre-filtering before validation."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return instant(datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value))
    except ValueError:
        return None


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
