"""What the sandbox serves, read from a cloud assembly (`cdk.out`) and from nothing else.

The stack's template says what API Gateway and Lambda would build: the HTTP API's routes
(route key, authorization type, scopes), its JWT authorizer (issuer, audiences, identity
source), its stage (name, throttling, access log format), CORS, a custom domain with its API
mapping, and the function behind each route's integration (handler, runtime, architecture,
timeout, memory, environment, logging). The function's code is the bundled asset the
template's metadata points at. References are followed as CloudFormation would resolve them
(`Ref` to a logical ID); a value known only at deploy time stops the sandbox with its name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_STAGE = "$default"
# API Gateway gives an HTTP API integration at most 30 s.
# docs/aws-facts.md, row "Integration timeout"
MAX_INTEGRATION_TIMEOUT_SECONDS = 30.0
# CloudFormation's defaults for what a function's properties leave out.
DEFAULT_FUNCTION_TIMEOUT_SECONDS = 3
DEFAULT_FUNCTION_MEMORY_MB = 128

_HTTP_API = "AWS::ApiGatewayV2::Api"
_STAGE = "AWS::ApiGatewayV2::Stage"
_ROUTE = "AWS::ApiGatewayV2::Route"
_INTEGRATION = "AWS::ApiGatewayV2::Integration"
_AUTHORIZER = "AWS::ApiGatewayV2::Authorizer"
_DOMAIN_NAME = "AWS::ApiGatewayV2::DomainName"
_API_MAPPING = "AWS::ApiGatewayV2::ApiMapping"
_FUNCTION = "AWS::Lambda::Function"
_ALIAS = "AWS::Lambda::Alias"
_VERSION = "AWS::Lambda::Version"

_HEADER_SOURCE = re.compile(r"\$request\.header\.(?P<name>[A-Za-z0-9!#$%&'*+.^_`|~-]+)")


class AssemblyError(Exception):
    """The cloud assembly cannot be served; the message says what and where."""


@dataclass(frozen=True)
class Throttle:
    """A route's throttling: requests per second and burst, None where unlimited."""

    rate_limit: float | None = None
    burst_limit: int | None = None


@dataclass(frozen=True)
class JwtAuthorizer:
    name: str
    issuer: str
    audiences: tuple[str, ...]
    # The request headers that carry the token, lower-cased; every one must be present.
    identity_headers: tuple[str, ...]


@dataclass(frozen=True)
class Function:
    """A Lambda function as the template configures it, with the directory of its code."""

    logical_id: str
    name: str
    handler: str
    runtime: str  # "python3.11"
    architecture: str  # "x86_64" or "arm64"
    timeout_seconds: float
    memory_mb: int
    environment: Mapping[str, str]
    asset_dir: Path
    log_format: str  # "Text" or "JSON"
    application_log_level: str | None
    version: str  # what `AWS_LAMBDA_FUNCTION_VERSION` says: the alias's version, or $LATEST
    qualifier: str | None  # the alias the integration invokes, if any
    # Layers Lambda would unpack under /opt (an extension, say): named here, never run.
    layers: tuple[str, ...] = ()
    # SnapStart on published versions: its init is not bound by the 10 s of an on-demand one.
    snap_start: bool = False

    @property
    def python_version(self) -> str:
        """`3.11` for `python3.11`."""
        return self.runtime.removeprefix("python")


@dataclass(frozen=True)
class Route:
    route_key: str  # "GET /v1/items", "ANY /{proxy+}" or "$default"
    authorizer: JwtAuthorizer | None
    scopes: tuple[str, ...]
    function: Function
    integration_timeout_seconds: float
    throttle: Throttle

    @property
    def method(self) -> str:
        return self.route_key.split(" ", 1)[0] if self.route_key != "$default" else "ANY"

    @property
    def path(self) -> str | None:
        """The path template, or None for the `$default` route."""
        return self.route_key.split(" ", 1)[1] if self.route_key != "$default" else None


@dataclass(frozen=True)
class Cors:
    allow_origins: tuple[str, ...]
    allow_methods: tuple[str, ...]
    allow_headers: tuple[str, ...]
    expose_headers: tuple[str, ...]
    max_age_seconds: int | None
    allow_credentials: bool


@dataclass(frozen=True)
class CustomDomain:
    domain_name: str
    mapping_key: str  # "" for the domain's root


@dataclass(frozen=True)
class HttpApi:
    """One HTTP API with its one stage, as the sandbox serves it."""

    stack_name: str
    template_path: Path
    stage_name: str
    access_log_format: str | None
    routes: tuple[Route, ...]
    cors: Cors | None
    custom_domains: tuple[CustomDomain, ...] = field(default=())
    # DisableExecuteApiEndpoint: only the custom domains reach the API.
    execute_api_endpoint_disabled: bool = False

    @property
    def functions(self) -> tuple[Function, ...]:
        return tuple({route.function.logical_id: route.function for route in self.routes}.values())

    def custom_domain(self, domain_name: str) -> CustomDomain:
        for domain in self.custom_domains:
            if domain.domain_name == domain_name:
                return domain
        known = ", ".join(domain.domain_name for domain in self.custom_domains) or "none"
        raise AssemblyError(f"{domain_name}: not a custom domain of this API (the template maps {known})")


def _ref(value: Any) -> str | None:
    """The logical ID a `{"Ref": id}` or `{"Fn::GetAtt": [id, attribute]}` points at."""
    if isinstance(value, dict) and len(value) == 1:
        if isinstance(value.get("Ref"), str):
            return str(value["Ref"])
        get_att = value.get("Fn::GetAtt")
        if isinstance(get_att, list) and get_att and isinstance(get_att[0], str):
            return get_att[0]
    return None


def _integration_ref(target: Any) -> str | None:
    """The integration a route's `Target` ("integrations/<id>") names."""
    if isinstance(target, dict) and "Fn::Join" in target:
        separator, parts = target["Fn::Join"]
        if separator == "" and len(parts) == 2 and parts[0] == "integrations/":
            return _ref(parts[1])
    return None


class _Template:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise AssemblyError(f"{path}: cannot read the template ({error})") from None
        self.resources: dict[str, dict[str, Any]] = document.get("Resources") or {}

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {name: resource for name, resource in self.resources.items() if resource.get("Type") == resource_type}

    def properties(self, logical_id: str) -> dict[str, Any]:
        properties: dict[str, Any] = self.resources[logical_id].get("Properties") or {}
        return properties

    def resource(self, logical_id: str | None, *expected_types: str, what: str) -> tuple[str, dict[str, Any]]:
        if logical_id is None or logical_id not in self.resources:
            raise AssemblyError(f"{self.path.name}: {what} refers to no resource of the template ({logical_id})")
        resource = self.resources[logical_id]
        if resource.get("Type") not in expected_types:
            raise AssemblyError(
                f"{self.path.name}: {what} is {logical_id}, a {resource.get('Type')}, "
                f"not a {' or '.join(expected_types)}"
            )
        return logical_id, resource


def _stack_templates(assembly_dir: Path) -> dict[str, Path]:
    manifest_path = assembly_dir / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        raise AssemblyError(
            f"{assembly_dir}: not a cloud assembly (no readable manifest.json); run cdk synth"
        ) from None
    stacks = {}
    for name, artifact in (manifest.get("artifacts") or {}).items():
        if artifact.get("type") == "aws:cloudformation:stack":
            stacks[str(artifact.get("displayName") or name)] = assembly_dir / artifact["properties"]["templateFile"]
    return stacks


def load_http_api(assembly_dir: Path, *, stack_name: str | None = None) -> HttpApi:
    """The HTTP API of the assembly's stack (`stack_name`, or the one stack that has an HTTP API)."""
    stacks = _stack_templates(assembly_dir)
    if stack_name is not None:
        if stack_name not in stacks:
            raise AssemblyError(f"{stack_name}: no such stack in {assembly_dir} (it has {', '.join(stacks)})")
        candidates = {stack_name: stacks[stack_name]}
    else:
        candidates = {name: path for name, path in stacks.items() if _Template(path).of_type(_HTTP_API)}
        if len(candidates) != 1:
            found = ", ".join(candidates) or "none"
            raise AssemblyError(f"{assembly_dir}: name the stack to serve; stacks with an HTTP API: {found}")
    [(name, path)] = candidates.items()
    return _read_http_api(_Template(path), stack_name=name, assembly_dir=assembly_dir)


def _read_http_api(template: _Template, *, stack_name: str, assembly_dir: Path) -> HttpApi:
    apis = template.of_type(_HTTP_API)
    if len(apis) != 1:
        raise AssemblyError(f"{template.path.name}: the sandbox serves one HTTP API; the template has {len(apis)}")
    [(api_id, api)] = apis.items()
    api_properties = api.get("Properties") or {}
    if api_properties.get("ProtocolType") != "HTTP":
        raise AssemblyError(f"{template.path.name}: {api_id} is not an HTTP API")

    stages = {
        k: v for k, v in template.of_type(_STAGE).items() if _ref((v.get("Properties") or {}).get("ApiId")) == api_id
    }
    if len(stages) != 1:
        raise AssemblyError(f"{template.path.name}: the sandbox serves one stage; {api_id} has {len(stages)}")
    [(stage_id, stage)] = stages.items()
    stage_properties = stage.get("Properties") or {}
    default_throttle = _throttle(stage_properties.get("DefaultRouteSettings"))
    route_settings = stage_properties.get("RouteSettings") or {}

    functions: dict[str, Function] = {}
    routes = []
    for route in template.of_type(_ROUTE).values():
        properties = route.get("Properties") or {}
        if _ref(properties.get("ApiId")) != api_id:
            continue
        route_key = str(properties["RouteKey"])
        _, integration = template.resource(
            _integration_ref(properties.get("Target")), _INTEGRATION, what=f"the target of route {route_key}"
        )
        integration_properties = integration.get("Properties") or {}
        if (
            integration_properties.get("IntegrationType") != "AWS_PROXY"
            or str(integration_properties.get("PayloadFormatVersion")) != "2.0"
        ):
            raise AssemblyError(
                f"{template.path.name}: route {route_key}: the sandbox plays Lambda proxy integrations with "
                "payload format 2.0 only"
            )
        function = _function_behind(
            template, integration_properties.get("IntegrationUri"), route_key, stack_name, assembly_dir
        )
        function = functions.setdefault(function.logical_id, function)
        timeout_ms = integration_properties.get("TimeoutInMillis")
        integration_timeout = MAX_INTEGRATION_TIMEOUT_SECONDS if timeout_ms is None else float(timeout_ms) / 1000
        routes.append(
            Route(
                route_key=route_key,
                authorizer=_authorizer(template, properties, route_key),
                scopes=tuple(properties.get("AuthorizationScopes") or ()),
                function=function,
                integration_timeout_seconds=min(integration_timeout, MAX_INTEGRATION_TIMEOUT_SECONDS),
                throttle=_throttle(route_settings.get(route_key)) if route_key in route_settings else default_throttle,
            )
        )
    if not routes:
        raise AssemblyError(f"{template.path.name}: {api_id} has no routes")

    access_log = stage_properties.get("AccessLogSettings") or {}
    return HttpApi(
        stack_name=stack_name,
        template_path=template.path,
        stage_name=str(stage_properties.get("StageName", DEFAULT_STAGE)),
        access_log_format=access_log.get("Format") if isinstance(access_log.get("Format"), str) else None,
        routes=tuple(routes),
        cors=_cors(api_properties.get("CorsConfiguration")),
        custom_domains=_custom_domains(
            template, api_id=api_id, stage_id=stage_id, stage_name=str(stage_properties.get("StageName"))
        ),
        execute_api_endpoint_disabled=api_properties.get("DisableExecuteApiEndpoint") is True,
    )


def _throttle(settings: Any) -> Throttle:
    if not isinstance(settings, dict):
        return Throttle()
    rate, burst = settings.get("ThrottlingRateLimit"), settings.get("ThrottlingBurstLimit")
    return Throttle(
        rate_limit=float(rate) if rate is not None else None, burst_limit=int(burst) if burst is not None else None
    )


def _authorizer(template: _Template, route: dict[str, Any], route_key: str) -> JwtAuthorizer | None:
    authorization_type = route.get("AuthorizationType", "NONE")
    if authorization_type == "NONE":
        return None
    if authorization_type != "JWT":
        raise AssemblyError(f"{template.path.name}: route {route_key}: the sandbox plays JWT authorizers only")
    authorizer_id, authorizer = template.resource(
        _ref(route.get("AuthorizerId")), _AUTHORIZER, what=f"the authorizer of route {route_key}"
    )
    properties = authorizer.get("Properties") or {}
    jwt = properties.get("JwtConfiguration") or {}
    issuer = jwt.get("Issuer")
    if not isinstance(issuer, str):
        raise AssemblyError(
            f"{template.path.name}: authorizer {authorizer_id}: its issuer is known only at deploy time"
        )
    headers = []
    for source in properties.get("IdentitySource") or ():
        match = _HEADER_SOURCE.fullmatch(str(source))
        if match is None:
            raise AssemblyError(
                f"{template.path.name}: authorizer {authorizer_id}: identity source {source}: the sandbox reads "
                "tokens from headers ($request.header.<name>) only"
            )
        headers.append(match["name"].lower())
    return JwtAuthorizer(
        name=str(properties.get("Name", authorizer_id)),
        issuer=issuer,
        audiences=tuple(str(audience) for audience in jwt.get("Audience") or ()),
        identity_headers=tuple(headers) or ("authorization",),
    )


def _function_behind(template: _Template, uri: Any, route_key: str, stack_name: str, assembly_dir: Path) -> Function:
    """The function an integration invokes: directly, or through an alias of one of its versions."""
    what = f"the integration of route {route_key}"
    target_id, target = template.resource(_ref(uri), _FUNCTION, _ALIAS, what=what)
    version, qualifier = "$LATEST", None
    if target["Type"] == _ALIAS:
        alias = target.get("Properties") or {}
        qualifier = str(alias.get("Name", target_id))
        # A published version's number is CloudFormation's to give; the first one is 1.
        version_ref = _ref(alias.get("FunctionVersion"))
        version = "1" if version_ref and template.resources.get(version_ref, {}).get("Type") == _VERSION else "$LATEST"
        target_id, target = template.resource(_ref(alias.get("FunctionName")), _FUNCTION, what=f"alias {target_id}")
    return _function(
        template, target_id, version=version, qualifier=qualifier, stack_name=stack_name, assembly_dir=assembly_dir
    )


def _function(
    template: _Template, logical_id: str, *, version: str, qualifier: str | None, stack_name: str, assembly_dir: Path
) -> Function:
    resource = template.resources[logical_id]
    properties = resource.get("Properties") or {}
    where = f"{template.path.name}: function {logical_id}"
    asset_path = (resource.get("Metadata") or {}).get("aws:asset:path")
    if not isinstance(asset_path, str):
        raise AssemblyError(f"{where}: its code is not a bundled asset of the assembly")
    asset_dir = assembly_dir / asset_path
    if not asset_dir.is_dir():
        raise AssemblyError(f"{where}: its asset {asset_dir} is missing; synthesize again")
    environment = {}
    for name, value in ((properties.get("Environment") or {}).get("Variables") or {}).items():
        if not isinstance(value, str) or "{{resolve:" in value:
            raise AssemblyError(
                f"{where}: the variable {name} is resolved by CloudFormation at deploy time (a secret, a reference), "
                "which the sandbox cannot do"
            )
        environment[name] = value
    logging = properties.get("LoggingConfig") or {}
    runtime = properties.get("Runtime")
    handler = properties.get("Handler")
    if not isinstance(runtime, str) or not runtime.startswith("python3.") or not isinstance(handler, str):
        raise AssemblyError(f"{where}: the sandbox runs Python functions (a pythonX.Y runtime and a handler) only")
    name = properties.get("FunctionName")
    return Function(
        logical_id=logical_id,
        # CloudFormation names an unnamed function after its stack and logical ID.
        name=name if isinstance(name, str) else f"{stack_name}-{logical_id}",
        handler=handler,
        runtime=runtime,
        architecture=str((properties.get("Architectures") or ["x86_64"])[0]),
        timeout_seconds=float(properties.get("Timeout", DEFAULT_FUNCTION_TIMEOUT_SECONDS)),
        memory_mb=int(properties.get("MemorySize", DEFAULT_FUNCTION_MEMORY_MB)),
        environment=environment,
        asset_dir=asset_dir,
        log_format=str(logging.get("LogFormat", "Text")),
        application_log_level=logging.get("ApplicationLogLevel") if logging.get("LogFormat") == "JSON" else None,
        version=version,
        qualifier=qualifier,
        layers=tuple(
            layer if isinstance(layer, str) else "a layer named at deploy time"
            for layer in properties.get("Layers") or ()
        ),
        snap_start=(properties.get("SnapStart") or {}).get("ApplyOn") == "PublishedVersions",
    )


def _cors(configuration: Any) -> Cors | None:
    if not isinstance(configuration, dict):
        return None
    max_age = configuration.get("MaxAge")
    return Cors(
        allow_origins=tuple(configuration.get("AllowOrigins") or ()),
        allow_methods=tuple(method.upper() for method in configuration.get("AllowMethods") or ()),
        allow_headers=tuple(header.lower() for header in configuration.get("AllowHeaders") or ()),
        expose_headers=tuple(header.lower() for header in configuration.get("ExposeHeaders") or ()),
        max_age_seconds=int(max_age) if max_age is not None else None,
        allow_credentials=bool(configuration.get("AllowCredentials", False)),
    )


def _custom_domains(template: _Template, *, api_id: str, stage_id: str, stage_name: str) -> tuple[CustomDomain, ...]:
    domains = []
    for mapping_id, mapping in template.of_type(_API_MAPPING).items():
        properties = mapping.get("Properties") or {}
        stage = properties.get("Stage")
        # A mapping names its stage by name, or refers to the stage resource.
        if _ref(properties.get("ApiId")) != api_id or (stage != stage_name and _ref(stage) != stage_id):
            continue
        domain_ref = properties.get("DomainName")
        domain_id = _ref(domain_ref)
        if domain_id is not None:
            _, domain = template.resource(domain_id, _DOMAIN_NAME, what=f"the domain of mapping {mapping_id}")
            domain_name = (domain.get("Properties") or {}).get("DomainName")
        else:
            domain_name = domain_ref
        if not isinstance(domain_name, str):
            raise AssemblyError(f"{template.path.name}: mapping {mapping_id}: its domain is known only at deploy time")
        domains.append(CustomDomain(domain_name=domain_name, mapping_key=str(properties.get("ApiMappingKey") or "")))
    return tuple(domains)
