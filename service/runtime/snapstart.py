"""SnapStart: Lambda runs init once, snapshots the environment, and restores that snapshot into every new one.

Whatever init leaves in memory is then shared by all those environments. Init opens no
connection, starts no thread and draws nothing from `random` (tests/service/test_snapstart.py);
what could still be stale is reset through the runtime's hooks, which Lambda runs before it
takes the snapshot and after each restore:

- the shared HTTP client is closed and forgotten, before the snapshot and after each restore,
  so that every environment opens connections of its own (a pooled connection from before the
  snapshot would be one that every restored copy believes it holds);
- after each restore, `random`'s generator is reseeded from the restored machine's entropy,
  where a module imported during init seeded it: otherwise every environment restored from
  one snapshot would draw the same numbers.

Lambda's managed Python runtimes provide `snapshot_restore_py` (from 3.12 on, the runtimes with
SnapStart); where it is absent (python3.11, a laptop) there is no snapshot and nothing to register.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI


def reseed_random() -> None:
    """A fresh seed for `random`'s shared generator, if anything imported the module."""
    random = sys.modules.get("random")
    if random is not None:
        random.seed()


def register_snapshot_hooks(app: FastAPI) -> bool:
    """Register what `app` must renew around a snapshot; False where the runtime has no snapshots."""
    try:
        from snapshot_restore_py import register_after_restore, register_before_snapshot
    except ImportError:
        return False
    http = app.state.http
    register_before_snapshot(http.reset)
    register_after_restore(http.reset)
    register_after_restore(reseed_random)
    return True
