"""`make dev` installs only what serving needs; `make test` installs the rest.

Read from make's own dry run with every target out of date (`make -n -B`), as on a fresh
clone: nothing is run.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _fresh_clone_commands(target: str) -> str:
    answer = subprocess.run(
        ["make", "-n", "-B", target], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    return answer.stdout


def test_make_dev_installs_the_local_requirements_and_the_docs_assets_only() -> None:
    commands = _fresh_clone_commands("dev")

    assert "-r requirements-local.txt" in commands
    assert "infra.docs_assets" in commands
    for heavy in ("requirements-dev.txt", "npm ci", "requirements-checkov.txt"):
        assert heavy not in commands, heavy


def test_make_test_installs_everything_make_dev_does_and_the_rest() -> None:
    commands = _fresh_clone_commands("test")

    for needed in ("-r requirements-local.txt", "-r requirements-dev.txt", "npm ci", "requirements-checkov.txt"):
        assert needed in commands, needed
