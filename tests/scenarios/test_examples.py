"""The README's examples: current with their generator, and giving the cards the README shows."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cds_service.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def generator() -> Any:
    spec = importlib.util.spec_from_file_location("examples_generate", EXAMPLES / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_examples_match_the_generator() -> None:
    for name, request in generator().build_all().items():
        assert json.loads((EXAMPLES / f"{name}.json").read_text()) == request, name


def evaluate(name: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(
        main, ["evaluate", str(EXAMPLES / f"{name}.json"), "--as-of", "2026-11-21"]
    )
    assert result.exit_code == 0, result.output
    cards: list[dict[str, Any]] = json.loads(result.stdout)["cards"]
    return cards


def ordered(card: dict[str, Any]) -> list[str]:
    return [
        coding["code"]
        for suggestion in card["suggestions"]
        for action in suggestion["actions"]
        for coding in action["resource"]["code"]["coding"]
    ]


def test_low_potassium_on_furosemide() -> None:
    [card] = evaluate("low-potassium-on-furosemide")

    assert card["indicator"] == "warning"
    assert card["summary"].startswith("On furosemide, potassium 3.1 mmol/L (2026-11-18) is low")
    assert "possible contributor" in card["summary"]
    assert ordered(card) == ["51990-0", "19123-9"]


def test_statin_with_knee_cramps() -> None:
    [card] = evaluate("statin-with-knee-cramps")

    assert card["indicator"] == "info"
    assert "atorvastatin" in card["summary"]
    assert ordered(card) == ["2157-6", "3016-3"]


def test_fasciculations_with_weakness() -> None:
    [card] = evaluate("fasciculations-with-weakness")

    assert card["indicator"] == "critical"
    assert card["source"]["topic"]["code"] == "neurology"
    assert ordered(card)[:2] == ["308474002", "2157-6"]
    assert {s["actions"][0]["resource"]["priority"] for s in card["suggestions"]} == {"stat"}


@pytest.mark.parametrize("name", ["low-potassium-on-furosemide", "statin-with-knee-cramps"])
def test_examples_give_no_cards_once_the_complaint_is_gone(name: str, tmp_path: Path) -> None:
    request = json.loads((EXAMPLES / f"{name}.json").read_text())
    request["prefetch"]["conditions"] = None
    path = tmp_path / "req.json"
    path.write_text(json.dumps(request))

    result = CliRunner().invoke(main, ["evaluate", str(path), "--as-of", "2026-11-21"])

    assert json.loads(result.stdout) == {"cards": []}
