"""`make bench` keeps working: its code paths run once, with tiny counts, and nothing is timed.

The asset is built (as `cdk synth` builds it) into a temporary directory, every Lambda case
is imported and called in a fresh interpreter, the LOCAL app is called in process, and the
three servers are started and put under load for a second. The figures are meaningless
here and never asserted on; that every row is there, is.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import run

EXPECTED_ROWS = {
    "floor: FastAPI + Mangum hello world",
    "service (service.runtime.aws_lambda)",
    "floor with the service's init GC step",
    "service, asset without bytecode",
    "service health",
    "service whoami, flattened claims",
    "bare handler",
    "whoami, new token each call (RS256, cached keys)",
    "service whoami (RS256 token)",
    "bare ASGI app",
    "with bytecode (as shipped)",
}


@pytest.mark.e2e
def test_the_benchmark_runs_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "latest.json"

    assert run.main(["--quick", "--no-powertools", "--out", str(out), "--work-dir", str(tmp_path / "work")]) == 0

    result = json.loads(out.read_text())
    labels = {row["label"] for row in result["rows"]}
    assert not EXPECTED_ROWS - labels
    assert result["quick"] is True
    assert result["machine"]["nproc"] >= 1
    assert all(row["median"] > 0 for row in result["rows"])
    assert [row["label"] for row in result["rows"] if row["target"]] == [
        "service (service.runtime.aws_lambda)",
        "service health",
        "service whoami, flattened claims",
        "service health",
        "service whoami (RS256 token)",
    ]
    assert result["table"] in capsys.readouterr().out
