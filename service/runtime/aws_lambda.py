"""The Lambda entry point: `service.runtime.aws_lambda.handler`.

Importing this module is the cold start: settings are read and validated, the app is built,
once per execution environment. Each invocation then costs Mangum's translation and the
route itself.
"""

from __future__ import annotations

from service.core.settings import Runtime, SettingsError, load_settings
from service.runtime.lambda_adapter import build_handler

settings = load_settings()
if settings.runtime is not Runtime.LAMBDA:
    # Anything else would make the app verify tokens itself instead of trusting the gateway.
    raise SettingsError("RUNTIME: must be LAMBDA for the Lambda handler")

handler = build_handler(settings)
