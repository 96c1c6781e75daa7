"""Alert-burden replay: every patient of a population through the service, counted.

`replay()` finds the inputs, cuts them into work units, runs the units on an executor (this
process or Dask), and folds the results, in input order, into patients.ndjson, replay.json and
index.html. With a baseline knowledge set each patient is evaluated under both, from one read.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from cds_service.workbench.engine import Engine, EngineSpec, engine_for, patient_key
from cds_service.workbench.executors import Executor
from cds_service.workbench.inputs import (
    BundleUnit,
    NotABundle,
    PartitionUnit,
    Patient,
    bundle_units,
    find_inputs,
    partition_ndjson,
    read_bundle,
    read_partition,
)
from cds_service.workbench.models import (
    ChangedPatient,
    Comparison,
    Evaluation,
    InputSummary,
    PatientError,
    PatientRecord,
    ReplayResult,
    RuleDelta,
    RunInfo,
    Summary,
)
from cds_service.workbench.tally import Tally

MAX_LISTED_ERRORS = 1000
MAX_LISTED_CHANGES = 500
Unit = BundleUnit | PartitionUnit


@dataclass(frozen=True)
class Job:
    """What every work unit needs; shipped to each Dask task (a few hundred bytes)."""

    current: EngineSpec
    baseline: EngineSpec | None
    salt: bytes


@dataclass
class UnitResult:
    """What a unit sends back: its patients.ndjson lines, counts, and bounded lists.

    Lines travel already serialised and counts as counters, so the driver only appends bytes
    and adds numbers: it keeps up with any number of workers.
    """

    lines: bytes = b""
    now: Tally = field(default_factory=Tally)
    before: Tally | None = None
    errors: list[PatientError] = field(default_factory=list)
    changed: list[ChangedPatient] = field(default_factory=list)
    changed_count: int = 0
    skipped: list[PatientError] = field(default_factory=list)

    @property
    def size(self) -> int:
        """Inputs the unit consumed (patients and skipped files), for progress."""
        return self.now.patients + len(self.skipped)

    def add(self, record: PatientRecord) -> None:
        """Count one patient's record (its line is written by the caller)."""
        self.now.add(record.cards, record.error)
        if record.error is not None and len(self.errors) < MAX_LISTED_ERRORS:
            self.errors.append(record.error)
        if self.before is not None and record.baseline is not None:
            self.before.add(record.baseline.cards, record.baseline.error)
            if record.changed:
                self.changed_count += 1
                if len(self.changed) < MAX_LISTED_CHANGES:
                    self.changed.append(
                        ChangedPatient(
                            patient=record.patient, before=record.baseline.cards, after=record.cards
                        )
                    )


def run_unit(unit: Unit, job: Job) -> UnitResult:
    """Evaluate a unit's patients (runs on a worker)."""
    current = engine_for(job.current)
    baseline = engine_for(job.baseline) if job.baseline is not None else None
    read_types = current.read_types | (baseline.read_types if baseline else frozenset())
    result = UnitResult(before=Tally() if baseline is not None else None)
    lines: list[str] = []
    for item in _patients(unit, read_types, result):
        record = (
            item
            if isinstance(item, PatientRecord)
            else _evaluate(item, current, baseline, job.salt)
        )
        lines.append(record.model_dump_json(exclude_none=True))
        result.add(record)
    result.lines = "".join(f"{line}\n" for line in lines).encode()
    return result


def _patients(
    unit: Unit, read_types: frozenset[str], result: UnitResult
) -> Iterator[Patient | PatientRecord]:
    if isinstance(unit, PartitionUnit):
        yield from read_partition(unit, read_types)
        return
    for name in unit.paths:
        path = Path(name)
        try:
            yield read_bundle(path, read_types)
        except NotABundle as exc:
            result.skipped.append(PatientError(cause=str(exc), source=path.name))
        except (OSError, ValueError) as exc:
            yield PatientRecord(
                patient=None, error=PatientError(cause=f"unreadable: {exc}", source=path.name)
            )


def _evaluate(
    patient: Patient, current: Engine, baseline: Engine | None, salt: bytes
) -> PatientRecord:
    key = patient_key(salt, patient.patient_id) if patient.patient_id else None
    now = _sourced(current.evaluate(patient.resources), patient.source)
    before = _sourced(baseline.evaluate(patient.resources), patient.source) if baseline else None
    return PatientRecord(
        patient=key,
        cards=now.cards,
        rules=tuple(sorted({rule for card in now.cards for rule in card.fired_rules})),
        indicators=tuple(card.indicator for card in now.cards),
        error=now.error,
        baseline=before,
        changed=None if before is None else (before != now),
    )


def _sourced(evaluation: Evaluation, source: str) -> Evaluation:
    if evaluation.error is None:
        return evaluation
    error = evaluation.error.model_copy(update={"source": source})
    return evaluation.model_copy(update={"error": error})


def salt_for_run(configured: str | None) -> bytes:
    """CDS_PATIENT_HASH_SALT when set (keys then join the deployment's ledger), else random."""
    import secrets

    return configured.encode() if configured else secrets.token_bytes(32)


def replay(
    inputs: Sequence[Path],
    out: Path,
    *,
    current: EngineSpec,
    baseline: EngineSpec | None = None,
    executor: Executor,
    salt: bytes,
    added_labels: Sequence[str] = (),
    on_total: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ReplayResult:
    """Replay the population in `inputs`; write replay.json, patients.ndjson and index.html."""
    from cds_service.workbench.pages import render_replay

    started_at = datetime.now(UTC)
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    job = Job(current, baseline, salt)
    # The driver needs rule titles and knowledge versions only; its engines stay idle.
    now_engine = engine_for(current)
    before_engine = engine_for(baseline) if baseline is not None else None
    found = find_inputs(inputs)
    spill = Path(tempfile.mkdtemp(prefix=".partitions-", dir=out))
    try:
        parted = partition_ndjson(found.ndjson, spill, 4 * executor.workers)
        total = len(found.bundles) + parted.patients
        if on_total is not None:
            on_total(total)
        per_unit = max(1, min(16, -(-len(found.bundles) // (4 * executor.workers))))
        units: list[Unit] = [*bundle_units(found.bundles, per_unit), *parted.units]
        fold = _Fold(now_engine, before_engine)
        with open(out / "patients.ndjson", "wb") as lines:
            for result in executor.map_ordered(run_unit, units, job):
                fold.add(result, lines)
                if on_progress is not None:
                    on_progress(result.size)
    finally:
        shutil.rmtree(spill, ignore_errors=True)
    elapsed = time.perf_counter() - started
    replayed = ReplayResult(
        service=current.service_id,
        as_of=current.as_of,
        added=tuple(added_labels),
        inputs=InputSummary(
            json_files=len(found.bundles),
            ndjson_files=len(found.ndjson),
            skipped=tuple([*fold.skipped, *parted.skipped][:MAX_LISTED_ERRORS]),
            ndjson_outside_compartment=parted.outside_compartment,
        ),
        run=RunInfo(
            started_at=started_at,
            elapsed_seconds=round(elapsed, 3),
            patients_per_second=round(fold.now.patients / elapsed, 1) if elapsed else 0.0,
            executor=executor.name,
            workers=executor.workers,
        ),
        summary=fold.summary(),
        errors=tuple(fold.errors),
        errors_listed=len(fold.errors),
        comparison=fold.comparison(),
    )
    (out / "replay.json").write_text(replayed.model_dump_json(indent=1) + "\n", encoding="utf-8")
    (out / "index.html").write_text(render_replay(replayed), encoding="utf-8")
    return replayed


class _Fold:
    """Folds unit results, in order, into the totals and patients.ndjson."""

    def __init__(self, now: Engine, before: Engine | None) -> None:
        self.now_engine = now
        self.before_engine = before
        self.now = Tally()
        self.before = Tally() if before is not None else None
        self.errors: list[PatientError] = []
        self.skipped: list[PatientError] = []
        self.changed: list[ChangedPatient] = []
        self.changed_count = 0

    def add(self, result: UnitResult, lines: BinaryIO) -> None:
        lines.write(result.lines)
        self.now.merge(result.now)
        if self.before is not None and result.before is not None:
            self.before.merge(result.before)
        self.skipped.extend(result.skipped[: MAX_LISTED_ERRORS - len(self.skipped)])
        self.errors.extend(result.errors[: MAX_LISTED_ERRORS - len(self.errors)])
        self.changed.extend(result.changed[: MAX_LISTED_CHANGES - len(self.changed)])
        self.changed_count += result.changed_count

    def summary(self) -> Summary:
        return self.now.summary(self.now_engine.knowledge, self.now_engine.rule_titles)

    def comparison(self) -> Comparison | None:
        if self.before is None or self.before_engine is None:
            return None
        titles = {**self.before_engine.rule_titles, **self.now_engine.rule_titles}
        before = self.before.summary(self.before_engine.knowledge, self.before_engine.rule_titles)
        rules = sorted(set(self.before.rule_patients) | set(self.now.rule_patients))
        deltas = [
            RuleDelta(
                rule=rule,
                title=titles.get(rule, (rule, ""))[0],
                before=self.before.rule_patients[rule],
                after=self.now.rule_patients[rule],
                delta=self.now.rule_patients[rule] - self.before.rule_patients[rule],
            )
            for rule in rules
        ]
        deltas.sort(key=lambda d: (-abs(d.delta), d.rule))
        return Comparison(
            baseline=before,
            by_rule=tuple(deltas),
            changed_patients=self.changed_count,
            changed=tuple(self.changed),
            changed_listed=len(self.changed),
        )
