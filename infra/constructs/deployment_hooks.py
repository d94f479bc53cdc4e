"""CodeDeploy's lifecycle hooks on the alias: two small functions, each with its own asset, role and log group.

`BeforeAllowTraffic` (the pre hook, `hooks/pre_traffic.py`) invokes the new version directly
before any traffic shifts; `AfterAllowTraffic` (the post hook, `hooks/post_traffic.py`) runs
the smoke script through the stage's real gateway URL after the shift. Either one's `Failed`
(or silence) makes CodeDeploy point the alias back at the previous version; the stack update
fails and the pipeline stops there. Their configuration is set at synth from the same values
the gateway and the function get (the stage, the authorizer's identity source, the groups
claim, the docs switch), and the pre hook's target is the very version this synth publishes.

Each role may do only this: write its own log group, report its own lifecycle status (the
deployment group's grant, `CanaryDeployment`), invoke this function's new version (the pre
hook), and read exactly the smoke user's secret where one is configured.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path

from aws_cdk import Acknowledgment, Annotations, AssetHashType, Duration, Stack, Token, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.checkov import skip_check
from infra.config import ApiConfig
from infra.constructs.lambda_api import LambdaApi, python_runtimes
from infra.hook_assets import POST_TRAFFIC, PRE_TRAFFIC, HookAsset, build_hook_asset
from smoke.checks import ADMIN_PATH, HEALTH_PATH, OPENAPI_PATH, TOKEN_PATH, WHOAMI_PATH, Options

# The pre hook: a cold start (init up to 10 s), a handful of invocations, the token route twice
# at most at the provider's deadline. The post hook: the smoke script's 60 s deadline. Each
# keeps 12 s of its own for the status report (hooks/lifecycle.py).
PRE_TRAFFIC_TIMEOUT = Duration.seconds(90)
POST_TRAFFIC_TIMEOUT = Duration.seconds(90)
HOOK_MEMORY_MB = 256
# The group the admin route requires, as the smoke script expects it (its --admin-group default).
ADMIN_GROUP = Options.admin_group


def hook_environment(*, groups_claim: str, docs_enabled: bool, smoke_user_secret_arn: str | None) -> dict[str, str]:
    """What both hooks read: the groups claim, the admin group, the docs switch, the smoke user's secret (by ARN)."""
    return {
        "GROUPS_CLAIM": groups_claim,
        "ADMIN_GROUP": ADMIN_GROUP,
        "DOCS_ENABLED": "true" if docs_enabled else "false",
        **({"SMOKE_USER_SECRET_ARN": smoke_user_secret_arn} if smoke_user_secret_arn else {}),
    }


def pre_traffic_environment(
    *,
    target: str,
    target_timeout_seconds: float,
    stage_name: str,
    api_domain: str,
    identity_header: str,
    scoped_route_keys: Collection[str],
) -> dict[str, str]:
    """The pre hook's own: the version it invokes, and how the gateway would call it (hooks/pre_traffic.py).

    The routes are the smoke script's (smoke/checks.py, the product's documented paths, which its
    tests hold to the app's declarations), each with whether the gateway passes the token's scopes.
    """
    routes = {
        name: {"method": method, "path": path, "scoped": f"{method} {path}" in scoped_route_keys}
        for name, method, path in (
            ("health", "GET", HEALTH_PATH),
            ("openapi", "GET", OPENAPI_PATH),
            ("token", "POST", TOKEN_PATH),
            ("whoami", "GET", WHOAMI_PATH),
            ("admin", "GET", ADMIN_PATH),
        )
    }
    return {
        "TARGET_FUNCTION_ARN": target,
        "TARGET_TIMEOUT_SECONDS": f"{target_timeout_seconds:g}",
        "STAGE_NAME": stage_name,
        "API_DOMAIN": api_domain,
        "IDENTITY_HEADER": identity_header,
        "CHECKED_ROUTES": json.dumps(routes, separators=(",", ":")),
    }


class HookFunction(Construct):
    """One hook: its function, its own role and log group, nothing else."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        asset: HookAsset,
        api: LambdaApi,
        config: ApiConfig,
        cache_dir: Path,
        description: str,
        timeout: Duration,
        environment: dict[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        directory, asset_hash = build_hook_asset(
            asset, python_version=config.python_version, architecture=config.architecture, cache_dir=cache_dir
        )
        self.log_group = logs.LogGroup(self, "Logs", retention=config.log_retention)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{description}: writes its own log group and reports its own lifecycle status.",
        )
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            description=description,
            runtime=api.runtime,
            architecture=api.function.architecture,
            handler=asset.handler,
            code=lambda_.Code.from_asset(str(directory), asset_hash=asset_hash, asset_hash_type=AssetHashType.CUSTOM),
            memory_size=HOOK_MEMORY_MB,
            timeout=timeout,
            role=self.role,
            log_group=self.log_group,
            environment=environment,
            # Run once per lifecycle event: a crashed hook re-run by Lambda could report on a
            # deployment whose checks already failed (a hook that never reports fails it anyway).
            retry_attempts=0,
        )
        self._acknowledge(asset, api)

    def _acknowledge(self, asset: HookAsset, api: LambdaApi) -> None:
        newest = list(python_runtimes())[-1]
        if api.runtime.name != newest:
            Validations.of(self.function).acknowledge(
                Acknowledgment(
                    id="AwsSolutions-L1",
                    reason=f"The hook runs the service's runtime ({api.runtime.name}, the `runtime` context key), "
                    "so its checks run on the Python the service runs on.",
                )
            )
        skip_check(
            self.log_group,
            "CKV_AWS_158",
            f"CloudWatch Logs encrypts this log group at rest with its own keys; it holds the {asset.name} hook's "
            "check lines, which never carry a password or a token.",
        )
        skip_check(
            self.function,
            "CKV_AWS_116",
            "CodeDeploy invokes the hook once per lifecycle event and waits for its status report; a hook that "
            "fails without reporting fails the deployment, so a dead-letter queue would add nothing.",
        )
        skip_check(
            self.function,
            "CKV_AWS_117",
            "The hook reaches only public endpoints (Lambda's, CodeDeploy's and Secrets Manager's APIs, the "
            "API's public URL); inside a VPC it would need a NAT gateway to reach them.",
        )
        skip_check(
            self.function,
            "CKV_AWS_173",
            "The environment holds configuration only (the version's ARN, the stage, the secret's ARN, never "
            "its value); Lambda encrypts it at rest with its own key.",
        )
        skip_check(
            self.function,
            "CKV_AWS_115",
            "Only CodeDeploy invokes the hook, once per lifecycle event of a deployment, one deployment at a "
            "time per group: reserving concurrency would take executions from the account for nothing.",
        )


class DeploymentHooks(Construct):
    """The pre-traffic and post-traffic hooks of the alias's canary."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        api: LambdaApi,
        config: ApiConfig,
        api_url: str,
        cache_dir: Path,
        smoke_user_secret_arn: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.smoke_user_secret_arn = smoke_user_secret_arn
        new_version = api.function.current_version
        stack = Stack.of(self)
        shared = hook_environment(
            groups_claim=config.jwt_groups_claim,
            docs_enabled=config.docs_enabled,
            smoke_user_secret_arn=smoke_user_secret_arn,
        )
        self.pre_traffic = HookFunction(
            self,
            "PreTraffic",
            asset=PRE_TRAFFIC,
            api=api,
            config=config,
            cache_dir=cache_dir,
            description="CodeDeploy BeforeAllowTraffic: the new version answers health, docs, sign-in, whoami, admin",
            timeout=PRE_TRAFFIC_TIMEOUT,
            environment={
                **shared,
                **pre_traffic_environment(
                    target=new_version.function_arn,
                    target_timeout_seconds=config.timeout_seconds,
                    stage_name=config.stage_name,
                    api_domain=f"{api.http_api.api_id}.execute-api.{stack.region}.{stack.url_suffix}",
                    identity_header=api.identity_header,
                    scoped_route_keys={route.key for route in api.gateway_routes if route.scopes},
                ),
            },
        )
        # This synth's version only: the role cannot invoke the alias, $LATEST or another version.
        self.pre_traffic.role.add_to_policy(
            iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[new_version.function_arn])
        )
        self.post_traffic = HookFunction(
            self,
            "PostTraffic",
            asset=POST_TRAFFIC,
            api=api,
            config=config,
            cache_dir=cache_dir,
            description="CodeDeploy AfterAllowTraffic: the smoke script through the stage's gateway URL",
            timeout=POST_TRAFFIC_TIMEOUT,
            environment={**shared, "API_URL": api_url},
        )
        if smoke_user_secret_arn:
            self._warn_if_in_another_account(smoke_user_secret_arn)
            for hook in (self.pre_traffic, self.post_traffic):
                hook.role.add_to_policy(
                    iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=[smoke_user_secret_arn])
                )
        # CodeDeploy invokes the hooks as soon as CloudFormation hands it the alias's update: by
        # then each must already run this synth's code, target and permissions, or the pre hook
        # would check the version the alias is leaving.
        api.alias.node.add_dependency(self)

    def _warn_if_in_another_account(self, secret_arn: str) -> None:
        """The hooks run in the environment's account and region; the smoke step's secret may live elsewhere."""
        _, _, _, region, account, *_ = secret_arn.split(":")
        stack = Stack.of(self)
        here = {"account": stack.account, "region": stack.region}
        elsewhere = [
            f"{key} {value}"
            for key, value in (("account", account), ("region", region))
            if not Token.is_unresolved(here[key]) and here[key] != value
        ]
        if elsewhere:
            # AWS Secrets Manager user guide, "Access AWS Secrets Manager secrets from a different account":
            # the secret's resource policy must let the reader in, and it must be encrypted with a
            # customer-managed key the reader may use (the default aws/secretsmanager key cannot be shared).
            Annotations.of(self).add_warning_v2(
                "fastapi-lambda:hook-secret-elsewhere",
                f"The deployment hooks' test user secret is in {' and '.join(elsewhere)}, not this environment's: "
                "the hooks cannot read it there and would fail every deployment. Set this environment's "
                "hook_user_secret_arn to a copy in its own account and region (docs/pipeline.md, Deployment hooks).",
            )

    @property
    def hooks(self) -> tuple[HookFunction, HookFunction]:
        return self.pre_traffic, self.post_traffic
