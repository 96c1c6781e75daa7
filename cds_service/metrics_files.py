"""Prometheus multiprocess files across worker restarts, and /metrics on its own address.

Each gunicorn worker writes `counter_<pid>.db` and `histogram_<pid>.db`. A worker that exits
(recycled after max_requests, or killed) would leave both behind forever, and every scrape
reads every file. Deleting them would make the totals go backwards, which Prometheus reads
as a counter reset. So the arbiter folds a dead worker's values into one archive file per
type, which the collector sums like any worker's, then deletes the dead worker's files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

# Types whose samples add up across processes; gauges are handled by mark_process_dead.
SUMMED = ("counter", "histogram", "summary")
ARCHIVE = "archive"  # <type>_archive.db: the collector reads the type from the prefix


def archive_dead_worker(directory: Path, pid: int) -> int:
    """Fold `pid`'s summed metric files into the archive; returns how many files went."""
    from prometheus_client import mmap_dict

    files: Any = mmap_dict.MmapedDict  # the client's own file format (untyped)
    folded = 0
    for kind in SUMMED:
        dead = directory / f"{kind}_{pid}.db"
        if not dead.exists():
            continue
        values = list(files.read_all_values_from_file(str(dead)))
        archive = files(str(directory / f"{kind}_{ARCHIVE}.db"))
        try:
            for key, value, timestamp, _ in values:
                current, _ = archive.read_value(key)
                archive.write_value(key, current + value, timestamp)
        finally:
            archive.close()
        dead.unlink()
        folded += 1
    return folded


def serve_metrics(bind: str) -> Any:
    """Serve every worker's metrics, merged, on `bind` (host:port), from the arbiter."""
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    host, _, port = bind.rpartition(":")
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    address = host.strip("[]") or "127.0.0.1"
    server, _ = start_http_server(int(port), addr=address, registry=registry)
    return server


def worker_files(directory: Path) -> list[str]:
    """The metric files present, for tests and operators."""
    return sorted(name for name in os.listdir(directory) if name.endswith(".db"))
