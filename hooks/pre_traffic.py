"""`BeforeAllowTraffic`: the new version answers a user's requests before any user's request reaches it.

CodeDeploy invokes this hook after CloudFormation published the version and before the alias
shifts any traffic (AWS, "AppSpec 'hooks' section for an AWS Lambda deployment"). The hook
invokes that version directly (its ARN is in `TARGET_FUNCTION_ARN`, set at synth), with
payload 2.0 events shaped as the gateway sends them (`gateway_events.py`), and checks, in order:

- `health`: the health route answers 200 (a version that cannot start fails here);
- `docs`: the OpenAPI document is 200 JSON declaring the routes below, or 404 where the
  environment switched the docs off;
- `wrong password`: the token route answers a wrong password with RFC 6749's 400
  `invalid_grant`: the identity provider is reachable and configured;
- `no authorizer context`: a protected route without the authorizer's verdict is refused (401);
- with the smoke user (`SMOKE_USER_SECRET_ARN`): `sign-in` through the token route, then
  `whoami` and `admin` with that token's claims rendered as the JWT authorizer renders them and
  the token in the header the authorizer reads, expecting the user's own `sub` and groups, and
  the admin route's 200 or 403 as the user's groups say.

The first failure ends the run; the hook reports `Failed` and its log names the check. These
events and claims come from the project's own model of the gateway: the pre hook cannot find
a wrong fact about AWS in that model; the post hook (through the real gateway) can.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import boto3  # type: ignore[import-untyped]
from botocore.config import Config as ClientConfig  # type: ignore[import-untyped]

from hooks.gateway_events import Gateway, Route, authorizer_context, token_payload
from hooks.lifecycle import CheckFailed, LambdaContext, Log, aws_error_code, required_variable, run_hook
from smoke.user import TestUser

NAME = "pre-traffic"
# The test user's JSON in Secrets Manager, the smoke script's shape: {"username", "password", "groups"?}.
SECRET_VARIABLE = "SMOKE_USER_SECRET_ARN"  # noqa: S105 - the variable's name, not a secret
# Without a test user, the wrong-password check signs in as nobody: `.invalid` is reserved (RFC 2606).
NOBODY = "codedeploy-pre-traffic-hook@example.invalid"
# Beyond the function's own timeout, for Lambda's overhead and a cold start's init (10 s at most).
INVOKE_MARGIN_SECONDS = 12.0
SKIPPED_WITHOUT_USER = ("sign-in", "whoami", "admin")


@dataclass(frozen=True)
class Config:
    """The hook's environment, set at synth from the same values the gateway and the function get."""

    target: str
    target_timeout_seconds: float
    gateway: Gateway
    identity_header: str
    groups_claim: str
    admin_group: str
    docs: bool
    routes: Mapping[str, Route]
    secret_arn: str | None

    @classmethod
    def from_environment(cls) -> Config:
        routes = {
            name: Route(method=route["method"], path=route["path"], scoped=bool(route.get("scoped")))
            for name, route in json.loads(required_variable("CHECKED_ROUTES")).items()
        }
        return cls(
            target=required_variable("TARGET_FUNCTION_ARN"),
            target_timeout_seconds=float(required_variable("TARGET_TIMEOUT_SECONDS")),
            gateway=Gateway(stage=required_variable("STAGE_NAME"), domain_name=required_variable("API_DOMAIN")),
            identity_header=required_variable("IDENTITY_HEADER").lower(),
            groups_claim=required_variable("GROUPS_CLAIM"),
            admin_group=required_variable("ADMIN_GROUP"),
            docs=required_variable("DOCS_ENABLED") == "true",
            routes=routes,
            secret_arn=os.environ.get(SECRET_VARIABLE) or None,
        )


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: str

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def describe(self) -> str:
        """The status and, where there is one, the OAuth error code or the problem's title; never a token."""
        body = self.json()
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            return f"{self.status} error={body['error'][:64]}"
        if isinstance(body, dict) and isinstance(body.get("title"), str):
            return f"{self.status} {body['title'][:80]!r}"
        return str(self.status)


class Version:
    """The new version, invoked as the gateway would invoke the alias; every call bounded by the deadline."""

    def __init__(self, config: Config, lambda_client: Any, ends_at: float) -> None:
        self.config = config
        self.client = lambda_client
        self.ends_at = ends_at

    def call(self, route: Route, **event_options: Any) -> Answer:
        if time.monotonic() >= self.ends_at:
            raise CheckFailed(f"{route.key}: no time left before the hook must report")
        event = self.config.gateway.event(route, **event_options)
        try:
            response = self.client.invoke(
                FunctionName=self.config.target, InvocationType="RequestResponse", Payload=json.dumps(event).encode()
            )
            payload = response["Payload"].read()
        except Exception as error:  # noqa: BLE001 - any client error (permission, throttle, timeout) fails the check
            raise CheckFailed(f"{route.key}: the invocation failed: {aws_error_code(error)}") from None
        if response.get("FunctionError"):
            reported = _json_or_none(payload)
            reported = reported if isinstance(reported, dict) else {}
            error_type = reported.get("errorType", "unknown")
            message = str(reported.get("errorMessage", ""))
            raise CheckFailed(
                f"{route.key}: the function failed ({response['FunctionError']}): {error_type}: {message[:200]}"
            )
        answer = _json_or_none(payload)
        if not isinstance(answer, dict) or not isinstance(answer.get("statusCode"), int):
            raise CheckFailed(f"{route.key}: the function's answer is not a payload 2.0 response")
        body = answer.get("body") or ""
        if answer.get("isBase64Encoded"):
            body = base64.b64decode(body).decode("utf-8", "replace")
        headers = {str(k).lower(): str(v) for k, v in (answer.get("headers") or {}).items()}
        return Answer(status=answer["statusCode"], headers=headers, body=str(body))


def _json_or_none(data: bytes | str) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None


def _form(fields: Mapping[str, str]) -> tuple[dict[str, str], str]:
    return {"content-type": "application/x-www-form-urlencoded"}, urllib.parse.urlencode(fields)


class PreTrafficChecks:
    """The checks in order; each returns the line printed when it passes."""

    def __init__(self, config: Config, version: Version, user: TestUser | None) -> None:
        self.config = config
        self.version = version
        self.user = user
        self.access_token: str | None = None

    def route(self, name: str) -> Route:
        return self.config.routes[name]

    def health(self) -> str:
        route = self.route("health")
        answer = self.version.call(route)
        _expect(answer, 200, route)
        return f"{route.key} 200"

    def docs(self) -> str:
        route = self.route("openapi")
        answer = self.version.call(route)
        if not self.config.docs:
            _expect(answer, 404, route, "(docs switched off)")
            return f"{route.key} 404: not served, as this environment says"
        _expect(answer, 200, route)
        document = answer.json()
        if not isinstance(document, dict):
            raise CheckFailed(f"{route.key}: 200 but not a JSON object")
        paths = document.get("paths", {})
        called = [self.route(name) for name in ("health", "token", "whoami", "admin")]
        missing = [r.key for r in called if r.method.lower() not in paths.get(r.path, {})]
        if missing:
            raise CheckFailed(f"{route.key}: declares no {', '.join(missing)}")
        return f"{route.key} 200, declaring the routes this hook calls"

    def wrong_password(self) -> str:
        route = self.route("token")
        username = self.user.username if self.user else NOBODY
        password = (self.user.password if self.user else "not-a-password") + "-wrong"
        headers, body = _form({"grant_type": "password", "username": username, "password": password})
        answer = self.version.call(route, headers=headers, body=body)
        error = answer.json()
        if answer.status != 400 or not isinstance(error, dict) or error.get("error") != "invalid_grant":
            raise CheckFailed(
                f"{route.key} with a wrong password: expected 400 invalid_grant (the identity provider reachable "
                f"and configured), got {answer.describe()}"
            )
        return f"{route.key} with a wrong password: 400 invalid_grant"

    def no_authorizer_context(self) -> str:
        route = self.route("whoami")
        answer = self.version.call(route)
        _expect(answer, 401, route, "without the authorizer's context")
        return f"{route.key} without the authorizer's context: 401"

    def sign_in(self) -> str:
        assert self.user is not None
        route = self.route("token")
        fields = {"grant_type": "password", "username": self.user.username, "password": self.user.password}
        headers, body = _form(fields)
        answer = self.version.call(route, headers=headers, body=body)
        _expect(answer, 200, route, "(password grant)")
        grant = answer.json()
        token = grant.get("access_token") if isinstance(grant, dict) else None
        if not isinstance(token, str) or not token:
            raise CheckFailed(f"{route.key} (password grant): 200 without an access_token")
        self.access_token = token
        return f"{route.key} password grant: 200 with an access token"

    def _as_the_authorizer_passes_it(self, route: Route) -> Answer:
        assert self.access_token is not None
        try:
            claims = token_payload(self.access_token)
        except ValueError as error:
            raise CheckFailed(f"{route.key}: {error}") from None
        return self.version.call(
            route,
            headers={self.config.identity_header: f"Bearer {self.access_token}"},
            authorizer=authorizer_context(claims, scoped=route.scoped),
        )

    def whoami(self) -> str:
        assert self.user is not None
        assert self.access_token is not None
        route = self.route("whoami")
        answer = self._as_the_authorizer_passes_it(route)
        _expect(answer, 200, route, "with the user's claims")
        claims = answer.json()
        if not isinstance(claims, dict):
            raise CheckFailed(f"{route.key}: 200 but not a JSON object of claims")
        if claims.get("sub") != token_payload(self.access_token).get("sub"):
            raise CheckFailed(f"{route.key}: sub is not the token's own")
        claim, groups = self.config.groups_claim, claims.get(self.config.groups_claim)
        expected = sorted(self.user.groups)
        if expected and (not isinstance(groups, list) or sorted(groups) != expected):
            raise CheckFailed(f"{route.key}: {claim} is {groups!r}, not {expected}")
        if not expected and groups not in (None, []):
            raise CheckFailed(f"{route.key}: {claim} is {groups!r}, but the test user is in no group")
        return f"{route.key}: 200, the caller's own sub, {claim} {groups if expected else 'none'}"

    def admin(self) -> str:
        assert self.user is not None
        route = self.route("admin")
        member = self.config.admin_group in self.user.groups
        answer = self._as_the_authorizer_passes_it(route)
        why = "in" if member else "not in"
        _expect(answer, 200 if member else 403, route, f"(the test user is {why} {self.config.admin_group})")
        return f"{route.key}: {answer.status}, as the test user is {why} {self.config.admin_group}"

    def checks(self) -> Iterator[tuple[str, Callable[[], str]]]:
        yield "health", self.health
        yield "docs", self.docs
        yield "wrong password", self.wrong_password
        yield "no authorizer context", self.no_authorizer_context
        if self.user is None:
            return
        yield "sign-in", self.sign_in
        yield "whoami", self.whoami
        yield "admin", self.admin


def _expect(answer: Answer, status: int, route: Route, what: str = "") -> None:
    if answer.status != status:
        raise CheckFailed(f"{route.key}{' ' + what if what else ''}: expected {status}, got {answer.describe()}")


def read_test_user(secret_arn: str, secrets_client: Any) -> TestUser:
    try:
        value = secrets_client.get_secret_value(SecretId=secret_arn)["SecretString"]
    except Exception as error:  # noqa: BLE001 - a missing permission or secret fails the hook, never passes it
        raise CheckFailed(f"the smoke user's secret could not be read: {aws_error_code(error)}") from None
    try:
        return TestUser.from_json(value)
    except ValueError as error:
        raise CheckFailed(f"the smoke user's secret {error}") from None


def run_checks(seconds: float, *, log: Log, clients: Callable[[str, Any], Any]) -> bool:
    """Every check in order within `seconds`, one line each; False at the first failure."""
    ends_at = time.monotonic() + seconds - 1.0
    started = time.monotonic()
    try:
        config = Config.from_environment()
        secrets = clients("secretsmanager", ClientConfig(connect_timeout=5, read_timeout=10))
        user = read_test_user(config.secret_arn, secrets) if config.secret_arn else None
    except CheckFailed as failure:
        log.line(f"FAIL setup: {failure}")
        return False
    # One attempt per invocation: a retried invocation would run the checks twice and double the wait;
    # and ends two seconds before the checks' deadline, so a version that never answers fails its own check.
    invoke_timeout = min(config.target_timeout_seconds + INVOKE_MARGIN_SECONDS, max(1.0, seconds - 2.0))
    lambda_client = clients(
        "lambda", ClientConfig(connect_timeout=5, read_timeout=invoke_timeout, retries={"total_max_attempts": 1})
    )
    log.line(f"{NAME}: {config.target}, at most {seconds:.0f} s")
    passed = 0
    for name, check in PreTrafficChecks(config, Version(config, lambda_client, ends_at), user).checks():
        try:
            detail = check()
        except CheckFailed as failure:
            log.line(f"FAIL {name}: {failure}")
            return False
        log.line(f"ok   {name}: {detail}")
        passed += 1
    if user is None:
        skipped = ", ".join(SKIPPED_WITHOUT_USER)
        log.line(f"skip {skipped}: no smoke user ({SECRET_VARIABLE} unset), unauthenticated checks only")
    log.line(f"{NAME}: {passed} checks passed in {time.monotonic() - started:.1f} s")
    return True


def _boto3_client(service: str, config: Any) -> Any:
    return boto3.client(service, config=config)


def handler(event: Mapping[str, Any], context: LambdaContext) -> dict[str, str]:
    """CodeDeploy's `BeforeAllowTraffic` hook: check the new version, report Succeeded or Failed."""
    log = Log(NAME, sys.stdout)
    return run_hook(event, context, log=log, checks=lambda seconds: run_checks(seconds, log=log, clients=_boto3_client))
