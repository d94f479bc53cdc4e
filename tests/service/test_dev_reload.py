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
