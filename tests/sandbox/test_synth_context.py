"""What the sandbox synthesizes for: the deploy's runtime where this machine can run it, else its own Python."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandbox import synth
from sandbox.runtime_client import RuntimeClientError, host_architecture, host_python_version
from tests.support import ROOT

HOST_RUNTIME = f"python{host_python_version()}"


def _interpreters(monkeypatch: pytest.MonkeyPatch, found: dict[str, Path]) -> None:
    def find_interpreter(version: str, *, explicit: Path | None = None) -> Path:
        if version in found:
            return found[version]
        raise RuntimeClientError(f"no Python {version} interpreter")

    monkeypatch.setattr(synth, "find_interpreter", find_interpreter)


def test_the_deploys_runtime_is_cdk_jsons() -> None:
    assert synth.deploy_runtime() == json.loads((ROOT / "cdk.json").read_text())["context"]["runtime"]


def test_the_deploys_runtime_where_an_interpreter_of_it_is_here_compiled_by_that_interpreter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    python313 = Path("/opt/python/3.13/bin/python3.13")
    _interpreters(monkeypatch, {"3.13": python313})
    monkeypatch.setattr(synth, "deploy_runtime", lambda: "python3.13")

    context = synth.sandbox_context(offline_url=None, given={})

    assert (context["runtime"], context["architecture"]) == ("python3.13", host_architecture())
    assert context["bytecode_python"] == str(python313)


def test_without_an_interpreter_of_the_deploys_runtime_this_machines_python(monkeypatch: pytest.MonkeyPatch) -> None:
    _interpreters(monkeypatch, {})
    monkeypatch.setattr(synth, "deploy_runtime", lambda: "python3.99")

    context = synth.sandbox_context(offline_url=None, given={})

    assert context["runtime"] == HOST_RUNTIME
    assert "bytecode_python" not in context


def test_the_deploys_runtime_being_this_machines_needs_no_other_interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    _interpreters(monkeypatch, {})
    monkeypatch.setattr(synth, "deploy_runtime", lambda: HOST_RUNTIME)

    assert synth.sandbox_context(offline_url=None, given={}) == {
        "runtime": HOST_RUNTIME,
        "architecture": host_architecture(),
    }


def test_a_runtime_given_with_c_is_kept_even_without_an_interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sandbox then says which interpreter is missing, rather than running something else."""
    _interpreters(monkeypatch, {})

    context = synth.sandbox_context(offline_url=None, given={"runtime": "python3.99"})

    assert context["runtime"] == "python3.99"
    assert "bytecode_python" not in context
