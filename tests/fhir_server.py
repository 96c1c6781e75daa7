"""A real HTTP FHIR server on loopback for fallback tests: serves a MemoryFhir, records requests."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cds_service.memory_fhir import MemoryFhir


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


@dataclass
class LocalFhirServer:
    resources: Iterable[dict[str, Any]] = ()
    delay: float = 0.0
    page_size: int = 50
    prefix: str = "/fhir"
    seen: list[Seen] = field(default_factory=list)
    redirect_to: str | None = None
    status: int | None = None
    # Fixed bodies by request path (with query), served before the in-memory search.
    routes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.memory = MemoryFhir(self.resources)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.seen.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()}))
                if server.delay:
                    time.sleep(server.delay)
                if server.redirect_to is not None:
                    self.send_response(302)
                    self.send_header("Location", server.redirect_to)
                    self.end_headers()
                    return
                if server.status is not None:
                    self._send(server.status, {"resourceType": "OperationOutcome", "issue": []})
                    return
                if self.path in server.routes:
                    self._send(200, server.routes[self.path])
                    return
                query = self.path.removeprefix(server.prefix)
                body = server.memory.get(query, base=server.base_url, page_size=server.page_size)
                if body is None:
                    self._send(404, {"resourceType": "OperationOutcome", "issue": []})
                else:
                    self._send(200, body)

            def _send(self, status: int, body: dict[str, Any]) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(raw)  # the client may have given up (deadline tests)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        # A short poll interval keeps shutdown (and so each test's teardown) fast.
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def base_url(self) -> str:
        return self.origin + self.prefix

    def __enter__(self) -> LocalFhirServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
