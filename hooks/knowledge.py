"""Clinical knowledge: schema and loader for the versioned data in `knowledge/`.

Loaded once at start-up; a bad file stops start-up with a message naming file and field.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "knowledge"


class KnowledgeError(ValueError):
    """A knowledge file is missing or invalid."""


@dataclass(frozen=True)
class KnowledgeBase:
    """Everything the rules and card builders read, validated."""

    version: str


def load_knowledge(directory: Path = DEFAULT_DIR) -> KnowledgeBase:
    """Load and cross-check every knowledge file in `directory`."""
    manifest = directory / "manifest.yaml"
    try:
        data = yaml.safe_load(manifest.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise KnowledgeError(f"{manifest}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("knowledge_version"), str):
        raise KnowledgeError(f"{manifest}: knowledge_version is required")
    return KnowledgeBase(version=data["knowledge_version"])
