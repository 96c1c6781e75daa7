"""Structured JSON logs with an allowlist of fields, so PHI and tokens cannot be logged by accident.

A log call names an event and passes fields; a field not on the allowlist is dropped and
replaced by a marker naming it, which tests catch. Messages are fixed strings, never data.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

LOGGER_NAME = "cds_service"
ALLOWED_FIELDS = frozenset(
    {
        "request_id",
        "service_id",
        "hook_instance",
        "method",
        "route",
        "status",
        "latency_ms",
        "card_count",
        "rule_ids",
        "shadow_rule_ids",
        "snoozed_rule_ids",
        "rule_state_digest",
        "governance_misses",
        "indicators",
        "prefetch",
        "prefetch_failures",
        "prefetch_incomplete",
        "resource_count",
        "invalid_resources",
        "reason",
        "operation",
        "error_id",
        "error_type",
        "error_at",
        "knowledge_version",
        "schema_revision",
        "expected_revision",
        "feedback_count",
        "unknown_card_count",
        "setting",
        "issuer_count",
        "jwks_url",
        "key_count",
        "bytes",
        "remote_addr",
        "pid",
        "bind",
        "age_seconds",
    }
)

logger = logging.getLogger(LOGGER_NAME)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, event and the allowlisted fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Render the record as one JSON line."""
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
        }
        entry.update(getattr(record, "cds", {}))
        return orjson.dumps(entry, default=str).decode()


METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"  # the route label of a path no route matched


def method_label(method: str | None) -> str:
    """An HTTP method as logs and metrics may carry it: a known one, else "other"."""
    return method if method in METHODS else "other"


def safe_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Only allowlisted fields; the names of any others are listed, never their values."""
    safe = {key: value for key, value in fields.items() if key in ALLOWED_FIELDS}
    dropped = sorted(set(fields) - ALLOWED_FIELDS)
    if dropped:
        safe["dropped_fields"] = dropped
    return safe


def log_event(level: int, event: str, **fields: Any) -> None:
    """Log `event` with only allowlisted fields."""
    logger.log(level, event, extra={"cds": safe_fields(fields)})


def configure_logging(level: str) -> None:
    """Send our logs to stderr as JSON, once per process."""
    if any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        logger.setLevel(level)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = True
