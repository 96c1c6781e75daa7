"""Schema migrations: Alembic driven from code, so no alembic.ini has to ship or be found."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

SCRIPT_LOCATION = Path(__file__).resolve().parent / "migrations"


@dataclass(frozen=True)
class Revision:
    """One migration script, as `db history` lists it."""

    id: str
    down: str | None
    message: str
    is_head: bool


def alembic_config(url: str, output: TextIO | None = None) -> Config:
    """Alembic config pointing at our migrations and this database URL."""
    config = Config(output_buffer=output)
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def scripts() -> ScriptDirectory:
    """The migration scripts shipped with this version."""
    return ScriptDirectory.from_config(alembic_config("sqlite://"))


def history() -> list[Revision]:
    """Every migration, newest first."""
    directory = scripts()
    heads = set(directory.get_heads())
    return [
        Revision(
            id=script.revision,
            down=_one(script.down_revision),
            message=(script.doc or "").strip(),
            is_head=script.revision in heads,
        )
        for script in directory.walk_revisions()
    ]


def current(engine: Engine) -> tuple[str, ...]:
    """The revisions the database is at; empty for a database never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_heads()


def upgrade(engine: Engine, revision: str = "head") -> list[str]:
    """Apply migrations up to `revision` over the engine's own connection.

    Returns the revisions applied, oldest first (empty when already there). An unknown
    revision raises alembic's CommandError before anything is applied.
    """
    scripts().get_revision(revision)  # CommandError for an unknown revision, before any change
    before = current(engine)
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    after = current(engine)
    if after == before or not after:
        return []
    lower = before[0] if before else "base"
    applied = [script.revision for script in scripts().iterate_revisions(after[0], lower)]
    return list(reversed(applied))


def upgrade_sql(url: str, revision: str, output: TextIO) -> None:
    """Write the SQL of an upgrade instead of running it (offline; no connection is made).

    `revision` is `head`, a revision id, or `FROM:TO` to start from a known revision.
    """
    command.upgrade(alembic_config(url, output), revision, sql=True)


def _one(down: str | Sequence[str] | None) -> str | None:
    if down is not None and not isinstance(down, str):
        return ",".join(down)
    return down


@functools.cache
def head_revision() -> str | None:
    """The revision this release's schema is at once migrated (readiness compares to it)."""
    return scripts().get_current_head()
