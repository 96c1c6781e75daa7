"""The terminal side of the workbench commands: executors, progress bar, summary lines.

`cds_service/cli.py` declares the commands (click) and calls these; they print to the terminal
only counts and paths, never patient data.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from cds_service.workbench.engine import JsonObject


def describe(resource: JsonObject) -> str:
    """A resource added to every patient, in words (its type and first coding)."""
    code = resource.get("code") or {}
    codings = code.get("coding") or [{}]
    first = codings[0] if isinstance(codings[0], dict) else {}
    words = [resource.get("resourceType", "?"), first.get("code", ""), first.get("display", "")]
    return " ".join(str(w) for w in words if w)


@contextmanager
def _executor(workers: int | None, scheduler: str | None, serial: bool) -> Iterator[Any]:
    from cds_service.workbench.executors import DaskExecutor, SerialExecutor

    if serial:
        yield SerialExecutor()
        return
    if scheduler:
        executor = DaskExecutor.connect(scheduler)
    else:
        executor = DaskExecutor.local(workers or os.cpu_count() or 1)
    with executor:
        yield executor


class _Progress:
    """click's progress bar on a terminal; silent when stderr is a file or pipe."""

    def __init__(self) -> None:
        self.bar: Any = None

    def total(self, n: int) -> None:
        if sys.stderr.isatty():
            self.bar = click.progressbar(length=n, label="replay", file=sys.stderr, width=30)
            self.bar.__enter__()

    def step(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def run_replay(
    inputs: Sequence[Path],
    out: Path,
    *,
    as_of: datetime,
    added: Sequence[JsonObject],
    knowledge: Path | None,
    baseline: Path | None,
    workers: int | None,
    scheduler: str | None,
    serial: bool,
    service_id: str,
) -> None:
    """`cds-service replay`: run, then one summary line."""
    from cds_service.workbench.engine import EngineSpec
    from cds_service.workbench.replay import replay, salt_for_run

    current = EngineSpec.of(as_of, knowledge, service_id, added)
    before = EngineSpec.of(as_of, baseline, service_id, added) if baseline else None
    salt = salt_for_run(os.environ.get("CDS_PATIENT_HASH_SALT"))
    progress = _Progress()
    try:
        with _executor(workers, scheduler, serial) as executor:
            result = replay(
                inputs,
                out,
                current=current,
                baseline=before,
                executor=executor,
                salt=salt,
                added_labels=[describe(r) for r in added],
                on_total=progress.total,
                on_progress=progress.step,
            )
    finally:
        progress.close()
    s = result.summary
    line = (
        f"replayed {s.patients} patients in {result.run.elapsed_seconds:.1f} s "
        f"({result.run.patients_per_second:g}/s, {result.run.executor}): "
        f"{s.patients_with_cards} with cards, {s.cards} cards "
        f"({s.cards_per_100_patients:g} per 100), {s.errors} errors"
    )
    if result.comparison is not None:
        line += f"; {result.comparison.changed_patients} changed against the baseline"
    click.echo(f"{line} -> {out / 'index.html'}")


def run_catalogue(out: Path, *, knowledge: Path | None, examples: Path | None) -> None:
    """`cds-service catalogue`: write the pages; exit 1 if an enabled rule lacks its card."""
    from cds_service.workbench.catalogue import EXAMPLES, build_catalogue, missing_examples, render

    catalogue = build_catalogue(knowledge, examples or EXAMPLES)
    html, text = render(catalogue)
    out.mkdir(parents=True, exist_ok=True)
    (out / "index.html").write_text(html, encoding="utf-8")
    (out / "catalogue.md").write_text(text, encoding="utf-8")
    counts = ", ".join(f"{n} {state}" for state, n in sorted(catalogue.counts().items()))
    click.echo(
        f"catalogue of knowledge {catalogue.knowledge.version}: {len(catalogue.rules)} rules "
        f"({counts}) -> {out / 'index.html'}, {out / 'catalogue.md'}"
    )
    missing = missing_examples(catalogue)
    if missing:
        click.echo(f"error: no example card for {', '.join(missing)}", err=True)
        sys.exit(1)


def run_report(
    out: Path,
    *,
    engine: Any,
    since: datetime | None,
    until: datetime | None,
    rule_titles: Mapping[str, tuple[str, str]],
) -> None:
    """`cds-service report`: read the ledger window, write report.json and index.html."""
    from sqlalchemy.exc import SQLAlchemyError

    from cds_service.workbench.ledger import read_ledger, read_withheld, unknown_card_feedback
    from cds_service.workbench.pages import render_report
    from cds_service.workbench.report import build_report

    try:
        result = build_report(
            itertools.chain(read_ledger(engine, since, until), read_withheld(engine, since, until)),
            since=since,
            until=until,
            rule_titles=rule_titles,
            unknown_feedback=unknown_card_feedback(engine, since, until),
        )
    except SQLAlchemyError as exc:
        click.echo(
            f"error: the ledger could not be read ({type(exc).__name__}): is the database "
            "reachable and its schema current? (cds-service db current; db upgrade)",
            err=True,
        )
        sys.exit(3)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(result.model_dump_json(indent=1) + "\n", encoding="utf-8")
    (out / "index.html").write_text(render_report(result), encoding="utf-8")
    f = result.feedback
    click.echo(
        f"{result.cards} cards for {result.distinct_patients} patients, "
        f"{f.accepted} accepted, {f.overridden} overridden -> {out / 'index.html'}"
    )
