"""The one place that assembles a pipeline from settings: the server and the CLI alike.

settings → knowledge → registry → card renderer → clock (→ store, for the server). A fixed clock
comes from `CDS_CLOCK` (development replays), never from patching a built pipeline.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from cards import IssuedCard, build_cards, catalogue_from
from cds_service.dispatch import CardRenderer, Pipeline
from cds_service.migrate import head_revision
from cds_service.settings import ConfigError, Settings, load_settings
from cds_service.store import Store, default_database_url, make_engine
from hooks.findings import Assessment
from hooks.knowledge import KnowledgeBase, KnowledgeError, load_knowledge
from hooks.registry import Registry, RegistryError, ServiceSpec
from hooks.services import SERVICES

ENV_PREFIX = "CDS_"
SALT_FILE = "patient-hash.salt"
SALT_BYTES = 32


def read_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """`CDS_*` variables, JSON-decoded where they parse (as Flask's from_prefixed_env does)."""
    raw: dict[str, Any] = {}
    for key in sorted(environ):
        if not key.startswith(ENV_PREFIX):
            continue
        value: Any = environ[key]
        with contextlib.suppress(orjson.JSONDecodeError):
            value = orjson.loads(value)
        raw[key.removeprefix(ENV_PREFIX)] = value
    return raw


def settings_from(overrides: Mapping[str, object] | None = None) -> Settings:
    """The environment's settings, with `overrides` (keys with or without CDS_) on top."""
    raw = read_environment(os.environ)
    for key, value in (overrides or {}).items():
        raw[key.removeprefix(ENV_PREFIX)] = value
    return load_settings(raw)


def clock_of(settings: Settings) -> Callable[[], datetime]:
    """The rules' clock: CDS_CLOCK when set (fixed), else the real time."""
    fixed = settings.CLOCK
    if fixed is None:
        return lambda: datetime.now(UTC)
    return lambda: fixed


def knowledge_of(settings: Settings) -> KnowledgeBase:
    """The configured knowledge set; a bad one is a ConfigError naming file and field."""
    try:
        return load_knowledge(settings.KNOWLEDGE_DIR)
    except KnowledgeError as exc:
        raise ConfigError(str(exc)) from exc


def build_pipeline(
    settings: Settings,
    *,
    services: Sequence[ServiceSpec] = SERVICES,
    store: Store | None = None,
) -> Pipeline:
    """Knowledge, registry, card renderer and clock from settings; a bad set is a ConfigError."""
    knowledge = knowledge_of(settings)
    try:
        registry = Registry(services, knowledge)
    except (KnowledgeError, RegistryError) as exc:
        raise ConfigError(str(exc)) from exc
    return Pipeline(
        settings=settings,
        registry=registry,
        render_cards=card_renderer(registry),
        store=store,
        clock=clock_of(settings),
    )


def card_renderer(registry: Registry) -> CardRenderer:
    """Assessments → cards, with the card catalogue from the registry's knowledge."""
    catalogue = catalogue_from(registry.knowledge)

    def render(assessment: Assessment, patient_id: str, rule_states: str) -> list[IssuedCard]:
        return build_cards(assessment, catalogue, patient_id=patient_id, rule_states=rule_states)

    return render


def make_store(settings: Settings, instance_path: Path) -> Store:
    """The card ledger and feedback store: the configured database, else SQLite in the instance."""
    url = settings.DATABASE_URL
    if url is None:
        instance_path.mkdir(parents=True, exist_ok=True)
        url = default_database_url(instance_path)
    if settings.PATIENT_HASH_SALT is not None:
        salt = settings.PATIENT_HASH_SALT.get_secret_value().encode()
    elif url.startswith("sqlite"):
        salt = instance_salt(instance_path)
    else:
        # Replicas sharing a server database must share the salt, or ledger joins break.
        raise ConfigError("CDS_PATIENT_HASH_SALT is required with a server database")
    timeout = settings.DATABASE_TIMEOUT_SECONDS
    return Store(make_engine(url, timeout), salt, timeout=timeout, schema_head=head_revision())


def instance_salt(instance_path: Path) -> bytes:
    """A per-instance random salt, created once and shared by every worker.

    Workers start together: the salt is written to a private temporary file and hard-linked
    into place, which fails if the name exists, so exactly one salt wins and no worker can read
    a half-written file. Losing or changing it breaks the ledger's joins, so it is fsynced.
    """
    instance_path.mkdir(parents=True, exist_ok=True)
    path = instance_path / SALT_FILE
    if not path.exists():
        fd, temporary = tempfile.mkstemp(dir=instance_path, prefix=f".{SALT_FILE}.")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(secrets.token_bytes(SALT_BYTES))
                handle.flush()
                os.fsync(handle.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
                _fsync_directory(instance_path)
        finally:
            os.unlink(temporary)
    salt = path.read_bytes()
    if len(salt) < SALT_BYTES:
        # An empty or torn salt would make the patient hashes guessable: never hash with it.
        raise ConfigError(
            f"{path} holds {len(salt)} bytes, not a {SALT_BYTES}-byte salt; restore it from "
            "backup, or remove it only if the card ledger may lose its patient joins"
        )
    return salt


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
