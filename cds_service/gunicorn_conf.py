"""Production gunicorn settings, shared by `cds-service serve`, the Dockerfile and the bench."""

from __future__ import annotations

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8080")
# Rule evaluation is CPU-bound; prefetch fallback waits on IO, which threads cover.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = 30  # a hook call answers in well under a second; a stuck worker is recycled
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
