"""Deadlines for blocking database calls: a watchdog that cuts a call's connection under it.

libpq has no client-side query timeout, and a server that accepts a connection but never
answers leaves psycopg waiting on its socket forever (a server-side statement_timeout never
starts: the server never saw the query). So each bounded call registers here; a connection
it uses is attached to it; when the deadline passes, the watchdog shuts the socket down (or
interrupts SQLite), the blocked call fails at once, and the pool discards the connection.
One daemon thread per process serves every call.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any


class Call:
    """One bounded call: its deadline and the DBAPI connections it is using."""

    __slots__ = ("_lock", "connections", "deadline", "done", "expired")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.connections: list[Any] = []
        self.expired = False
        self.done = False
        self._lock = threading.Lock()

    def attach(self, connection: Any) -> None:
        """Track a connection; one attached after expiry is cut at once."""
        with self._lock:
            self.connections.append(connection)
            if self.expired:
                _abort(connection)

    def detach(self, connection: Any) -> None:
        """Stop tracking a connection (it went back to the pool)."""
        with self._lock, contextlib.suppress(ValueError):
            self.connections.remove(connection)

    def expire(self) -> None:
        """The deadline passed: cut every connection still in use."""
        with self._lock:
            if self.done:
                return
            self.expired = True
            for connection in self.connections:
                _abort(connection)

    def finish(self) -> None:
        """The call returned; nothing of it may be cut any more."""
        with self._lock:
            self.done = True
            self.connections.clear()


def _abort(connection: Any) -> None:
    """Make a blocked DBAPI call on `connection` fail now, from another thread."""
    interrupt = getattr(connection, "interrupt", None)
    if interrupt is not None:  # sqlite3: documented as callable from any thread
        with contextlib.suppress(Exception):
            interrupt()
        return
    with contextlib.suppress(Exception):
        # psycopg: shutting the socket down wakes its poll with EOF; the fd stays psycopg's.
        fd = connection.fileno()
        with socket.socket(fileno=os.dup(fd)) as sock:
            sock.shutdown(socket.SHUT_RDWR)


class Watchdog:
    """Expires calls whose deadline passed; started lazily, and again after a fork."""

    def __init__(self) -> None:
        self._calls: set[Call] = set()
        self._cond = threading.Condition()
        self._pid: int | None = None
        self.local = threading.local()  # .call: the bounded call this thread is in

    @contextlib.contextmanager
    def bounded(self, seconds: float) -> Iterator[Call]:
        """Run the body as a call that is cut off `seconds` from now."""
        call = Call(time.monotonic() + seconds)
        with self._cond:
            self._ensure_thread()
            self._calls.add(call)
            self._cond.notify()
        previous = getattr(self.local, "call", None)
        self.local.call = call
        try:
            yield call
        finally:
            self.local.call = previous
            call.finish()
            with self._cond:
                self._calls.discard(call)

    def current(self) -> Call | None:
        """The bounded call of this thread, if any."""
        call: Call | None = getattr(self.local, "call", None)
        return call

    def _ensure_thread(self) -> None:
        if self._pid == os.getpid():
            return
        # A forked worker inherits the flag but not the thread: start its own.
        self._pid = os.getpid()
        threading.Thread(target=self._run, name="db-watchdog", daemon=True).start()

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                for call in [c for c in self._calls if c.deadline <= now]:
                    self._calls.discard(call)
                    call.expire()
                following = min((c.deadline for c in self._calls), default=None)
                self._cond.wait(None if following is None else following - now)


WATCHDOG = Watchdog()
