"""The `cds-service` command: serve, evaluate offline, migrate, and the informaticist's workbench.

`rules` and `ledger` (switch rules, read the findings ledger) live in
`cds_service.governance.commands`.

Exit codes: 0 success; 1 unexpected failure; 2 usage error; 3 invalid request or
configuration; 4 required data missing (the HTTP 412 case); 5 database unreachable.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import click
import orjson

from cds_service.cli_admin import db, openapi_document, purge
from cds_service.cli_workbench import catalogue, replay, report
from cds_service.errors import CdsError, PreconditionFailed
from cds_service.governance.commands import ledger, rules
from cds_service.settings import ConfigError

EXIT_INVALID = 3
EXIT_PRECONDITION = 4


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """Software and knowledge versions: what a bug report or an audit needs to name."""
    if not value or ctx.resilient_parsing:
        return
    from importlib.metadata import version

    from hooks.knowledge import DEFAULT_DIR, KnowledgeError, load_knowledge

    click.echo(f"cds-service {version('knee-spasm-cds')}")
    directory = Path(os.environ.get("CDS_KNOWLEDGE_DIR") or DEFAULT_DIR)
    try:
        click.echo(f"knowledge {load_knowledge(directory).version} ({directory})")
    except KnowledgeError as exc:
        click.echo(f"knowledge: invalid ({exc})", err=True)
        ctx.exit(EXIT_INVALID)
    ctx.exit(0)


@click.group()
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the software and knowledge versions and exit.",
)
def main() -> None:
    """CDS Hooks 2.0 knee-spasm review service."""


@main.command(context_settings={"ignore_unknown_options": True})
@click.option("--host", help="Interface to bind (default 127.0.0.1, or GUNICORN_BIND).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default 8080).")
@click.option("--workers", type=click.IntRange(1, 64), help="Worker processes (default: per CPU).")
@click.argument("gunicorn_args", nargs=-1, type=click.UNPROCESSED)
def serve(
    host: str | None, port: int | None, workers: int | None, gunicorn_args: tuple[str, ...]
) -> None:
    """Serve over HTTP with gunicorn, using the production configuration.

    gunicorn's own options apply as with the gunicorn command: from GUNICORN_CMD_ARGS, or
    after `--` (e.g. `cds-service serve -- --certfile c.pem --keyfile k.pem`).
    """
    from cds_service.server import run_gunicorn

    app = _fail_on_config(lambda: _check_config())
    store = app.extensions["cds"].pipeline.store
    if (problem := store.schema_problem()) is not None:
        click.echo(f"warning: {problem}; /readyz answers 503 until then", err=True)
    # The workers are forked from this process: they must not share its connections.
    store.engine.dispose()
    overrides: dict[str, object] = {}
    if host is not None or port is not None:
        overrides["bind"] = [f"{host or '127.0.0.1'}:{port or 8080}"]
    if workers is not None:
        overrides["workers"] = workers
    run_gunicorn(overrides, gunicorn_args)


@main.command()
@click.argument("request_file", type=click.File("rb"))
@click.option("--as-of", "as_of", help="Clock for the rules: YYYY-MM-DD or an ISO instant.")
@click.option("--service", "service_id", default="knee-spasm-review", show_default=True)
@click.option(
    "--add",
    "extra",
    multiple=True,
    type=click.File("rb"),
    help="With a bundle: add this FHIR resource (e.g. a complaint Condition). Repeatable.",
)
def evaluate(request_file: Any, as_of: str | None, service_id: str, extra: tuple[Any, ...]) -> None:
    """Evaluate a hook request offline (prefetch only, no network) and print the response.

    REQUEST_FILE is a CDS Hooks request, or a FHIR Bundle of one patient's record (for
    example a Synthea file), which is turned into a request through the service's templates.
    """
    from cards.model import to_wire
    from cds_service.offline import offline_pipeline, request_from_bundle

    clock = _parse_as_of(as_of) if as_of else datetime.now(UTC)
    pipeline = _fail_on_config(lambda: offline_pipeline(clock))
    try:
        payload = orjson.loads(request_file.read())
        if isinstance(payload, dict) and payload.get("resourceType") == "Bundle":
            added = [orjson.loads(handle.read()) for handle in extra]
            payload = request_from_bundle(pipeline, service_id, payload, added)
        outcome = pipeline.invoke(service_id, payload)
    except orjson.JSONDecodeError as exc:
        click.echo(f"error: input is not valid JSON ({exc})", err=True)
        sys.exit(EXIT_INVALID)
    except PreconditionFailed as exc:
        click.echo(f"error: {exc.message}: {'; '.join(exc.details)}", err=True)
        sys.exit(EXIT_PRECONDITION)
    except CdsError as exc:
        click.echo(f"error: {exc.message}: {'; '.join(exc.details)}", err=True)
        sys.exit(EXIT_INVALID)
    click.echo(orjson.dumps(to_wire(outcome.response), option=orjson.OPT_INDENT_2).decode())


@main.command("validate-knowledge")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
def validate_knowledge(directory: Path | None) -> None:
    """Load and cross-check the clinical knowledge files and every service's rule catalogue."""
    from hooks.knowledge import DEFAULT_DIR, KnowledgeError, load_knowledge
    from hooks.registry import Registry, RegistryError
    from hooks.services import SERVICES

    try:
        knowledge = load_knowledge(directory or DEFAULT_DIR)
        Registry(SERVICES, knowledge)
    except (KnowledgeError, RegistryError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_INVALID)
    click.echo(f"knowledge {knowledge.version}: OK")


main.add_command(db)
main.add_command(purge)
main.add_command(openapi_document)
main.add_command(replay)
main.add_command(catalogue)
main.add_command(report)
main.add_command(rules)
main.add_command(ledger)


def _check_config() -> Any:
    from cds_service.app import create_app

    return create_app()


def _fail_on_config(build: Any) -> Any:
    try:
        return build()
    except ConfigError as exc:
        click.echo(f"configuration error: {exc}", err=True)
        sys.exit(EXIT_INVALID)


def _parse_as_of(text: str, option: str = "--as-of") -> datetime:
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            "use YYYY-MM-DD or an ISO 8601 instant", param_hint=option
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
