"""Processes under test: gunicorn (service and floor) and the FHIR server; worker RSS from /proc.

Everything binds 127.0.0.1 on a free port. Output goes to log files in the bench's temporary
folder (a pipe nobody reads would block the server); the tail is shown if a process fails.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
GUNICORN_CONFIG = "python:cds_service.gunicorn_conf"
START_TIMEOUT = 60.0


class ServerError(RuntimeError):
    """A process under test did not start or answer."""


def free_port() -> int:
    """A port the kernel just had free on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def log_tail(path: Path, lines: int = 30) -> str:
    """The end of a log file, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Process:
    """A started process, its log and the URL it serves."""

    name: str
    proc: subprocess.Popen[bytes]
    base_url: str
    log: Path

    def stop(self) -> None:
        """SIGTERM (gunicorn shuts down gracefully), then SIGKILL after 20 s."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def worker_pids(self) -> list[int]:
        """Child processes of this one (gunicorn's workers), sorted."""
        return sorted(pid for pid, parent in _parents().items() if parent == self.proc.pid)

    def worker_rss_kib(self) -> dict[int, int]:
        """VmRSS of each worker, in KiB; workers that exit meanwhile are left out."""
        out = {}
        for pid in self.worker_pids():
            rss = read_rss_kib(pid)
            if rss is not None:
                out[pid] = rss
        return out


def read_rss_kib(pid: int) -> int | None:
    """VmRSS from /proc/<pid>/status, or None if the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def _parents() -> dict[int, int]:
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Field 4 is the parent pid; the command name (field 2) may contain spaces.
        out[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return out


def spawn_gunicorn(name: str, app: str | None, env: dict[str, str], logs: Path) -> Process:
    """gunicorn with exactly the production config; `app` overrides its wsgi_app (the floor).

    Returns at once; `wait_started` waits for it (so several can boot at the same time).
    """
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "-c", GUNICORN_CONFIG]
    if app is not None:
        command.append(app)
    # gunicorn's control socket defaults to one path per user; two servers would share it.
    runtime_dir = logs / f"{name}-run"
    runtime_dir.mkdir(exist_ok=True)
    extra = {"GUNICORN_BIND": f"127.0.0.1:{port}", "XDG_RUNTIME_DIR": str(runtime_dir)}
    process = _spawn(name, command, {**env, **extra}, logs)
    process.base_url = f"http://127.0.0.1:{port}"
    return process


def wait_started(process: Process) -> None:
    """Until /healthz answers and every worker has loaded the app."""
    wait_ready(process, "/healthz")
    _wait_for_workers(process)


def stop_all(processes: list[Process]) -> None:
    """SIGTERM every process first, then wait for each: shutdowns overlap."""
    for process in processes:
        if process.proc.poll() is None:
            process.proc.send_signal(signal.SIGTERM)
    for process in processes:
        process.stop()


def start_fhir_server(seed: int, as_of: str, env: dict[str, str], logs: Path) -> Process:
    """The bench FHIR server (own process); its port is read from its first line of output."""
    command = [sys.executable, "-m", "bench.fhir_server", "--seed", str(seed), "--as-of", as_of]
    log = logs / "fhir.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=err)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    if not line.startswith("port "):
        proc.kill()
        raise ServerError(f"FHIR server did not start:\n{log_tail(log)}")
    return Process("fhir", proc, f"http://127.0.0.1:{int(line.split()[1])}/fhir", log)


def _spawn(name: str, command: list[str], env: dict[str, str], logs: Path) -> Process:
    log = logs / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    return Process(name, proc, "", log)


def wait_ready(process: Process, path: str) -> None:
    """Poll `path` until it answers 200, or fail with the log's tail."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.proc.poll() is not None:
            raise ServerError(f"{process.name} exited:\n{log_tail(process.log)}")
        try:
            if httpx.get(process.base_url + path, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.stop()
    raise ServerError(f"{process.name} did not answer {path}:\n{log_tail(process.log)}")


def _wait_for_workers(process: Process, settle: float = 1.0, slack_kib: int = 512) -> None:
    """Wait until no worker's RSS has moved for `settle` seconds: every worker has loaded the app.

    Workers import the app after the fork, so /healthz answering means only that one is up.
    """
    deadline = time.monotonic() + START_TIMEOUT
    last: dict[int, int] = {}
    since = time.monotonic()
    while time.monotonic() < deadline:
        now = process.worker_rss_kib()
        moved = now.keys() != last.keys() or any(
            abs(now[pid] - last[pid]) > slack_kib for pid in now
        )
        if moved:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= settle:
            return
        time.sleep(0.1)


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    """The caller's environment minus CDS_* settings and metrics dirs, plus `extra`."""
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CDS_") and k not in ("PROMETHEUS_MULTIPROC_DIR", "GUNICORN_BIND")
    }
    return {**keep, **extra}
