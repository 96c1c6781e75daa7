"""The app factory: settings → pipeline (`assembly`) → store → Flask app with its handlers.

Small modules do the rest, each with an `init_*` (Flask's extension pattern): routes
(`blueprint`), headers and CORS (`headers`), the request log (`request_log`), errors
(`error_handlers`) and metrics (`metrics`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from flask import Flask

from cds_service.assembly import build_pipeline, make_store, settings_from
from cds_service.auth import build_authenticator
from cds_service.blueprint import bp
from cds_service.error_handlers import init_error_handlers
from cds_service.headers import init_headers
from cds_service.logs import configure_logging, log_event
from cds_service.metrics import init_metrics
from cds_service.request_log import init_request_log
from cds_service.runtime import Runtime
from cds_service.store import SchemaProblem, Store
from hooks.registry import ServiceSpec
from hooks.services import SERVICES


def create_app(
    config: Mapping[str, object] | None = None,
    *,
    services: Sequence[ServiceSpec] = SERVICES,
) -> Flask:
    """Build the service; `config` overrides environment settings (keys with or without CDS_)."""
    settings = settings_from(config)
    configure_logging(settings.LOG_LEVEL)

    app = Flask(
        __name__, instance_path=str(settings.INSTANCE_PATH) if settings.INSTANCE_PATH else None
    )
    app.config["MAX_CONTENT_LENGTH"] = settings.MAX_BODY_BYTES
    store = make_store(settings, Path(app.instance_path))
    pipeline = build_pipeline(settings, services=services, store=store)
    if settings.CLOCK is not None:
        log_event(
            logging.WARNING,
            "CLOCK IS FIXED: rules judge recency against CDS_CLOCK, not the real date",
            setting="CDS_CLOCK",
        )
    authenticator = build_authenticator(settings, pipeline.store)
    app.extensions["cds"] = Runtime(settings, pipeline, authenticator)
    app.register_blueprint(bp)
    init_headers(app, settings.CORS_ORIGINS)
    init_request_log(app)
    init_error_handlers(app)
    init_metrics(app)
    if settings.AUTH == "off":
        log_event(
            logging.WARNING,
            "AUTH IS OFF: any caller can invoke services; never use with real patient data",
            setting="CDS_AUTH",
        )
    log_event(logging.INFO, "service ready", knowledge_version=pipeline.knowledge_version)
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
