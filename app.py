#!/usr/bin/env python3
"""The CDK app: the only place that reads context (cdk.json, `cdk synth -c key=value`)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import App, Environment, cx_api

from infra.bundling import LocalBundling
from infra.config import ApiConfig, AppConfig, BuildConfig, ConfigError, PipelineConfig, check_context_keys
from infra.limits import LimitExceeded, check_assembly
from infra.nag import add_nag_checks
from infra.service_settings import ServiceSettingsError
from infra.stacks.api_stack import ApiStack
from infra.stacks.pipeline_stack import PipelineStack

ROOT = Path(__file__).resolve().parent
DESCRIPTION = "FastAPI on AWS Lambda behind an HTTP API with a JWT authorizer"
NO_PIPELINE = (
    "No pipeline: set github_repository, github_branch and codestar_connection_arn to add one (docs/pipeline.md)."
)


@dataclass(frozen=True)
class Stacks:
    api: ApiStack  # the stack a laptop deploys
    pipeline: PipelineStack | None  # deploys its own copies of the API stack, one per environment


def build(app: App) -> Stacks:
    """The app's stacks, configured from the app's context, with the nag checks attached."""
    check_context_keys(app.node.get_all_context(), CONTEXT_KEYS)
    names = AppConfig.from_context(_context(app, AppConfig.model_fields))
    api_context = _context(app, ApiConfig.model_fields)
    build_config = BuildConfig.from_context(_context(app, BuildConfig.model_fields))
    api = ApiStack(
        app,
        names.stack_name,
        config=ApiConfig.from_context(api_context),
        service_dir=ROOT / "service",
        bundle_cache_dir=ROOT / ".cache" / "lambda-bundle",
        build=build_config,
        description=DESCRIPTION,
    )

    pipeline_context = _context(app, PipelineConfig.model_fields)
    pipeline_config = PipelineConfig.from_context(pipeline_context, api_context=api_context)
    pipeline = None
    if pipeline_config is None:
        print(NO_PIPELINE, file=sys.stderr)
    else:
        pipeline = PipelineStack(
            app,
            names.pipeline_stack_name,
            config=pipeline_config,
            synth_context=_given_on_the_command_line(pipeline_context),
            cli_version=_pinned_cdk_cli(),
            api_stack_id=names.stack_name,
            api_description=DESCRIPTION,
            service_dir=ROOT / "service",
            bundle_cache_dir=ROOT / ".cache" / "lambda-bundle",
            build=build_config,
            env=Environment(account=pipeline_config.account, region=pipeline_config.region),
            description="Tests every push and deploys the FastAPI service to each environment in turn",
        )
    add_nag_checks(app)
    return Stacks(api=api, pipeline=pipeline)


# Every key the app reads; any other (but the CDK's own) is a mistake.
CONTEXT_KEYS = frozenset(
    [*AppConfig.model_fields, *ApiConfig.model_fields, *BuildConfig.model_fields, *PipelineConfig.model_fields]
)


def _context(app: App, names: Iterable[str]) -> dict[str, Any]:
    return {name: value for name in names if (value := app.node.try_get_context(name)) is not None}


def _given_on_the_command_line(context: dict[str, Any]) -> dict[str, str]:
    """The pipeline's settings that differ from cdk.json's, as `-c` strings for the pipeline's own synth.

    Those in cdk.json follow the repository; those given with `-c` when deploying the pipeline
    stay with it until it is deployed again with others.
    """
    committed = json.loads((ROOT / "cdk.json").read_text())["context"]
    given = {}
    for name, value in context.items():
        if name != "environments" and value != committed.get(name):
            if isinstance(value, Mapping):  # route_scopes and its kin, as `-c` takes them: JSON text
                given[name] = json.dumps(value, separators=(",", ":"))
            else:
                given[name] = ",".join(value) if isinstance(value, list | tuple) else str(value)
    return given


def _pinned_cdk_cli() -> str:
    """The CDK CLI version package.json pins: the pipeline's self-mutation and asset steps use the same."""
    version: str = json.loads((ROOT / "package.json").read_text())["devDependencies"]["aws-cdk"]
    return version


def synth(app: App) -> cx_api.CloudAssembly:
    """The cloud assembly, refused with one line per limit a template or a function's environment exceeds.

    Those two are read from the rendered templates; every other limit is checked on the stack
    itself, by `app.synth()`'s validation (`infra/limits.py`).
    """
    assembly = app.synth()
    check_assembly(assembly)
    return assembly


def main() -> None:
    app = App()
    try:
        build(app)
        synth(app)
    except (ConfigError, ServiceSettingsError, LimitExceeded) as error:
        # One line, no traceback: the message names the key or the limit, and what it accepts.
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    except RuntimeError:
        # A bundle that failed inside CDK's hook (jsii's RuntimeError): its own message, no traceback.
        if LocalBundling.failure is None:
            raise
        print(f"error: {LocalBundling.failure}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
