"""`make lock` resolves service/requirements.in into the bundle's pins: the committed pins are what it gives."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.e2e

SERVICE = ROOT / "service"


def pins(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement:
            name, _, version = requirement.partition("==")
            found[re.sub(r"[-_.]+", "-", name.split(";")[0].strip().lower())] = version.split(";")[0].strip()
    return found


def lock(workdir: Path) -> str:
    """What `make lock-service` writes from a copy of the committed pair (its output read back as preferences)."""
    for suffix in (".in", ".txt"):
        shutil.copy(SERVICE / f"requirements{suffix}", workdir / f"requirements{suffix}")
    subprocess.run(
        ["make", "--no-print-directory", "lock-service", f"SERVICE_LOCK={workdir / 'requirements'}"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return (workdir / "requirements.txt").read_text()


def test_the_committed_pins_are_what_make_lock_resolves(tmp_path: Path) -> None:
    assert lock(tmp_path) == (SERVICE / "requirements.txt").read_text()


def test_every_requirement_is_pinned_with_what_it_depends_on() -> None:
    wanted = pins((SERVICE / "requirements.in").read_text())
    locked = pins((SERVICE / "requirements.txt").read_text())

    assert wanted.items() <= locked.items()
    assert all(locked.values())  # every package, sub-dependencies too, has its exact version
    assert "pydantic-core" in locked  # fastapi's, through pydantic: resolved, never written by hand
