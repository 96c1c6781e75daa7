"""The closed-loop driver of choice: wrk (C, one thread), with a Lua script that POSTs the body.

On a 2-core machine every cycle the load generator spends is taken from the server; wrk spends
far fewer per request than any Python client, which matters most for the floor (the fastest
target). Without wrk the Python driver is used and the report says so.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.load import LoadResult

SCRIPT = Path(__file__).with_name("wrk_post.lua")
MARKER = "BENCH_RESULT "


class WrkError(RuntimeError):
    """wrk failed or printed no result line."""


def wrk_path() -> str | None:
    """The wrk binary on PATH, if any."""
    return shutil.which("wrk")


def wrk_version() -> str:
    """E.g. 'wrk debian/4.1.0-3+b2 [epoll]'."""
    binary = wrk_path()
    if binary is None:
        return "none"
    proc = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    return (proc.stdout or proc.stderr).splitlines()[0].split(" Copyright")[0].strip()


def closed_loop(
    url: str, body: bytes, connections: int, seconds: float, max_requests: int, timeout: float = 10
) -> LoadResult:
    """Run wrk for `seconds` (rounded up: wrk takes whole seconds) with `connections`."""
    binary = wrk_path()
    if binary is None:
        raise WrkError("wrk is not installed")
    with tempfile.NamedTemporaryFile(suffix=".json") as handle:
        handle.write(body)
        handle.flush()
        env = {**os.environ, "BENCH_BODY": handle.name, "BENCH_MAX_PER_THREAD": str(max_requests)}
        command = [
            binary,
            "-t1",
            f"-c{connections}",
            f"-d{max(1, math.ceil(seconds))}s",
            f"--timeout={math.ceil(timeout)}s",
            "-s",
            str(SCRIPT),
            url,
        ]
        proc = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=seconds + 60, check=False
        )
    return parse_output(proc.stdout, connections, proc.stderr)


def parse_output(stdout: str, connections: int, stderr: str = "") -> LoadResult:
    """The LoadResult from the script's BENCH_RESULT line."""
    line = next((ln for ln in stdout.splitlines() if ln.startswith(MARKER)), None)
    if line is None:
        raise WrkError(f"wrk printed no result:\n{stdout[-2000:]}\n{stderr[-2000:]}")
    data = json.loads(line.removeprefix(MARKER))
    socket_errors = data["connect"] + data["read"] + data["write"] + data["timeout"]
    return LoadResult(
        driver="wrk",
        mode="closed",
        connections=connections,
        rate=None,
        seconds=data["duration_us"] / 1e6,
        requests=int(data["requests"] - data["status"]),
        errors=int(socket_errors + data["status"]),
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
    )
