#!/usr/bin/env python3
"""The CDK app: the only place that reads context (cdk.json, `cdk synth -c key=value`)."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import App

from infra.config import ApiConfig
from infra.nag import add_nag_checks
from infra.stacks.api_stack import ApiStack

ROOT = Path(__file__).resolve().parent
STACK_NAME = "FastApiLambda"


def build(app: App) -> ApiStack:
    """The app's stack, configured from the app's context, with the nag checks attached."""
    context = {name: app.node.try_get_context(name) for name in ApiConfig.model_fields}
    config = ApiConfig.from_context({name: value for name, value in context.items() if value is not None})
    stack = ApiStack(
        app,
        STACK_NAME,
        config=config,
        service_dir=ROOT / "service",
        bundle_cache_dir=ROOT / ".cache" / "lambda-bundle",
        description="FastAPI on AWS Lambda behind an HTTP API with a JWT authorizer",
    )
    add_nag_checks(app)
    return stack


def main() -> None:
    app = App()
    build(app)
    app.synth()


if __name__ == "__main__":
    main()
