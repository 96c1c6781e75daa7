"""Type aliases shared across the project, defined once (after httpx's `_types.py`)."""

from __future__ import annotations

from typing import Any

JsonObject = dict[str, Any]
"""A decoded JSON object: client data, so any value may hold any JSON type."""

__all__ = ["JsonObject"]
