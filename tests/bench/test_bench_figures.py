"""A figure the benchmark cannot divide by: a zero reference, a load run that saw no request.

On a busy machine a short run can count no server CPU time (/proc counts clock ticks of
10 ms) and the deadline of a load run can pass while its connections open; neither may stop
`make bench` or its smoke test with a ZeroDivisionError.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench import load, run


def test_a_round_whose_reference_is_zero_is_left_out_of_the_ratio() -> None:
    assert run.paired_ratio([2.0, 3.0, 5.0], [1.0, 0.0, 1.0]) == pytest.approx(3.5)


def test_a_ratio_to_nothing_is_not_a_figure() -> None:
    assert run.paired_ratio([0.0, 1.0], [0.0, 0.0]) is None
    assert run.paired_ratio([1.0, 2.0, 3.0], [0.0, 0.0]) is None  # unpaired: medians


def test_a_target_on_an_undefined_ratio_is_not_judged() -> None:
    judged = run.row("CPU", "service", "µs", [0.0], floor=[0.0], at_most=1.5)

    assert judged.target == "<= 1.50"
    assert judged.ratio is None
    assert judged.met is None
    table = run.render([judged])
    assert "n/a" in table
    assert "MISSED" not in table
    assert " ok" not in table


class _Health(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = b'{"status":"ok"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def health_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/manage/hc"
    finally:
        server.shutdown()
        server.server_close()


def test_a_load_run_whose_deadline_passed_before_it_started_still_sends_a_request_per_connection(
    health_url: str,
) -> None:
    result = load.run_load(load.LoadCase("health", health_url), seconds=0.0, connections=3)

    assert result.requests >= 3
    assert result.failures == 0
    assert result.requests_per_second > 0
