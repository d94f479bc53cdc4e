"""The Lambda entry point: `service.runtime.aws_lambda.handler`.

Importing this module is the cold start: settings are read and validated, the app is built,
once per execution environment (with SnapStart, once per published version: its snapshot is
restored into each environment, `service/runtime/snapstart.py`). Each invocation then costs
Mangum's translation and the route itself.
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from service.runtime.lambda_adapter import LambdaHandler


def _cold_start() -> LambdaHandler:
    # The cold start creates some 100k objects that live as long as the process (the
    # framework's modules, the app) and next to no garbage, yet it is enough to trigger a
    # full collection that walks all of them: tens of milliseconds that free nothing. So no
    # collection runs during it, and what it built is then frozen out of every later one,
    # which also keeps the collections of warm invocations small.
    collecting = gc.isenabled()
    gc.disable()
    try:
        from service.app import create_app
        from service.core.settings import Runtime, SettingsError, load_settings
        from service.runtime.lambda_adapter import build_handler
        from service.runtime.snapstart import register_snapshot_hooks

        settings = load_settings()
        if settings.runtime is not Runtime.LAMBDA:
            # Anything else would make the app verify tokens itself instead of trusting the gateway.
            raise SettingsError("RUNTIME: must be LAMBDA for the Lambda handler")
        app = create_app(settings)
        handler = build_handler(settings, app=app)
        register_snapshot_hooks(app)
        gc.freeze()
        return handler
    finally:
        if collecting:
            gc.enable()


handler = _cold_start()
