"""The smoke test's user, as its secret holds it: read by the smoke script and by the pre-traffic hook.

Standard library only, so the pre-traffic hook's asset, which carries no HTTP client, can hold
this module without the rest of the smoke package.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TestUser:
    """The test user's credentials, and the groups the identity provider gives it (none when left out)."""

    __test__ = False  # not a pytest class, whatever its name

    username: str
    password: str = field(repr=False)
    groups: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, text: str) -> TestUser:
        """`{"username": ..., "password": ..., "groups": [...]}`, the secret's shape; groups optional."""
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            raise ValueError("is not JSON") from None
        if not isinstance(value, dict):
            raise ValueError('must be an object {"username": ..., "password": ...}')
        username, password, groups = value.get("username"), value.get("password"), value.get("groups", [])
        if not isinstance(username, str) or not username or not isinstance(password, str) or not password:
            raise ValueError("needs a non-empty username and password")
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise ValueError("groups, where given, must be a list of names")
        return cls(username=username, password=password, groups=tuple(groups))
