"""`python -m bench.secret_read` keeps working: one round, nothing timed or asserted on but that every row is there."""

from __future__ import annotations

import pytest

from bench import secret_read


@pytest.mark.e2e
def test_the_secret_read_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert secret_read.main(["--rounds", "1"]) == 0

    printed = capsys.readouterr().out
    for label in ("first: plain", "first: by ARN", "added to the first", "read alone (warm connection)"):
        assert label in printed
