"""`make bench` keeps working: its code paths run once, with tiny counts, and nothing is timed.

The asset is built (as `cdk synth` builds it) into a temporary directory, and again for one
other Lambda runtime's Python where this machine has one, every Lambda case is imported and
called in a fresh interpreter (under its asset's Python; the generated routes' cases answer a
request for their last route), the LOCAL app is called in process, and the four servers are
started and put under load for a second. The figures are meaningless here and never asserted
on; that every row is there, is.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import report, run
from bench.interpreters import find_python
from tests.infra.conftest import HOST_PYTHON

OTHER = "3.13" if HOST_PYTHON != "3.13" else "3.12"

EXPECTED_ROWS = {
    "floor: FastAPI + Mangum hello world",
    "service (service.runtime.aws_lambda)",
    "floor with the service's init GC step",
    "service, asset without bytecode",
    "service health",
    "service whoami, flattened claims",
    "bare handler",
    "whoami, new token each call (RS256, cached keys)",
    "service whoami (RS256 token), to the minimal FastAPI whoami",
    "reference: minimal FastAPI whoami",
    "service whoami (line, metrics), to the minimal FastAPI whoami",
    "bare ASGI app",
    "with bytecode (as shipped)",
    "floor + 0 routes",
    "service + 2 routes",
    "per route, floor (1 to 2 routes, ms)",
    "per route, service (1 to 2 routes, KiB)",
}


@pytest.mark.e2e
def test_the_benchmark_runs_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "latest.json"
    doc = tmp_path / "performance.md"
    doc.write_text(f"# Performance\n\nprose\n\n{report.BEGIN}\nold figures\n{report.END}\n\nmore prose\n")
    other = find_python(OTHER)

    arguments = ["--quick", "--no-powertools", "--out", str(out), "--work-dir", str(tmp_path / "work")]
    assert run.main([*arguments, "--other-python", OTHER, "--doc", str(doc)]) == 0

    result = json.loads(out.read_text())
    labels = {row["label"] for row in result["rows"]}
    assert not EXPECTED_ROWS - labels
    other_rows = {f"floor, python{OTHER}", f"service, python{OTHER}", f"service, python{OTHER} asset without bytecode"}
    assert (other_rows <= labels) is (other is not None)
    assert result["quick"] is True
    assert result["machine"]["nproc"] >= 1
    assert all(row["median"] > 0 for row in result["rows"] if not row["label"].startswith("per route"))
    assert [row["label"] for row in result["rows"] if row["target"]] == [
        "service (service.runtime.aws_lambda)",
        "service health",
        "service whoami, flattened claims",
        "service whoami (line, metrics), to the minimal FastAPI whoami",
        *([f"service, python{OTHER}"] if other is not None else []),
        "service + 0 routes",
        "service + 1 routes",
        "service + 2 routes",
        "per route, service (1 to 2 routes, ms)",
        "service health",
        "service whoami (RS256 token), to the minimal FastAPI whoami",
    ]
    assert result["table"] in capsys.readouterr().out
    page = doc.read_text()
    assert result["table"] in page
    assert "old figures" not in page
    assert page.startswith("# Performance\n\nprose\n\n")
    assert page.endswith(f"{report.END}\n\nmore prose\n")
