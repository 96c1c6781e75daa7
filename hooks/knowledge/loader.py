"""Clinical knowledge: loader for the versioned data in `knowledge/` and the typed view rules read.

Loaded once at start-up; a bad file stops start-up with a message naming file and field.
Schemas live in `hooks.knowledge.schema`, cross-checks in `hooks.knowledge.checks`, lookup
tables in `hooks.knowledge.index`. No clinical content lives in this module.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from hooks.knowledge.base import KnowledgeBase
from hooks.knowledge.cards import CardsFile
from hooks.knowledge.checks import check_knowledge
from hooks.knowledge.index import build_index
from hooks.knowledge.schema import (
    ConditionsFile,
    DrugsFile,
    KnowledgeError,
    LabsFile,
    Manifest,
    RulesFile,
    SourcesFile,
    TriggersFile,
)

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "knowledge"
CHANGELOG = "CHANGELOG.md"
M = TypeVar("M", bound=BaseModel)
_CACHE: OrderedDict[tuple[object, ...], KnowledgeBase] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 4
# The C loader when libyaml is present: same safe subset, about ten times faster at start-up.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
__all__ = ["DEFAULT_DIR", "FILE_MODELS", "content_digest", "load_knowledge"]

FILE_MODELS: dict[str, type[BaseModel]] = {
    "sources.yaml": SourcesFile,
    "triggers.yaml": TriggersFile,
    "drugs.yaml": DrugsFile,
    "labs.yaml": LabsFile,
    "conditions.yaml": ConditionsFile,
    "rules.yaml": RulesFile,
    "cards.yaml": CardsFile,
}


def _validate(name: str, data: object, model: type[M]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "(root)"
        raise KnowledgeError(f"{name}: {field}: {first['msg']}") from exc


def _raw_files(directory: Path) -> dict[str, object]:
    """The manifest and every file it lists, parsed once (YAML, not yet validated)."""
    manifest = _load_yaml(directory / "manifest.yaml")
    if not isinstance(manifest, dict):
        raise KnowledgeError("manifest.yaml: (root): not a mapping")
    listed = manifest.get("files")
    names = [n for n in listed if isinstance(n, str)] if isinstance(listed, list) else []
    return {"manifest.yaml": manifest, **{name: _load_yaml(directory / name) for name in names}}


def _digest_of(raw: Mapping[str, object]) -> str:
    digest = hashlib.sha256()
    for name, data in raw.items():
        if name == "manifest.yaml" and isinstance(data, dict):
            data = {key: value for key, value in data.items() if key != "knowledge_version"}
        digest.update(name.encode() + b"\0")
        digest.update(json.dumps(data, sort_keys=True, ensure_ascii=False, default=str).encode())
        digest.update(b"\0")
    return digest.hexdigest()


def content_digest(directory: Path = DEFAULT_DIR) -> str:
    """SHA-256 of the knowledge content: every listed file and the manifest, as parsed data.

    Comments and layout do not count; any change to a value does. The manifest's own
    `knowledge_version` is left out, so the digest names the content a version stands for
    (knowledge/CHANGELOG.md records it in the version's heading).
    """
    return _digest_of(_raw_files(directory))


def _load_yaml(path: Path) -> object:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)  # noqa: S506 - safe
    except (OSError, yaml.YAMLError) as exc:
        raise KnowledgeError(f"{path.name}: {exc}") from exc


def _get(files: Mapping[str, BaseModel], name: str, model: type[M]) -> M:
    value = files[name]
    assert isinstance(value, model)
    return value


def load_knowledge(directory: Path = DEFAULT_DIR) -> KnowledgeBase:
    """Load, validate, cross-check and index every knowledge file in `directory`.

    The result is immutable, so a process keeps the last few it loaded and returns the same
    object while no file in the directory has changed (same names, sizes and modification
    times): an app factory called many times (tests, workers after fork) parses it once.
    """
    key = _signature(directory)
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            _CACHE.move_to_end(key)
            return cached
    knowledge = _load(directory)
    with _CACHE_LOCK:
        _CACHE[key] = knowledge
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return knowledge


def _signature(directory: Path) -> tuple[object, ...]:
    """What identifies a directory's content cheaply: its path and each file's stat."""
    try:
        stats = sorted(
            (entry.name, entry.stat().st_size, entry.stat().st_mtime_ns)
            for entry in directory.resolve().iterdir()
            if entry.is_file()
        )
    except OSError as exc:
        raise KnowledgeError(f"{directory}: {exc}") from exc
    return (str(directory.resolve()), *stats)


RELEASE_HEADING = re.compile(r"^## (\d+\.\d+\.\d+) \(content ([0-9a-f]{16})\)$", re.M)


def released_digest(directory: Path, version: str) -> str | None:
    """The content digest CHANGELOG.md records for a released version, if it records one."""
    try:
        text = (directory / CHANGELOG).read_text(encoding="utf-8")
    except OSError:
        return None
    return next((d for v, d in RELEASE_HEADING.findall(text) if v == version), None)


def effective_version(directory: Path, released: str, digest: str) -> str:
    """The version cards and the ledger carry: the release's, or `<release>+dev.<digest>`.

    The manifest's version if the content is what that release recorded in CHANGELOG.md; else
    a SemVer build suffix naming content not yet released. So adding or changing a rule touches
    only its data, code and tests: the change is never mistaken for the release it started
    from, and a release (a new manifest version with its CHANGELOG heading) names it for good.
    """
    if released_digest(directory, released) == digest[:16]:
        return released
    return f"{released}+dev.{digest[:8]}"


def _load(directory: Path) -> KnowledgeBase:
    """Each file is read and parsed once: the same data is validated and digested."""
    raw = _raw_files(directory)
    manifest = _validate("manifest.yaml", raw["manifest.yaml"], Manifest)
    listed = set(manifest.files)
    if listed != set(FILE_MODELS):
        missing = sorted(set(FILE_MODELS) - listed)
        unknown = sorted(listed - set(FILE_MODELS))
        raise KnowledgeError(f"manifest.yaml: files: missing {missing}, unknown {unknown}")
    files = {name: _validate(name, raw[name], FILE_MODELS[name]) for name in manifest.files}
    triggers = _get(files, "triggers.yaml", TriggersFile)
    drugs = _get(files, "drugs.yaml", DrugsFile)
    labs = _get(files, "labs.yaml", LabsFile)
    conditions = _get(files, "conditions.yaml", ConditionsFile)
    rules = _get(files, "rules.yaml", RulesFile)
    knowledge = KnowledgeBase(
        version=effective_version(directory, manifest.knowledge_version, _digest_of(raw)),
        systems=manifest.systems,
        sources=_get(files, "sources.yaml", SourcesFile).sources,
        triggers=triggers,
        drugs=drugs,
        labs=labs,
        conditions=conditions,
        rules=rules.rules,
        grading_policy=rules.grading_policy,
        wording=rules.wording,
        cards=_get(files, "cards.yaml", CardsFile),
        index=build_index(triggers, drugs, labs, conditions),
    )
    check_knowledge(knowledge)
    return knowledge
