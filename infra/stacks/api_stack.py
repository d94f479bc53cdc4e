"""The deployable unit: the service's bundle, the API construct around it, its rollout, and what to print."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import Annotations, CfnOutput, Stack
from constructs import Construct

from infra.bundling import BundleTarget, service_bundle
from infra.bytecode import CompilerSearch, find_bytecode_compiler
from infra.config import ApiConfig, BuildConfig
from infra.constructs.canary_deployment import CanaryDeployment
from infra.constructs.deployment_hooks import DeploymentHooks
from infra.constructs.lambda_api import LambdaApi, python_runtime
from infra.constructs.monitoring import ApiMonitoring
from infra.limits import add_limit_checks

NO_BYTECODE_WARNING = "fastapi-lambda:no-bytecode"

# Firebase project ids starting with `demo-` exist only in the emulator: cdk.json's placeholder.
PLACEHOLDER_ISSUER_PREFIX = "https://securetoken.google.com/demo-"


class ApiStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ApiConfig,
        service_dir: Path,
        bundle_cache_dir: Path,
        build: BuildConfig,
        smoke_user_secret_arn: str | None = None,
        alarm_event_bus_arn: str | None = None,
        **stack_options: Any,
    ) -> None:
        super().__init__(scope, construct_id, **stack_options)
        target = BundleTarget(python_version=config.python_version, architecture=config.architecture)
        search = find_bytecode_compiler(config.python_version, explicit=build.bytecode_python)
        bundle = service_bundle(
            service_dir=service_dir,
            runtime=python_runtime(config.runtime),
            target=target,
            compiler=search.compiler,
            cache_dir=bundle_cache_dir,
        )
        self.api = LambdaApi(self, "Api", config=config, code=bundle.code)
        add_limit_checks(self, max_routes=config.http_api_max_routes)
        self.monitoring = ApiMonitoring(
            self, "Monitoring", api=self.api, config=config, alarm_event_bus_arn=alarm_event_bus_arn
        )
        self.rollout: CanaryDeployment | None = None
        self.hooks: DeploymentHooks | None = None
        custom_domain_url = f"https://{config.domain_name}/{config.mapping_key + '/' if config.mapping_key else ''}"
        # With the execute-api endpoint disabled, the custom domain is the only way in (the pipeline's
        # health check included).
        api_url = custom_domain_url.rstrip("/") if LambdaApi.serves_only_the_custom_domain(config) else None
        if config.canary:
            self.hooks = DeploymentHooks(
                self,
                "DeploymentHooks",
                api=self.api,
                config=config,
                api_url=api_url or self.api.stage.url,
                cache_dir=bundle_cache_dir,
                smoke_user_secret_arn=smoke_user_secret_arn,
            )
            self.rollout = CanaryDeployment(
                self,
                "Rollout",
                alias=self.api.alias,
                stage=self.api.stage,
                pre_hook=self.hooks.pre_traffic.function,
                post_hook=self.hooks.post_traffic.function,
            )

        if search.compiler is None:
            message = no_bytecode_message(search, runtime=config.runtime)
            if build.require_bytecode:
                Annotations.of(self.api.function).add_error(f"{message} (require_bytecode is set)")
            else:
                Annotations.of(self.api.function).add_warning_v2(NO_BYTECODE_WARNING, message)
        if config.jwt_issuer.startswith(PLACEHOLDER_ISSUER_PREFIX):
            Annotations.of(self).add_warning_v2(
                "fastapi-lambda:placeholder-identity",
                "jwt_issuer is cdk.json's placeholder Firebase demo project: set identity_provider, jwt_issuer, "
                "jwt_audience and the provider's settings (docs/deploying.md) before deploying.",
            )

        self.api_url_output = CfnOutput(
            self,
            "ApiUrl",
            value=api_url or self.api.stage.url,
            description="The API's base URL, the custom domain's where the execute-api endpoint is disabled",
        )
        if self.api.docs_path:
            CfnOutput(
                self,
                "DocsUrl",
                value=(api_url or self.api.stage.url) + self.api.docs_path,
                description="Swagger UI",
            )
        if self.api.domain is not None:
            CfnOutput(
                self,
                "CustomDomainUrl",
                value=custom_domain_url,
                description="The API's base URL on the custom domain",
            )
            CfnOutput(
                self,
                "CustomDomainTarget",
                value=self.api.domain.regional_domain_name,
                description="Point the custom domain's DNS record (CNAME or alias) here",
            )
        CfnOutput(
            self,
            "FunctionName",
            value=self.api.function.function_name,
            description="The function: aws lambda get-function --function-name <this>",
        )
        CfnOutput(
            self,
            "FunctionLogGroup",
            value=self.api.function_log_group.log_group_name,
            description="The function's logs: aws logs tail <this> --follow",
        )
        CfnOutput(
            self,
            "AccessLogGroup",
            value=self.api.access_log_group.log_group_name,
            description="The HTTP API's access log, a line a request: aws logs tail <this> --follow",
        )
        CfnOutput(self, "AliasName", value=self.api.alias.alias_name, description="The alias the API invokes")
        CfnOutput(
            self,
            "DashboardUrl",
            value=self.monitoring.dashboard_url,
            description="The stage's dashboard: every route's requests, errors and latency (docs/operations.md)",
        )
        CfnOutput(
            self,
            "AlarmTopicArn",
            value=self.monitoring.topic.topic_arn,
            description="Where the standing alarms notify: aws sns subscribe --topic-arn <this> --protocol email ...",
        )
        if self.rollout is not None:
            group = self.rollout.deployment_group
            CfnOutput(self, "DeploymentApplication", value=group.application.application_name)
            CfnOutput(
                self,
                "DeploymentGroupName",
                value=group.deployment_group_name,
                description="CodeDeploy's canary on the alias: aws deploy list-deployments, stop-deployment",
            )
        if self.hooks is not None:
            for name, hook in (
                ("PreTrafficHookLogGroup", self.hooks.pre_traffic),
                ("PostTrafficHookLogGroup", self.hooks.post_traffic),
            ):
                CfnOutput(
                    self,
                    name,
                    value=hook.log_group.log_group_name,
                    description="A failed deployment's hook names the failing check here: aws logs tail <this>",
                )


def no_bytecode_message(search: CompilerSearch, *, runtime: str) -> str:
    """What a synth without an interpreter of the runtime's version says, and the command that fixes it."""
    return (
        f"The bundle ships WITHOUT BYTECODE: no Python {search.python_version} was found to compile it for "
        f"{runtime} ({'; '.join(search.attempts)}). Every cold start then compiles the framework from source, "
        f"more than twice the init (and Lambda bills init). Fix: {search.fix()}, then synth again."
    )
