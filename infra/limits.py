"""What AWS would refuse at deploy, refused at synth instead: one line naming the limit, the figure and the fix.

`cdk deploy` finds these only after the stack has started to change (or rolled back): a
resource-based policy one statement too long, a template past CloudFormation's size. Each
limit is written once here, with the page of AWS's documentation that states it, and checked
by one CDK validation on the stack (`add_limit_checks`, run by `app.synth()`) and, for the
template's own size and the function's environment as rendered, on the cloud assembly after
synthesis (`check_assembly`, called by `app.py`).

Where AWS does not document how it measures (the environment's 4 KB, a Sid it generates),
the figure here is the smallest reasonable reading or an estimate that errs long only by a
few bytes per statement, so that a configuration AWS accepts is never refused.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import CfnResource, Stack, Stage, cx_api
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3_assets as s3_assets
from constructs import IValidation

from service.core.access.declaration import MAX_ROUTE_SCOPES

# The context key that raises the routes-per-API quota, for an API whose quota AWS raised.
MAX_ROUTES_CONTEXT_KEY = "http_api_max_routes"

HTTP_API_QUOTAS = "https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html"
LAMBDA_QUOTAS = "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"
LAMBDA_CREATE_FUNCTION = "https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html"
IAM_QUOTAS = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"
CLOUDFORMATION_QUOTAS = "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html"
LOGS_CREATE_LOG_GROUP = "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html"


@dataclass(frozen=True)
class Limit:
    """One of AWS's limits: what it counts, its figure, where AWS says so, and what to do about it."""

    name: str
    maximum: int
    unit: str
    source: str
    fix: str

    def refusal(self, subject: str, figure: int) -> str | None:
        """None within the limit; else the one line synth fails with."""
        if figure <= self.maximum:
            return None
        return (
            f"{subject}: {self.name} is {figure:,} {self.unit}, over AWS's limit of {self.maximum:,} "
            f"({self.source}); fix: {self.fix}"
        )


def routes_per_api(maximum: int = 300) -> Limit:
    # "Routes per API: 300, can be increased", per API (HTTP API quotas).
    return Limit(
        name="routes per HTTP API",
        maximum=maximum,
        unit="routes",
        source=HTTP_API_QUOTAS,
        fix=f"split the service into more APIs, or have AWS raise this API's quota (Service Quotas L-65B5C802) "
        f"and set the context key {MAX_ROUTES_CONTEXT_KEY} to the new figure",
    )


# "Scopes per route: 10, cannot be increased" (HTTP API quotas); the service refuses more on one
# declaration (`MAX_ROUTE_SCOPES`), this catches a route whose requirements add up to more.
# docs/aws-facts.md, row "Scopes per route"
SCOPES_PER_ROUTE = Limit(
    name="authorization scopes on one route",
    maximum=MAX_ROUTE_SCOPES,
    unit="scopes",
    source=HTTP_API_QUOTAS,
    fix=f"declare at most {MAX_ROUTE_SCOPES} scopes across the route and its routers (a token needs only one)",
)
# "Function environment variables: 4 KB, for all environment variables associated with the function, in
# aggregate" (Lambda quotas). Counted as the names' and values' UTF-8 bytes: the least it can be.
# docs/aws-facts.md, row "Function environment size"
ENVIRONMENT = Limit(
    name="the function's environment (names and values)",
    maximum=4 * 1024,
    unit="bytes",
    source=LAMBDA_QUOTAS,
    fix="move long values out of the environment (into Secrets Manager or the bundle) or shorten them",
)
# "Deployment package (.zip file archive) size: 250 MB unzipped, including layers" (Lambda quotas);
# the account limit `CodeSizeUnzipped` is 262,144,000 bytes. The layers' own size is not counted here.
# docs/aws-facts.md, row "Unzipped deployment package"
UNZIPPED_BUNDLE = Limit(
    name="the function's unzipped bundle",
    maximum=250 * 1024 * 1024,
    unit="bytes",
    source=LAMBDA_QUOTAS,
    fix="drop packages the function does not import at run time from service/requirements.txt",
)
# "Function resource-based policy: 20 KB" (Lambda quotas); past it AddPermission fails with
# PolicyLengthExceededException (aws/aws-cdk issue 19535: one permission per route reached it).
# docs/aws-facts.md, row "Function resource-based policy"
RESOURCE_POLICY = Limit(
    name="the function's resource-based policy (estimated)",
    maximum=20 * 1024,
    unit="bytes",
    source=LAMBDA_QUOTAS,
    fix="grant API Gateway one permission for the whole API "
    "(HttpLambdaIntegration(..., scope_permission_to_route=False)) instead of one per route",
)
# "Role policy size cannot exceed 10,240 characters" for all of a role's inline policies together;
# IAM does not count white space (IAM and AWS STS quotas).
# docs/aws-facts.md, row "Role inline policies"
ROLE_INLINE_POLICIES = Limit(
    name="the role's inline policies (characters without white space)",
    maximum=10_240,
    unit="characters",
    source=IAM_QUOTAS,
    fix="merge statements that differ only in resources, or move some into a managed policy",
)
# "Template body size in an Amazon S3 object: 1 MB" (CloudFormation quotas); the CDK CLI uploads
# every template over 50 KB to the bootstrap bucket, so this is the one that applies.
# docs/aws-facts.md, row "Template size"
TEMPLATE = Limit(
    name="the synthesized template",
    maximum=1024 * 1024,
    unit="bytes",
    source=CLOUDFORMATION_QUOTAS,
    fix="move resources into another stack (or a nested stack), or fewer routes per API",
)
# FunctionName: "The length constraint applies only to the full ARN. If you specify only the function
# name, it is limited to 64 characters in length" (Lambda API, CreateFunction).
# docs/aws-facts.md, row "Function name length"
FUNCTION_NAME = Limit(
    name="the function's name",
    maximum=64,
    unit="characters",
    source=LAMBDA_CREATE_FUNCTION,
    fix="shorten it, or leave it out and let CloudFormation generate one",
)
# "Log group names can be between 1 and 512 characters long" (CloudWatch Logs API, CreateLogGroup).
# docs/aws-facts.md, row "Log group name length"
LOG_GROUP_NAME = Limit(
    name="the log group's name",
    maximum=512,
    unit="characters",
    source=LOGS_CREATE_LOG_GROUP,
    fix="shorten it, or leave it out and let CloudFormation generate one",
)


class LimitExceeded(Exception):
    """The app would be refused at deploy; the message is one line per limit it exceeds."""


# What an intrinsic stands for once deployed, at its longest, for the size estimates. A generated
# physical name is at most 64 characters (a function's, CloudFormation's own stack-logical-random).
_LONGEST_PSEUDO = {
    "AWS::AccountId": "123456789012",
    "AWS::Region": "ap-southeast-5",
    "AWS::Partition": "aws-us-gov",
    "AWS::URLSuffix": "amazonaws.com.cn",
    "AWS::StackName": "x" * 128,
}
_GENERATED_NAME = "x" * 64
_ARN_PREFIX = "arn:aws-us-gov:service:ap-southeast-5:123456789012:resource:"


def _deployed(value: Any) -> Any:
    """A resolved template value with each intrinsic replaced by the longest text it can stand for."""
    if isinstance(value, list):
        return [_deployed(item) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, argument),) = value.items()
        if key == "Ref":
            return _LONGEST_PSEUDO.get(argument, _GENERATED_NAME)
        if key == "Fn::GetAtt":
            attribute = argument.rsplit(".", 1)[-1] if isinstance(argument, str) else str(argument[-1])
            return _ARN_PREFIX + _GENERATED_NAME if attribute.endswith("Arn") else _GENERATED_NAME
        if key == "Fn::Join":
            separator, parts = argument
            return separator.join(str(_deployed(part)) for part in parts)
        if key.startswith("Fn::"):
            return _GENERATED_NAME
    return {key: _deployed(item) for key, item in value.items()}


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def permission_statement(stack: Stack, permission: lambda_.CfnPermission) -> dict[str, Any]:
    """The statement Lambda adds to the function's policy for one AWS::Lambda::Permission, as GetPolicy shows it."""
    statement: dict[str, Any] = {
        # CloudFormation names the statement after the stack, the logical ID and a random suffix.
        "Sid": f"{_LONGEST_PSEUDO['AWS::StackName']}-{stack.get_logical_id(permission)}-ABCDEFGHIJKL"[:100],
        "Effect": "Allow",
        "Principal": {"Service": _deployed(stack.resolve(permission.principal))},
        "Action": permission.action,
        "Resource": _ARN_PREFIX + _deployed(stack.resolve(permission.function_name)),
    }
    if permission.source_arn is not None:
        statement["Condition"] = {"ArnLike": {"AWS:SourceArn": _deployed(stack.resolve(permission.source_arn))}}
    if permission.source_account is not None:
        statement.setdefault("Condition", {})["StringEquals"] = {
            "AWS:SourceAccount": _deployed(stack.resolve(permission.source_account))
        }
    return statement


def _function_of(stack: Stack, permission: lambda_.CfnPermission, functions: dict[str, str]) -> str:
    """The logical ID of the function whose policy a permission writes into (its alias or version count too)."""
    text = _compact(stack.resolve(permission.function_name))
    for referenced, function_id in functions.items():
        if f'"{referenced}"' in text:
            return function_id
    return text


def resource_policy_bytes(stack: Stack) -> dict[str, int]:
    """Each function's resource-based policy, estimated, by the function's logical ID."""
    functions: dict[str, str] = {}
    for construct in stack.node.find_all():
        if isinstance(construct, lambda_.CfnFunction | lambda_.CfnAlias | lambda_.CfnVersion):
            target = stack.resolve(getattr(construct, "function_name", None))
            own = stack.get_logical_id(construct)
            function_id = own if isinstance(construct, lambda_.CfnFunction) else str(target.get("Ref", own))
            functions[own] = function_id
    statements: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for construct in stack.node.find_all():
        if isinstance(construct, lambda_.CfnPermission):
            statements[_function_of(stack, construct, functions)].append(permission_statement(stack, construct))
    return {
        function_id: len(_compact({"Version": "2012-10-17", "Id": "default", "Statement": found}))
        for function_id, found in statements.items()
    }


def _referenced(value: Any) -> str:
    """The logical ID a resolved `{"Ref": ...}` names, or the value itself."""
    return str(value.get("Ref", value)) if isinstance(value, dict) else str(value)


def _characters(document: str) -> int:
    # IAM does not count white space (see ROLE_INLINE_POLICIES).
    return len("".join(document.split()))


def routes_by_api(stack: Stack) -> dict[str, list[apigwv2.CfnRoute]]:
    routes: dict[str, list[apigwv2.CfnRoute]] = defaultdict(list)
    for construct in stack.node.find_all():
        if isinstance(construct, apigwv2.CfnRoute):
            routes[_referenced(stack.resolve(construct.api_id))].append(construct)
    return routes


def role_inline_policy_characters(stack: Stack) -> dict[str, int]:
    """The characters (white space not counted) of each role's inline policies together, by role."""
    characters: dict[str, int] = defaultdict(int)
    for construct in stack.node.find_all():
        if isinstance(construct, iam.CfnPolicy):
            document = _compact(_deployed(stack.resolve(construct.policy_document)))
            for role in stack.resolve(construct.roles) or []:
                characters[_referenced(role)] += _characters(document)
        elif isinstance(construct, iam.CfnRole):
            for policy in stack.resolve(construct.policies) or []:
                # A Python-side struct resolves with its property names in camel case.
                document = _compact(_deployed(policy.get("PolicyDocument", policy.get("policyDocument"))))
                characters[stack.get_logical_id(construct)] += _characters(document)
    return dict(characters)


def directory_bytes(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file() and not path.is_symlink())


def bundle_directory(function: CfnResource) -> Path | None:
    """The staged directory of the function's code asset, where it has one."""
    parent = function.node.scope
    code = parent.node.try_find_child("Code") if parent is not None else None
    if not isinstance(code, s3_assets.Asset) or not code.is_zip_archive:
        return None
    directory = Path(Stage.of(code).outdir) / code.asset_path  # type: ignore[union-attr]
    return directory if directory.is_dir() else None


def stack_refusals(stack: Stack, *, max_routes: int = 300) -> list[str]:
    """Every limit this stack's resources exceed, one line each."""
    refusals: list[str | None] = []
    route_limit = routes_per_api(max_routes)
    for api, routes in routes_by_api(stack).items():
        refusals.append(route_limit.refusal(f"HTTP API {api}", len(routes)))
        for route in routes:
            scopes = stack.resolve(route.authorization_scopes) or []
            refusals.append(SCOPES_PER_ROUTE.refusal(f"route {route.route_key}", len(scopes)))
    for function_id, size in resource_policy_bytes(stack).items():
        refusals.append(RESOURCE_POLICY.refusal(f"function {function_id}", size))
    for role, characters in role_inline_policy_characters(stack).items():
        refusals.append(ROLE_INLINE_POLICIES.refusal(f"role {role}", characters))
    for construct in stack.node.find_all():
        if isinstance(construct, lambda_.CfnFunction):
            refusals.extend(_function_refusals(stack, construct))
        elif isinstance(construct, logs.CfnLogGroup):
            name = stack.resolve(construct.log_group_name)
            if isinstance(name, str):
                refusals.append(LOG_GROUP_NAME.refusal(f"log group {name[:40]}...", len(name)))
    return [refusal for refusal in refusals if refusal is not None]


def _function_refusals(stack: Stack, function: lambda_.CfnFunction) -> Iterable[str | None]:
    path = function.node.path
    name = stack.resolve(function.function_name)
    if isinstance(name, str):
        yield FUNCTION_NAME.refusal(path, len(name))
    directory = bundle_directory(function)
    if directory is not None:
        yield UNZIPPED_BUNDLE.refusal(path, directory_bytes(directory))


@jsii.implements(IValidation)
class _StackLimits:
    def __init__(self, stack: Stack, max_routes: int) -> None:
        self._stack = stack
        self._max_routes = max_routes

    def validate(self) -> list[str]:
        return stack_refusals(self._stack, max_routes=self._max_routes)


def add_limit_checks(stack: Stack, *, max_routes: int = 300) -> None:
    """Fail `app.synth()` on anything in `stack` that AWS would refuse at deploy."""
    stack.node.add_validation(_StackLimits(stack, max_routes))


def template_refusals(assembly: cx_api.CloudAssembly) -> list[str]:
    """Each template of the assembly over CloudFormation's size limit, one line each."""
    refusals = []
    for stack in assembly.stacks_recursively:
        size = Path(stack.template_full_path).stat().st_size
        refusals.append(TEMPLATE.refusal(f"stack {stack.stack_name} ({stack.template_file})", size))
        # The environment as the template renders it (the function's L1 holds it as a lazy value).
        for logical_id, resource in stack.template.get("Resources", {}).items():
            if resource.get("Type") == "AWS::Lambda::Function":
                variables = ((resource.get("Properties") or {}).get("Environment") or {}).get("Variables") or {}
                refusals.append(ENVIRONMENT.refusal(f"{stack.stack_name}/{logical_id}", environment_bytes(variables)))
    return [refusal for refusal in refusals if refusal is not None]


def environment_bytes(variables: dict[str, Any]) -> int:
    """The names' and values' UTF-8 bytes, a reference counted as the longest text it can stand for."""
    return sum(len(name.encode()) + len(str(_deployed(value)).encode()) for name, value in variables.items())


def check_assembly(assembly: cx_api.CloudAssembly) -> None:
    refusals = template_refusals(assembly)
    if refusals:
        raise LimitExceeded("\n".join(refusals))
