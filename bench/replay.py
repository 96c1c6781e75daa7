"""`python -m bench.replay` (`make bench-replay`): replay throughput at 1 and 2 Dask workers.

Builds a Synthea-sized population (bench/population.py), then for each worker count starts a
LocalCluster, warms its workers (imports, knowledge), and times `replay()` over the whole
population: reading every file, evaluating every patient, writing every output. Also records
the CPU seconds the workers and the driver spent, so a busy machine shows up as wall time
without CPU time. See bench/README.md ("Replay") for the target and the latest numbers.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import resource
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.environment import load_average
from bench.population import REPO, build
from cds_service.workbench.engine import EngineSpec
from cds_service.workbench.executors import DaskExecutor, SerialExecutor
from cds_service.workbench.replay import replay

TARGET_RATE = 100.0  # patients per second on 2 workers, Synthea-sized bundles
TARGET_SCALING = 1.7  # 2-worker rate / 1-worker rate ("close to linear")
AS_OF = datetime(2021, 4, 1, tzinfo=UTC)
COMPLAINT = json.loads((REPO / "examples" / "knee-cramp-condition.json").read_text())
SPEC = EngineSpec.of(AS_OF, added=[COMPLAINT])


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(files: list[Path], workers: int, out: Path) -> dict[str, Any]:
    """One timed replay of `files` on a warm LocalCluster of `workers` processes."""
    started = time.perf_counter()
    with DaskExecutor.local(workers) as executor:
        cluster_s = time.perf_counter() - started
        replay(files[: 4 * workers], out / "warm", current=SPEC, executor=executor, salt=b"b")
        before = executor.client.run(_cpu)
        driver_before = _cpu()
        load = load_average()
        started = time.perf_counter()
        result = replay(files, out / f"w{workers}", current=SPEC, executor=executor, salt=b"b")
        elapsed = time.perf_counter() - started  # with index.html, which replay's own clock omits
        driver_cpu = _cpu() - driver_before
        after = executor.client.run(_cpu)
    worker_cpu = sum(after[k] - before[k] for k in after)
    return {
        "workers": workers,
        "patients": result.summary.patients,
        "errors": result.summary.errors,
        "cards": result.summary.cards,
        "elapsed_s": round(elapsed, 3),
        "patients_per_s": round(result.summary.patients / elapsed, 1),
        "worker_cpu_ms_per_patient": round(1000 * worker_cpu / result.summary.patients, 2),
        "driver_cpu_ms_per_patient": round(1000 * driver_cpu / result.summary.patients, 2),
        "cluster_start_s": round(cluster_s, 2),
        "load_before": load,
    }


def profile(files: list[Path], out: Path, top: int = 25) -> str:
    """cProfile of a serial replay (this process), by internal time."""
    replay(files[:2], out / "warm-serial", current=SPEC, executor=SerialExecutor(), salt=b"b")
    profiler = cProfile.Profile()
    profiler.enable()
    replay(files, out / "serial", current=SPEC, executor=SerialExecutor(), salt=b"b")
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(top)
    return text.getvalue()


def markdown(report: dict[str, Any]) -> str:
    pop = report["population"]
    lines = [
        "# Replay bench",
        "",
        f"{pop['patients']} patients, median bundle {pop['median_kb']:.0f} KB, "
        f"{pop['total_mb']:.0f} MB in all (scale {pop['scale']}x the trimmed samples).",
        "",
        "| Workers | Patients/s | Elapsed s | Worker CPU ms/patient | Driver CPU ms/patient "
        "| Load before |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report["runs"]:
        lines.append(
            f"| {row['workers']} | {row['patients_per_s']} | {row['elapsed_s']} | "
            f"{row['worker_cpu_ms_per_patient']} | {row['driver_cpu_ms_per_patient']} | "
            f"{row['load_before']} |"
        )
    lines += ["", "| Target | Measured | Result |", "|---|---|---|"]
    for target in report["targets"]:
        verdict = "pass" if target["passed"] else "FAIL"
        lines.append(f"| {target['name']} | {target['measured']} | {verdict} |")
    return "\n".join(lines) + "\n"


def targets(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_workers = {row["workers"]: row["patients_per_s"] for row in runs}
    found = []
    if 2 in by_workers:
        found.append(
            {
                "name": f"rate at 2 workers >= {TARGET_RATE:g} patients/s",
                "measured": f"{by_workers[2]} patients/s",
                "passed": by_workers[2] >= TARGET_RATE,
            }
        )
    if 1 in by_workers and 2 in by_workers:
        ratio = by_workers[2] / by_workers[1]
        found.append(
            {
                "name": f"1 -> 2 workers >= {TARGET_SCALING}x",
                "measured": f"{ratio:.2f}x",
                "passed": ratio >= TARGET_SCALING,
            }
        )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replay", description=__doc__)
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--scale", type=float, default=5.0, help="bundle size x the trimmed one")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--population", type=Path, help="reuse or keep the generated bundles")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--profile", action="store_true", help="also profile a serial run")
    parser.add_argument("--fail-on-target", action="store_true")
    args = parser.parse_args(argv)

    scratch = Path(tempfile.mkdtemp(prefix="bench-replay-"))
    try:
        folder = args.population or scratch / "population"
        print(f"building {args.patients} patients in {folder} ...", file=sys.stderr)
        population = build(folder, args.patients, args.scale)
        runs = []
        for workers in (int(w) for w in args.workers.split(",") if w):
            print(f"replaying on {workers} worker(s) ...", file=sys.stderr)
            runs.append(measure(population.files, workers, scratch))
        report: dict[str, Any] = {
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "population": {
                "patients": len(population.files),
                "scale": args.scale,
                "median_kb": population.median_bytes / 1024,
                "total_mb": population.total_bytes / 1024 / 1024,
            },
            "runs": runs,
            "targets": targets(runs),
        }
        if args.profile:
            report["profile"] = profile(population.files[:200], scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "replay.json").write_text(json.dumps(report, indent=1) + "\n")
    text = markdown(report)
    (args.out / "replay.md").write_text(text)
    print(text)
    if "profile" in report:
        print(report["profile"], file=sys.stderr)
    failed = any(not t["passed"] for t in report["targets"])
    return 2 if failed and args.fail_on_target else 0


if __name__ == "__main__":
    sys.exit(main())
