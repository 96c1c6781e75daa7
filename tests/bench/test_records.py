from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

import pytest

from bench.records import LATEST_OVERRIDES, Shape, generate
from bench.workloads import SHAPES

AS_OF = date(2026, 3, 1)


def kinds(resources: list[dict[str, Any]]) -> Counter[str]:
    return Counter(r["resourceType"] for r in resources)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("small", {"Patient": 1, "Condition": 3, "MedicationRequest": 2, "Observation": 12,
                   "Encounter": 2}),
        ("typical", {"Patient": 1, "Condition": 20, "MedicationRequest": 10, "Observation": 150,
                     "Encounter": 10}),
        ("heavy", {"Patient": 1, "Condition": 40, "MedicationRequest": 40, "Observation": 1880,
                   "Encounter": 40}),
    ],
)  # fmt: skip
def test_each_shape_has_the_resource_counts_the_issue_names(
    name: str, expected: dict[str, int]
) -> None:
    resources = generate(SHAPES[name], seed=1, as_of=AS_OF)

    assert kinds(resources) == expected
    assert len(resources) == SHAPES[name].total


def test_the_same_seed_gives_the_same_record_and_another_seed_does_not() -> None:
    shape = SHAPES["typical"]

    assert generate(shape, 7, AS_OF) == generate(shape, 7, AS_OF)
    assert generate(shape, 7, AS_OF) != generate(shape, 8, AS_OF)


def test_ids_are_unique_and_references_point_at_the_patient() -> None:
    resources = generate(SHAPES["heavy"], seed=3, as_of=AS_OF)
    patient = resources[0]

    assert len({r["id"] for r in resources}) == len(resources)
    assert {r["subject"]["reference"] for r in resources[1:]} == {f"Patient/{patient['id']}"}


def test_the_first_condition_is_an_active_knee_cramp_complaint() -> None:
    complaint = generate(SHAPES["small"], seed=1, as_of=AS_OF)[1]

    assert complaint["code"]["coding"][0] == {
        "system": "http://snomed.info/sct",
        "code": "449918009",
        "display": "Cramp in lower leg",
    }
    assert complaint["bodySite"][0]["coding"][0]["code"] == "72696002"
    assert complaint["clinicalStatus"]["coding"][0]["code"] == "active"
    assert complaint["onsetDateTime"].startswith("2026-02-26")


def test_latest_potassium_is_low_and_recent_so_the_rules_have_work() -> None:
    labs = [r for r in generate(SHAPES["typical"], 1, AS_OF) if r["resourceType"] == "Observation"]
    potassium = [o for o in labs if o["code"]["coding"][0]["code"] == "2823-3"]

    newest = max(potassium, key=lambda o: o["effectiveDateTime"])
    assert newest["valueQuantity"]["value"] == LATEST_OVERRIDES["2823-3"]
    assert newest["valueQuantity"]["code"] == "mmol/L"
    assert newest["effectiveDateTime"].startswith("2026-02-28")


def test_furosemide_is_an_active_order() -> None:
    meds = [
        r for r in generate(SHAPES["small"], 1, AS_OF) if r["resourceType"] == "MedicationRequest"
    ]

    lasix = meds[0]
    assert lasix["medicationCodeableConcept"]["coding"][0]["code"] == "315971"
    assert lasix["status"] == "active"


def test_an_inpatient_has_one_lab_panel_a_day_under_an_open_inpatient_encounter() -> None:
    shape = Shape(conditions=1, medications=0, labs=40, encounters=1, inpatient=True)
    resources = generate(shape, 1, AS_OF)
    encounter = next(r for r in resources if r["resourceType"] == "Encounter")
    labs = [r for r in resources if r["resourceType"] == "Observation"]

    assert encounter["class"]["code"] == "IMP"
    assert encounter["status"] == "in-progress"
    assert {o["effectiveDateTime"][:10] for o in labs} == {"2026-02-28", "2026-02-27"}
    assert {o["encounter"]["reference"] for o in labs} == {f"Encounter/{encounter['id']}"}
