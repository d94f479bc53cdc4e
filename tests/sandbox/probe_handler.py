"""A handler around the service's, doing what other code in a function's process may do.

The tests copy it into a copy of the asset as `sandbox_probe.py`, and the template's `Handler`
names `sandbox_probe.handler`, so it runs under the runtime client exactly as the service's
handler does. It is never part of the bundle.

- At init, before the service's module is imported, it runs `asyncio.run(...)`, as user code
  or a library may at start: afterwards the thread has no current event loop.
- `?then=close-loop` closes the current event loop after the service answered, and
  `?then=asyncio-run` runs `asyncio.run(...)` again, as code between invocations may.
- `?probe=imports` answers what the process imported from outside the asset, the runtime
  client and the standard library, and its `sys.path`; `?probe=environment` its environment
  variables; `?probe=event` the event it was given (the gateway's rendering of the
  authorizer's claims, say); `?probe=crash` ends the process,
  `?probe=raise` raises into the runtime, `?probe=huge` answers more than Lambda's 6 MB.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import sysconfig
from typing import Any

asyncio.run(asyncio.sleep(0))

from service.runtime.aws_lambda import handler as service_handler  # noqa: E402 - after the loop is gone

TASK_ROOT = os.environ["LAMBDA_TASK_ROOT"]
RUNTIME_DIR = os.environ["LAMBDA_RUNTIME_DIR"]


def _imports() -> dict[str, Any]:
    paths = sysconfig.get_paths()
    allowed = (TASK_ROOT, RUNTIME_DIR, paths["stdlib"], paths["platstdlib"])
    outside = sorted(
        f"{name}: {module.__file__}"
        for name, module in list(sys.modules.items())
        if getattr(module, "__file__", None) and not str(module.__file__).startswith(allowed)
    )
    # The interpreter always lists its standard library's zip, which need not exist.
    path_outside = [entry for entry in sys.path if os.path.exists(entry) and not entry.startswith(allowed)]
    return {"outside": outside, "path": sys.path, "path_outside": path_outside, "allowed": allowed}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    query = event.get("queryStringParameters") or {}
    probe = query.get("probe")
    if probe == "imports":
        return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(_imports())}
    if probe == "environment":
        return {
            "statusCode": 200,
            "headers": {"content-type": "application/json"},
            "body": json.dumps(dict(os.environ)),
        }
    if probe == "event":
        return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(event)}
    if probe == "crash":
        os._exit(3)
    if probe == "raise":
        raise RuntimeError("the probe raised")
    if probe == "huge":
        return {"statusCode": 200, "body": "x" * (7 * 1024 * 1024)}
    response = service_handler(event, context)
    then = query.get("then")
    if then == "close-loop":
        asyncio.get_event_loop().close()
    elif then == "asyncio-run":
        asyncio.run(asyncio.sleep(0))
    return response
