"""A WSGI app whose /hang never returns: what a call stuck on a dead dependency looks like."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ.get("PATH_INFO") == "/hang":
        threading.Event().wait()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
