"""Knowledge versioning: one version in the manifest, and content that cannot change silently.

The CHANGELOG heading of each version records the content digest. Change a threshold without a
new version and a CHANGELOG entry, and these tests fail, naming the digest to record.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from hooks.knowledge import DEFAULT_DIR, content_digest, load_knowledge

HEADING = re.compile(r"^## (\d+)\.(\d+)\.(\d+)(?: \(content ([0-9a-f]{16})\))?$", re.M)
CHANGELOG = "knowledge/CHANGELOG.md"
ROOT = DEFAULT_DIR.parent


def headings(text: str) -> list[tuple[tuple[int, int, int], str | None]]:
    return [((int(a), int(b), int(c)), digest) for a, b, c, digest in HEADING.findall(text)]


def version_text(version: tuple[int, int, int]) -> str:
    return ".".join(map(str, version))


def test_the_newest_changelog_entry_is_the_manifest_version_and_records_the_content() -> None:
    (newest, digest), *_ = headings((DEFAULT_DIR / "CHANGELOG.md").read_text(encoding="utf-8"))
    expected = content_digest()[:16]

    assert version_text(newest) == load_knowledge().version, "manifest and CHANGELOG disagree"
    assert digest == expected, (
        f"knowledge content changed: bump knowledge_version in knowledge/manifest.yaml and add a "
        f"CHANGELOG entry '## <new version> (content {expected})' saying what changed and why"
    )


def test_changelog_versions_are_unique_and_newest_first() -> None:
    versions = [v for v, _ in headings((DEFAULT_DIR / "CHANGELOG.md").read_text())]

    assert versions == sorted(set(versions), reverse=True)


def _committed_changelogs() -> list[str]:
    try:
        commits = subprocess.run(
            ["git", "log", "--format=%H", "-n", "200", "--", CHANGELOG],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=20,
        ).stdout.split()
        return [
            subprocess.run(
                ["git", "show", f"{commit}:{CHANGELOG}"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
                timeout=20,
            ).stdout
            for commit in commits
        ]
    except (OSError, subprocess.SubprocessError):
        pytest.skip("not a git checkout: released digests cannot be compared")


def test_a_released_version_keeps_its_recorded_content() -> None:
    current = dict(headings((DEFAULT_DIR / "CHANGELOG.md").read_text()))
    for text in _committed_changelogs():
        for version, digest in headings(text):
            if digest is not None:
                assert current.get(version) == digest, (
                    f"{version_text(version)} was released with content {digest}: "
                    "changed content needs a new version, not a new digest"
                )


def test_the_digest_follows_values_not_comments(tmp_path: Path) -> None:
    copy = tmp_path / "knowledge"
    shutil.copytree(DEFAULT_DIR, copy)
    labs = copy / "labs.yaml"
    original = content_digest(copy)

    labs.write_text("# a reviewer's note\n" + labs.read_text(encoding="utf-8"), encoding="utf-8")
    assert content_digest(copy) == original

    text = labs.read_text(encoding="utf-8")
    labs.write_text(text.replace("adult_age_years: 18", "adult_age_years: 19"), encoding="utf-8")
    assert content_digest(copy) != original

    manifest = copy / "manifest.yaml"
    labs.write_text(text, encoding="utf-8")
    bumped = manifest.read_text().replace("knowledge_version: ", "knowledge_version: 9")
    manifest.write_text(bumped, encoding="utf-8")
    assert content_digest(copy) == original  # the version names the content; it is not content
