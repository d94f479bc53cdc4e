"""`python -m service.core.identity.hash_password`: a hash for the users file, or a clear refusal."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import bcrypt
import pytest

from service.core.identity.base import InvalidCredentials
from service.core.identity.local import BCRYPT_ROUNDS, LocalIssuer, LocalUser, bcrypt_cost, dummy_hash, load_users
from service.core.settings import Settings
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


def test_the_hash_costs_what_the_issuer_checks_an_unknown_user_against() -> None:
    """A known user's wrong password and an unknown user cost the same bcrypt check: timing tells no account apart."""
    result = hash_password("s3cret-pass\n")
    assert result.returncode == 0, result.stderr
    users = {"someone@example.com": LocalUser(username="someone@example.com", password_hash=result.stdout.strip())}
    assert bcrypt_cost(result.stdout.strip()) == bcrypt_cost(dummy_hash(users).decode()) == BCRYPT_ROUNDS
    assert bcrypt_cost(dummy_hash(load_users(None)).decode()) == BCRYPT_ROUNDS


@pytest.mark.parametrize("cost", [4, 12])
def test_an_unknown_user_is_checked_at_the_cost_of_the_users_own_hashes(
    cost: int, tmp_path: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hashes made elsewhere, at another cost: an unknown user's check costs the same (the cost is in the hash)."""
    users_file = tmp_path / "users.json"
    hashed = bcrypt.hashpw(b"right-password", bcrypt.gensalt(rounds=cost)).decode()
    users_file.write_text(json.dumps({"users": [{"username": "known@example.com", "password_hash": hashed}]}))
    issuer = LocalIssuer.from_settings(Settings(local_users_file=users_file, local_idp_key_file=key_file))
    checked: list[int] = []
    real_checkpw = bcrypt.checkpw

    def recording_checkpw(password: bytes, hashed_password: bytes) -> bool:
        checked.append(bcrypt_cost(hashed_password.decode()))
        return real_checkpw(password, hashed_password)

    monkeypatch.setattr(bcrypt, "checkpw", recording_checkpw)
    for username in ("known@example.com", "unknown@example.com"):
        with pytest.raises(InvalidCredentials):
            asyncio.run(issuer.password_grant(username=username, password="wrong-password", scope=None))
    assert checked == [cost, cost]
