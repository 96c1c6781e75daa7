"""The hashed lock files agree with pyproject.toml's ranges and with each other.

`make test` and the Dockerfile install from requirements/*.txt with --require-hashes, so a
dependency added to pyproject.toml without `make lock` would be missing there: this says so.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCKS = ROOT / "requirements"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")
STALE = "requirements/ is stale: run `make lock`"


def pins(name: str) -> dict[str, str]:
    """Package -> version, and check that every pin carries a hash."""
    found: dict[str, str] = {}
    lines = (LOCKS / name).read_text().splitlines()
    for index, line in enumerate(lines):
        match = PIN.match(line)
        if not match:
            continue
        found[canonicalize_name(match.group(1))] = match.group(2)
        following = lines[index + 1] if index + 1 < len(lines) else ""
        assert "--hash=sha256:" in following, f"{name}: {match.group(1)} has no hash"
    return found


def pyproject() -> dict[str, object]:
    data: dict[str, object] = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return data


def requirements(*extras: str) -> list[Requirement]:
    project = pyproject()["project"]
    assert isinstance(project, dict)
    listed = list(project["dependencies"])
    for extra in extras:
        listed += project["optional-dependencies"][extra]
    return [Requirement(text) for text in listed]


def assert_satisfied(wanted: list[Requirement], locked: dict[str, str]) -> None:
    for requirement in wanted:
        if requirement.marker and not requirement.marker.evaluate():
            continue
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement} is not locked; {STALE}"
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"{requirement} but the lock has {locked[name]}; {STALE}"
        )


def test_the_test_lock_covers_runtime_test_bench_workbench_and_build_requirements() -> None:
    build = pyproject()["build-system"]
    assert isinstance(build, dict)
    wanted = requirements("test", "bench", "workbench") + [
        Requirement(r) for r in build["requires"]
    ]

    assert_satisfied(wanted, pins("test.txt"))


def test_the_runtime_lock_covers_the_runtime_requirements_only() -> None:
    runtime = pins("runtime.txt")

    assert_satisfied(requirements(), runtime)
    for test_only in ("pytest", "schemathesis", "mypy", "matplotlib", "hatchling", "distributed"):
        assert test_only not in runtime


@pytest.mark.parametrize("name", ["runtime.txt", "build.txt"])
def test_what_ships_is_what_the_tests_ran(name: str) -> None:
    tested = pins("test.txt")
    differing = {
        package: (version, tested.get(package))
        for package, version in pins(name).items()
        if tested.get(package) != version
    }

    assert differing == {}, f"{name} differs from test.txt: {differing}; {STALE}"
