"""The app factory: settings → knowledge → registry → store → pipeline → Flask app."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from cards import IssuedCard, build_cards, catalogue_from
from cds_service.auth import build_authenticator
from cds_service.blueprint import bp
from cds_service.dispatch import CardRenderer, Pipeline
from cds_service.errors import (
    CdsError,
    InternalError,
    PreconditionFailed,
    ServiceUnavailable,
    Unauthorized,
    from_http_status,
)
from cds_service.headers import init_headers
from cds_service.logs import configure_logging, log_event
from cds_service.metrics import init_metrics
from cds_service.migrate import head_revision
from cds_service.runtime import Runtime, json_response
from cds_service.settings import ConfigError, Settings, load_settings
from cds_service.store import SchemaProblem, Store, default_database_url, make_engine
from hooks.findings import Assessment
from hooks.knowledge import KnowledgeError, load_knowledge
from hooks.registry import Registry, RegistryError, ServiceSpec
from hooks.services import SERVICES

ENV_PREFIX = "CDS_"
SALT_FILE = "patient-hash.salt"
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,128}", re.ASCII)
SALT_BYTES = 32
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
HEX = "[0-9a-fA-F]"
UUID = re.compile(f"{HEX}{{8}}-{HEX}{{4}}-{HEX}{{4}}-{HEX}{{4}}-{HEX}{{12}}")


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


def create_app(
    config: Mapping[str, object] | None = None,
    *,
    services: Sequence[ServiceSpec] = SERVICES,
) -> Flask:
    """Build the service; `config` overrides environment settings (keys with or without CDS_)."""
    raw = read_environment(os.environ)
    for key, value in (config or {}).items():
        raw[key.removeprefix(ENV_PREFIX)] = value
    settings = load_settings(raw)
    configure_logging(settings.LOG_LEVEL)

    app = Flask(
        __name__, instance_path=str(settings.INSTANCE_PATH) if settings.INSTANCE_PATH else None
    )
    app.config["MAX_CONTENT_LENGTH"] = settings.MAX_BODY_BYTES
    try:
        knowledge = load_knowledge(settings.KNOWLEDGE_DIR)
        registry = Registry(services, knowledge)
    except (KnowledgeError, RegistryError) as exc:
        raise ConfigError(str(exc)) from exc

    pipeline = Pipeline(
        settings=settings,
        registry=registry,
        render_cards=card_renderer(registry),
        store=_make_store(settings, Path(app.instance_path)),
    )
    if settings.CLOCK is not None:
        fixed = settings.CLOCK
        pipeline.clock = lambda: fixed
        log_event(
            logging.WARNING,
            "CLOCK IS FIXED: rules judge recency against CDS_CLOCK, not the real date",
            setting="CDS_CLOCK",
        )
    authenticator = build_authenticator(settings, pipeline.store)
    app.extensions["cds"] = Runtime(settings, pipeline, authenticator)
    app.register_blueprint(bp)
    init_headers(app, settings.CORS_ORIGINS)
    _init_request_log(app)
    _init_error_handlers(app)
    init_metrics(app)
    if settings.AUTH == "off":
        log_event(
            logging.WARNING,
            "AUTH IS OFF: any caller can invoke services; never use with real patient data",
            setting="CDS_AUTH",
        )
    log_event(logging.INFO, "service ready", knowledge_version=knowledge.version)
    return app


def default_instance_path() -> Path:
    """The instance folder create_app uses when CDS_INSTANCE_PATH is unset (Flask's choice)."""
    return Path(Flask(__name__).instance_path)


def report_database(app: Flask) -> SchemaProblem | None:
    """Log, at start-up, that the database cannot serve this release yet (and why)."""
    store: Store | None = app.extensions["cds"].pipeline.store
    problem = store.schema_problem() if store is not None else None
    if problem is not None:
        log_event(
            logging.ERROR,
            "DATABASE NOT READY: calls that need it fail until `cds-service db upgrade` has run "
            "and the database answers; /readyz answers 503 until then",
            reason=problem.reason,
            schema_revision=problem.revision,
            expected_revision=problem.needed,
        )
    return problem


def card_renderer(registry: Registry) -> CardRenderer:
    """Findings → cards, with the card catalogue from the knowledge folder."""
    catalogue = catalogue_from(registry.knowledge)

    def render(assessment: Assessment, patient_id: str) -> list[IssuedCard]:
        return build_cards(assessment, catalogue, patient_id=patient_id)

    return render


def _make_store(settings: Settings, instance_path: Path) -> Store:
    url = settings.DATABASE_URL
    if url is None:
        instance_path.mkdir(parents=True, exist_ok=True)
        url = default_database_url(instance_path)
    if settings.PATIENT_HASH_SALT is not None:
        salt = settings.PATIENT_HASH_SALT.get_secret_value().encode()
    elif url.startswith("sqlite"):
        salt = _instance_salt(instance_path)
    else:
        # Replicas sharing a server database must share the salt, or ledger joins break.
        raise ConfigError("CDS_PATIENT_HASH_SALT is required with a server database")
    timeout = settings.DATABASE_TIMEOUT_SECONDS
    return Store(make_engine(url, timeout), salt, timeout=timeout, schema_head=head_revision())


def _instance_salt(instance_path: Path) -> bytes:
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


def loggable_hook_instance(value: str) -> str | None:
    """The hookInstance to log: only a UUID, as the spec has it (any 256 characters pass)."""
    return value.lower() if UUID.fullmatch(value) else None


def _init_request_log(app: Flask) -> None:
    runtime: Runtime = app.extensions["cds"]

    @app.before_request
    def _start() -> None:
        # nginx forwards its id (or the EHR's); only a plain token is trusted into the logs.
        forwarded = request.headers.get("X-Request-ID", "")
        g.request_id = forwarded if REQUEST_ID.fullmatch(forwarded) else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "")
        outcome = g.get("outcome")
        route = request.url_rule.rule if request.url_rule else None
        fields: dict[str, Any] = {
            "request_id": g.get("request_id"),
            "method": request.method if request.method in METHODS else "other",
            "route": route,
            "status": response.status_code,
            "latency_ms": round(
                (time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 2
            ),
        }
        if request.view_args and "service_id" in request.view_args:
            # The id in the URL is caller text until it names a hosted service.
            hosted = runtime.pipeline.registry.get(request.view_args["service_id"])
            fields["service_id"] = hosted.id if hosted else "unknown"
        # For gunicorn's access log (gunicorn_log.JsonLogger): the same checked values.
        request.environ["cds.route"] = route or "unmatched"
        if "service_id" in fields:
            request.environ["cds.service"] = fields["service_id"]
        if outcome is not None:
            fields.update(
                hook_instance=loggable_hook_instance(outcome.hook_instance),
                card_count=len(outcome.response.cards),
                rule_ids=outcome.rule_ids,
                prefetch=dict(outcome.stats.counts),
                prefetch_failures=outcome.stats.failures or None,
                prefetch_incomplete=outcome.stats.incomplete or None,
                resource_count=outcome.stats.resources,
                invalid_resources={
                    f"{kind}/{reason}": count
                    for (kind, reason), count in outcome.stats.unreadable.items()
                }
                or None,
            )
        elif g.get("prefetch_causes"):  # a 412: why, per key
            fields["prefetch_failures"] = g.prefetch_causes
        if g.get("feedback_count") is not None:
            fields["feedback_count"] = g.feedback_count
        if g.get("auth_failure"):
            fields["reason"] = g.auth_failure
        log_event(logging.INFO, "request", **fields)
        return response


def _where(exc: BaseException) -> str:
    """Innermost frame as module:function:line; the message may hold PHI, so it is not logged."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return "unknown"
    code = tb.tb_frame.f_code
    module = tb.tb_frame.f_globals.get("__name__", "?")
    return f"{module}:{code.co_name}:{tb.tb_lineno}"


def _init_error_handlers(app: Flask) -> None:
    @app.errorhandler(CdsError)
    def _cds_error(exc: CdsError) -> Response:
        if isinstance(exc, Unauthorized):
            g.auth_failure = exc.reason
            response = Response(status=401)
            response.headers["WWW-Authenticate"] = "Bearer"
            response.headers["Cache-Control"] = "no-store"
            return response
        if isinstance(exc, PreconditionFailed):
            g.prefetch_causes = exc.causes
        # An error describes one request (field paths, missing keys): never cache or share it.
        response = json_response(
            exc.outcome(), exc.status, patient_data=True, media_type="application/fhir+json"
        )
        if exc.status == 405:
            response.headers["Allow"] = "GET, POST, OPTIONS"
        if isinstance(exc, ServiceUnavailable) and exc.retry_after is not None:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        response = _cds_error(from_http_status(exc.code))
        if exc.code == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log_event(
            logging.ERROR,
            "unhandled error",
            request_id=g.get("request_id"),
            error_type=type(exc).__name__,
            error_at=_where(exc),
        )
        error = InternalError("internal error", details=[f"request id {g.get('request_id', '')}"])
        return json_response(
            error.outcome(), 500, patient_data=True, media_type="application/fhir+json"
        )
