"""What both hooks share: whatever their checks do, exactly one status report, in time, and a pass only from a pass."""

from __future__ import annotations

import threading
import time

import pytest

from hooks.lifecycle import REPORT_RESERVE_SECONDS, Log, run_hook
from tests.hooks.conftest import LambdaContext, StatusRecorder, hook_event


def test_checks_that_never_finish_are_reported_failed_before_the_hooks_own_timeout(
    codedeploy: StatusRecorder, capsys: pytest.CaptureFixture[str]
) -> None:
    release = threading.Event()
    timeout = REPORT_RESERVE_SECONDS + 1.5
    started = time.monotonic()

    result = run_hook(hook_event(), LambdaContext(timeout), log=Log("test-hook"), checks=lambda _: release.wait(60))
    elapsed = time.monotonic() - started
    release.set()

    assert (result, codedeploy.statuses()) == ({"status": "Failed"}, ["Failed"])
    assert elapsed < timeout
    assert "FAIL deadline: the checks did not finish within 1.5 s" in capsys.readouterr().out


def test_checks_that_raise_are_reported_failed_naming_the_error_type_only(
    codedeploy: StatusRecorder, capsys: pytest.CaptureFixture[str]
) -> None:
    def checks(_: float) -> bool:
        raise KeyError("a-value-that-must-not-be-logged")

    result = run_hook(hook_event(), LambdaContext(60), log=Log("test-hook"), checks=checks)

    assert (result, codedeploy.statuses()) == ({"status": "Failed"}, ["Failed"])
    output = capsys.readouterr().out
    assert "FAIL test-hook: the checks stopped on KeyError" in output
    assert "a-value-that-must-not-be-logged" not in output


@pytest.mark.parametrize("verdict", [True, False])
def test_the_checks_verdict_is_the_one_status_reported(codedeploy: StatusRecorder, verdict: bool) -> None:
    result = run_hook(hook_event(), LambdaContext(60), log=Log("test-hook"), checks=lambda _: verdict)

    expected = "Succeeded" if verdict else "Failed"
    assert (result, codedeploy.statuses()) == ({"status": expected}, [expected])


def test_an_event_that_is_not_codedeploys_reports_nothing(codedeploy: StatusRecorder) -> None:
    with pytest.raises(ValueError, match="not a CodeDeploy lifecycle event"):
        run_hook({"version": "2.0"}, LambdaContext(60), log=Log("test-hook"), checks=lambda _: True)

    assert codedeploy.calls == []
