"""A hard per-request time limit for gunicorn's gthread workers.

gunicorn kills a worker whose heartbeat stops for `timeout` seconds, but a gthread worker's
main loop keeps beating while a request thread hangs, so that limit never fires for a stuck
request. This watchdog restores it: a request still running after `timeout` seconds ends
its worker (logged first), and the arbiter starts a fresh one, as it would for a sync worker.
Every outbound call has its own shorter deadline; this is the last resort.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

CHECK_SECONDS = 0.5


class RequestWatchdog:
    """Tracks requests in flight in one worker; exits the worker when one outlives `limit`."""

    def __init__(
        self,
        limit: float,
        on_timeout: Callable[[float], None],
        exit_process: Callable[[int], None] = os._exit,
    ) -> None:
        self.limit = limit
        self.on_timeout = on_timeout
        self.exit_process = exit_process
        self._started: dict[int, float] = {}
        self._lock = threading.Lock()

    def begin(self) -> None:
        """A request starts on this thread."""
        with self._lock:
            self._started[threading.get_ident()] = time.monotonic()

    def end(self) -> None:
        """The request on this thread is done (answered or failed)."""
        with self._lock:
            self._started.pop(threading.get_ident(), None)

    def oldest(self) -> float:
        """Seconds the oldest request in flight has been running (0 when idle)."""
        with self._lock:
            first = min(self._started.values(), default=None)
        return 0.0 if first is None else time.monotonic() - first

    def check(self) -> bool:
        """End the worker if a request is over the limit; True if it did."""
        age = self.oldest()
        if age <= self.limit:
            return False
        self.on_timeout(age)
        # os._exit, not sys.exit: interpreter shutdown would join the hung thread forever.
        self.exit_process(1)
        return True

    def start(self) -> threading.Thread:
        """Check in a daemon thread for the life of the worker."""

        def run() -> None:
            while not self.check():
                time.sleep(CHECK_SECONDS)

        thread = threading.Thread(target=run, name="request-watchdog", daemon=True)
        thread.start()
        return thread
