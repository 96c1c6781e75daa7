"""gunicorn's access and error logs as JSON lines with the application's field allowlist.

The stock access log writes the raw path and method, and gunicorn's warnings quote request
text (an invalid header name, a bad request line): caller-chosen text in the logs. Here an
access line carries only the route template and service the app recorded in the WSGI
environ, a known method, status, size, latency, request id and peer address; an error line
carries gunicorn's message template, with its arguments filled in only when all are numbers
(pids, counts), or of a message gunicorn formatted itself, the part before any ": " (where
it puts request text); and the exception type, never its text.
"""

from __future__ import annotations

import ipaddress
import logging
from datetime import UTC, datetime
from typing import Any

import orjson
from gunicorn import glogging

from cds_service.logs import UNMATCHED, method_label, safe_fields

ROUTE_KEY = "cds.route"  # set by the app: the matched route's template
SERVICE_KEY = "cds.service"  # set by the app: a hosted service id, or "unknown"


class GunicornJsonFormatter(logging.Formatter):
    """One JSON object per line; no request text, whatever gunicorn passes."""

    def format(self, record: logging.LogRecord) -> str:
        """Render a gunicorn access or error record."""
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": _event(record),
        }
        entry.update(getattr(record, "cds", {}))
        if record.exc_info and record.exc_info[0] is not None:
            entry["error_type"] = record.exc_info[0].__name__
        return orjson.dumps(entry, default=str).decode()


def _event(record: logging.LogRecord) -> str:
    args = record.args
    if not args:
        # gunicorn formats a few messages itself, request text after ": " (e.g. "Invalid
        # request from ip=...: Invalid HTTP Header: '<the header>'"): keep what precedes it.
        return str(record.msg).split(": ", 1)[0]
    values = args if isinstance(args, tuple) else ()
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    if not (isinstance(args, tuple) and numeric):
        return str(record.msg)  # the template: its string arguments may be request text
    return record.getMessage()


class JsonLogger(glogging.Logger):  # type: ignore[misc]
    """gunicorn's logger with JSON output and allowlisted access fields."""

    def setup(self, cfg: Any) -> None:
        """Configure as gunicorn does, then put the JSON formatter on its handlers."""
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(GunicornJsonFormatter())

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        """One access line with allowlisted fields only."""
        if not self.access_log_enabled:
            return
        self.access_log.info("access", extra={"cds": access_fields(resp, environ, request_time)})


def access_fields(resp: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
    """The allowlisted facts of one response; the raw path and query are never read."""
    method = environ.get("REQUEST_METHOD")
    headers = {name.lower(): value for name, value in getattr(resp, "headers", ())}
    fields: dict[str, Any] = {
        "method": method_label(method),
        "route": environ.get(ROUTE_KEY, UNMATCHED),
        "status": getattr(resp, "status_code", None),
        "bytes": getattr(resp, "sent", None),
        "latency_ms": round(request_time.total_seconds() * 1000, 2),
        "request_id": headers.get("x-request-id"),  # set by the app from a checked value
        "remote_addr": _address(environ.get("REMOTE_ADDR")),
    }
    if (service := environ.get(SERVICE_KEY)) is not None:
        fields["service_id"] = service
    return safe_fields({k: v for k, v in fields.items() if v is not None})


def _address(value: object) -> str | None:
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        return None
