"""`make lock` rewrites the constraint files from the venv, keeping every pin it did not mean to change."""

from __future__ import annotations

import subprocess

from infra.constraints import merge
from tests.support import ROOT

PREVIOUS = """# Header: why these pins.
fastapi==0.110.0
tzdata==2026.6
pydantic_core==2.0.0
"""


def test_a_pin_the_venv_does_not_hold_is_kept_and_a_changed_one_replaced() -> None:
    frozen = "fastapi==0.165.0\npydantic-core==2.50.5\nhttpx==0.28.1\n"

    merged = merge(PREVIOUS, frozen)

    assert merged.splitlines() == [
        "# Header: why these pins.",
        "fastapi==0.165.0",
        "httpx==0.28.1",
        "pydantic-core==2.50.5",
        "tzdata==2026.6",  # installed only elsewhere: kept
    ]


def test_the_committed_constraints_are_a_fixed_point() -> None:
    # Locking again with nothing changed changes nothing: the order is pip freeze's own.
    committed = (ROOT / "constraints.txt").read_text()
    pins = "\n".join(line for line in committed.splitlines() if not line.startswith("#"))

    assert merge(committed, pins) == committed


def test_make_lock_merges_the_freeze_into_both_constraint_files() -> None:
    commands = subprocess.run(
        ["make", "-n", "lock"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    ).stdout

    assert "| .venv/bin/python -m infra.constraints constraints.txt" in commands
    assert "| .venv/bin/python -m infra.constraints constraints-checkov.txt" in commands
    assert "> constraints.txt" not in commands


def test_a_python_dependency_change_does_not_rerun_npm_ci() -> None:
    # With the venv's marker newer than node_modules' (a requirements change reinstalled it),
    # make still finds node_modules up to date: the venv is an order-only prerequisite.
    dry_run = subprocess.run(
        ["make", "-n", "-W", ".venv/.installed", "node_modules/.installed"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout

    assert "npm ci" not in dry_run
