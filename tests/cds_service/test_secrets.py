"""The patient-hash salt and secrets mounted as files (`CDS_*_FILE`)."""

from __future__ import annotations

import secrets
import threading
from pathlib import Path

import pytest

from cds_service import create_app
from cds_service.assembly import instance_salt
from cds_service.settings import ConfigError, load_settings, resolve_secret_files
from tests.conftest import base_config


def test_workers_starting_together_share_one_complete_salt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first worker is paused while making its salt; the second must not read a torn file."""
    real_token_bytes = secrets.token_bytes
    first_is_writing = threading.Event()
    second_done = threading.Event()
    calls: list[int] = []

    def slow_first(n: int) -> bytes:
        calls.append(n)
        if len(calls) == 1:
            first_is_writing.set()
            second_done.wait(timeout=5)
        return real_token_bytes(n)

    monkeypatch.setattr(secrets, "token_bytes", slow_first)
    results: dict[str, bytes] = {}

    def worker(name: str) -> None:
        results[name] = instance_salt(tmp_path)

    first = threading.Thread(target=worker, args=("first",))
    first.start()
    assert first_is_writing.wait(timeout=5)
    worker("second")
    second_done.set()
    first.join(timeout=10)

    assert len(results["second"]) == 32
    assert results["first"] == results["second"]
    assert (tmp_path / "patient-hash.salt").read_bytes() == results["first"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["patient-hash.salt"]


def test_the_salt_file_is_private_to_the_service_user(tmp_path: Path) -> None:
    instance_salt(tmp_path)

    assert (tmp_path / "patient-hash.salt").stat().st_mode & 0o777 == 0o600


def test_a_torn_salt_file_stops_start_up_instead_of_hashing_with_it(tmp_path: Path) -> None:
    (tmp_path / "patient-hash.salt").write_bytes(b"")

    with pytest.raises(ConfigError, match=r"patient-hash\.salt"):
        instance_salt(tmp_path)


def test_the_salt_can_come_from_a_mounted_file(tmp_path: Path) -> None:
    secret = tmp_path / "salt"
    secret.write_text("s3cret-salt-from-a-file\n")
    config = base_config(tmp_path, PATIENT_HASH_SALT_FILE=str(secret))

    store = create_app(config).extensions["cds"].pipeline.store
    inline = create_app(base_config(tmp_path, PATIENT_HASH_SALT="s3cret-salt-from-a-file"))

    assert store.patient_hash("p1") == inline.extensions["cds"].pipeline.store.patient_hash("p1")


def test_database_and_redis_urls_may_be_files_too(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    db = tmp_path / "db-url"
    db.write_text(url + "\n")
    redis = tmp_path / "redis-url"
    redis.write_text("redis://:pw@127.0.0.1:6379/0")

    settings = load_settings(
        resolve_secret_files({"DATABASE_URL_FILE": str(db), "REDIS_URL_FILE": str(redis)})
    )

    got = settings.model_dump(include={"DATABASE_URL", "REDIS_URL"})
    assert got == {"DATABASE_URL": url, "REDIS_URL": "redis://:pw@127.0.0.1:6379/0"}


def test_a_value_and_its_file_together_are_ambiguous(tmp_path: Path) -> None:
    secret = tmp_path / "salt"
    secret.write_text("a")

    with pytest.raises(ConfigError, match="CDS_PATIENT_HASH_SALT_FILE"):
        resolve_secret_files({"PATIENT_HASH_SALT": "b", "PATIENT_HASH_SALT_FILE": str(secret)})


def test_a_missing_or_empty_secret_file_names_the_variable_not_the_content(
    tmp_path: Path,
) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")

    with pytest.raises(ConfigError, match="CDS_DATABASE_URL_FILE") as missing:
        resolve_secret_files({"DATABASE_URL_FILE": str(tmp_path / "absent")})
    with pytest.raises(ConfigError, match="is empty"):
        resolve_secret_files({"PATIENT_HASH_SALT_FILE": str(empty)})
    assert "absent" in str(missing.value)


def test_file_variants_exist_only_for_secrets() -> None:
    with pytest.raises(ConfigError, match="CDS_AUTH_FILE"):
        load_settings(resolve_secret_files({"AUTH_FILE": "/dev/null"}))


def test_secret_files_are_read_through_create_app_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "salt"
    secret.write_text("from-env-file")
    for key, value in base_config(tmp_path).items():
        monkeypatch.setenv(f"CDS_{key}", value)
    monkeypatch.setenv("CDS_PATIENT_HASH_SALT_FILE", str(secret))

    store = create_app().extensions["cds"].pipeline.store

    assert store._salt == b"from-env-file"
