"""Knowledge versioning: one version in the manifest, and content that cannot change silently.

The CHANGELOG heading of each release records the content digest. Content that differs from the
manifest's release loads as `<release>+dev.<digest>` and needs an "Unreleased" CHANGELOG entry;
a released digest never changes.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from hooks.knowledge import DEFAULT_DIR, content_digest, load_knowledge

UNRELEASED = "## Unreleased"
HEADING = re.compile(r"^## (\d+)\.(\d+)\.(\d+)(?: \(content ([0-9a-f]{16})\))?$", re.M)
CHANGELOG = "knowledge/CHANGELOG.md"
ROOT = DEFAULT_DIR.parent


def headings(text: str) -> list[tuple[tuple[int, int, int], str | None]]:
    return [((int(a), int(b), int(c)), digest) for a, b, c, digest in HEADING.findall(text)]


def version_text(version: tuple[int, int, int]) -> str:
    return ".".join(map(str, version))


def _manifest_version(directory: Path = DEFAULT_DIR) -> str:
    manifest = yaml.safe_load((directory / "manifest.yaml").read_text(encoding="utf-8"))
    return str(manifest["knowledge_version"])


def test_the_newest_release_is_the_manifest_version_and_unreleased_content_is_named() -> None:
    text = (DEFAULT_DIR / "CHANGELOG.md").read_text(encoding="utf-8")
    (newest, digest), *_ = headings(text)
    content = content_digest()
    release = _manifest_version()

    assert version_text(newest) == release, "manifest and CHANGELOG disagree"
    if digest == content[:16]:
        assert load_knowledge().version == release
    else:
        assert load_knowledge().version == f"{release}+dev.{content[:8]}"
        before_release = text.split(f"\n## {release}", 1)[0]
        assert re.search(rf"^{UNRELEASED}\n\n\S", before_release, re.M), (
            "knowledge content changed since the release: say what and why under "
            f"'{UNRELEASED}' at the top of knowledge/CHANGELOG.md; a release bumps "
            f"knowledge_version and records '## <new version> (content {content[:16]})'"
        )


def test_unreleased_content_loads_as_a_dev_version_and_a_release_names_it(
    tmp_path: Path,
) -> None:
    copy = tmp_path / "knowledge"
    shutil.copytree(DEFAULT_DIR, copy)
    release = _manifest_version(copy)
    labs = copy / "labs.yaml"
    text = labs.read_text(encoding="utf-8")
    labs.write_text(text.replace("adult_age_years: 18", "adult_age_years: 19"), encoding="utf-8")
    digest = content_digest(copy)

    assert load_knowledge(copy).version == f"{release}+dev.{digest[:8]}"

    major, minor, _ = release.split(".")
    new = f"{major}.{int(minor) + 1}.0"
    manifest = copy / "manifest.yaml"
    manifest.write_text(
        manifest.read_text().replace(f"knowledge_version: {release}", f"knowledge_version: {new}")
    )
    changelog = copy / "CHANGELOG.md"
    heading = f"## {new} (content {digest[:16]})\n\nAdults from 19.\n\n"
    old = changelog.read_text(encoding="utf-8")
    changelog.write_text(old.replace(f"## {release}", heading + f"## {release}", 1))

    assert load_knowledge(copy).version == new


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
