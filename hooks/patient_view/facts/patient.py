"""Demographics the rules need: deceased or not, and whether adult defaults may apply.

A partial birth date (YYYY or YYYY-MM) gives the youngest possible age, so a borderline
patient is treated as a child (laboratory range or no conclusion), never as an adult.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime

from fhir.resources.R4B.patient import Patient

from hooks.fhirdata import ResourceSet
from hooks.fhirviews import ref_of
from hooks.findings import ResourceRef
from hooks.types import JsonObject

# The elements read below. The Patient is validated (projected to them) before it is read:
# every conclusion rests on its age and on its being alive.
PATIENT_FIELDS = ("birthDate", "gender", "deceasedBoolean", "deceasedDateTime")


@dataclass(frozen=True, slots=True)
class Demographics:
    """Who the patient is, as far as the rules care."""

    ref: ResourceRef
    deceased: bool
    min_age: int | None
    adult_age: int
    sex: str | None = None
    born: date | None = None

    @property
    def adult(self) -> bool:
        """Adult default thresholds apply only when the patient is surely an adult."""
        return self.min_age is not None and self.min_age >= self.adult_age

    @property
    def age_band(self) -> str:
        """unknown, infant (< 1 year: no default applies), child or adult."""
        if self.min_age is None:
            return "unknown"
        if self.min_age < 1:
            return "infant"
        return "adult" if self.adult else "child"


def read_demographics(data: ResourceSet, as_of: datetime, adult_age: int) -> Demographics | None:
    """The Patient of the call, or None when it is missing or invalid (then no cards)."""
    patient = next(data.raw("Patient"), None)
    if patient is None or data.parse(Patient, patient, PATIENT_FIELDS) is None:
        return None
    birth = patient.get("birthDate")
    gender = patient.get("gender")
    return Demographics(
        ref=ref_of(patient),
        deceased=_deceased(patient),
        min_age=_min_age(birth, as_of.date()),
        adult_age=adult_age,
        sex=gender if gender in ("male", "female") else None,
        born=bounds[0] if (bounds := _birth_bounds(birth)) else None,
    )


def _deceased(patient: JsonObject) -> bool:
    # Patients who died keep "active" orders in real and Synthea data (README), so check first.
    return patient.get("deceasedBoolean") is True or patient.get("deceasedDateTime") is not None


def _birth_bounds(value: object) -> tuple[date, date] | None:
    """The earliest and latest day a (possibly partial: YYYY, YYYY-MM) birth date allows."""
    if not isinstance(value, str):
        return None
    if len(value) == 10:
        try:
            day = date.fromisoformat(value)
        except ValueError:
            return None
        return day, day
    parts = value.split("-")
    if len(parts) not in (1, 2) or not all(part.isdigit() for part in parts):
        return None
    year = int(parts[0])
    try:
        if len(parts) == 1:
            return date(year, 1, 1), date(year, 12, 31)
        month = int(parts[1])
        return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])
    except (ValueError, calendar.IllegalMonthError):
        return None


def _min_age(birth: object, today: date) -> int | None:
    bounds = _birth_bounds(birth)
    born = bounds[1] if bounds else None
    if born is None or born > today:
        return None
    had_birthday = (today.month, today.day) >= (born.month, born.day)
    return today.year - born.year - (0 if had_birthday else 1)
