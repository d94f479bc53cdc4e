"""Fixtures for every test package."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from service.core.access.declaration import KNOWN_SCOPES, RouteAccess
from service.core.settings import Settings
from tests.declared import (
    SCOPE,
    THROWAWAY_SCOPE,
    a_scoped_route,
    serve_throwaways,
)
from tests.support_sandbox import (
    RunningSandbox,
    ServedCopy,
    changed_assembly,
    running_offline_services,
    running_sandbox,
    synthesize_sandbox_assembly,
)


@pytest.fixture(autouse=True)
def hermetic_settings_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No setting leaks in from the developer's shell: each test says what it configures."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
def scoped(monkeypatch: pytest.MonkeyPatch) -> RouteAccess:
    """A scoped GET route the apps this test builds serve: the app's own, else the throwaway, added for the test.

    Ask for it before the fixtures that build an app (`client`...): they include the routers then.
    """
    serve_throwaways(monkeypatch)
    return a_scoped_route()


@pytest.fixture
def throwaways(monkeypatch: pytest.MonkeyPatch) -> None:
    """The apps this test builds serve a route of each kind tests/declared.py gives (`a_token_only_route()`...).

    The app's own where it has one, else the throwaways, added for the test. Ask for it before
    the fixtures that build an app.
    """
    serve_throwaways(monkeypatch)


@pytest.fixture
def declared_scope(monkeypatch: pytest.MonkeyPatch) -> str:
    """A scope the app declares, else the throwaway's, declared (KNOWN_SCOPES) for the test.

    Ask for it before the fixtures that build an app: the demo admin is granted the declared scopes then.
    """
    if SCOPE is None:
        monkeypatch.setitem(KNOWN_SCOPES, THROWAWAY_SCOPE, "The throwaway scope a test declares")
        return THROWAWAY_SCOPE
    return SCOPE


@pytest.fixture(scope="session")
def offline_services_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the offline services keep their signing key (`OFFLINE_KEY_FILE`) and log."""
    return tmp_path_factory.mktemp("offline-services")


@pytest.fixture(scope="session")
def offline_services(offline_services_dir: Path) -> Iterator[str]:
    """The sandbox's offline identity provider and docs assets, for the whole session (the template names them)."""
    with running_offline_services(offline_services_dir) as base_url:
        yield base_url


@pytest.fixture(scope="session")
def sandbox_assembly(tmp_path_factory: pytest.TempPathFactory, offline_services: str) -> Path:
    """The app synthesized once, by the pinned CLI, as `make sandbox` synthesizes it (with a custom domain too)."""
    return synthesize_sandbox_assembly(tmp_path_factory.mktemp("sandbox") / "cdk.out", offline_url=offline_services)


@pytest.fixture
def served_copy(sandbox_assembly: Path, offline_services: str, tmp_path: Path) -> Iterator[ServedCopy]:
    """Serve a copy of the assembly with its template changed; stopped after the test."""
    with ExitStack() as running:

        def serve(change: Callable[[dict[str, Any]], None]) -> RunningSandbox:
            # Each copy in a directory of its own: a test may serve two.
            workdir = tmp_path / f"copy-{len(list(tmp_path.glob('copy-*')))}"
            workdir.mkdir()
            assembly = changed_assembly(sandbox_assembly, workdir / "cdk.out", change)
            return running.enter_context(running_sandbox(assembly, workdir, offline_url=offline_services))

        yield serve
