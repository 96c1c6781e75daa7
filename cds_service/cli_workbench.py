"""The informaticist's workbench commands: `replay`, `catalogue` and `report`.

Declarations only: each command parses its options and calls `cds_service.workbench.cli`,
whose libraries (Dask, Jinja2, matplotlib, ...) come with the `workbench` extra and load only
when a workbench command runs.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click
import orjson

EXIT_INVALID = 3  # as cds_service.cli documents


def _workbench() -> Any:
    """The workbench's terminal module, or a one-line error naming the missing extra."""
    try:
        from cds_service.workbench import cli
    except ImportError as exc:
        click.echo(
            f"error: {exc.name} is missing: pip install 'knee-spasm-cds[workbench]'", err=True
        )
        sys.exit(EXIT_INVALID)
    return cli


@click.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--as-of", "as_of", required=True, help="Clock for the rules: YYYY-MM-DD or ISO.")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for replay.json, patients.ndjson and index.html.",
)
@click.option(
    "--add",
    "extra",
    multiple=True,
    type=click.File("rb"),
    help="Add this FHIR resource to every patient (e.g. a complaint Condition). Repeatable.",
)
@click.option(
    "--knowledge",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Knowledge folder to replay (default: CDS_KNOWLEDGE_DIR or the shipped one).",
)
@click.option(
    "--baseline-knowledge",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Also replay this knowledge folder and report what the change does.",
)
@click.option("--workers", type=click.IntRange(1, 256), help="Local Dask worker processes.")
@click.option("--scheduler", help="Address of a running Dask scheduler (tcp://host:8786).")
@click.option("--serial", is_flag=True, help="Run in this process, without Dask.")
@click.option("--service", "service_id", default="knee-spasm-review", show_default=True)
def replay(
    inputs: tuple[Path, ...],
    as_of: str,
    out: Path,
    extra: tuple[Any, ...],
    knowledge: Path | None,
    baseline_knowledge: Path | None,
    workers: int | None,
    scheduler: str | None,
    serial: bool,
    service_id: str,
) -> None:
    """Replay a population through the service and count its cards.

    INPUTS are folders or files: one-patient FHIR Bundles (*.json, e.g. Synthea) and FHIR Bulk
    Data exports (*.ndjson, one resource type per file). Runs on a local Dask cluster of
    --workers processes (default: one per CPU), or on --scheduler.
    """
    from cds_service.cli import _fail_on_config, _parse_as_of

    run_replay = _workbench().run_replay
    if sum(bool(x) for x in (workers, scheduler, serial)) > 1:
        raise click.UsageError("choose one of --workers, --scheduler and --serial")
    added = [orjson.loads(handle.read()) for handle in extra]
    _fail_on_config(
        lambda: run_replay(
            inputs,
            out,
            as_of=_parse_as_of(as_of),
            added=added,
            knowledge=knowledge,
            baseline=baseline_knowledge,
            workers=workers,
            scheduler=scheduler,
            serial=serial,
            service_id=service_id,
        )
    )


@click.command()
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for index.html and catalogue.md.",
)
@click.option(
    "--knowledge",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Knowledge folder (default: CDS_KNOWLEDGE_DIR or the shipped one).",
)
@click.option(
    "--examples",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Example patients, one per rule (default: the shipped examples.yaml).",
)
def catalogue(out: Path, knowledge: Path | None, examples: Path | None) -> None:
    """Write the rule catalogue: each rule in words, its citations and its example card."""
    from cds_service.cli import _fail_on_config

    run_catalogue = _workbench().run_catalogue
    _fail_on_config(lambda: run_catalogue(out, knowledge=knowledge, examples=examples))


@click.command()
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for report.json and index.html.",
)
@click.option("--since", help="First day (YYYY-MM-DD) or instant of the window.")
@click.option("--until", help="Last day of the window (inclusive), or an instant (exclusive).")
@click.option(
    "--database", help="Ledger database URL (default: CDS_DATABASE_URL, as `db upgrade` uses)."
)
def report(out: Path, since: str | None, until: str | None, database: str | None) -> None:
    """Report the card ledger: cards, states and feedback per rule over a time window."""
    from cds_service.cli import _fail_on_config, _parse_as_of
    from cds_service.cli_admin import _database_url, _errors
    from cds_service.store import make_engine

    run_report = _workbench().run_report
    start = _parse_as_of(since, "--since") if since else None
    end = _parse_until(until) if until else None
    if start and end and end <= start:
        raise click.BadParameter("must be after --since", param_hint="--until")
    titles = _fail_on_config(_rule_titles)
    url = database or _database_url()
    with _errors(url):
        engine = make_engine(url)
        try:
            run_report(out, engine=engine, since=start, until=end, rule_titles=titles)
        finally:
            engine.dispose()


def _rule_titles() -> dict[str, tuple[str, str]]:
    """Rule id -> (title, family) of the configured knowledge, to label the report."""
    from cds_service.assembly import knowledge_of, settings_from

    knowledge = knowledge_of(settings_from())
    return {rule.id: (rule.title, rule.family.value) for rule in knowledge.rules}


def _parse_until(text: str) -> datetime:
    from cds_service.cli import _parse_as_of

    moment = _parse_as_of(text, "--until")
    return moment + timedelta(days=1) if len(text) == 10 else moment
