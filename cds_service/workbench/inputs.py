"""Reading a population: one-patient FHIR Bundles, and FHIR Bulk Data NDJSON exports.

Memory stays bounded by the largest patient (bundles) or partition (NDJSON), never by the
population:
- Bundles are files; a work unit is a short list of paths, read by the worker that runs it.
- NDJSON files hold one resource type each, patients joined by reference. One streaming pass
  (`partition_ndjson`) writes each line to one of N spill files by a stable hash of its patient,
  so every patient's resources land in one file, small enough to group in memory.

JSON is decoded with msgspec: a resource type no prefetch template reads (Claim, EOB, ... most
of a full Synthea record) is scanned for its type and id only, never built as Python objects.
"""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from cds_service.workbench.models import PatientError

JsonObject = dict[str, Any]
PARTITION_BYTES = 8 * 1024 * 1024  # NDJSON bytes per partition, aimed at
MAX_PARTITIONS = 512  # open spill files at once
SEPARATOR = b"\t"  # never in a FHIR id or type; a raw line may hold tabs, only two are split


class _Head(msgspec.Struct):
    """A resource's type and id; every other field is skipped without being built."""

    resourceType: str
    id: str | None = None


class _Entry(msgspec.Struct):
    resource: msgspec.Raw = msgspec.Raw(b"null")


class _Bundle(msgspec.Struct):
    resourceType: str
    entry: list[_Entry] = []


class _Ref(msgspec.Struct):
    reference: str | None = None


class _CompartmentHead(msgspec.Struct):
    """What decides a resource's patient: its own id (Patient), or subject / patient."""

    resourceType: str
    id: str | None = None
    subject: _Ref | None = None
    patient: _Ref | None = None


_HEAD = msgspec.json.Decoder(_Head)
_BUNDLE = msgspec.json.Decoder(_Bundle)
_COMPARTMENT = msgspec.json.Decoder(_CompartmentHead)
_ANY = msgspec.json.Decoder()


class NotABundle(ValueError):
    """An input file that is not a FHIR Bundle (skipped with a note, not a patient error)."""


@dataclass(frozen=True)
class Patient:
    """One patient's resources, ready for the engine."""

    patient_id: str | None
    resources: list[JsonObject]
    source: str


@dataclass(frozen=True)
class BundleUnit:
    """Work unit: bundle files, read by the worker that runs it."""

    paths: tuple[str, ...]

    @property
    def size(self) -> int:
        """Patients (files) in the unit, for the progress bar."""
        return len(self.paths)


@dataclass(frozen=True)
class PartitionUnit:
    """Work unit: one NDJSON spill file holding whole patients."""

    path: str
    size: int


@dataclass
class Inputs:
    """The input files found, in a deterministic order."""

    bundles: list[Path] = field(default_factory=list)
    ndjson: list[Path] = field(default_factory=list)


def find_inputs(paths: Sequence[Path]) -> Inputs:
    """Files to read: `*.json` are bundles, `*.ndjson` Bulk Data; folders are walked, sorted."""
    found = Inputs()
    for path in paths:
        files = sorted(_walk(path)) if path.is_dir() else [path]
        for file in files:
            if file.name.endswith(".ndjson"):
                found.ndjson.append(file)
            elif file.name.endswith(".json"):
                found.bundles.append(file)
    return found


def _walk(folder: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if name.endswith((".json", ".ndjson")) and not name.startswith("."):
                yield Path(root) / name


def bundle_units(paths: Sequence[Path], per_unit: int) -> Iterator[BundleUnit]:
    """Consecutive chunks of files, in input order."""
    for start in range(0, len(paths), per_unit):
        yield BundleUnit(tuple(str(p) for p in paths[start : start + per_unit]))


def read_bundle(path: Path, read_types: frozenset[str]) -> Patient:
    """The bundle's resources: full for the types the templates read, else `{type, id}` only.

    A bare `{resourceType, id}` keeps what the in-memory FHIR server needs from a resource no
    template returns: its `urn:uuid:` entry, so references to it are rewritten exactly as they
    are when the whole bundle is evaluated.
    """
    data = path.read_bytes()
    try:
        bundle = _BUNDLE.decode(data)
    except msgspec.DecodeError as exc:
        raise NotABundle(f"not a FHIR Bundle ({_short(exc)})") from None
    if bundle.resourceType != "Bundle":
        raise NotABundle(f"not a FHIR Bundle (resourceType {bundle.resourceType})")
    resources: list[JsonObject] = []
    patients: list[str] = []
    for number, entry in enumerate(bundle.entry):
        if entry.resource == b"null":
            continue
        try:
            head = _HEAD.decode(entry.resource)
        except msgspec.DecodeError as exc:
            raise ValueError(f"entry {number} is not a FHIR resource ({_short(exc)})") from None
        if head.resourceType == "Patient" and head.id is not None:
            patients.append(head.id)
        if head.resourceType in read_types:
            resources.append(_ANY.decode(entry.resource))
        elif head.id is not None:
            resources.append({"resourceType": head.resourceType, "id": head.id})
    return Patient(patients[0] if len(patients) == 1 else None, resources, path.name)


@dataclass
class Partitioned:
    """The outcome of the NDJSON pass."""

    units: list[PartitionUnit]
    outside_compartment: dict[str, int]
    skipped: list[PatientError]
    patients: int


def partition_ndjson(files: Sequence[Path], spill: Path, target_parts: int) -> Partitioned:
    """Stream every NDJSON line into the spill file of its patient (one pass, bounded memory).

    A line's patient is its own id (Patient) or its `subject` / `patient` reference to
    `Patient/<id>`. Resources outside any patient's compartment (Medication, Practitioner, ...)
    are counted and left out: the offline pipeline answers prefetch templates only, which never
    read them.
    """
    total = sum(f.stat().st_size for f in files)
    parts = max(1, min(MAX_PARTITIONS, max(target_parts, math.ceil(total / PARTITION_BYTES))))
    spill.mkdir(parents=True, exist_ok=True)
    handles = [open(spill / f"part-{i:04d}.tsv", "wb") for i in range(parts)]  # noqa: SIM115
    patients: list[set[str]] = [set() for _ in range(parts)]
    outside: dict[str, int] = {}
    skipped: list[PatientError] = []
    try:
        for file in files:
            with open(file, "rb") as lines:
                for number, line in enumerate(lines, start=1):
                    raw = line.strip()
                    if not raw:
                        continue
                    try:
                        head = _COMPARTMENT.decode(raw)
                    except msgspec.DecodeError as exc:
                        source = f"{file.name}:{number}"
                        skipped.append(PatientError(cause=_short(exc), source=source))
                        continue
                    patient = _patient_of(head)
                    if patient is None:
                        outside[head.resourceType] = outside.get(head.resourceType, 0) + 1
                        continue
                    index = zlib.crc32(patient.encode()) % parts
                    patients[index].add(patient)
                    handles[index].write(
                        patient.encode() + SEPARATOR + file.name.encode() + b":%d" % number
                    )
                    handles[index].write(SEPARATOR + raw + b"\n")
    finally:
        for handle in handles:
            handle.close()
    units = [
        PartitionUnit(str(spill / f"part-{i:04d}.tsv"), len(patients[i]))
        for i in range(parts)
        if patients[i]
    ]
    return Partitioned(units, outside, skipped, sum(len(p) for p in patients))


def _patient_of(head: _CompartmentHead) -> str | None:
    if head.resourceType == "Patient":
        return head.id
    for ref in (head.subject, head.patient):
        if ref is not None and ref.reference and ref.reference.startswith("Patient/"):
            return ref.reference.removeprefix("Patient/")
    return None


def read_partition(unit: PartitionUnit, read_types: frozenset[str]) -> Iterator[Patient]:
    """The patients of one spill file, in order of first appearance."""
    grouped: dict[str, tuple[list[JsonObject], str]] = {}
    with open(unit.path, "rb") as lines:
        for line in lines:
            patient, source, raw = line.rstrip(b"\n").split(SEPARATOR, 2)
            key = patient.decode()
            resources, first = grouped.setdefault(key, ([], source.decode()))
            head = _HEAD.decode(raw)
            if head.resourceType in read_types:
                resources.append(_ANY.decode(raw))
    for key, (resources, first) in grouped.items():
        yield Patient(key, resources, first)


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200]
