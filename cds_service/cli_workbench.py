"""The informaticist's workbench commands: `replay` (and, as they land, `catalogue`, `report`).

Declarations only: each command parses its options and calls `cds_service.workbench.cli`,
whose libraries (Dask, Jinja2, matplotlib, ...) come with the `workbench` extra and load only
when a workbench command runs.
"""

from __future__ import annotations

import sys
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
