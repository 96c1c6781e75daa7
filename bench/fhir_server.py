"""The fallback workload's FHIR server: a `MemoryFhir` on loopback that answers after a delay.

It runs in its own process (`python -m bench.fhir_server`), so its JSON work does not share a
GIL with the load generator. The delay is fixed per resource type (50-100 ms, a plausible EHR
search) and paid on every page, so "the slowest single query" is well defined.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from datetime import date
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer
from typing import Any, cast

import orjson

from bench.records import Resource
from bench.workloads import FALLBACK_RECORD, records
from cds_service.memory_fhir import MemoryFhir

PREFIX = "/fhir"
LATENCY_MS = {
    "Patient": 50,
    "Encounter": 60,
    "Condition": 70,
    "MedicationRequest": 80,
    "MedicationStatement": 80,
    "Observation": 100,
}
DEFAULT_LATENCY_MS = 75
# Large enough that the typical record needs one page per query; `_count` still applies.
PAGE_SIZE = 1000


def latency_seconds(query: str, scale: float = 1.0) -> float:
    """The delay for `Type?...` or `Type/id`, by resource type."""
    kind = query.lstrip("/").split("?", 1)[0].split("/", 1)[0]
    return LATENCY_MS.get(kind, DEFAULT_LATENCY_MS) * scale / 1000


def make_server(
    resources: list[Resource], port: int = 0, scale: float = 1.0
) -> ThreadingHTTPServer:
    """A threaded server on 127.0.0.1; `server_address[1]` is the port."""
    memory = MemoryFhir(resources)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle on, the body waits for the client's
        # delayed ACK (~40 ms on Linux), a stall no real FHIR server has.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            query = self.path.removeprefix(PREFIX)
            time.sleep(latency_seconds(query, scale))
            base = f"http://127.0.0.1:{cast(HTTPServer, self.server).server_port}{PREFIX}"
            body = memory.get(query, base=base, page_size=PAGE_SIZE)
            if body is None:
                self._send(404, {"resourceType": "OperationOutcome", "issue": []})
            else:
                self._send(200, body)

        def _send(self, status: int, body: dict[str, Any]) -> None:
            raw = orjson.dumps(body)
            self.send_response(status)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(raw)  # the service may have given up (its deadline)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> None:
    """Serve the fallback record; print `port N` once listening."""
    parser = argparse.ArgumentParser(prog="python -m bench.fhir_server")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--as-of", type=date.fromisoformat, required=True)
    parser.add_argument("--latency-scale", type=float, default=1.0)
    args = parser.parse_args(argv)
    record = records(args.seed, args.as_of)[FALLBACK_RECORD]
    server = make_server(record, scale=args.latency_scale)
    print(f"port {server.server_address[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    sys.exit(0)


if __name__ == "__main__":
    main()
