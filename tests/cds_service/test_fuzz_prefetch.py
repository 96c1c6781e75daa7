"""Property-based fuzzing of the FHIR inside prefetch: the call always answers.

A resource that cannot be read is skipped and counted; it never turns the call into a 500.
The seeds are the README's examples (each has a complaint, so every reader and rule runs) at
their own clock, and mutations go inside their resources: wrong JSON types, dates at the
edges of the calendar, huge numbers, NUL characters.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.fuzz import NASTY as NASTY_VALUES
from bench.fuzz import paths
from tests.cds_service.support import URL
from tests.cds_service.test_fuzz import json_values
from tests.conftest import log_lines, make_app

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.json"))
SEEDS = [
    body
    for body in (json.loads(path.read_text()) for path in EXAMPLES)
    if isinstance(body, dict) and "prefetch" in body
]
# Values a FHIR element might hold in a broken record, beyond random JSON (the bench's list).
NASTY = st.sampled_from(NASTY_VALUES)
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    return make_app(Path(tmp_path_factory.mktemp("fuzz-prefetch")), CLOCK="2026-11-21")


def resource_paths(body: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Locations strictly inside a resource's elements (not the resource object itself)."""
    found: list[tuple[Any, ...]] = []
    for key, value in body["prefetch"].items():
        if not isinstance(value, dict):
            continue
        if value.get("resourceType") == "Bundle":
            for index, entry in enumerate(value.get("entry") or ()):
                root = ("prefetch", key, "entry", index, "resource")
                found += [root + p for p in paths(entry["resource"]) if p]
        else:
            found += [("prefetch", key, *p) for p in paths(value) if p and p != ("resourceType",)]
    return found


@st.composite
def mutated_prefetch(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = copy.deepcopy(draw(st.sampled_from(SEEDS)))
    bundles = sorted(k for k, v in body["prefetch"].items() if (v or {}).get("entry"))
    paging: bool = draw(st.booleans())
    if bundles and paging:
        # A next page nobody can fetch: the key is kept, incomplete, and so read differently.
        paged = body["prefetch"][draw(st.sampled_from(bundles))]
        paged["link"] = [{"relation": "next", "url": "https://ehr.invalid/fhir/page-2"}]
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        where = draw(st.sampled_from(resource_paths(body)))
        parent: Any = body
        for step in where[:-1]:
            parent = parent[step]
        last = where[-1]
        operation = draw(st.sampled_from(["nasty", "replace", "delete", "wrap", "unwrap"]))
        if operation == "delete":
            del parent[last]
        elif operation == "nasty":
            parent[last] = copy.deepcopy(draw(NASTY))  # later edits must not touch the draw
        elif operation == "replace":
            parent[last] = copy.deepcopy(draw(json_values))
        elif operation == "wrap":
            parent[last] = [parent[last]]
        elif isinstance(parent[last], list) and parent[last]:
            parent[last] = parent[last][0]
        else:
            parent[last] = json.dumps(parent[last])
    return body


@FUZZ
@given(body=mutated_prefetch())
def test_broken_fhir_inside_prefetch_never_fails_the_call(app: Flask, body: dict[str, Any]) -> None:
    response = app.test_client().post(URL, json=body)

    assert response.status_code == 200, response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("where", "value"),
    [
        (("labs", "effectiveDateTime"), "0001-01-01T00:00:00+14:00"),
        (("labs", "effectiveDateTime"), "9999-12-31T23:59:59-14:00"),
        (("labs", "status"), ["final"]),
        (("labs", "code", "coding"), 7),
        (("labs", "code", "coding", 0, "code"), ["2823-3"]),
        (("conditions", "code", "coding"), True),
        (("medRequests", "medicationCodeableConcept", "coding"), False),
        (("medRequests", "status"), {"active": True}),
        (("conditions", "onsetDateTime"), "0001-01-01T00:00:00+14:00"),
    ],
)
def test_the_reported_malformed_resources_are_skipped_and_counted(
    app: Flask, caplog: pytest.LogCaptureFixture, where: tuple[Any, ...], value: Any
) -> None:
    # Regression: each of these gave a 500 (OverflowError, or TypeError in a raw filter).
    body = json.loads((EXAMPLES[0].parent / "low-potassium-on-furosemide.json").read_text())
    key, *inside = where
    target = body["prefetch"][key]["entry"][0]["resource"]
    kind = target["resourceType"]
    for step in inside[:-1]:
        target = target[step]
    target[inside[-1]] = value
    metrics = app.extensions["cds_metrics"].served
    name = "cds_prefetch_unreadable_resources_total"

    def count() -> float:
        service = {"service": "knee-spasm-review", "resource_type": kind}
        reasons = ("malformed", "invalid")
        return sum(metrics.get_sample_value(name, {**service, "reason": r}) or 0 for r in reasons)

    before = count()
    response = app.test_client().post(URL, json=body)

    assert response.status_code == 200
    logged = [json.loads(x) for x in log_lines(caplog).splitlines() if '"event":"request"' in x]
    if "DateTime" in inside[-1]:
        return  # a date that cannot be placed is an unknown date, not an unreadable record
    (entry,) = logged[-1]["invalid_resources"]
    assert entry in (f"{kind}/malformed", f"{kind}/invalid")
    assert count() == before + 1


def test_an_untyped_resource_in_an_incomplete_key_is_not_a_500(app: Flask) -> None:
    # Found by bench/fuzz.py: complete_type() hashed every resourceType, a dict among them.
    body = json.loads((EXAMPLES[0].parent / "low-potassium-on-furosemide.json").read_text())
    labs = body["prefetch"]["labs"]
    labs["link"] = [{"relation": "next", "url": "https://ehr.invalid/fhir/page-2"}]
    labs["entry"][0]["resource"]["resourceType"] = {"not": "a type"}

    response = app.test_client().post(URL, json=body)

    assert response.status_code == 200


def test_skipped_resources_are_counted_once_by_type_and_reason() -> None:
    from hooks.citations import Citations
    from hooks.fhirdata import KeyStatus, PrefetchValue, ResourceSet
    from hooks.findings import ResourceRef
    from hooks.patient_view.facts import PROJECTIONS
    from hooks.patient_view.facts.labs import read_labs
    from tests.builders import AS_OF, knowledge, make_observation

    broken = {**make_observation("2823-3", 3.1, resource_id="o1"), "status": ["final"]}
    unreadable_code = {**make_observation("2823-3", 3.1, resource_id="o2"), "code": 5}
    invalid = make_observation("2823-3", 3.1, resource_id="o3")
    invalid["referenceRange"] = [{"text": 5}]  # readable, but not FHIR R4
    data = ResourceSet(
        {"k": PrefetchValue(KeyStatus.PREFETCHED, (broken, unreadable_code, invalid, {"id": "y"}))}
    )

    for _ in range(2):  # read twice: each resource still counts once
        labs = read_labs(data, knowledge(), AS_OF, 60)
        assert not Citations(data, PROJECTIONS).valid(ResourceRef("Observation", "o3"))

    assert [r.ref.id for r in labs.results["potassium"]] == ["o3"]
    assert not labs.complete  # a code that cannot be read could be any analyte
    assert data.unreadable() == {
        ("Observation", "malformed"): 2,
        ("Observation", "invalid"): 1,
        ("other", "malformed"): 1,
    }
    assert data.unreadable_count("Observation") == 3
    assert sorted(data.invalid) == [
        "Observation/o1",
        "Observation/o2",
        "Observation/o3",
        "other/y",
    ]


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_an_instant_outside_the_calendar_in_utc_is_unknown(text: str) -> None:
    from hooks.fhirviews import instant

    assert instant(text) is None
