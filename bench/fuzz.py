"""`python -m bench.fuzz`: mutated invocation and feedback bodies against PostgreSQL.

The acceptance measure of issue 9: 10,000 mutated invocation bodies and 2,000 mutated
feedback bodies give no 5xx other than a documented 503. Mutations are seeded (the same
--seed gives the same bodies): structural edits anywhere in a body (replace with random
JSON, delete, wrap in a list, unwrap, stringify), edits inside the FHIR resources of the
prefetch (wrong JSON types, dates at the calendar's edges, huge numbers), and text that
columns cannot hold (NUL characters, over-long strings). Seeds are the README's examples at
their clock, a small patient, and feedback on cards those examples produced.

The service runs in-process (Flask's test client) on a private schema of the PostgreSQL at
--database-url (default CDS_TEST_DATABASE_URL), which is dropped afterwards. The test suite
runs a bounded version (tests/bench/test_fuzz.py).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
SERVICE = "knee-spasm-review"
URL = f"/cds-services/{SERVICE}"
CLOCK = "2026-11-21"  # the examples' clock (README)
DOCUMENTED = {400, 404, 412, 413, 415, 503}  # the README's statuses for these endpoints
NASTY: list[Any] = [
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01",
    "2026-02-30",
    "2026-11",
    "",
    "\x00",
    "a\x00b",
    "x" * 300,
    "s" * 1100,
    1e308,
    -1e308,
    2**70,
    -1,
    0,
    True,
    None,
    [],
    {},
    [None],
    [{}],
    {"coding": True},
    {"coding": 5},
    {"coding": [{"code": ["a"]}]},
    {"coding": [{"system": 1, "code": {}}]},
]
Path_ = tuple[Any, ...]


@dataclass
class Tally:
    """Statuses per body kind, and the first example of every unexpected status."""

    statuses: dict[str, Counter[int]] = field(default_factory=dict)
    unexpected: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, kind: str, status: int, body: Any) -> None:
        self.statuses.setdefault(kind, Counter())[status] += 1
        if status == 200 or status in DOCUMENTED - {503}:
            return
        examples = self.unexpected.setdefault(kind, [])
        if len(examples) < 3:
            examples.append({"status": status, "body": body})

    def server_errors(self) -> int:
        """5xx other than the documented 503 (a dependency down)."""
        return sum(n for c in self.statuses.values() for s, n in c.items() if s >= 500 and s != 503)

    def unavailable(self) -> int:
        return sum(c[503] for c in self.statuses.values())

    def undocumented(self) -> int:
        return sum(
            n
            for c in self.statuses.values()
            for s, n in c.items()
            if s != 200 and s not in DOCUMENTED
        )


def paths(value: Any, prefix: Path_ = ()) -> list[Path_]:
    """Every location in a JSON document, the root included."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths(child, (*prefix, index))
    return found


def random_json(rng: random.Random, depth: int = 0) -> Any:
    """A random JSON value: scalars, and shallow lists and objects of them."""
    roll = rng.random()
    if depth < 2 and roll < 0.15:
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if depth < 2 and roll < 0.3:
        return {f"k{rng.randint(0, 9)}": random_json(rng, depth + 1) for _ in range(3)}
    return rng.choice(
        [
            None,
            rng.random() < 0.5,
            rng.randint(-(2**63), 2**63 - 1),
            rng.uniform(-1e9, 1e9),
            "".join(rng.choice("abc\x00\u00e9\U0001f600 -:/.") for _ in range(rng.randint(0, 12))),
        ]
    )


def edit(rng: random.Random, body: Any, where: Path_) -> Any:
    """Apply one random edit at `where`; returns the (possibly new) root."""
    operation = rng.choice(["replace", "nasty", "delete", "wrap", "unwrap", "stringify", "text"])
    if not where:
        return [body] if operation == "wrap" else random_json(rng)
    parent = body
    for step in where[:-1]:
        parent = parent[step]
    last = where[-1]
    node = parent[last]
    if operation == "delete":
        del parent[last]
    elif operation == "replace":
        parent[last] = random_json(rng)
    elif operation == "nasty":
        parent[last] = copy.deepcopy(rng.choice(NASTY))
    elif operation == "wrap":
        parent[last] = [node]
    elif operation == "unwrap" and isinstance(node, list) and node:
        parent[last] = node[0]
    elif operation == "text" and isinstance(node, str):
        parent[last] = rng.choice([node + "\x00", node * rng.randint(50, 400), node[::-1]])
    else:
        parent[last] = json.dumps(node)
    return body


def mutate(rng: random.Random, seed: Any, within: Callable[[Path_], bool], most: int = 4) -> Any:
    """A copy of `seed` with one to `most` edits at locations `within` accepts."""
    body = copy.deepcopy(seed)
    for _ in range(rng.randint(1, most)):
        places = [p for p in paths(body) if within(p)]
        if not places:
            break
        body = edit(rng, body, rng.choice(places))
        if not isinstance(body, dict):
            break
    return body


def inside_resources(where: Path_) -> bool:
    """Locations inside a prefetch resource's elements (not the resource object itself)."""
    if len(where) < 3 or where[0] != "prefetch":
        return False
    if len(where) >= 6 and where[2] == "entry" and where[4] == "resource":
        return True
    return where[2] not in ("entry", "resourceType", "link")


def invocation_seeds(templates: dict[str, str]) -> list[dict[str, Any]]:
    from cds_service.memory_fhir import MemoryFhir, build_request

    seeds = [json.loads(p.read_text()) for p in sorted(EXAMPLES.glob("*.json"))]
    seeds = [s for s in seeds if isinstance(s, dict) and "prefetch" in s]
    patient = {"resourceType": "Patient", "id": "pat-1", "birthDate": "1960-05-01"}
    seeds.append(build_request(MemoryFhir([patient]), templates, "pat-1"))
    return seeds


def feedback_seed(rng: random.Random, cards: list[str]) -> dict[str, Any]:
    card = rng.choice(cards) if cards and rng.random() < 0.8 else str(uuid.uuid4())
    accepted = {
        "card": card,
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": str(uuid.uuid4())}],
        "outcomeTimestamp": f"2026-11-21T10:{rng.randint(0, 59):02d}:00Z",
    }
    overridden = {
        "card": card,
        "outcome": "overridden",
        "overrideReason": {
            "reason": {"code": "already-addressed", "system": "urn:o", "display": "Done"},
            "userComment": "Seen last week.",
        },
        "outcomeTimestamp": f"2026-11-21T11:{rng.randint(0, 59):02d}:00Z",
    }
    return {"feedback": [accepted, overridden]}


@contextmanager
def private_schema(url: str) -> Iterator[str]:
    """A fresh schema on the server at `url`, dropped afterwards; yields its URL."""
    schema = f"cds_fuzz_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in url else "?"
    try:
        yield f"{url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def run(database_url: str, invocations: int, feedback: int, seed: int) -> dict[str, Any]:
    """Send the mutated bodies; returns statuses, timings and unexpected examples."""
    from cds_service import create_app
    from cds_service.migrate import upgrade

    rng = random.Random(seed)
    tally = Tally()
    with private_schema(database_url) as url, tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            {
                "AUTH": "off",
                "DATABASE_URL": url,
                "PATIENT_HASH_SALT": "fuzz-salt",
                "INSTANCE_PATH": tmp,
                "CLOCK": CLOCK,
                "MAX_BODY_BYTES": 256 * 1024,
            }
        )
        store = app.extensions["cds"].pipeline.store
        upgrade(store.engine)
        client = app.test_client()
        seeds = invocation_seeds(app.extensions["cds"].pipeline.templates[SERVICE])
        cards: list[str] = []
        for body in seeds:
            response = client.post(URL, json=body)
            cards += [c["uuid"] for c in response.get_json().get("cards", []) if "uuid" in c]
        started = time.monotonic()
        for index in range(invocations):
            within = inside_resources if index % 2 else (lambda _: True)
            body = mutate(rng, rng.choice(seeds), within)
            tally.add("invocation", client.post(URL, json=body).status_code, body)
        invoked = time.monotonic() - started
        started = time.monotonic()
        for _ in range(feedback):
            # Fewer edits: more bodies stay valid enough to reach the database's columns.
            body = mutate(rng, feedback_seed(rng, cards), lambda _: True, most=2)
            tally.add("feedback", client.post(URL + "/feedback", json=body).status_code, body)
        fed = time.monotonic() - started
        store.engine.dispose()
    return {
        "seed": seed,
        "database": "postgresql",
        "invocations": invocations,
        "feedback": feedback,
        "statuses": {k: dict(sorted(v.items())) for k, v in tally.statuses.items()},
        "server_errors": tally.server_errors(),
        "unavailable_503": tally.unavailable(),
        "undocumented": tally.undocumented(),
        "seconds": {"invocations": round(invoked, 1), "feedback": round(fed, 1)},
        "unexpected": tally.unexpected,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("CDS_TEST_DATABASE_URL"))
    parser.add_argument("--invocations", type=int, default=10_000)
    parser.add_argument("--feedback", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "fuzz.json")
    options = parser.parse_args(argv)
    if not options.database_url:
        parser.error("give --database-url or set CDS_TEST_DATABASE_URL (PostgreSQL)")
    result = run(options.database_url, options.invocations, options.feedback, options.seed)
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(json.dumps(result, indent=2, default=repr))
    summary = {k: v for k, v in result.items() if k != "unexpected"}
    print(json.dumps(summary, indent=2))
    return 1 if result["server_errors"] or result["undocumented"] else 0


if __name__ == "__main__":
    sys.exit(main())
