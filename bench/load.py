"""Load drivers: closed loop (N connections, each sends as soon as it has an answer) and open loop
(requests start on a fixed schedule whatever the server does).

Both are bounded by time and by a request count. Open-loop latency runs from the *scheduled*
start, so a server that falls behind shows its queueing (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from bench.client import Connection, HttpError, StaleConnection, post_bytes

IDLE_LIMIT = 4.0  # seconds; below gunicorn's keepalive (5 s), so a reused socket is still open
SOCKET_ERRORS = (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, HttpError)


@dataclass(frozen=True)
class LoadResult:
    """What one measurement produced; latencies in milliseconds."""

    driver: str
    mode: str  # "closed" or "open"
    connections: int
    rate: float | None  # open loop: the scheduled requests per second
    seconds: float
    requests: int  # answered 2xx
    errors: int  # non-2xx, socket errors and timeouts
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    dropped: int = 0  # open loop: due while too many were in flight, never sent

    @property
    def rps(self) -> float:
        """Successful requests per second of wall time."""
        return self.requests / self.seconds if self.seconds > 0 else 0.0


@dataclass
class _Tally:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    dropped: int = 0


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list; 0.0 for an empty list."""
    if not sorted_values:
        return 0.0
    rank = max(1, -(-len(sorted_values) * pct // 100))
    return sorted_values[int(rank) - 1]


def _result(
    tally: _Tally, mode: str, connections: int, rate: float | None, seconds: float
) -> LoadResult:
    ms = sorted(v * 1000 for v in tally.latencies)
    return LoadResult(
        driver="python",
        mode=mode,
        connections=connections,
        rate=rate,
        seconds=seconds,
        requests=len(ms),
        errors=tally.errors,
        p50_ms=percentile(ms, 50),
        p90_ms=percentile(ms, 90),
        p99_ms=percentile(ms, 99),
        max_ms=ms[-1] if ms else 0.0,
        dropped=tally.dropped,
    )


async def _send(
    conn: Connection | None, url: str, raw: bytes, timeout: float
) -> tuple[Connection, int]:
    """Send on `conn` (or a new connection); resend once if the server dropped a kept-alive one."""
    if conn is None or conn.closed:
        conn = await Connection.open(url)
    try:
        return conn, await asyncio.wait_for(conn.send(raw), timeout)
    except StaleConnection:
        conn = await Connection.open(url)
        return conn, await asyncio.wait_for(conn.send(raw), timeout)


def closed_loop(
    url: str, body: bytes, connections: int, seconds: float, max_requests: int, timeout: float = 10
) -> LoadResult:
    """`connections` clients, each sending its next request when the last one is answered."""
    return asyncio.run(_closed(url, body, connections, seconds, max_requests, timeout))


async def _closed(
    url: str, body: bytes, connections: int, seconds: float, max_requests: int, timeout: float
) -> LoadResult:
    raw = post_bytes(url, body)
    tally = _Tally()
    budget = [max_requests]
    started = time.perf_counter()
    deadline = started + seconds

    async def client() -> None:
        conn: Connection | None = None
        while time.perf_counter() < deadline and budget[0] > 0:
            budget[0] -= 1
            sent = time.perf_counter()
            try:
                conn, status = await _send(conn, url, raw, timeout)
            except SOCKET_ERRORS:
                tally.errors += 1
                conn = None
                continue
            if 200 <= status < 300:
                tally.latencies.append(time.perf_counter() - sent)
            else:
                tally.errors += 1
        if conn is not None:
            conn.close()

    await asyncio.gather(*(client() for _ in range(connections)))
    return _result(tally, "closed", connections, None, time.perf_counter() - started)


def open_loop(
    url: str,
    body: bytes,
    rate: float,
    seconds: float,
    max_requests: int,
    timeout: float = 10,
    max_in_flight: int = 64,
) -> LoadResult:
    """Start a request every 1/rate seconds; connections are pooled, opened as needed.

    A request due while `max_in_flight` are outstanding is not sent and counts as dropped:
    the server is not keeping up, and queueing more would only stretch the run (and leave
    work on the server for the next measurement). `connections` in the result is the peak
    number in flight.
    """
    return asyncio.run(_open(url, body, rate, seconds, max_requests, timeout, max_in_flight))


async def _open(
    url: str,
    body: bytes,
    rate: float,
    seconds: float,
    max_requests: int,
    timeout: float,
    max_in_flight: int,
) -> LoadResult:
    raw = post_bytes(url, body)
    tally = _Tally()
    idle: list[Connection] = []
    count = min(int(rate * seconds), max_requests)
    in_flight = [0, 0]  # now, peak

    async def one(scheduled: float) -> None:
        conn = _take_idle(idle)
        try:
            conn, status = await _send(conn, url, raw, timeout)
        except SOCKET_ERRORS:
            tally.errors += 1
            return
        finally:
            in_flight[0] -= 1
        if 200 <= status < 300:
            tally.latencies.append(time.perf_counter() - scheduled)
        else:
            tally.errors += 1
        if not conn.closed:
            idle.append(conn)

    started = time.perf_counter()
    tasks = []
    for i in range(count):
        scheduled = started + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if in_flight[0] >= max_in_flight:
            tally.dropped += 1  # see the docstring
            continue
        in_flight[0] += 1
        in_flight[1] = max(in_flight)
        tasks.append(asyncio.create_task(one(scheduled)))
    await asyncio.gather(*tasks)
    for conn in idle:
        conn.close()
    return _result(tally, "open", in_flight[1], rate, time.perf_counter() - started)


def _take_idle(idle: list[Connection]) -> Connection | None:
    """The most recently used idle connection still inside the server's keep-alive window."""
    while idle:
        conn = idle.pop()
        if time.monotonic() - conn.last_used < IDLE_LIMIT and not conn.closed:
            return conn
        conn.close()
    return None
