"""Helpers shared by every test package."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

EVENTS_DIR = Path(__file__).parent / "events"


def load_event(name: str) -> dict[str, Any]:
    """A Lambda event kept as a JSON fixture under tests/events/."""
    event: dict[str, Any] = json.loads((EVENTS_DIR / name).read_text())
    return event


def free_port() -> int:
    """A free TCP port on loopback, for a server a test starts."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
