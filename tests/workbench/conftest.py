"""Shared workbench fixtures: the sample population, one 2-process Dask cluster, one browser.

The cluster and the browser are session-scoped: starting either costs seconds, and every
workbench test can share them.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from cds_service.workbench.executors import DaskExecutor
from hooks.knowledge import DEFAULT_DIR
from tests.conftest import require_or_skip

ROOT = Path(__file__).resolve().parents[2]
SYNTHEA = ROOT.parent / "shared" / "fhir" / "synthea"
COMPLAINT_FILE = ROOT / "examples" / "knee-cramp-condition.json"
COMPLAINT: dict[str, Any] = json.loads(COMPLAINT_FILE.read_text())


def synthea_bundles() -> list[Path]:
    """The 40 sample bundles (not index.json); skip, or fail in CI, where they are absent."""
    found = sorted(SYNTHEA.glob("*_*.json")) if SYNTHEA.is_dir() else []
    if not found:
        require_or_skip(f"sample data missing: {SYNTHEA}")
    return found


@pytest.fixture(scope="session")
def synthea() -> list[Path]:
    return synthea_bundles()


@pytest.fixture(scope="session")
def dask_executor() -> Iterator[DaskExecutor]:
    """A local cluster of two single-threaded worker processes, as `--workers 2` starts."""
    executor = DaskExecutor.local(2)
    try:
        yield executor
    finally:
        executor.close()


def _rewrite(value: Any, urns: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {
            k: urns.get(v, v) if k == "reference" and isinstance(v, str) else _rewrite(v, urns)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_rewrite(v, urns) for v in value]
    return value


def write_bulk_export(bundles: list[Path], folder: Path) -> Path:
    """A FHIR Bulk Data export of the bundles: one NDJSON file per type, relative references.

    As a FHIR server stores a transaction bundle: `urn:uuid:` references become `Type/id`.
    Lines of one type are interleaved across patients, as a real export's are.
    """
    folder.mkdir(parents=True, exist_ok=True)
    by_type: dict[str, list[str]] = {}
    for path in bundles:
        bundle = json.loads(path.read_text())
        urns = {
            e["fullUrl"]: f"{e['resource']['resourceType']}/{e['resource']['id']}"
            for e in bundle["entry"]
            if "fullUrl" in e
        }
        for entry in bundle["entry"]:
            resource = _rewrite(entry["resource"], urns)
            line = json.dumps(resource, separators=(",", ":"), ensure_ascii=False)
            by_type.setdefault(resource["resourceType"], []).append(line)
    for kind, lines in by_type.items():
        # Interleave patients (sorted by resource id) so no patient's lines are contiguous.
        lines.sort(key=lambda line: json.loads(line)["id"])
        (folder / f"{kind}.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def bulk_export(synthea: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_bulk_export(synthea, tmp_path_factory.mktemp("bulk"))


def knowledge_with(folder: Path, rule_id: str, **parameters: Any) -> Path:
    """A copy of the shipped knowledge with some of one rule's parameters changed."""
    shutil.copytree(DEFAULT_DIR, folder)
    path = folder / "rules.yaml"
    data = yaml.safe_load(path.read_text())
    (rule,) = [r for r in data["rules"] if r["id"] == rule_id]
    assert set(parameters) <= set(rule["parameters"]), "only change parameters the rule has"
    rule["parameters"].update(parameters)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return folder


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright (no browser download)."""
    executable = chromium_path()
    if executable is None:
        require_or_skip("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield browser
        finally:
            browser.close()
