"""`make dev` and `make sandbox` take the same users file (`USERS_FILE=...`), as docs/recipes.md shows.

Read from make's dry run (`make -n`): the embedded issuer of `make dev` reads it as
`LOCAL_USERS_FILE`, the sandbox's offline issuer as `--users-file`; that each serves its users
is tested where they run (tests/sandbox/test_make_sandbox.py, tests/service/test_local_routes.py).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _commands(*arguments: str) -> str:
    answer = subprocess.run(
        ["make", "-n", *arguments], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    return answer.stdout


def test_make_dev_and_make_sandbox_read_the_same_users_file_from_any_directory() -> None:
    # A relative path, as a person types it: both get the same absolute file.
    given = "users.local.json"
    absolute = str(ROOT / given)

    assert f"LOCAL_USERS_FILE={absolute} " in _commands("dev", f"USERS_FILE={given}")
    assert f"--users-file {absolute}" in _commands("sandbox", f"USERS_FILE={given}")


def test_without_a_users_file_both_serve_the_demo_users() -> None:
    assert "LOCAL_USERS_FILE" not in _commands("dev")
    assert "--users-file" not in _commands("sandbox")
