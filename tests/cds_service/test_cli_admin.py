"""`cds-service db current|history|upgrade`, `purge` and `--version`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, func, insert, select

from cds_service.cli import main
from cds_service.store import Feedback, IssuedCard, JwtReplay, LedgerFinding
from hooks.knowledge import load_knowledge


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def sqlite_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'ops.sqlite3'}"
    monkeypatch.setenv("CDS_DATABASE_URL", url)
    return url


def tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        from sqlalchemy import inspect

        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_reports_the_revisions_it_applied_then_nothing(sqlite_url: str) -> None:
    first = run("db", "upgrade")
    second = run("db", "upgrade")

    assert first.exit_code == 0, first.output
    assert first.stdout == "applied 0001, 0002, 0003, 0004; database at 0004 (head)\n"
    assert second.stdout == "nothing to apply; database at 0004 (head)\n"


def test_upgrade_to_a_revision_then_current_says_it_is_behind(sqlite_url: str) -> None:
    empty = run("db", "current")
    partial = run("db", "upgrade", "--revision", "0001")
    behind = run("db", "current")
    run("db", "upgrade")
    head = run("db", "current")

    assert empty.stdout.startswith("none: the database has no schema")
    assert partial.stdout == "applied 0001; database at 0001\n"
    assert behind.stdout.startswith("0001: behind head 0004")
    assert head.stdout == "0004 (head)\n"


def test_upgrade_needs_only_the_database_url(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A migration job has no issuers, knowledge or salt mounted; none of them may stop it."""
    monkeypatch.setenv("CDS_AUTH", "sometimes")
    monkeypatch.setenv("CDS_TRUSTED_ISSUERS", str(tmp_path / "absent.json"))
    monkeypatch.setenv("CDS_KNOWLEDGE_DIR", str(tmp_path / "absent"))
    monkeypatch.setenv("CDS_PATIENT_HASH_SALT_FILE", str(tmp_path / "absent-salt"))
    monkeypatch.setenv("CDS_NOT_A_SETTING", "x")

    result = run("db", "upgrade")

    assert result.exit_code == 0, result.output
    assert {"issued_card", "feedback", "jwt_replay"} <= tables(sqlite_url)


def test_the_database_url_may_come_from_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'from-file.sqlite3'}"
    (tmp_path / "db-url").write_text(url + "\n")
    monkeypatch.setenv("CDS_DATABASE_URL_FILE", str(tmp_path / "db-url"))

    result = run("db", "upgrade")

    assert result.exit_code == 0, result.output
    assert "issued_card" in tables(url)


def test_without_a_url_the_instance_sqlite_file_is_migrated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CDS_INSTANCE_PATH", str(tmp_path / "instance"))

    result = run("db", "upgrade")

    assert result.exit_code == 0, result.output
    assert "issued_card" in tables(f"sqlite:///{tmp_path / 'instance' / 'cds.sqlite3'}")


def test_an_unreachable_database_is_one_line_without_password_or_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CDS_DATABASE_URL", "postgresql+psycopg://cds:hunter2@127.0.0.1:1/cds")

    result = run("db", "upgrade")

    assert result.exit_code == 5
    assert result.stderr.count("\n") == 1
    assert "cannot use the database at postgresql+psycopg://cds:***@127.0.0.1:1/cds" in (
        result.stderr
    )
    assert "hunter2" not in result.output
    assert "Traceback" not in result.output


def test_an_unknown_revision_is_refused_before_anything_is_applied(sqlite_url: str) -> None:
    result = run("db", "upgrade", "--revision", "0099")

    assert result.exit_code == 3
    assert result.stderr == "error: Can't locate revision identified by '0099'\n"
    assert "issued_card" not in tables(sqlite_url)


def test_an_unparseable_url_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDS_DATABASE_URL", "not a url with s3cret")

    result = run("db", "current")

    assert result.exit_code == 3
    assert "s3cret" not in result.output


def test_upgrade_sql_prints_the_ddl_without_connecting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDS_DATABASE_URL", "postgresql+psycopg://cds@127.0.0.1:1/cds")

    result = run("db", "upgrade", "--sql")

    assert result.exit_code == 0, result.stderr
    assert "CREATE TABLE issued_card" in result.stdout
    assert "CREATE TABLE jwt_replay" in result.stdout
    assert "UPDATE alembic_version SET version_num='0002'" in result.stdout


def test_upgrade_sql_from_a_known_revision(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDS_DATABASE_URL", "postgresql+psycopg://cds@127.0.0.1:1/cds")

    result = run("db", "upgrade", "--sql", "--revision", "0001:head")

    assert result.exit_code == 0, result.stderr
    assert "CREATE TABLE jwt_replay" in result.stdout
    assert "CREATE TABLE issued_card" not in result.stdout


def test_history_lists_every_migration_newest_first_without_a_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CDS_DATABASE_URL", "postgresql+psycopg://cds@127.0.0.1:1/cds")

    result = run("db", "history")

    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("0003 -> 0004 (head): Run-time governance")
    assert lines[1].startswith("0002 -> 0003: Feedback identity key")
    assert lines[2].startswith("0001 -> 0002: JWT replay cache")
    assert lines[3] == "base -> 0001: Card ledger and feedback."


def seed(url: str, now: datetime) -> None:
    """Two cards, findings and feedback rows, one of each 400 days old; a live and a dead jti."""
    old, recent = now - timedelta(days=400), now - timedelta(days=5)
    card = {
        "service_id": "knee-spasm-review",
        "hook_instance": "h",
        "topic": "labs",
        "indicator": "info",
        "rule_ids": ["B1"],
        "knowledge_version": "1.0.0",
        "patient_hash": "0" * 64,
    }
    feedback = {
        "service_id": "knee-spasm-review",
        "card_known": True,
        "outcome": "overridden",
        "user_comment": "free text a clinician typed",
        "outcome_at": now,
    }
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            insert(IssuedCard),
            [
                {**card, "uuid": "old", "issued_at": old},
                {**card, "uuid": "new", "issued_at": recent},
            ],
        )
        finding = {
            "service_id": "knee-spasm-review",
            "hook_instance": "h",
            "patient_hash": "0" * 64,
            "rule_id": "B1",
            "rule_version": "1.0.0",
            "family": "labs",
            "indicator": "info",
            "status": "conclusive",
            "state": "shadow",
            "fingerprint": "f",
            "knowledge_version": "1.0.0",
            "rule_state_digest": "d",
        }
        conn.execute(
            insert(LedgerFinding),
            [{**finding, "recorded_at": old}, {**finding, "recorded_at": recent}],
        )
        conn.execute(
            insert(Feedback),
            [
                {**feedback, "card_uuid": "old", "received_at": old},
                {**feedback, "card_uuid": "new", "received_at": recent},
            ],
        )
        epoch = int(now.timestamp())
        conn.execute(
            insert(JwtReplay),
            [
                {"jti_hash": "a" * 64, "expires_at": epoch - 10},
                {"jti_hash": "b", "expires_at": epoch + 600},
            ],
        )
    engine.dispose()


def counts(url: str) -> tuple[int, int, int, int]:
    engine = create_engine(url)
    with engine.connect() as conn:
        found = tuple(
            conn.scalar(select(func.count()).select_from(table)) or 0
            for table in (IssuedCard, LedgerFinding, Feedback, JwtReplay)
        )
    engine.dispose()
    return found  # type: ignore[return-value]


def check_purge(url: str) -> None:
    assert run("db", "upgrade").exit_code == 0
    seed(url, datetime.now(UTC))

    dry = run("purge", "--older-than", "365", "--dry-run")
    after_dry = counts(url)
    real = run("purge", "--older-than", "365")

    assert dry.exit_code == 0, dry.output
    assert [line.split(": ", 1)[1] for line in dry.stdout.splitlines()] == ["would delete 1"] * 4
    assert after_dry == (2, 2, 2, 2)
    assert [line.split(": ", 1)[1] for line in real.stdout.splitlines()] == ["deleted 1"] * 4
    assert counts(url) == (1, 1, 1, 1)


def test_purge_removes_only_rows_past_retention(sqlite_url: str) -> None:
    check_purge(sqlite_url)


@pytest.mark.postgres
def test_purge_on_postgresql(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDS_DATABASE_URL", postgres_url)
    check_purge(postgres_url)


def test_purge_refuses_zero_days(sqlite_url: str) -> None:
    result = run("purge", "--older-than", "0")

    assert result.exit_code == 2


def test_version_names_the_software_and_the_knowledge() -> None:
    result = run("--version")

    assert result.exit_code == 0, result.output
    software, knowledge = result.stdout.splitlines()
    assert software == f"cds-service {version('knee-spasm-cds')}"
    assert knowledge.startswith(f"knowledge {load_knowledge().version} (")


def test_version_reads_the_configured_knowledge_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CDS_KNOWLEDGE_DIR", str(tmp_path))

    result = run("--version")

    assert result.exit_code == 3
    assert "knowledge: invalid" in result.stderr
