"""The service behind an HTTP API: one construct owns the function, the gateway and their wiring.

The stage's name, the mapping key and the groups claim are chosen once (in `ApiConfig`) and
handed both to the gateway and to the function's environment; the routes and their access
come from the service itself (`infra/routes.py`), built with that same environment.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

import jsii
from aws_cdk import Acknowledgment, Annotations, Duration, Stack, Validations
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk.aws_apigatewayv2_authorizers import HttpJwtAuthorizer
from aws_cdk.aws_apigatewayv2_integrations import HttpLambdaIntegration
from constructs import Construct

from infra import docs_assets
from infra.checkov import skip_check
from infra.config import ApiConfig, ConfigError
from infra.routes import GatewayRoute, docs_path, gateway_routes, health_path, token_path
from infra.service_settings import service_environment, settings_from_environment
from service.app import create_app
from service.core.access.route_scopes import RouteScopesError
from service.core.settings import IDENTITY_SOURCE
from service.runtime.gateway_paths import ambiguous_custom_domain_paths

HANDLER = "service.runtime.aws_lambda.handler"
ALIAS_NAME = "live"
# The Parameters and Secrets extension's release whose layer ARNs aws-cdk-lib keeps, per region
# and architecture (its region facts); `params_and_secrets_layer_arn` names another.
PARAMS_AND_SECRETS_VERSION = lambda_.ParamsAndSecretsVersions.V1_0_103


# One JSON object per request, from HTTP API's $context variables.
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTime",
    "ip": "$context.identity.sourceIp",
    "httpMethod": "$context.httpMethod",
    "path": "$context.path",
    "routeKey": "$context.routeKey",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integration.latency",
    "integrationStatus": "$context.integration.status",
    "integrationError": "$context.integrationErrorMessage",
    "authorizerError": "$context.authorizer.error",
    "domainName": "$context.domainName",
    # Which API and stage wrote the line: the dimensions of the metrics its metric filters count
    # (infra/constructs/monitoring.py), so that stacks sharing an account never add up.
    "apiId": "$context.apiId",
    "stage": "$context.stage",
}

CORS_ALLOWED_HEADERS = ["authorization", "content-type"]


def python_runtimes() -> dict[str, lambda_.Runtime]:
    """Lambda's Python runtimes as aws-cdk-lib knows them (with their SnapStart support), oldest first."""
    runtimes = [getattr(lambda_.Runtime, name) for name in dir(lambda_.Runtime) if name.startswith("PYTHON_3_")]
    runtimes.sort(key=lambda runtime: tuple(int(part) for part in runtime.name.removeprefix("python").split(".")))
    return {runtime.name: runtime for runtime in runtimes}


def python_runtime(name: str) -> lambda_.Runtime:
    runtime = python_runtimes().get(name)
    if runtime is None:
        raise ConfigError(f"runtime: {name} is not a Lambda runtime this aws-cdk-lib knows")
    return runtime


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogSettings:
    def __init__(self, log_group: logs.ILogGroup) -> None:
        self._destination = apigwv2.LogGroupLogDestination(log_group)

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat:
        return apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS, separators=(",", ":")))


def function_environment(config: ApiConfig, *, docs_assets_integrity: Mapping[str, str] | None) -> dict[str, str]:
    """The function's environment from the deployment's configuration (the OpenAPI document is built from it too)."""
    environment = service_environment(
        stage_name=config.stage_name,
        # Where the authorizer reads the token (a single request header): the function reads the
        # verified token's exact claims from the same header (`JWT_IDENTITY_SOURCE`).
        identity_source=IDENTITY_SOURCE,
        mapping_key=config.mapping_key or "",
        groups_claim=config.jwt_groups_claim,
        identity_provider=config.identity_provider,
        jwt_issuer=config.jwt_issuer,
        jwt_audience=config.jwt_audience,
        docs_enabled=config.docs_enabled,
        docs_assets_url=config.docs_assets_url,
        docs_assets_integrity=docs_assets_integrity,
        provider_timeout_seconds=config.provider_timeout_seconds,
        route_scopes=config.route_scopes,
        provider_settings={
            **config.provider_settings,
            # Only the secrets' ARNs: the function reads the values at run time (anyone allowed
            # lambda:GetFunctionConfiguration reads its environment, and every version keeps a copy).
            **config.provider_secret_arns,
            **(
                {"CLIENT_SECRET_CACHE_SECONDS": f"{config.client_secret_cache_seconds:g}"}
                if config.provider_secret_arns
                else {}
            ),
        },
    )
    taken = sorted(config.function_environment.keys() & environment.keys())
    if taken:
        raise ConfigError(f"invalid CDK context: function_environment: {taken[0]} is set from another context key")
    return {**environment, **config.function_environment}


class LambdaApi(Construct):
    """The FastAPI service on Lambda behind an HTTP API with a JWT authorizer."""

    def __init__(self, scope: Construct, construct_id: str, *, config: ApiConfig, code: lambda_.Code) -> None:
        super().__init__(scope, construct_id)
        self.runtime = python_runtime(config.runtime)

        # Chosen once, given to the gateway and to the function's environment alike.
        stage_name = config.stage_name
        mapping_key = config.mapping_key or ""
        identity_source = IDENTITY_SOURCE
        # The header itself, for what sends the token as a caller would (the pre-traffic hook).
        self.identity_header = identity_source.removeprefix("$request.header.")
        self.environment = function_environment(
            config,
            # The exact files the docs pages load, with integrity computed from the pinned packages.
            docs_assets_integrity=docs_assets.fetch() if config.docs_enabled else None,
        )
        # The app the function will build at cold start, built here from the same environment:
        # its OpenAPI document carries the effective scopes (route_scopes included) to the routes.
        try:
            service_app = create_app(settings_from_environment(self.environment))
        except RouteScopesError as error:
            raise ConfigError(
                f"invalid CDK context: route_scopes (stack {Stack.of(self).stack_name}): {'; '.join(error.problems)}"
            ) from None
        self.gateway_routes: tuple[GatewayRoute, ...] = gateway_routes(service_app)
        self.docs_path = docs_path(service_app)
        self.health_path = health_path(service_app)
        self.token_route_key = f"POST {token_path(service_app)}"
        if config.domain_name:
            ambiguity = ambiguous_custom_domain_paths(
                stage_name=stage_name,
                mapping_key=mapping_key,
                route_paths=(route.path for route in self.gateway_routes),
            )
            if ambiguity:
                raise ConfigError(f"invalid CDK context: {ambiguity}")

        self.http_api = apigwv2.HttpApi(
            self,
            "HttpApi",
            # A label for the console (names of HTTP APIs need not be unique), not a physical name.
            api_name=Stack.of(self).stack_name,
            description="The FastAPI service; every route is declared by the service.",
            create_default_stage=False,
            cors_preflight=self._cors(config.cors_allow_origins),
            # Behind a custom domain, the execute-api endpoint would reach the API around the domain and
            # its mapping key (and whatever fronts the domain); `keep_execute_api_endpoint` keeps it.
            disable_execute_api_endpoint=self.serves_only_the_custom_domain(config),
        )
        self.access_log_group = logs.LogGroup(self, "AccessLogs", retention=config.log_retention)
        self.stage = self.http_api.add_stage(
            "Stage",
            stage_name=stage_name,
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(
                rate_limit=config.throttling_rate_limit, burst_limit=config.throttling_burst_limit
            ),
            access_log_settings=_AccessLogSettings(self.access_log_group),
        )
        self.domain: apigwv2.DomainName | None = None
        if config.domain_name and config.certificate_arn:
            self.domain = apigwv2.DomainName(
                self,
                "Domain",
                domain_name=config.domain_name,
                certificate=acm.Certificate.from_certificate_arn(self, "Certificate", config.certificate_arn),
            )
            apigwv2.ApiMapping(
                self,
                "Mapping",
                api=self.http_api,
                domain_name=self.domain,
                stage=self.stage,
                api_mapping_key=mapping_key or None,
            )

        self.function_log_group = logs.LogGroup(self, "FunctionLogs", retention=config.log_retention)
        self.role = iam.Role(
            self,
            "FunctionRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="The FastAPI function: writes its own log group and X-Ray traces, nothing else.",
        )
        self.function_log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            description="The FastAPI service (HTTP API payload 2.0 through Mangum).",
            runtime=self.runtime,
            architecture=lambda_.Architecture.ARM_64 if config.architecture == "arm64" else lambda_.Architecture.X86_64,
            handler=HANDLER,
            code=code,
            memory_size=config.memory_mb,
            timeout=Duration.seconds(config.timeout_seconds),
            role=self.role,
            log_group=self.function_log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            tracing=lambda_.Tracing.ACTIVE,
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if self.runtime.supports_snap_start else None,
            environment=self.environment,
            reserved_concurrent_executions=config.reserved_concurrency,
            params_and_secrets=self._secrets_extension(config),
        )
        self._grant_secret_reads(config)
        self.alias = lambda_.Alias(self, "LiveAlias", alias_name=ALIAS_NAME, version=self.function.current_version)

        self.authorizer = HttpJwtAuthorizer(
            "JwtAuthorizer",
            jwt_issuer=config.jwt_issuer,
            jwt_audience=list(config.jwt_audience),
            identity_source=[identity_source],
        )
        # One invoke permission for the whole API (this API's execute-api ARN, the alias), not one per
        # route: each per-route statement adds about 435 bytes to the function's resource-based policy,
        # which Lambda caps at 20 KB, so about 47 routes was the most a deploy took (aws/aws-cdk issue
        # 19535). It grants nothing more: every route of this API invokes the same alias.
        integration = HttpLambdaIntegration("Service", self.alias, scope_permission_to_route=False)
        self.routes: dict[str, apigwv2.HttpRoute] = {}
        for route in self.gateway_routes:
            (self.routes[route.key],) = self.http_api.add_routes(
                path=route.path,
                methods=[apigwv2.HttpMethod(route.method)],
                integration=integration,
                authorizer=self.authorizer if route.authorized else apigwv2.HttpNoneAuthorizer(),
                authorization_scopes=list(route.scopes) or None,
            )

        self._throttle_the_token_route(config)
        self._acknowledge_design_choices()
        self._acknowledge_checkov_findings(config)

    @staticmethod
    def serves_only_the_custom_domain(config: ApiConfig) -> bool:
        """With a custom domain, the execute-api endpoint is switched off unless the context keeps it."""
        return bool(config.domain_name) and not config.keep_execute_api_endpoint

    def _secrets_extension(self, config: ApiConfig) -> lambda_.ParamsAndSecretsLayerVersion | None:
        """The layer that reads the client secrets for the function, where there are any."""
        if not config.provider_secret_arns:
            return None
        # The service keeps the value for client_secret_cache_seconds itself: one cache, one lifetime,
        # so that a value read again after a refusal is Secrets Manager's, not the extension's copy.
        if config.params_and_secrets_layer_arn:
            return lambda_.ParamsAndSecretsLayerVersion.from_version_arn(
                config.params_and_secrets_layer_arn, cache_enabled=False
            )
        return lambda_.ParamsAndSecretsLayerVersion.from_version(PARAMS_AND_SECRETS_VERSION, cache_enabled=False)

    def _grant_secret_reads(self, config: ApiConfig) -> None:
        """GetSecretValue on exactly the configured secrets; Decrypt on their key where it is the customer's."""
        arns = sorted(set(config.provider_secret_arns.values()))
        if not arns:
            return
        self.role.add_to_policy(iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=arns))
        if config.secrets_kms_key_arn:
            self.role.add_to_policy(
                iam.PolicyStatement(
                    actions=["kms:Decrypt"],
                    resources=[config.secrets_kms_key_arn],
                    # Only for Secrets Manager decrypting a secret on the function's behalf.
                    conditions={
                        "StringEquals": {"kms:ViaService": f"secretsmanager.{Stack.of(self).region}.amazonaws.com"}
                    },
                )
            )

    def _throttle_the_token_route(self, config: ApiConfig) -> None:
        """The token route's own rate and burst, below the stage default the other routes share."""
        stage = self.stage.node.default_child
        assert isinstance(stage, apigwv2.CfnStage)
        stage.route_settings = {
            self.token_route_key: {
                "ThrottlingRateLimit": config.token_throttling_rate_limit,
                "ThrottlingBurstLimit": config.token_throttling_burst_limit,
            }
        }
        # CloudFormation refuses route settings for a route that does not exist yet.
        self.stage.node.add_dependency(self.routes[self.token_route_key])
        # Sign-ins wait for the provider: at its deadline, the token route's rate alone holds this many.
        held = math.ceil(config.token_throttling_rate_limit * config.provider_timeout_seconds)
        if config.reserved_concurrency is not None and held >= config.reserved_concurrency:
            Annotations.of(self.function).add_warning_v2(
                "fastapi-lambda:token-route-can-take-all-concurrency",
                f"With the provider at its deadline ({config.provider_timeout_seconds:g} s), the token route's rate "
                f"({config.token_throttling_rate_limit:g}/s) holds about {held} executions, as many as "
                f"reserved_concurrency ({config.reserved_concurrency}) allows: the other routes would be throttled. "
                "Lower token_throttling_rate_limit or provider_timeout_seconds, or reserve more.",
            )

    def _cors(self, origins: tuple[str, ...]) -> apigwv2.CorsPreflightOptions | None:
        """Preflight answered by the gateway (no OPTIONS route exists) for the methods the routes use."""
        if not origins:
            return None
        methods = sorted({route.method for route in self.gateway_routes} | {"OPTIONS"})
        return apigwv2.CorsPreflightOptions(
            allow_origins=list(origins),
            allow_methods=[apigwv2.CorsHttpMethod(method) for method in methods],
            allow_headers=CORS_ALLOWED_HEADERS,
            max_age=Duration.hours(1),
        )

    def _acknowledge_checkov_findings(self, config: ApiConfig) -> None:
        """checkov's checks that do not fit this function and its logs, each acknowledged with the reason."""
        for log_group, holds in (
            (self.access_log_group, "the HTTP API's access log lines (request ids, paths, statuses, client IPs)"),
            (self.function_log_group, "the service's own log lines, which never carry tokens, passwords or secrets"),
        ):
            skip_check(
                log_group,
                "CKV_AWS_158",
                f"CloudWatch Logs encrypts this log group at rest with its own keys; it holds {holds}, and a "
                "customer-managed KMS key would add a key and a key policy for the logs service per region.",
            )
        skip_check(
            self.function,
            "CKV_AWS_116",
            "The HTTP API invokes this function synchronously and gets every failure back as the answer; "
            "Lambda sends only asynchronous invocations to a dead-letter queue, so one would never receive anything.",
        )
        skip_check(
            self.function,
            "CKV_AWS_117",
            "The function reaches only public endpoints (the identity provider, Secrets Manager through its "
            "extension) and no private resource; inside a VPC it would need a NAT gateway to reach them.",
        )
        skip_check(
            self.function,
            "CKV_AWS_173",
            "The environment holds configuration only: client secrets are named by ARN and read at run time, "
            "and a Firebase Web API key is a public identifier; Lambda encrypts the environment at rest with "
            "its own key.",
        )
        if config.reserved_concurrency is None:
            skip_check(
                self.function,
                "CKV_AWS_115",
                "The reserved_concurrency context key is switched off for this deployment (an account whose "
                "concurrency limit leaves no room to reserve); the gateway's throttles still bound the traffic.",
            )

    def _acknowledge_design_choices(self) -> None:
        """Findings that are the design, each acknowledged on its resource with the reason."""
        policy = self.role.node.find_child("DefaultPolicy")
        Validations.of(policy).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="Active tracing needs xray:PutTraceSegments and xray:PutTelemetryRecords, which support no "
                "resource-level permissions; the policy's other statements name the function's log group.",
            )
        )
        newest = list(python_runtimes())[-1]
        if self.runtime.name != newest:
            Validations.of(self.function).acknowledge(
                Acknowledgment(
                    id="AwsSolutions-L1",
                    reason=f"The runtime is {self.runtime.name} because the `runtime` context key asks for it; "
                    f"the default is the newest, {newest}.",
                )
            )
        if self.runtime.supports_snap_start:
            Annotations.of(self.function).acknowledge_warning(
                "@aws-cdk/aws-lambda:snapStartRequirePublish",
                f"The alias '{ALIAS_NAME}' publishes a version on every change; the API invokes only that alias.",
            )
        for route in self.gateway_routes:
            if not route.authorized:
                Validations.of(self.routes[route.key]).acknowledge(
                    Acknowledgment(
                        id="AwsSolutions-APIG4",
                        reason=f"{route.key} is public by the service's declaration (no Authenticated on the "
                        "route); every protected route has the JWT authorizer.",
                    )
                )
