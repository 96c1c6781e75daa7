"""Production gunicorn settings, shared by `cds-service serve`, the Dockerfile and the bench."""

from __future__ import annotations

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
# A hook call answers in well under a second; a stuck worker is recycled. Validated (and
# checked against the outbound deadlines) by Settings as CDS_WORKER_TIMEOUT_SECONDS.
timeout = int(os.environ.get("CDS_WORKER_TIMEOUT_SECONDS", "30"))
graceful_timeout = 20
keepalive = 5
max_requests = 20000
max_requests_jitter = 2000
limit_request_line = 8190
limit_request_field_size = 16384
accesslog = "-"
# %(U)s is the path without the query string: query strings could carry identifiers.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms rid=%({x-request-id}o)s'
errorlog = "-"
wsgi_app = "cds_service.wsgi:app"

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


def child_exit(server: Any, worker: Any) -> None:
    """Drop a dead worker's live-gauge files; its counters stay in the totals."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def on_exit(server: Any) -> None:
    """Remove the metrics directory if this config created it."""
    if _own_metrics_dir is not None:
        shutil.rmtree(_own_metrics_dir, ignore_errors=True)
