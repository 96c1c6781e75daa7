"""Operator commands: `db current|history|upgrade`, `purge` and `openapi`.

The database commands read `CDS_DATABASE_URL` (or `CDS_DATABASE_URL_FILE`; without either,
the SQLite file in the instance folder) and nothing else: a migration job needs no issuers,
knowledge or salt.
Failures print one line and exit non-zero, never a traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NoReturn

import click
from alembic.util import CommandError
from sqlalchemy import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

# The exit codes `cds-service` documents (see cli.py): 3 invalid input, 5 database unreachable.
EXIT_INVALID = 3
EXIT_UNAVAILABLE = 5


@click.group()
def db() -> None:
    """Database schema: show, list and apply migrations."""


@db.command("current")
def db_current() -> None:
    """Print the revision the database is at, and whether it is the newest."""
    from cds_service.migrate import current, scripts

    with _engine() as engine:
        revisions = current(engine)
    heads = scripts().get_heads()
    if not revisions:
        click.echo(f"none: the database has no schema; run `cds-service db upgrade` ({heads[0]})")
    elif set(revisions) == set(heads):
        click.echo(f"{', '.join(revisions)} (head)")
    else:
        click.echo(f"{', '.join(revisions)}: behind head {', '.join(heads)}; run `db upgrade`")


@db.command("history")
def db_history() -> None:
    """List the migrations this version ships, newest first (no database needed)."""
    from cds_service.migrate import history

    for revision in history():
        mark = " (head)" if revision.is_head else ""
        click.echo(f"{revision.down or 'base'} -> {revision.id}{mark}: {revision.message}")


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision id.")
@click.option(
    "--sql",
    is_flag=True,
    help="Print the SQL instead of running it (no connection; REVISION may be FROM:TO).",
)
def db_upgrade(revision: str, sql: bool) -> None:
    """Apply migrations to CDS_DATABASE_URL and report the revisions applied."""
    from cds_service.migrate import current, scripts, upgrade, upgrade_sql

    if sql:
        url = _database_url()
        with _errors(url):
            upgrade_sql(url, revision, sys.stdout)
        return
    with _engine() as engine:
        applied = upgrade(engine, revision)
        now = ", ".join(current(engine)) or "base"
    at_head = set(now.split(", ")) == set(scripts().get_heads())
    where = f"database at {now}{' (head)' if at_head else ''}"
    click.echo(
        f"applied {', '.join(applied)}; {where}" if applied else f"nothing to apply; {where}"
    )


@click.command()
@click.option(
    "--older-than",
    "days",
    required=True,
    type=click.IntRange(min=1),
    help="Retention in days: remove ledger cards, findings and feedback older than this.",
)
@click.option("--dry-run", is_flag=True, help="Count what would be removed; change nothing.")
def purge(days: int, dry_run: bool) -> None:
    """Apply retention to the card ledger and feedback (and drop expired JWT ids)."""
    from cds_service.store import purge_older_than

    cutoff = datetime.now(UTC) - timedelta(days=days)
    with _engine() as engine:
        counts = purge_older_than(engine, cutoff, dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    since = cutoff.strftime("%Y-%m-%dT%H:%M:%SZ")
    click.echo(f"issued cards before {since}: {verb} {counts.issued_cards}")
    click.echo(f"ledger findings before {since}: {verb} {counts.ledger_findings}")
    click.echo(f"feedback received before {since}: {verb} {counts.feedback}")
    click.echo(f"expired JWT ids: {verb} {counts.expired_jtis}")


@click.command("openapi")
def openapi_document() -> None:
    """Print the OpenAPI 3.1 document (default configuration; the server serves its own)."""
    from cds_service.openapi import build_openapi

    click.echo(render_openapi(build_openapi()))


def render_openapi(document: dict[str, object]) -> str:
    """The document as `docs/openapi.json` stores it: indented, keys in generated order."""
    import json

    return json.dumps(document, indent=2, ensure_ascii=False)


def _database_url() -> str:
    """CDS_DATABASE_URL (or its _FILE), else the SQLite file create_app would use."""
    from cds_service.app import default_instance_path
    from cds_service.assembly import read_environment
    from cds_service.settings import ConfigError, resolve_secret_files
    from cds_service.store import default_database_url

    try:
        raw = resolve_secret_files(read_environment(os.environ), names=("DATABASE_URL",))
    except ConfigError as exc:
        _fail(f"configuration error: {exc}", EXIT_INVALID)
    url = raw.get("DATABASE_URL")
    if url:
        return str(url)
    instance = raw.get("INSTANCE_PATH")
    folder = Path(str(instance)) if instance else default_instance_path()
    folder.mkdir(parents=True, exist_ok=True)
    return default_database_url(folder)


@contextmanager
def _engine() -> Iterator[Engine]:
    from cds_service.store import make_engine

    url = _database_url()
    with _errors(url):
        engine = make_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


@contextmanager
def _errors(url: str) -> Iterator[None]:
    """One clear line per failure; the URL is shown without its password."""
    try:
        yield
    except CommandError as exc:
        _fail(f"error: {exc}", EXIT_INVALID)
    except ArgumentError:
        _fail("error: CDS_DATABASE_URL is not a valid SQLAlchemy database URL", EXIT_INVALID)
    except DBAPIError as exc:
        reason = (str(exc.orig).strip().splitlines() or [type(exc.orig).__name__])[0]
        _fail(f"error: cannot use the database at {_safe(url)}: {reason}", EXIT_UNAVAILABLE)
    except SQLAlchemyError as exc:
        _fail(f"error: database error at {_safe(url)}: {type(exc).__name__}", EXIT_UNAVAILABLE)


def _safe(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "CDS_DATABASE_URL"


def _fail(message: str, code: int) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(code)
