"""`make lint` refuses postponed annotations in route and settings modules, saying why, and nowhere else.

Ruff runs with the repository's own configuration (pyproject.toml) on files placed where the
service keeps its routes and settings, in a copy of that configuration's directory layout.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT

RUFF = Path(sys.executable).parent / "ruff"
POSTPONED = '"""A module."""\n\nfrom __future__ import annotations\n\nVALUE: int = 1\n'


def ruff_check(workdir: Path, relative: str) -> subprocess.CompletedProcess[str]:
    shutil.copy(ROOT / "pyproject.toml", workdir / "pyproject.toml")
    module = workdir / relative
    module.parent.mkdir(parents=True, exist_ok=True)
    module.write_text(POSTPONED)
    return subprocess.run(
        [str(RUFF), "check", "--no-cache", "--output-format", "concise", relative],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("relative", ["service/api/routes/orders.py", "service/core/settings.py"])
def test_lint_fails_on_a_route_or_settings_module_with_postponed_annotations(tmp_path: Path, relative: str) -> None:
    result = ruff_check(tmp_path, relative)

    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{relative}:3:24: TID251" in result.stdout
    assert "pydantic and FastAPI read annotations at import" in result.stdout
    assert "cold start" in result.stdout


def test_other_modules_may_postpone_their_annotations(tmp_path: Path) -> None:
    result = ruff_check(tmp_path, "service/core/access/other.py")

    assert result.returncode == 0, result.stdout + result.stderr
