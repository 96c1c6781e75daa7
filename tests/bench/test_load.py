"""The drivers against a tiny local server: they count answers and failures (no timing asserts)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bench import load, wrk


class Answer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        status = 500 if self.path.endswith("/fail") else 200
        body = b'{"cards":[]}'
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_closed_loop_stops_at_its_request_budget(server: str) -> None:
    result = load.closed_loop(server + "/ok", b"{}", connections=3, seconds=30, max_requests=25)

    assert (result.requests, result.errors) == (25, 0)
    assert result.p50_ms <= result.p90_ms <= result.p99_ms <= result.max_ms


def test_closed_loop_counts_non_2xx_as_errors(server: str) -> None:
    result = load.closed_loop(server + "/fail", b"{}", connections=2, seconds=30, max_requests=6)

    assert (result.requests, result.errors) == (0, 6)


def test_open_loop_sends_rate_times_duration_requests(server: str) -> None:
    result = load.open_loop(server + "/ok", b"{}", rate=40, seconds=0.5, max_requests=1000)

    assert result.requests + result.errors + result.dropped == 20
    assert result.mode == "open"
    assert result.rate == 40


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]

    assert load.percentile(values, 50) == 50.0
    assert load.percentile(values, 99) == 99.0
    assert load.percentile([], 99) == 0.0


def test_wrk_result_line_is_parsed_with_status_errors_split_out() -> None:
    line = (
        'BENCH_RESULT {"requests":120,"duration_us":2000000,"connect":0,"read":1,"write":0,'
        '"status":4,"timeout":2,"p50_us":1500,"p90_us":2500,"p99_us":9000,"max_us":12000}'
    )

    result = wrk.parse_output("Running 2s test\n" + line + "\n", connections=16)

    assert (result.requests, result.errors) == (116, 7)
    assert (result.p50_ms, result.p99_ms, result.seconds) == (1.5, 9.0, 2.0)
    assert result.rps == 58.0


def test_wrk_without_a_result_line_is_an_error() -> None:
    with pytest.raises(wrk.WrkError, match="no result"):
        wrk.parse_output("Running 1s test\n", connections=1)
