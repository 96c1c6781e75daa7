"""`cds-service replay`: the same cards as `cds-service evaluate`, serially, on Dask, from NDJSON.

The done-when of issue 13: per-rule counts over the 40 sample patients with the example
complaint equal those of running `evaluate` on each bundle, whichever way the replay runs.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cds_service.cli import main
from cds_service.store import Store, make_engine
from cds_service.workbench.engine import EngineSpec, patient_key
from cds_service.workbench.executors import DaskExecutor, SerialExecutor
from cds_service.workbench.inputs import partition_ndjson, read_bundle, read_partition
from cds_service.workbench.models import PatientRecord, ReplayResult
from cds_service.workbench.replay import replay
from tests.workbench.conftest import COMPLAINT, COMPLAINT_FILE, knowledge_with, write_bulk_export

AS_OF = datetime(2021, 4, 1, tzinfo=UTC)
SALT = b"test-salt"
EXTENSION = "org.kneespasmcds.findings"
SPEC = EngineSpec.of(AS_OF, added=[COMPLAINT])


def fired_rules(cards: list[dict[str, Any]]) -> set[str]:
    """Rules a patient's cards cite as fired (what replay counts per patient)."""
    return {
        f["ruleId"]
        for card in cards
        for f in card["extension"][EXTENSION]["findings"]
        if f["status"] != "no-conclusion"
    }


def patient_id(bundle: Path) -> str:
    entries = json.loads(bundle.read_text())["entry"]
    (pid,) = [e["resource"]["id"] for e in entries if e["resource"]["resourceType"] == "Patient"]
    return str(pid)


@pytest.fixture(scope="module")
def evaluated(synthea: list[Path]) -> dict[str, set[str]]:
    """Patient key -> fired rules, from `cds-service evaluate BUNDLE --add COMPLAINT` on each.

    The 40 runs in one process share one knowledge load (load_knowledge keeps an unchanged
    folder's result); nothing else on evaluate's path is shared.
    """
    runner = CliRunner()
    found: dict[str, set[str]] = {}
    for bundle in synthea:
        result = runner.invoke(
            main, ["evaluate", str(bundle), "--as-of", "2021-04-01", "--add", str(COMPLAINT_FILE)]
        )
        assert result.exit_code == 0, result.output
        cards = json.loads(result.stdout)["cards"]
        found[patient_key(SALT, patient_id(bundle))] = fired_rules(cards)
    return found


def per_rule(evaluated: dict[str, set[str]]) -> Counter[str]:
    return Counter(rule for rules in evaluated.values() for rule in rules)


def replay_counts(result: ReplayResult) -> Counter[str]:
    return Counter({r.rule: r.patients for r in result.summary.by_rule})


def records(out: Path) -> dict[str | None, PatientRecord]:
    lines = (out / "patients.ndjson").read_text().splitlines()
    parsed = [PatientRecord.model_validate_json(line) for line in lines]
    return {record.patient: record for record in parsed}


def run(inputs: list[Path], out: Path, executor: Any, **kwargs: Any) -> ReplayResult:
    return replay(inputs, out, current=SPEC, executor=executor, salt=SALT, **kwargs)


def check_equal(result: ReplayResult, out: Path, evaluated: dict[str, set[str]]) -> None:
    assert result.summary.patients == 40
    assert result.summary.errors == 0
    assert replay_counts(result) == per_rule(evaluated)
    assert {k: set(r.rules) for k, r in records(out).items()} == evaluated


def test_serial_replay_counts_equal_evaluate_on_each(
    synthea: list[Path], evaluated: dict[str, set[str]], tmp_path: Path
) -> None:
    result = run([synthea[0].parent], tmp_path, SerialExecutor())

    check_equal(result, tmp_path, evaluated)
    # The sample folder's index.json is not a bundle: noted, not counted as a patient.
    assert [s.source for s in result.inputs.skipped] == ["index.json"]
    assert sum(per_rule(evaluated).values()) > 0, "the complaint must make some rule fire"


def test_dask_replay_counts_equal_evaluate_on_each(
    synthea: list[Path],
    evaluated: dict[str, set[str]],
    dask_executor: DaskExecutor,
    tmp_path: Path,
) -> None:
    result = run(synthea, tmp_path, dask_executor)

    assert result.run.workers == 2
    check_equal(result, tmp_path, evaluated)


def test_a_bulk_ndjson_export_gives_the_same_counts(
    bulk_export: Path,
    evaluated: dict[str, set[str]],
    dask_executor: DaskExecutor,
    tmp_path: Path,
) -> None:
    result = run([bulk_export], tmp_path, dask_executor)

    assert result.inputs.ndjson_files == 6
    check_equal(result, tmp_path, evaluated)


def test_outputs_hold_no_patient_identifiers(synthea: list[Path], tmp_path: Path) -> None:
    subset = synthea[:6]
    run(subset, tmp_path, SerialExecutor())

    texts = {
        name: (tmp_path / name).read_text()
        for name in ("replay.json", "patients.ndjson", "index.html")
    }
    ReplayResult.model_validate_json(texts["replay.json"])
    for bundle in subset:
        pid = patient_id(bundle)
        name = bundle.stem.rsplit("_", 1)[0].split("_")
        for name_text, text in texts.items():
            assert pid not in text, name_text
            assert name[1] not in text, name_text  # the family name
    assert len(records(tmp_path)) == 6


def test_patient_keys_join_the_card_ledger(tmp_path: Path) -> None:
    store = Store(make_engine(f"sqlite:///{tmp_path / 'l.sqlite3'}"), SALT)

    assert patient_key(SALT, "p-1") == store.patient_hash("p-1")


def test_a_knowledge_change_is_compared_with_its_baseline(
    synthea: list[Path], tmp_path: Path
) -> None:
    """Widening C7's lab window from 365 days to 1500: David's 2017 TSH now counts as recent."""
    proposed = knowledge_with(tmp_path / "knowledge", "C7", lab_window_days=1500)
    # The two C7 patients (TSH in 2017; no TSH at all) and one statin patient.
    names = ("David_Alc", "Trey_Berge", "Tom_Goodwin")
    subset = [p for p in synthea if p.name.startswith(names)]
    out = tmp_path / "out"

    result = replay(
        subset,
        out,
        current=EngineSpec.of(AS_OF, proposed, added=[COMPLAINT]),
        baseline=SPEC,
        executor=SerialExecutor(),
        salt=SALT,
    )

    comparison = result.comparison
    assert comparison is not None
    deltas = {d.rule: (d.before, d.after) for d in comparison.by_rule}
    assert deltas["C7"] == (2, 1)
    assert deltas["A3"] == (1, 1)
    assert comparison.changed_patients == 1
    (changed,) = comparison.changed
    david = next(p for p in subset if p.name.startswith("David_Alc"))
    assert changed.patient == patient_key(SALT, patient_id(david))
    assert [hit.rule for card in changed.before for hit in card.rules] == ["C7", "M1"]
    assert changed.after == ()
    assert comparison.baseline.cards == result.summary.cards + 1
    assert comparison.baseline.knowledge.digest != result.summary.knowledge.digest
    assert sum(1 for r in records(out).values() if r.changed) == 1
    assert "Baseline comparison" in (out / "index.html").read_text()


def test_bad_inputs_are_reported_not_fatal(synthea: list[Path], tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(synthea[0], inputs / "good.json")
    two = json.loads(synthea[0].read_text())
    two["entry"].append({"resource": {"resourceType": "Patient", "id": "second"}})
    (inputs / "two-patients.json").write_text(json.dumps(two))
    (inputs / "broken.json").write_text('{"resourceType": "Bundle", "entry": [')
    (inputs / "list.json").write_text("[1, 2]")

    result = run([inputs], tmp_path / "out", SerialExecutor())

    assert result.summary.patients == 2
    assert result.summary.evaluated == 1
    (error,) = result.errors
    assert error.cause == "bundle must hold one patient"
    assert error.source == "two-patients.json"
    assert sorted(s.source or "" for s in result.inputs.skipped) == ["broken.json", "list.json"]


def test_ndjson_partitions_keep_each_patient_whole(
    synthea: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    export = write_bulk_export(synthea[:5], tmp_path / "bulk")
    (export / "Medication.ndjson").write_text('{"resourceType":"Medication","id":"m1"}\n')
    monkeypatch.setattr("cds_service.workbench.inputs.PARTITION_BYTES", 64 * 1024)

    parted = partition_ndjson(sorted(export.iterdir()), tmp_path / "spill", 1)

    assert len(parted.units) > 1
    assert parted.outside_compartment == {"Medication": 1}
    seen: Counter[str] = Counter()
    kinds = frozenset({"Patient", "Observation"})
    for unit in parted.units:
        for patient in read_partition(unit, kinds):
            seen[patient.patient_id or ""] += 1
            assert {r["resourceType"] for r in patient.resources} <= kinds
    assert sorted(seen) == sorted(patient_id(b) for b in synthea[:5])
    assert set(seen.values()) == {1}


def test_types_no_template_reads_are_kept_as_type_and_id_only(synthea: list[Path]) -> None:
    patient = read_bundle(synthea[0], frozenset({"Patient"}))

    full = [r for r in patient.resources if len(r) > 2]
    assert [r["resourceType"] for r in full] == ["Patient"]
    assert all(set(r) == {"resourceType", "id"} for r in patient.resources if r not in full)
    assert patient.patient_id == patient_id(synthea[0])


def test_the_command_prints_a_summary_and_writes_the_files(
    synthea: list[Path], tmp_path: Path
) -> None:
    for bundle in synthea[:3]:
        shutil.copy(bundle, tmp_path / bundle.name)
    out = tmp_path / "out"

    result = CliRunner().invoke(
        main,
        [
            "replay",
            *(str(tmp_path / b.name) for b in synthea[:3]),
            "--as-of",
            "2021-04-01",
            "--add",
            str(COMPLAINT_FILE),
            "--out",
            str(out),
            "--serial",
        ],
    )

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("replayed 3 patients in ")
    assert {p.name for p in out.iterdir()} == {"replay.json", "patients.ndjson", "index.html"}
    assert ReplayResult.model_validate_json((out / "replay.json").read_text()).added == (
        "Condition 55300003 Cramp",
    )


def test_the_command_takes_one_way_to_run(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "replay",
            str(tmp_path),
            "--as-of",
            "2021-04-01",
            "--out",
            str(tmp_path / "o"),
            "--serial",
            "--workers",
            "2",
        ],
    )

    assert result.exit_code == 2
    assert "choose one of" in result.output


def test_the_command_runs_on_an_existing_scheduler(
    synthea: list[Path], dask_executor: DaskExecutor, tmp_path: Path
) -> None:
    address = dask_executor.client.scheduler.address
    statins = [p for p in synthea if p.name.startswith(("Tom_Goodwin", "Lillian", "Meg_Toy"))]

    result = CliRunner().invoke(
        main,
        ["replay", *map(str, statins), "--as-of", "2021-04-01", "--add", str(COMPLAINT_FILE),
         "--out", str(tmp_path), "--scheduler", address],
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    replayed = ReplayResult.model_validate_json((tmp_path / "replay.json").read_text())
    assert (replayed.run.executor, replayed.run.workers) == ("dask-scheduler", 2)
    assert replay_counts(replayed)["A3"] == 2
    assert dask_executor.client.status == "running"  # the CLI closed its client, not the cluster
