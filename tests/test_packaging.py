"""The wheel: one top-level package, the knowledge inside it, no clash with generic names."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from hooks.knowledge import load_knowledge

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    [built] = out.glob("knee_spasm_cds-*.whl")
    return built


def test_the_wheel_adds_one_top_level_package_with_knowledge_and_licence(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/", 1)[0] for name in names}
    dist_info = next(t for t in top if t.endswith(".dist-info"))

    assert top == {"cds_service", dist_info}
    tracked = subprocess.run(
        ["git", "ls-files", "hooks", "cards", "knowledge"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "knowledge/manifest.yaml" in tracked
    missing = [path for path in tracked if f"cds_service/_bundled/{path}" not in names]
    assert missing == []
    assert f"{dist_info}/licenses/LICENSE" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def python(site: Path, code: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")}
    env["PYTHONPATH"] = str(site)
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=site,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_installed_wheel_coexists_with_generic_hooks_cards_knowledge(
    wheel: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    for name in ("hooks", "cards", "knowledge"):  # another distribution's generic packages
        (site / name).mkdir()
        (site / name / "__init__.py").write_text(f"OWNER = 'other-{name}'\n")

    ours = python(
        site,
        "import cds_service, hooks, cards, hooks.knowledge as k;"
        "print(cds_service.__file__); print(hooks.__file__); print(cards.__file__);"
        "print(k.DEFAULT_DIR); print(k.load_knowledge().version)",
    ).splitlines()
    theirs = python(site, "import hooks, cards, knowledge; print(hooks.OWNER, cards.OWNER)")

    bundled = site / "cds_service" / "_bundled"
    assert ours[0] == str(site / "cds_service" / "__init__.py")
    assert ours[1] == str(bundled / "hooks" / "__init__.py")
    assert ours[2] == str(bundled / "cards" / "__init__.py")
    assert ours[3] == str(bundled / "knowledge")
    assert ours[4] == load_knowledge().version  # the bundled set, CHANGELOG included
    assert theirs.split() == ["other-hooks", "other-cards"]
