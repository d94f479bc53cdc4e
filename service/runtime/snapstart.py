"""SnapStart: Lambda runs init once, snapshots the environment, and restores that snapshot into every new one.

Whatever init leaves in memory is then shared by all those environments. Init opens no
connection, starts no thread and draws nothing from `random` (tests/service/test_snapstart.py);
what could still be stale is reset through the runtime's hooks, which Lambda runs before it
takes the snapshot and after each restore:

- the shared HTTP client is closed and forgotten, before the snapshot and after each restore,
  so that every environment opens connections of its own (a pooled connection from before the
  snapshot would be one that every restored copy believes it holds);
- so is the identity provider, built on first use, with the caches it keeps by the clock (the
  client secret read from Secrets Manager): the next request builds it afresh;
- after each restore, `random`'s generator is reseeded from the restored machine's entropy,
  where a module imported during init seeded it: otherwise every environment restored from
  one snapshot would draw the same numbers;
- after each restore, the next request's log line and metrics count a cold start.

Both run after each restore as well as before the snapshot because the runtime runs the
before-snapshot hooks last registered first: one a library registered earlier (priming its
connections, say) runs after these, and what it leaves is renewed on restore.

Lambda's managed Python runtimes provide `snapshot_restore_py` (from 3.12 on, the runtimes with
SnapStart); where it is absent (python3.11, a laptop) there is no snapshot and nothing to register.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from service.core.identity import forget_identity_provider

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
    for register in (register_before_snapshot, register_after_restore):
        register(http.reset)
        register(forget_identity_provider, app)
    register_after_restore(reseed_random)
    register_after_restore(app.state.request_log.mark_cold)
    return True
