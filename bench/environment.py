"""What a run ran on: machine, commit, load, gunicorn settings; recorded in every report."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.servers import REPO

if TYPE_CHECKING:
    from bench.run import Options


def describe(
    options: Options, started: datetime, probe: subprocess.Popen[str], closed_name: str
) -> dict[str, Any]:
    """The report's `meta`: when, what code, which machine and settings, which drivers."""
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(options).items()}
    return {
        "started": started.strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _git("rev-parse", "--short", "HEAD") or "unknown",
        "dirty": bool(_git("status", "--porcelain")),
        "seed": options.seed,
        "as_of": started.date().isoformat(),
        "smoke": options.smoke,
        "auth": "off",
        "python": platform.python_version(),
        "machine": _machine(),
        "server": _gunicorn_settings(probe),
        "drivers": {"closed": closed_name, "open": "Python asyncio driver"},
        "settings": settings,
    }


def load_average() -> float | None:
    """The 1-minute load average: other work on the box skews every number."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _git(*args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def _machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next(
        (ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("model name")),
        platform.processor() or "unknown",
    )
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    total_kib = next(
        (int(ln.split()[1]) for ln in meminfo.splitlines() if ln.startswith("MemTotal")), 0
    )
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": total_kib / 1024**2,
        "kernel": f"{platform.system()} {platform.release()}",
    }


def probe_gunicorn_config(env: dict[str, str], tmp: Path) -> subprocess.Popen[str]:
    """Read workers/threads from the config itself (it honours WEB_CONCURRENCY and friends).

    Started early and read at the end: importing the config imports the whole service.
    """
    code = (
        "import json, cds_service.gunicorn_conf as c; "
        "print(json.dumps({'workers': c.workers, 'threads': c.threads, "
        "'worker_class': c.worker_class}))"
    )
    # An existing PROMETHEUS_MULTIPROC_DIR stops the config from making a directory of its own.
    probe_env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(tmp)}
    return subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=probe_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def _gunicorn_settings(probe: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = probe.communicate(timeout=60)
    values: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    values["command"] = "gunicorn -c python:cds_service.gunicorn_conf"
    return values
