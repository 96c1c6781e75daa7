"""Fixtures of the governance tests: an app whose rule states are reread on every call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.cds_service.governance_support import governed_app, governed_config


@pytest.fixture
def rules_config(tmp_path: Path) -> dict[str, Any]:
    """The settings of `rules_app`, for the CLI to reach the same database."""
    return governed_config(tmp_path)


@pytest.fixture
def rules_app(tmp_path: Path) -> Flask:
    return governed_app(tmp_path)
