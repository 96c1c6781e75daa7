"""Replay protection shared across app instances: Redis, or the database's jwt_replay table."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cds_service import create_app
from cds_service.replay import DatabaseReplayCache, replay_key
from cds_service.store import Base, JwtReplay, Store
from tests.cds_service.auth_support import (
    JwksServer,
    SigningKey,
    bearer,
    es384,
    jwks,
    jwt_app,
    mint,
    request_reasons,
    write_issuers,
)
from tests.conftest import base_config, require_or_skip

ISS = "https://ehr.example.org"


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return es384("k1")


@pytest.fixture
def issuers(tmp_path: Path, key: SigningKey) -> Path:
    # Inline keys: these tests are about the replay cache, not fetching.
    return write_issuers(tmp_path, {"iss": ISS, "jwks": jwks(key)})


@pytest.fixture
def redis_prefix() -> Iterator[tuple[str, str]]:
    """(url, unique key prefix); only this test's keys are deleted afterwards, never FLUSHDB."""
    url = os.environ.get("CDS_TEST_REDIS_URL", "")
    if not url:
        require_or_skip("CDS_TEST_REDIS_URL is not set")
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        require_or_skip(f"Redis not reachable: {type(exc).__name__}")
    prefix = f"cds-test:{uuid.uuid4().hex}:"
    yield url, prefix
    for name in client.scan_iter(match=prefix + "*"):
        client.delete(name)
    client.close()


def get(app: Flask, token: str) -> int:
    return app.test_client().get("/cds-services", headers=bearer(token)).status_code


def replay_rows(app: Flask) -> int:
    with Session(app.extensions["cds"].pipeline.store.engine) as session:
        return session.scalar(select(func.count()).select_from(JwtReplay)) or 0


def test_a_token_is_accepted_once(
    tmp_path: Path, issuers: Path, key: SigningKey, caplog: pytest.LogCaptureFixture
) -> None:
    app = jwt_app(tmp_path, issuers)
    token = mint(key)

    assert [get(app, token), get(app, token)] == [200, 401]
    assert request_reasons(caplog) == [None, "replayed-jti"]


def test_a_replay_is_caught_by_a_second_app_sharing_the_database(
    tmp_path: Path, issuers: Path, key: SigningKey
) -> None:
    first, second = jwt_app(tmp_path, issuers), jwt_app(tmp_path, issuers)
    token = mint(key)

    assert [get(first, token), get(second, token)] == [200, 401]
    assert replay_rows(first) == 1


@pytest.mark.postgres
def test_a_replay_is_caught_by_a_second_app_sharing_postgresql(
    tmp_path: Path, issuers: Path, key: SigningKey, postgres_url: str
) -> None:
    config: dict[str, Any] = {"DATABASE_URL": postgres_url, "PATIENT_HASH_SALT": "test-salt"}
    first = jwt_app(tmp_path / "a", issuers, **config)
    second = jwt_app(tmp_path / "b", issuers, **config)
    token = mint(key)
    try:
        assert [get(first, token), get(second, token)] == [200, 401]
        assert replay_rows(second) == 1
    finally:
        for app in (first, second):
            app.extensions["cds"].pipeline.store.engine.dispose()


@pytest.mark.redis
def test_a_replay_is_caught_by_a_second_app_sharing_redis(
    tmp_path: Path, issuers: Path, key: SigningKey, redis_prefix: tuple[str, str]
) -> None:
    url, prefix = redis_prefix
    config: dict[str, Any] = {"REDIS_URL": url, "REDIS_KEY_PREFIX": prefix}
    first = jwt_app(tmp_path / "a", issuers, **config)
    second = jwt_app(tmp_path / "b", issuers, **config)  # a separate database: only Redis is shared
    jti = str(uuid.uuid4())
    token = mint(key, jti=jti)

    assert [get(first, token), get(second, token)] == [200, 401]
    ttl = redis.Redis.from_url(url).ttl(prefix + replay_key(ISS, jti))
    assert 300 < ttl <= 331  # exp (300 s) plus the 30 s leeway
    assert replay_rows(first) == replay_rows(second) == 0


def test_the_same_jti_from_two_issuers_is_not_a_replay(tmp_path: Path, key: SigningKey) -> None:
    other = "https://other-ehr.example.org"
    path = write_issuers(
        tmp_path, {"iss": ISS, "jwks": jwks(key)}, {"iss": other, "jwks": jwks(key)}
    )
    app = jwt_app(tmp_path, path)
    jti = str(uuid.uuid4())

    assert [get(app, mint(key, jti=jti)), get(app, mint(key, iss=other, jti=jti))] == [200, 200]


def test_a_rejected_token_does_not_burn_its_jti(
    tmp_path: Path, issuers: Path, key: SigningKey
) -> None:
    app = jwt_app(tmp_path, issuers)
    jti = str(uuid.uuid4())

    wrong_audience = get(app, mint(key, jti=jti, aud="http://cds.test/elsewhere"))

    assert (wrong_audience, get(app, mint(key, jti=jti))) == (401, 200)


def test_expired_entries_are_purged_and_may_be_claimed_again(tmp_path: Path) -> None:
    app = jwt_app(tmp_path, None)
    store: Store = app.extensions["cds"].pipeline.store
    now = int(time.time())

    assert store.claim_jti("a" * 64, now - 10, now) is True
    assert store.claim_jti("b" * 64, now + 300, now) is True
    assert store.claim_jti("a" * 64, now + 300, now) is True  # its holder had expired
    assert store.claim_jti("b" * 64, now + 300, now) is False
    assert store.purge_jtis(now + 301) == 2
    assert replay_rows(app) == 0


def test_the_database_cache_purges_expired_rows_as_it_goes(tmp_path: Path) -> None:
    app = jwt_app(tmp_path, None)
    store: Store = app.extensions["cds"].pipeline.store
    store.claim_jti("c" * 64, int(time.time()) - 1, int(time.time()))

    assert DatabaseReplayCache(store).first_use(ISS, "fresh", time.time() + 60) is True
    assert replay_rows(app) == 1


def test_without_the_replay_table_calls_fail_closed_with_503(
    tmp_path: Path, issuers: Path, key: SigningKey
) -> None:
    config = base_config(tmp_path, AUTH="jwt", TRUSTED_ISSUERS=str(issuers))
    app = create_app(config)  # no migration: the jwt_replay table is missing

    response = app.test_client().get("/cds-services", headers=bearer(mint(key)))

    assert response.status_code == 503
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_an_unreachable_redis_fails_closed_with_503(
    tmp_path: Path, issuers: Path, key: SigningKey
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before use: nothing listens there
    app = jwt_app(tmp_path, issuers, REDIS_URL=f"redis://127.0.0.1:{port}/0")

    response = app.test_client().get("/cds-services", headers=bearer(mint(key)))

    assert response.status_code == 503


def test_inline_keys_are_never_fetched(
    tmp_path: Path, issuers: Path, key: SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_fetch(*args: object, **kwargs: object) -> None:
        raise AssertionError("inline keys must not be fetched")

    monkeypatch.setattr("cds_service.jwks.fetch_jwks", no_fetch)
    app = jwt_app(tmp_path, issuers)

    assert get(app, mint(key)) == 200


def test_an_issuer_may_mix_fetched_and_inline_configuration(
    tmp_path: Path, key: SigningKey
) -> None:
    fetched = es384("fetched")
    with JwksServer({"/jwks.json": jwks(fetched)}) as server:
        path = write_issuers(
            tmp_path,
            {"iss": ISS, "jwks": jwks(key)},
            {"iss": "https://b.example.org", "jwks_url": server.url("/jwks.json")},
        )
        app = jwt_app(tmp_path, path)

        statuses = [get(app, mint(key)), get(app, mint(fetched, iss="https://b.example.org"))]

    assert statuses == [200, 200]
    assert server.seen == ["/jwks.json"]


def test_the_migration_matches_the_jwt_replay_model(tmp_path: Path) -> None:
    app = jwt_app(tmp_path, None)  # migrated to head by make_app
    with app.extensions["cds"].pipeline.store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)

    assert [d for d in diffs if "jwt_replay" in repr(d)] == []
