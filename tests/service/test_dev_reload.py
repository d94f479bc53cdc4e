"""`make dev` reloads: a change to a route under service/ is served without a restart by hand.

The server runs from a copy of the `service` package, so the test edits the copy, never the
repository's own files.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.support import ROOT, running_dev_server

pytestmark = pytest.mark.e2e


def _copy_of_the_service(into: Path) -> Path:
    shutil.copytree(ROOT / "service", into / "service", ignore=shutil.ignore_patterns("__pycache__"))
    return into


def _health(base_url: str) -> object:
    return httpx.get(f"{base_url}/v1/manage/hc", timeout=5).json()


def test_a_changed_route_is_served_after_the_reload(tmp_path: Path) -> None:
    checkout = _copy_of_the_service(tmp_path / "checkout")
    route = checkout / "service" / "api" / "routes" / "manage.py"
    with running_dev_server(tmp_path, reload=True, cwd=checkout) as base_url:
        assert _health(base_url) == {"status": "ok"}
        route.write_text(route.read_text().replace('Health(status="ok")', 'Health(status="edited")'))
        deadline = time.monotonic() + 30
        seen: object = None
        while time.monotonic() < deadline:
            try:
                seen = _health(base_url)
            except httpx.TransportError:
                seen = None  # between the old process stopping and the new one listening
            if seen == {"status": "edited"}:
                break
            time.sleep(0.2)
        assert seen == {"status": "edited"}
    log = (tmp_path / "dev-server.log").read_text()
    assert "Reload: on" in log
    assert "RELOAD=0 turns it off" in log


def _wait_for(base_url: str, status: int) -> httpx.Response | None:
    """The health route's answer once it has `status` (30 s at most); every request answered within 5 s."""
    deadline = time.monotonic() + 30
    seen = None
    while time.monotonic() < deadline:
        try:
            seen = httpx.get(f"{base_url}/v1/manage/hc", timeout=5)
        except httpx.ConnectError:
            seen = None  # between the old process stopping and the new one listening
        if seen is not None and seen.status_code == status:
            break
        time.sleep(0.2)
    return seen


def test_a_change_that_breaks_the_import_is_answered_500_until_fixed(tmp_path: Path) -> None:
    checkout = _copy_of_the_service(tmp_path / "checkout")
    route = checkout / "service" / "api" / "routes" / "manage.py"
    working = route.read_text()
    with running_dev_server(tmp_path, reload=True, cwd=checkout) as base_url:
        route.write_text(working + "\nimport a_module_that_does_not_exist  # noqa\n")

        # An answer, never a hang (httpx.ReadTimeout would fail the test): a 500 that says where to look.
        broken = _wait_for(base_url, 500)
        assert broken is not None
        assert broken.status_code == 500
        assert broken.headers["content-type"] == "application/problem+json"
        assert broken.json()["code"] == "app_not_loaded"
        assert "a_module_that_does_not_exist" not in broken.text  # the cause goes to the terminal, not to clients

        route.write_text(working)
        fixed = _wait_for(base_url, 200)
        assert fixed is not None
        assert fixed.json() == {"status": "ok"}
    log = (tmp_path / "dev-server.log").read_text()
    assert "the app failed to load" in log
    assert "ModuleNotFoundError: No module named 'a_module_that_does_not_exist'" in log


def test_without_reload_the_server_says_so_and_keeps_serving_what_it_loaded(tmp_path: Path) -> None:
    checkout = _copy_of_the_service(tmp_path / "checkout")
    route = checkout / "service" / "api" / "routes" / "manage.py"
    with running_dev_server(tmp_path, reload=False, cwd=checkout) as base_url:
        route.write_text(route.read_text().replace('Health(status="ok")', 'Health(status="edited")'))
        # Longer than uvicorn's reloader takes to notice a change (it polls every 0.25 s).
        time.sleep(2)
        assert _health(base_url) == {"status": "ok"}
    assert "Reload: off" in (tmp_path / "dev-server.log").read_text()


def test_make_dev_reloads_unless_reload_is_0() -> None:
    def dev_command(*variables: str) -> str:
        result = subprocess.run(
            ["make", "-n", "-s", "dev", *variables], cwd=ROOT, capture_output=True, text=True, check=True
        )
        return result.stdout.strip().splitlines()[-1]

    assert dev_command().endswith("--reload")
    assert dev_command("RELOAD=0").endswith("--no-reload")
