"""Fixtures for every test package."""

from __future__ import annotations

import pytest

from service.core.settings import Settings


@pytest.fixture(autouse=True)
def hermetic_settings_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No setting leaks in from the developer's shell: each test says what it configures."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
