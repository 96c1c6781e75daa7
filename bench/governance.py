"""`python -m bench.governance`: what run-time governance costs per call, on SQLite and PostgreSQL.

Governance adds to a call (README "Piloting"):

- reading the rule states: a cache hit, or, once per CDS_RULE_STATES_TTL_SECONDS per process,
  one small query;
- the snooze lookup: one indexed query, made only when a shown finding could be snoozed;
- the findings ledger: one more INSERT (every finding shown, shadowed or snoozed) in the
  transaction that records the cards.

The bench seeds a ledger (--patients patients, --visits calls each, their findings, feedback on
a third of the cards), gives the measured patient --history earlier calls that showed today's
findings with feedback on each (read by the lookup, snoozing nothing), then times, in-process on
the typical bench workload (191 resources, one card): each part alone, and the whole call
(`Pipeline.invoke`) with states cached. Targets, at p50: a cached state read <= 20 us; the
snooze lookup and the extra ledger INSERT <= 2 ms each, about a database round trip: they must
not grow with the ledger. The test suite runs a small version (tests/bench/test_governance.py);
its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from bench.fuzz import private_schema
from bench.workloads import SERVICE_ID, records
from cds_service import create_app
from cds_service.governance.snooze import split
from cds_service.memory_fhir import MemoryFhir, build_request
from cds_service.migrate import upgrade
from cds_service.store import CardRecord, Feedback, IssuedCard, LedgerFinding, Store

TARGETS_US = {"states_cached": 20, "snooze_lookup": 2000, "ledger_findings": 2000}
RULES = ("A1b", "A1", "A3", "B1", "B5", "C8", "M1")
OVERRIDE_SYSTEM = "urn:knee-spasm-cds:override-reason"


def timed(work: Callable[[], object], repeat: int) -> dict[str, float]:
    """p50 and p90 in microseconds of `repeat` runs, after a tenth as many warm-up runs."""
    for _ in range(max(1, repeat // 10)):
        work()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter_ns()
        work()
        samples.append((time.perf_counter_ns() - started) / 1000)
    samples.sort()
    return {
        "p50_us": round(statistics.median(samples), 1),
        "p90_us": round(samples[len(samples) * 9 // 10], 1),
    }


def seed_ledger(
    store: Store,
    patients: int,
    visits: int,
    history: str,
    visits_of_history: int,
    today: list[tuple[str, str]],
) -> int:
    """A ledger of `patients` x `visits` calls, three findings each, feedback on every third card.

    The patient with hash `history` gets `visits_of_history` calls showing today's findings
    (`today`: rule id, fingerprint), each overridden with a reason of another code system: the
    lookup finds and reads every one of them, but nothing is snoozed, so the call does its
    full work.
    """
    now = datetime.now(UTC)
    cards: list[dict[str, Any]] = []
    findings: list[dict[str, Any]] = []
    feedback: list[dict[str, Any]] = []
    hashes = [hashlib.sha256(str(n).encode()).hexdigest() for n in range(patients)]
    plan = [(h, visits) for h in hashes] + [(history, visits_of_history)]
    for patient, count in plan:
        for visit in range(count):
            card = uuid.uuid4().hex
            when = now - timedelta(days=visit * 7)
            cards.append(
                {
                    "uuid": card,
                    "service_id": SERVICE_ID,
                    "hook_instance": card,
                    "topic": "medications",
                    "indicator": "warning",
                    "rule_ids": list(RULES[:3]),
                    "knowledge_version": "bench",
                    "patient_hash": patient,
                    "issued_at": when,
                }
            )
            shown = [(rule, uuid.uuid4().hex) for rule in RULES[visit % 4 : visit % 4 + 3]]
            for rule, fingerprint in today if patient == history else shown:
                findings.append(
                    {
                        "recorded_at": when,
                        "service_id": SERVICE_ID,
                        "hook_instance": card,
                        "patient_hash": patient,
                        "rule_id": rule,
                        "rule_version": "1.0.0",
                        "family": "medications",
                        "indicator": "warning",
                        "status": "conclusive",
                        "state": "shown",
                        "card_uuid": card,
                        "fingerprint": fingerprint,
                        "knowledge_version": "bench",
                        "rule_state_digest": "bench",
                        "suggested": {uuid.uuid4().hex: "bmp"},
                    }
                )
            if patient == history or visit % 3 == 0:
                feedback.append(
                    {
                        "service_id": SERVICE_ID,
                        "card_uuid": card,
                        "card_known": True,
                        "outcome": "overridden",
                        "override_code": "already-addressed",
                        "override_system": (
                            "urn:bench:other" if patient == history else OVERRIDE_SYSTEM
                        ),
                        "outcome_at": when,
                        "received_at": when,
                        "dedup_key": uuid.uuid4().hex + uuid.uuid4().hex,
                    }
                )
    with store.engine.begin() as connection:
        for table, rows in ((IssuedCard, cards), (LedgerFinding, findings), (Feedback, feedback)):
            for start in range(0, len(rows), 5000):
                connection.execute(insert(table), rows[start : start + 5000])
    return len(findings)


@contextmanager
def database(url: str | None) -> Iterator[tuple[str, str]]:
    """(label, URL): a temporary SQLite file, or a private schema on the PostgreSQL at `url`."""
    if url is None:
        with tempfile.TemporaryDirectory() as folder:
            yield "sqlite", f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        return
    with private_schema(url) as schema_url:
        yield "postgresql", schema_url


def measure(
    url: str | None, patients: int, visits: int, history: int, repeat: int
) -> dict[str, Any]:
    """Seed one database and time governance's parts and a whole call on it."""
    with database(url) as (label, database_url), tempfile.TemporaryDirectory() as instance:
        app = create_app(
            {
                "AUTH": "off",
                "DATABASE_URL": database_url,
                "INSTANCE_PATH": instance,
                "PATIENT_HASH_SALT": "bench-salt",
            }
        )
        pipeline = app.extensions["cds"].pipeline
        store: Store = pipeline.store
        upgrade(store.engine)
        resources = records(seed=1, as_of=date.today())["typical"]
        patient = resources[0]["id"]
        request = build_request(MemoryFhir(resources), pipeline.templates[SERVICE_ID], patient)
        governance = pipeline.governance
        states, _ = governance.states(SERVICE_ID)
        outcome = pipeline.invoke(SERVICE_ID, request)
        findings = outcome.assessment.findings
        today = [(r.rule_id, r.fingerprint) for r in outcome.ledger if r.state == "shown"]
        rows = seed_ledger(store, patients, visits, store.patient_hash(patient), history, today)
        fingerprints = {fingerprint for _, fingerprint in today}
        since = datetime.now(UTC) - timedelta(days=governance.policy.horizon_days)
        ledger = list(outcome.ledger)
        cards = [(issued.uuid, issued.card.indicator, issued.rule_ids) for issued in outcome.issued]

        def write(with_findings: bool) -> Callable[[], None]:
            def run() -> None:
                records_ = [CardRecord(uuid.uuid4().hex, "labs", i, r) for _, i, r in cards]
                store.record_cards(
                    SERVICE_ID, "h", patient, "bench", records_,
                    ledger if with_findings else (), states.digest,
                )  # fmt: skip

            return run

        def refresh() -> None:
            governance.cache._expires = float("-inf")  # force the next read to the database
            governance.states(SERVICE_ID)

        parts = {
            "states_cached": timed(lambda: governance.states(SERVICE_ID), repeat * 10),
            "states_read": timed(refresh, repeat),
            "split": timed(lambda: split(findings, states), repeat * 10),
            "snooze_lookup": timed(
                lambda: store.prior_feedback(SERVICE_ID, patient, fingerprints, since), repeat
            ),
            "ledger_cards_only": timed(write(False), repeat),
            "ledger_cards_and_findings": timed(write(True), repeat),
            "call": timed(lambda: pipeline.invoke(SERVICE_ID, request), max(20, repeat // 4)),
        }
        extra = parts["ledger_cards_and_findings"]["p50_us"] - parts["ledger_cards_only"]["p50_us"]
        parts["ledger_findings"] = {"p50_us": round(extra, 1)}
        priors = len(store.prior_feedback(SERVICE_ID, patient, fingerprints, since))
        store.engine.dispose()
    per_call = (
        parts["states_cached"]["p50_us"]
        + parts["split"]["p50_us"]
        + parts["snooze_lookup"]["p50_us"]
        + parts["ledger_findings"]["p50_us"]
    )
    return {
        "database": label,
        "ledger_findings": rows,
        "prior_feedback_rows": priors,
        "findings_per_call": len(ledger),
        "parts": parts,
        "governance_per_call_us": round(per_call, 1),
        "share_of_call": round(per_call / parts["call"]["p50_us"], 3),
        "targets": {
            name: {
                "target_us": target,
                "p50_us": parts[name]["p50_us"],
                "passed": parts[name]["p50_us"] <= target,
            }
            for name, target in TARGETS_US.items()
        },
    }


def markdown(results: list[dict[str, Any]]) -> str:
    """One table: each part's p50 (p90) in microseconds, per database."""
    names = [
        ("states_cached", "rule states, cached (every call)"),
        ("states_read", "rule states, read (once per TTL per process)"),
        ("split", "shown/shadow split and fingerprints"),
        ("snooze_lookup", "snooze lookup (one indexed query)"),
        ("ledger_findings", "findings INSERT (extra, in the cards' transaction)"),
        ("call", "whole call, typical workload, in-process (for scale)"),
    ]
    head = "| Part, us p50 (p90) | " + " | ".join(r["database"] for r in results) + " |"
    lines = [head, "|---|" + "---:|" * len(results)]
    for key, label in names:
        cells = []
        for result in results:
            part = result["parts"][key]
            p50 = _us(part["p50_us"])
            cells.append(f"{p50} ({_us(part['p90_us'])})" if "p90_us" in part else p50)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    shares = [f"{r['governance_per_call_us']:,.0f} ({r['share_of_call']:.1%})" for r in results]
    lines.append("| governance per call (share of the call) | " + " | ".join(shares) + " |")
    return "\n".join(lines)


def _us(value: float) -> str:
    return f"{value:,.1f}" if value < 10 else f"{value:,.0f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000, help="patients in the ledger")
    parser.add_argument("--visits", type=int, default=10, help="earlier calls per patient")
    parser.add_argument("--history", type=int, default=20, help="the measured patient's calls")
    parser.add_argument("--repeat", type=int, default=300, help="timed runs per part")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("CDS_TEST_DATABASE_URL"),
        help="PostgreSQL to measure too (a private schema, dropped afterwards)",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    urls: list[str | None] = [None] + ([args.database_url] if args.database_url else [])
    results = [measure(url, args.patients, args.visits, args.history, args.repeat) for url in urls]
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(markdown(results))
    failed = [
        f"{r['database']}: {n}" for r in results for n, t in r["targets"].items() if not t["passed"]
    ]
    if failed:
        print("targets missed: " + ", ".join(failed), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
