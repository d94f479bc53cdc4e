"""The smoke checks: health, docs, the gateway's refusal, sign-in, whoami, the admin route, refresh, a wrong password,
then the product's own routes (smoke/product.py).

The operations are called through the API's generated client (`api_client`, `make clients`), as
a consumer calls them, so an answer that no longer matches the committed OpenAPI document fails
here too; each check still reads the raw answer where it must (who answered, the gateway or the
function; the token response's headers).

The routes are the product's documented paths (the service's route table): the script runs
against whatever is deployed, so it cannot read them from the app; `openapi.json`, where it is
served, is checked to declare each of them, so a renamed route fails here rather than silently.
Each check raises `CheckFailed` with what was expected and what answered; nothing a check
prints comes from a token response's body except its `error` code, and every line goes through
`Report`, which blanks the password and every token seen, in case one slips through anyway.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO
from urllib.parse import urlsplit

import httpx

from api_client import Client
from api_client.api.admin import list_endpoints
from api_client.api.auth import issue_token
from api_client.api.manage import health_check
from api_client.api.users import whoami as whoami_operation
from api_client.models.issue_token_token_request import IssueTokenTokenRequest
from api_client.models.issue_token_token_request_grant_type import IssueTokenTokenRequestGrantType
from smoke.product import ProductCheck
from smoke.user import TestUser

HEALTH_PATH = "/v1/manage/hc"
TOKEN_PATH = "/v1/auth/token"  # noqa: S105 - a path, not a password
WHOAMI_PATH = "/v1/users/whoami"
ADMIN_PATH = "/v1/admin/endpoints"
DOCS_PATH = "/v1/docs"
OPENAPI_PATH = "/v1/openapi.json"
# The operations the script calls, which the OpenAPI document must declare.
CALLED_OPERATIONS = (("get", HEALTH_PATH), ("post", TOKEN_PATH), ("get", WHOAMI_PATH), ("get", ADMIN_PATH))

# A connection refused or a request timed out (DNS not there yet, a cold start beyond the
# per-request timeout) is tried again this often before health fails; an HTTP answer is final.
HEALTH_ATTEMPTS = 6
HEALTH_RETRY_SECONDS = 5.0
# An `error` code of RFC 6749 section 5.2 is printed only if it looks like one.
OAUTH_ERROR_CODE = re.compile(r"[a-z_]{1,64}")
REDACTED = "[redacted]"


class CheckFailed(Exception):
    """A check's verdict: what was expected, and what answered instead."""


@dataclass(frozen=True)
class Options:
    base_url: str
    user: TestUser | None
    groups_claim: str = "groups"
    admin_group: str = "ADMINS"
    docs: bool = True
    request_timeout: float = 10.0
    deadline: float = 60.0
    # The product's own routes (smoke/product.py), and the file they came from, for the output.
    product_checks: tuple[ProductCheck, ...] = ()
    product_checks_file: str = ""


class Report:
    """One line per check on `out`, with every known secret blanked."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.secrets: set[str] = set()

    def line(self, text: str) -> None:
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, REDACTED)
        print(text, file=self.out, flush=True)


class Api:
    """The deployed API at its base URL, each request bounded by the per-request timeout and the total deadline."""

    def __init__(self, options: Options) -> None:
        self.base_url = options.base_url.rstrip("/")
        self.request_timeout = options.request_timeout
        self.deadline_seconds = options.deadline
        self.ends_at = time.monotonic() + options.deadline
        self.client = httpx.Client(follow_redirects=False)

    @property
    def prefix(self) -> str:
        """The stage or the custom domain's mapping key the base URL carries, e.g. `/prod`; empty for none."""
        return urlsplit(self.base_url).path.rstrip("/")

    def remaining(self) -> float:
        return self.ends_at - time.monotonic()

    def request(self, method: str, path: str, **options: Any) -> httpx.Response:
        remaining = self.remaining()
        if remaining <= 0:
            raise CheckFailed(f"the total deadline of {self.deadline_seconds:g} s passed")
        timeout = min(self.request_timeout, remaining)
        try:
            return self.client.request(method, self.base_url + path, timeout=timeout, **options)
        except httpx.TimeoutException:
            raise CheckFailed(f"{method} {path}: no answer within {timeout:.1f} s") from None
        except httpx.HTTPError as error:
            raise CheckFailed(f"{method} {path}: {type(error).__name__}: {error}") from None

    def call(self, operation: Any, what: str, *, access_token: str | None = None, **arguments: Any) -> httpx.Response:
        """`operation` (a generated module) through the API's client; its raw answer, for the checks to read.

        A documented status whose body the client cannot read as the document says fails here.
        """
        remaining = self.remaining()
        if remaining <= 0:
            raise CheckFailed(f"the total deadline of {self.deadline_seconds:g} s passed")
        timeout = min(self.request_timeout, remaining)
        answers: list[httpx.Response] = []
        client = Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout),
            headers={"authorization": f"Bearer {access_token}"} if access_token else {},
            follow_redirects=False,
            httpx_args={"event_hooks": {"response": [answers.append]}},
        )
        with client:
            try:
                operation.sync_detailed(client=client, **arguments)
            except httpx.TimeoutException:
                raise CheckFailed(f"{what}: no answer within {timeout:.1f} s") from None
            except httpx.HTTPError as error:
                raise CheckFailed(f"{what}: {type(error).__name__}: {error}") from None
            except (KeyError, TypeError, ValueError, AttributeError):
                raise CheckFailed(
                    f"{what}: {describe(answers[-1]) if answers else 'no answer'}, not as the OpenAPI document says"
                ) from None
        return answers[-1]

    def close(self) -> None:
        self.client.close()


def answered_by_the_function(response: httpx.Response) -> bool:
    """Whether the function answered, rather than API Gateway itself.

    The service answers a missing token with the gateway's own body and challenge, so the body
    cannot tell them apart; but it sets `x-content-type-options: nosniff` on every answer
    (service/core/middleware.py, and the Lambda adapter's last-resort 500). An HTTP API's own
    refusals do not come from the integration, and its response parameter mapping applies to
    integration responses only (AWS, "Transforming API requests and responses for HTTP APIs"),
    so they carry none of the function's headers. Were that ever wrong, this check would fail
    a working API loudly, never pass a broken one.
    """
    return bool(response.headers.get("x-content-type-options", "").lower() == "nosniff")


def describe(response: httpx.Response) -> str:
    """Status and who answered, never the body beyond a gateway message, a problem's title or an OAuth error code."""
    media_type = response.headers.get("content-type", "").partition(";")[0].strip()
    who = "from the function" if answered_by_the_function(response) else "from API Gateway itself"
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and set(body) == {"message"} and isinstance(body["message"], str):
        return f"{response.status_code} {json.dumps(body)} ({who})"
    if isinstance(body, dict) and isinstance(body.get("error"), str) and OAUTH_ERROR_CODE.fullmatch(body["error"]):
        return f"{response.status_code} error={body['error']} ({who})"
    if media_type == "application/problem+json" and isinstance(body, dict):
        return f"{response.status_code} {media_type} {body.get('title', 'without a title')!r} ({who})"
    return f"{response.status_code} {media_type or 'without a content type'} ({who})"


def expect_status(response: httpx.Response, status: int, what: str) -> None:
    if response.status_code != status:
        raise CheckFailed(f"{what}: expected {status}, got {describe(response)}")


def token_claims(access_token: str) -> dict[str, Any]:
    """The access token's payload, unverified: only to learn whose it is (the gateway verified it)."""
    parts = access_token.split(".")
    if len(parts) != 3:
        raise CheckFailed("the access token is not a JWT, which an HTTP API's JWT authorizer needs")
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError):
        raise CheckFailed("the access token's payload is not base64url JSON") from None
    if not isinstance(payload, dict):
        raise CheckFailed("the access token's payload is not a JSON object")
    return payload


@dataclass
class Grant:
    access_token: str
    refresh_token: str


def read_grant(response: httpx.Response, what: str, report: Report, *, new_refresh_token: bool = True) -> Grant:
    """An RFC 6749 section 5.1 success: JSON, no-store, a bearer access token, its lifetime and a refresh token.

    A refresh grant may keep the refresh token it was given (section 6: the server "MAY" issue
    a new one), so `new_refresh_token=False` lets it leave the member out.
    """
    expect_status(response, 200, what)
    try:
        body = response.json()
    except ValueError:
        raise CheckFailed(f"{what}: 200 but not JSON") from None
    access, refresh = body.get("access_token"), body.get("refresh_token")
    # Blank them in every later line before anything can print them.
    report.secrets.update(t for t in (access, refresh) if isinstance(t, str) and t)
    problems = []
    if not response.headers.get("content-type", "").startswith("application/json"):
        problems.append("content type is not application/json")
    if "no-store" not in response.headers.get("cache-control", ""):
        problems.append("no Cache-Control: no-store")
    if not isinstance(access, str) or not access:
        problems.append("no access_token")
    if str(body.get("token_type", "")).lower() != "bearer":
        problems.append("token_type is not bearer")
    expires_in = body.get("expires_in")
    if not isinstance(expires_in, int) or isinstance(expires_in, bool) or expires_in <= 0:
        problems.append("expires_in is not a positive integer")
    if new_refresh_token and (not isinstance(refresh, str) or not refresh):
        problems.append("no refresh_token")
    if problems:
        raise CheckFailed(f"{what}: 200 but not an RFC 6749 success: {'; '.join(problems)}")
    assert isinstance(access, str)
    return Grant(access_token=access, refresh_token=refresh if isinstance(refresh, str) else "")


class Smoke:
    """The checks in order; each returns the line printed when it passes."""

    def __init__(self, options: Options, api: Api, report: Report) -> None:
        self.options = options
        self.api = api
        self.report = report
        self.grant: Grant | None = None

    # Public checks.

    def health(self) -> str:
        for attempt in range(1, HEALTH_ATTEMPTS + 1):
            try:
                response = self.api.call(health_check, f"GET {HEALTH_PATH}")
                break
            except CheckFailed:
                if attempt == HEALTH_ATTEMPTS or self.api.remaining() < HEALTH_RETRY_SECONDS:
                    raise
                time.sleep(HEALTH_RETRY_SECONDS)
        expect_status(response, 200, f"GET {HEALTH_PATH}")
        return f"GET {HEALTH_PATH} 200"

    def docs(self) -> str:
        prefix = self.api.prefix
        page = self.api.request("GET", DOCS_PATH)
        document = self.api.request("GET", OPENAPI_PATH)
        if not self.options.docs:
            for path, response in ((DOCS_PATH, page), (OPENAPI_PATH, document)):
                expect_status(response, 404, f"GET {path} (docs switched off)")
            return f"GET {DOCS_PATH} and {OPENAPI_PATH} 404: not served, as this environment says"
        expect_status(page, 200, f"GET {DOCS_PATH}")
        # Swagger UI loads the document from the URL in its page: behind the stage or key, or not at all.
        if f"'{prefix}{OPENAPI_PATH}'" not in page.text and f'"{prefix}{OPENAPI_PATH}"' not in page.text:
            raise CheckFailed(f"GET {DOCS_PATH}: the page does not load its document from {prefix}{OPENAPI_PATH}")
        expect_status(document, 200, f"GET {OPENAPI_PATH}")
        schema = _json_or_none(document)
        if not isinstance(schema, dict):
            raise CheckFailed(f"GET {OPENAPI_PATH}: 200 but not a JSON object")
        servers = [server.get("url") for server in schema.get("servers", [])]
        if prefix and servers[:1] != [prefix]:
            raise CheckFailed(f"GET {OPENAPI_PATH}: servers {servers}, not [{prefix!r}]: Swagger UI would miss the API")
        token_urls = [
            scheme["flows"]["password"].get("tokenUrl")
            for scheme in schema.get("components", {}).get("securitySchemes", {}).values()
            if "password" in scheme.get("flows", {})
        ]
        if token_urls and set(token_urls) != {prefix + TOKEN_PATH}:
            raise CheckFailed(f"GET {OPENAPI_PATH}: the password flow posts to {token_urls}, not {prefix + TOKEN_PATH}")
        paths = schema.get("paths", {})
        missing = [f"{m.upper()} {p}" for m, p in CALLED_OPERATIONS if m not in paths.get(p, {})]
        if missing:
            raise CheckFailed(f"GET {OPENAPI_PATH}: declares no {', '.join(missing)}, which this script calls")
        return f"GET {DOCS_PATH} and {OPENAPI_PATH} 200 behind {prefix or '/'}, with the routes this script calls"

    def refused_without_token(self) -> str:
        response = self.api.call(whoami_operation, f"GET {WHOAMI_PATH} without a token")
        if response.status_code == 200:
            raise CheckFailed(f"GET {WHOAMI_PATH} without a token answered 200: the route has no JWT authorizer")
        if response.status_code == 401 and answered_by_the_function(response):
            raise CheckFailed(
                f"GET {WHOAMI_PATH} without a token reached the function, which refused it ({describe(response)}): "
                "the route has no JWT authorizer"
            )
        body = _json_or_none(response)
        if response.status_code != 401 or body != {"message": "Unauthorized"}:
            raise CheckFailed(
                f"GET {WHOAMI_PATH} without a token: expected the JWT authorizer's 401 "
                f'{{"message": "Unauthorized"}}, got {describe(response)}: is the route\'s authorizer attached?'
            )
        return f'GET {WHOAMI_PATH} without a token: 401 {{"message": "Unauthorized"}} from the JWT authorizer'

    # Checks with the test user.

    @property
    def user(self) -> TestUser:
        assert self.options.user is not None
        return self.options.user

    def sign_in(self) -> str:
        form = IssueTokenTokenRequest(
            grant_type=IssueTokenTokenRequestGrantType.PASSWORD,
            username=self.user.username,
            password=self.user.password,
        )
        response = self.api.call(issue_token, f"POST {TOKEN_PATH} (password grant)", body=form)
        self.grant = read_grant(response, f"POST {TOKEN_PATH} (password grant)", self.report)
        return f"POST {TOKEN_PATH} password grant: 200, a bearer token with expires_in and a refresh_token"

    def whoami(self) -> str:
        assert self.grant is not None
        claims = self._whoami(self.grant.access_token)
        claim = self.options.groups_claim
        groups = claims.get(claim)
        if self.user.groups:
            if not isinstance(groups, list):
                raise CheckFailed(
                    f"GET {WHOAMI_PATH}: {claim} is {type(groups).__name__}, not the list {list(self.user.groups)}"
                )
            if sorted(groups) != sorted(self.user.groups):
                raise CheckFailed(f"GET {WHOAMI_PATH}: {claim} is {groups}, not {list(self.user.groups)}")
            return f"GET {WHOAMI_PATH}: 200, the caller's own sub, {claim} {groups}"
        if groups not in (None, []):
            raise CheckFailed(f"GET {WHOAMI_PATH}: {claim} is {groups!r}, but the test user is in no group")
        return f"GET {WHOAMI_PATH}: 200, the caller's own sub, no {claim}"

    def admin(self) -> str:
        assert self.grant is not None
        member = self.options.admin_group in self.user.groups
        expected = 200 if member else 403
        response = self.api.call(list_endpoints, f"GET {ADMIN_PATH}", access_token=self.grant.access_token)
        why = "in" if member else "not in"
        expect_status(response, expected, f"GET {ADMIN_PATH} ({why} {self.options.admin_group})")
        return f"GET {ADMIN_PATH}: {expected}, as the test user is {why} {self.options.admin_group}"

    def refresh(self) -> str:
        assert self.grant is not None
        form = IssueTokenTokenRequest(
            grant_type=IssueTokenTokenRequestGrantType.REFRESH_TOKEN, refresh_token=self.grant.refresh_token
        )
        response = self.api.call(issue_token, f"POST {TOKEN_PATH} (refresh_token grant)", body=form)
        refreshed = read_grant(
            response, f"POST {TOKEN_PATH} (refresh_token grant)", self.report, new_refresh_token=False
        )
        self._whoami(refreshed.access_token)
        return f"POST {TOKEN_PATH} refresh_token grant: 200, and whoami with the new token names the same sub"

    def wrong_password(self) -> str:
        wrong = self.user.password + "-wrong"
        self.report.secrets.add(wrong)
        form = IssueTokenTokenRequest(
            grant_type=IssueTokenTokenRequestGrantType.PASSWORD, username=self.user.username, password=wrong
        )
        response = self.api.call(issue_token, f"POST {TOKEN_PATH} with a wrong password", body=form)
        body = _json_or_none(response)
        if response.status_code != 400 or not isinstance(body, dict) or body.get("error") != "invalid_grant":
            raise CheckFailed(
                f"POST {TOKEN_PATH} with a wrong password: expected 400 invalid_grant, got {describe(response)}"
            )
        return f"POST {TOKEN_PATH} with a wrong password: 400 invalid_grant"

    def _whoami(self, access_token: str) -> dict[str, Any]:
        response = self.api.call(whoami_operation, f"GET {WHOAMI_PATH} with the token", access_token=access_token)
        expect_status(response, 200, f"GET {WHOAMI_PATH} with the token")
        claims = _json_or_none(response)
        if not isinstance(claims, dict):
            raise CheckFailed(f"GET {WHOAMI_PATH}: 200 but not a JSON object of claims")
        own = token_claims(access_token).get("sub")
        if claims.get("sub") != own:
            raise CheckFailed(f"GET {WHOAMI_PATH}: sub is not the token's own")
        return claims

    @staticmethod
    def _bearer(access_token: str) -> dict[str, str]:
        return {"authorization": f"Bearer {access_token}"}

    # The product's own routes: without a token, and as the test user is for each.

    def product(self) -> str:
        if not self.options.product_checks:
            return f"none in {self.options.product_checks_file or 'the product checks file'}"
        signed_in = self.grant is not None
        granted: frozenset[str] = frozenset()
        if self.grant is not None:
            claims = token_claims(self.grant.access_token)
            scope, scp = claims.get("scope"), claims.get("scp")
            # The JWT authorizer reads `scope` (space separated) or `scp` (a list): AWS API Gateway
            # Developer Guide, "Control access to HTTP APIs with JWT authorizers".
            granted = frozenset(scope.split() if isinstance(scope, str) else scp if isinstance(scp, list) else ())
        groups = frozenset(self.user.groups) if signed_in else frozenset()
        done, unstated = [], []
        for check in self.options.product_checks:
            kinds = ["anonymous"]
            if signed_in:
                kinds.append(check.kind_of(signed_in=True, scopes=granted, groups=groups))
            for kind in kinds:
                status = check.expect.get(kind)
                if status is None:
                    unstated.append(f"{check.name} ({kind})")
                    continue
                headers = self._bearer(self.grant.access_token) if kind != "anonymous" and self.grant else {}
                response = self.api.request(check.method, check.path, headers=headers)
                what = f"{check.name} as {kind.replace('_', ' ')}"
                expect_status(response, status, what)
                function_answered = answered_by_the_function(response)
                if (kind, status) in (("anonymous", 401), ("without_scope", 403)) and function_answered:
                    raise CheckFailed(f"{what}: {describe(response)}, not API Gateway's: is its authorizer set?")
                if (kind, status) == ("without_group", 403) and not function_answered:
                    raise CheckFailed(f"{what}: {describe(response)}, not the function's group check")
                done.append(f"{check.name} {kind.replace('_', ' ')} {status}")
        line = "; ".join(done) or "nothing this user's kind has a status for"
        if unstated:
            line += f" (no status given for {', '.join(unstated)})"
        return line

    def checks(self) -> Iterator[tuple[str, Callable[[], str]]]:
        yield "health", self.health
        yield "docs", self.docs
        yield "no token", self.refused_without_token
        if self.options.user is None:
            yield "product", self.product
            return
        yield "sign-in", self.sign_in
        yield "whoami", self.whoami
        yield "admin", self.admin
        yield "refresh", self.refresh
        yield "wrong password", self.wrong_password
        yield "product", self.product


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def run(options: Options, out: TextIO) -> bool:
    """Every check in order, one line each; False at the first failure."""
    report = Report(out)
    if options.user is not None:
        report.secrets.add(options.user.password)
    api = Api(options)
    started = time.monotonic()
    passed = 0
    report.line(f"smoke: {api.base_url}, at most {options.deadline:g} s, {options.request_timeout:g} s per request")
    try:
        for name, check in Smoke(options, api, report).checks():
            try:
                detail = check()
            except CheckFailed as failure:
                report.line(f"FAIL {name}: {failure}")
                return False
            report.line(f"ok   {name}: {detail}")
            passed += 1
    finally:
        api.close()
    if options.user is None:
        report.line(
            "skip sign-in, whoami, admin, refresh, wrong password: no test user given, unauthenticated checks only"
        )
    report.line(f"smoke: {passed} checks passed in {time.monotonic() - started:.1f} s")
    return True
