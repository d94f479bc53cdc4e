"""Fixtures for every test package."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from service.core.settings import Settings
from tests.support_sandbox import running_offline_services, synthesize_sandbox_assembly


@pytest.fixture(autouse=True)
def hermetic_settings_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No setting leaks in from the developer's shell: each test says what it configures."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


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
