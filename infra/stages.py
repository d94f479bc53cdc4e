"""One environment of the pipeline: the same API stack a laptop deploys, with that environment's configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import Stage
from constructs import Construct

from infra.config import ApiConfig, BuildConfig
from infra.stacks.api_stack import ApiStack


class ApiStage(Stage):
    """The API stack of one environment; its stack is named `<environment>-<stack_id>`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ApiConfig,
        stack_id: str,
        service_dir: Path,
        bundle_cache_dir: Path,
        build: BuildConfig,
        description: str | None = None,
        smoke_user_secret_arn: str | None = None,
        alarm_event_bus_arn: str | None = None,
        **stage_options: Any,
    ) -> None:
        super().__init__(scope, construct_id, **stage_options)
        self.api_stack = ApiStack(
            self,
            stack_id,
            config=config,
            service_dir=service_dir,
            bundle_cache_dir=bundle_cache_dir,
            build=build,
            description=description,
            smoke_user_secret_arn=smoke_user_secret_arn,
            alarm_event_bus_arn=alarm_event_bus_arn,
        )
