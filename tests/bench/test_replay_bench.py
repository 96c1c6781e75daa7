"""The replay bench's population and verdicts (the bench itself runs with `make bench-replay`)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.population import build
from bench.replay import SPEC, targets
from cds_service.workbench.engine import engine_for
from cds_service.workbench.inputs import read_bundle
from tests.workbench.conftest import synthea_bundles


def test_padding_makes_synthea_sized_distinct_patients_with_the_same_cards(tmp_path: Path) -> None:
    sample = synthea_bundles()[2]  # Angelic Mueller: statin and HCTZ, one card with the complaint
    population = build(tmp_path, 3, scale=3.0)  # copies of samples 0, 1 and 2
    engine = engine_for(SPEC)

    original = read_bundle(sample, engine.read_types)
    padded = [read_bundle(path, engine.read_types) for path in population.files]
    copy = padded[2]

    assert population.files[2].stat().st_size >= 3 * len(
        json.dumps(json.loads(sample.read_text()), separators=(",", ":"))
    )
    kinds = {
        e["resource"]["resourceType"] for e in json.loads(population.files[2].read_text())["entry"]
    }
    assert {"Claim", "ExplanationOfBenefit"} <= kinds
    assert len({p.patient_id for p in padded}) == 3
    assert original.patient_id not in {p.patient_id for p in padded}
    cards = engine.evaluate(original.resources).cards
    assert cards
    assert [c.summary for c in engine.evaluate(copy.resources).cards] == [c.summary for c in cards]


def test_targets_need_the_rate_and_the_scaling() -> None:
    fast = targets(
        [{"workers": 1, "patients_per_s": 60.0}, {"workers": 2, "patients_per_s": 110.0}]
    )
    flat = targets([{"workers": 1, "patients_per_s": 60.0}, {"workers": 2, "patients_per_s": 90.0}])

    assert [t["passed"] for t in fast] == [True, True]
    assert [t["passed"] for t in flat] == [False, False]
