"""The complaint gate: what counts as a spasm/cramp/twitch complaint, and knee context."""

from __future__ import annotations

from typing import Any

import pytest

from hooks.patient_view.facts.complaint import ComplaintFacts, read_complaint
from hooks.patient_view.facts.conditions import read_conditions
from tests.builders import (
    AS_OF,
    concept,
    iso,
    knowledge,
    make_call,
    make_condition,
    make_encounter,
    make_symptom,
)


def _complaint(*resources: dict[str, Any]) -> ComplaintFacts:
    call = make_call(list(resources))
    kb = knowledge()
    return read_complaint(call.data, read_conditions(call.data, kb), kb, AS_OF)


@pytest.mark.parametrize(
    ("code", "system"),
    [
        ("45352006", "snomed"),
        ("55300003", "snomed"),
        ("449918009", "snomed"),
        ("90392009", "snomed"),
        ("82470000", "snomed"),
        ("R25.2", "icd10cm"),
        ("R252", "icd10cm"),
        ("M62.831", "icd10cm"),
        ("M62.838", "icd10cm"),
    ],
)
def test_core_trigger_codes_make_a_complaint(code: str, system: str) -> None:
    assert _complaint(make_condition(code, system)).present


@pytest.mark.parametrize(
    ("code", "system"),
    [
        ("M62.830", "icd10cm"),  # back spasm: erratum 11, never via an M6283 prefix
        ("M25.561", "icd10cm"),  # knee pain alone is not a cramp
        ("30989003", "snomed"),
    ],
)
def test_back_spasm_and_knee_pain_alone_are_not_a_complaint(code: str, system: str) -> None:
    assert not _complaint(make_condition(code, system)).present


def test_a_resolved_cramp_is_not_a_complaint() -> None:
    assert not _complaint(make_condition(clinical="resolved")).present


def test_a_cramp_entry_from_2012_does_not_fire_on_every_chart_open() -> None:
    assert not _complaint(make_condition(recorded="2012-05-01")).present


@pytest.mark.parametrize(("days", "counts"), [(90, True), (90.001, False)])
def test_an_active_complaint_condition_counts_for_90_days(days: float, counts: bool) -> None:
    assert _complaint(make_condition(recorded=iso(days))).present is counts


def test_the_latest_of_onset_recorded_date_and_last_update_counts() -> None:
    old = make_condition(recorded="2015-01-01", onset="2015-01-01")
    assert not _complaint(old).present
    assert _complaint({**old, "onsetDateTime": iso(10)}).present
    assert _complaint({**old, "meta": {"lastUpdated": iso(10)}}).present


def test_an_old_complaint_reconfirmed_by_a_recent_encounter_counts() -> None:
    old = make_condition(recorded="2015-01-01", resource_id="cramp-2015")
    encounter = make_encounter(concept("185349003"), start=iso(40))
    encounter.pop("reasonCode")
    encounter["reasonReference"] = [{"reference": "Condition/cramp-2015"}]
    assert _complaint(old, encounter).present
    stale = {**encounter, "id": "enc-old", "period": {"start": iso(91), "end": iso(91)}}
    assert not _complaint(old, stale).present


@pytest.mark.parametrize(("days", "counts"), [(30, True), (0, True), (30.0001, False)])
def test_encounter_reason_counts_within_30_days(days: float, counts: bool) -> None:
    encounter = make_encounter(concept("55300003"), start=iso(days))
    assert _complaint(encounter).present is counts


@pytest.mark.parametrize(
    ("status", "counts"),
    [
        ("finished", True),
        ("in-progress", True),
        ("cancelled", False),
        ("entered-in-error", False),
        ("planned", False),
    ],
)
def test_encounter_status_decides_whether_its_reason_counts(status: str, counts: bool) -> None:
    assert _complaint(make_encounter(concept("R25.2", "icd10cm"), status=status)).present is counts


@pytest.mark.parametrize(("days", "counts"), [(30, True), (30.0001, False)])
def test_symptom_observation_counts_within_30_days(days: float, counts: bool) -> None:
    assert _complaint(make_symptom(when=iso(days))).present is counts


@pytest.mark.parametrize(
    ("status", "counts"),
    [
        ("final", True),
        ("preliminary", True),
        ("entered-in-error", False),
        ("cancelled", False),
    ],
)
def test_symptom_observation_status(status: str, counts: bool) -> None:
    assert _complaint(make_symptom(status=status)).present is counts


def test_symptom_coded_in_the_value_counts() -> None:
    observation = make_symptom("8661-1", "loinc", value=concept("55300003"))
    assert _complaint(observation).present


@pytest.mark.parametrize(
    ("text", "counts"),
    [
        ("Leg cramps at night", True),
        ("Charley horse, left calf", True),
        ("Twitching in the thigh", True),
        ("Eyelid twitching", False),  # issue 8 §6: a complaint needs a limb
        ("Cramps", False),  # uncoded text with no limb at all
        ("Menstrual cramps", False),
        ("Bronchospasm", False),
        ("Esophageal spasm", False),
        ("Writer's cramp", False),
    ],
)
def test_uncoded_text_counts_by_whole_words_with_exclusions(text: str, counts: bool) -> None:
    assert _complaint(make_condition(None, text=text)).present is counts


def test_a_coded_concept_is_decided_by_its_code_not_its_words() -> None:
    # A SNOMED-coded concept outside the trigger list: its "spasm" text must not count.
    coded = make_condition("266435005", text="Oesophageal spasm")
    assert not _complaint(coded).present


@pytest.mark.parametrize(
    "resources",
    [
        [make_condition(), make_condition("M25.561", "icd10cm")],
        [make_condition(text="Cramp in right knee")],
        [make_condition(body_site={"text": "Left knee region"})],
        [make_condition("M62.831", "icd10cm", display="Muscle spasm of calf")],
        [make_condition(), make_condition("1003722009")],
    ],
)
def test_knee_context_from_codes_body_site_or_words(resources: list[dict[str, Any]]) -> None:
    facts = _complaint(*resources)
    assert facts.present
    assert facts.knee


def test_without_knee_context_the_complaint_still_stands() -> None:
    facts = _complaint(make_condition(display="Cramp"))
    assert facts.present
    assert not facts.knee


def test_complaint_evidence_lists_newest_first() -> None:
    older = make_condition(recorded="2021-01-15", resource_id="old")
    newer = make_condition(recorded="2021-03-01", resource_id="new")
    assert [s.ref.id for s in _complaint(older, newer).evidence] == ["new", "old"]


@pytest.mark.parametrize(
    ("condition", "counts"),
    [
        (make_condition("45352006", text="Eyelid twitching"), False),
        (make_condition("45352006", body_site={"text": "Right eyelid"}), False),
        (make_condition("55300003", body_site={"text": "Lower back"}), False),
        (make_condition("55300003", body_site={"text": "Left calf"}), True),
        (make_condition("55300003"), True),  # a coded cramp with no site: limb unspecified
        (make_condition("449918009"), True),  # cramp in lower leg: a limb by itself
        (make_condition("G47.62", "icd10cm"), True),  # sleep related leg cramps
    ],
)
def test_a_coded_complaint_sited_away_from_the_limbs_does_not_count(
    condition: dict[str, Any], counts: bool
) -> None:
    assert _complaint(condition).present is counts


def test_fasciculation_only_is_not_a_cramp_for_stretching_advice() -> None:
    assert not _complaint(make_condition("82470000")).cramp
    assert _complaint(make_condition("82470000"), make_condition("55300003")).cramp


def test_a_symptom_dated_only_by_effective_instant_is_a_complaint() -> None:
    # Regression (issue 11): the instant was requested by the prefetch but never read.
    symptom = make_symptom(when=iso(2))
    symptom["effectiveInstant"] = symptom.pop("effectiveDateTime")
    assert _complaint(symptom).present
