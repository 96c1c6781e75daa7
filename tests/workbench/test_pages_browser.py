"""The three workbench pages in a real browser (headless Debian Chromium, via Playwright).

Each page opens from a file with the network cut off, logs no console error, and shows its
charts and one row per rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cds_service.migrate import upgrade
from cds_service.store import make_engine
from cds_service.workbench.catalogue import build_catalogue, render
from cds_service.workbench.engine import EngineSpec
from cds_service.workbench.executors import SerialExecutor
from cds_service.workbench.ledger import read_ledger
from cds_service.workbench.pages import render_report
from cds_service.workbench.replay import replay
from cds_service.workbench.report import build_report
from hooks.knowledge import load_knowledge
from tests.workbench.conftest import COMPLAINT, knowledge_with
from tests.workbench.test_report import Ledger, pilot

AS_OF = datetime(2021, 4, 1, tzinfo=UTC)


@dataclass
class Visit:
    """What the browser saw on one page."""

    errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    charts: int = 0
    rules: list[str] = field(default_factory=list)
    pdf: bytes = b""


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory, synthea: list[Path]) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pages")
    # Replay: six patients, against a baseline whose C7 window is wider (one patient changes).
    baseline = knowledge_with(root / "baseline", "C7", lab_window_days=1500)
    subset = [p for p in synthea if p.name.startswith(("David", "Trey", "Tom_", "Martina", "Elsy"))]
    replay(
        subset,
        root / "replay",
        current=EngineSpec.of(AS_OF, added=[COMPLAINT]),
        baseline=EngineSpec.of(AS_OF, baseline, added=[COMPLAINT]),
        executor=SerialExecutor(),
        salt=b"pages",
    )
    html, _ = render(build_catalogue())
    (root / "catalogue").mkdir()
    (root / "catalogue" / "index.html").write_text(html)
    engine = make_engine(f"sqlite:///{root / 'ledger.sqlite3'}")
    upgrade(engine)
    pilot(Ledger(engine))
    titles = {r.id: (r.title, r.family.value) for r in load_knowledge().rules}
    report = build_report(read_ledger(engine), since=None, until=None, rule_titles=titles)
    (root / "report").mkdir()
    (root / "report" / "index.html").write_text(render_report(report))
    engine.dispose()
    return {name: root / name / "index.html" for name in ("replay", "catalogue", "report")}


def visit(browser: Any, page_file: Path, pdf: bool = False) -> Visit:
    seen = Visit()
    context = browser.new_context()
    page = context.new_page()
    page.on("console", lambda m: seen.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: seen.errors.append(str(exc)))

    def block(route: Any) -> None:
        if not route.request.url.startswith("file://"):
            seen.blocked.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    page.route("**/*", block)
    page.goto(page_file.as_uri())
    page.wait_for_load_state("load")
    seen.charts = page.locator("figure svg.chart").count()
    seen.rules = page.locator("tr.rule-row").evaluate_all("rows => rows.map(r => r.dataset.rule)")
    if pdf:
        seen.pdf = page.pdf(format="A4")
    context.close()
    return seen


@pytest.fixture(scope="module")
def browser_pages(browser: Any, pages: dict[str, Path]) -> dict[str, Visit]:
    return {name: visit(browser, path, pdf=name == "catalogue") for name, path in pages.items()}


def test_the_replay_page(browser_pages: dict[str, Visit]) -> None:
    seen = browser_pages["replay"]

    assert seen.errors == []
    assert seen.blocked == []
    assert seen.charts == 4  # firing rate, indicator mix, orders, baseline before/after
    assert {"A3", "C7", "M1"} <= set(seen.rules)


def test_the_catalogue_page_and_its_print(browser_pages: dict[str, Visit]) -> None:
    seen = browser_pages["catalogue"]

    assert seen.errors == []
    assert seen.blocked == []
    assert seen.charts == 1
    assert seen.rules == [rule.id for rule in load_knowledge().rules]
    assert seen.pdf.startswith(b"%PDF")
    assert len(seen.pdf) > 50_000  # 45 rules and their cards: many pages


def test_the_report_page(browser_pages: dict[str, Visit]) -> None:
    seen = browser_pages["report"]

    assert seen.errors == []
    assert seen.blocked == []
    assert seen.charts == 5  # per rule, indicators, acceptance and volume over time, reasons
    assert seen.rules == ["A3", "M1", "B1", "A1", "A1b"]
