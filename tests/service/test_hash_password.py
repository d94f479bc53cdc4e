"""`python -m service.core.identity.hash_password`: a hash for the users file, or a clear refusal."""

from __future__ import annotations

import subprocess
import sys

import bcrypt
import pytest

from tests.support import ROOT


def hash_password(stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.core.identity.hash_password"],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_a_password_of_72_bytes_is_hashed_and_verifies() -> None:
    password = "é" * 36  # 72 bytes in UTF-8
    result = hash_password(password + "\n")
    assert result.returncode == 0, result.stderr
    assert bcrypt.checkpw(password.encode(), result.stdout.strip().encode())


@pytest.mark.parametrize("password", ["p" * 73, "é" * 37], ids=["73 ascii bytes", "74 bytes in 37 characters"])
def test_a_longer_password_is_refused_with_a_message_not_a_traceback(password: str) -> None:
    result = hash_password(password + "\n")
    assert result.returncode != 0
    assert result.stdout == ""
    assert "at most 72" in result.stderr
    assert "Traceback" not in result.stderr
    assert password not in result.stderr


def test_no_password_is_refused() -> None:
    result = hash_password("\n")
    assert result.returncode != 0
    assert "no password given" in result.stderr
