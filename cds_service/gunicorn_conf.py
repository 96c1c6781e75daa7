"""Production gunicorn settings, shared by `cds-service serve`, the Dockerfile and the bench."""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8080")
# A hook call is CPU-bound (JSON, FHIR validation, rules): threads in one worker only contend
# for its GIL. Measured with wrk on 2 cores, typical body, fresh server per run: 1 thread
# 216-256 req/s, 4 threads 184-190 req/s; heavy open loop at 50 req/s p99 69 ms vs 1.8 s.
# Raise GUNICORN_THREADS where many calls wait on fhirServer fallback instead.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
# A hook call answers in well under a second. A request still running after this long ends
# its worker, which the arbiter replaces (post_worker_init below: gthread's heartbeat alone
# would never fire for a hung request). Validated, and checked against the outbound
# deadlines, by Settings as CDS_WORKER_TIMEOUT_SECONDS.
timeout = int(os.environ.get("CDS_WORKER_TIMEOUT_SECONDS", "30"))
graceful_timeout = 20
keepalive = 5
max_requests = 20000
max_requests_jitter = 2000
limit_request_line = 8190
limit_request_field_size = 16384
# JSON lines with the application's field allowlist: no raw paths, methods or header names.
logger_class = "cds_service.gunicorn_log.JsonLogger"
accesslog = "-"
errorlog = "-"
wsgi_app = "cds_service.wsgi:app"
# gunicorn 24+ opens a control socket at one path per user ($XDG_RUNTIME_DIR or ~/.gunicorn):
# two instances would share it, and stopping one would delete the other's. Off unless asked
# for with a path of this instance's own.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "")
control_socket_disable = not control_socket

# prometheus-client picks multiprocess mode in each worker from this variable, so it is set here,
# before any worker starts (cds_service.metrics imports the client late for the same reason).
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
_own_metrics_dir = (
    None if os.environ.get(METRICS_DIR_ENV) else tempfile.mkdtemp(prefix="cds-metrics-")
)
if _own_metrics_dir is not None:
    os.environ[METRICS_DIR_ENV] = _own_metrics_dir


def on_starting(server: Any) -> None:
    """Start from empty metric files: a previous run's counts would be added to ours."""
    directory = Path(os.environ[METRICS_DIR_ENV])
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()


def when_ready(server: Any) -> None:
    """Serve /metrics on its own address when CDS_METRICS_BIND asks for one."""
    bind = os.environ.get("CDS_METRICS_BIND")
    if bind:
        from cds_service.metrics_files import serve_metrics

        serve_metrics(bind)
        server.log.info("metrics served on CDS_METRICS_BIND", extra={"cds": {"bind": bind}})


def post_worker_init(worker: Any) -> None:
    """Start the worker's per-request time limit (see `timeout` above)."""
    from cds_service.request_watchdog import RequestWatchdog

    def report(age: float) -> None:
        worker.log.critical(
            "a request outlived the worker timeout: this worker exits and is replaced",
            extra={"cds": {"age_seconds": round(age, 1), "pid": os.getpid()}},
        )
        for handler in logging.getLogger("gunicorn.error").handlers:
            handler.flush()

    worker.request_watchdog = RequestWatchdog(worker.cfg.timeout, report)
    worker.request_watchdog.start()


def pre_request(worker: Any, req: Any) -> None:
    """A request starts: the watchdog times it."""
    if (watchdog := getattr(worker, "request_watchdog", None)) is not None:
        watchdog.begin()


def post_request(worker: Any, req: Any, environ: Any, resp: Any) -> None:
    """The request is done, answered or not."""
    if (watchdog := getattr(worker, "request_watchdog", None)) is not None:
        watchdog.end()


def child_exit(server: Any, worker: Any) -> None:
    """Drop a dead worker's live gauges and fold its counters into the archive files."""
    from prometheus_client import multiprocess

    from cds_service.metrics_files import archive_dead_worker

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
    archive_dead_worker(Path(os.environ[METRICS_DIR_ENV]), worker.pid)


def on_exit(server: Any) -> None:
    """Remove the metrics directory if this config created it."""
    if _own_metrics_dir is not None:
        shutil.rmtree(_own_metrics_dir, ignore_errors=True)
