"""Payload 2.0 events as an HTTP API on its execute-api domain sends them to the function.

The shape is AWS's payload 2.0 example (API Gateway developer guide, "Working with AWS Lambda
proxy integrations for HTTP APIs"), as `tests/events/` keeps it: header names lowercase,
`rawPath` with the named stage in front (`/{stage}/v1/...`), the route key without it. The
hook sends only form bodies, which an HTTP API hands over base64-encoded (`isBase64Encoded`
true: only text, JSON, XML and JavaScript media types arrive as text; the token event in
tests/events/token_password_grant.json, and the sandbox's gateway, which plays the same rule). On a
protected route the JWT authorizer's verdict sits at `requestContext.authorizer.jwt`: the
verified token's claims, rendered as the authorizer renders them (`sandbox.claim_text`, the
project's one model of that rendering, which the sandbox's gateway uses too), and the token's
scopes on routes with scopes, null on routes without.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sandbox.claim_text import gateway_claims

# A documentation address (RFC 5737): the gateway puts the caller's address here.
SOURCE_IP = "192.0.2.10"
USER_AGENT = "codedeploy-pre-traffic-hook"


@dataclass(frozen=True)
class Route:
    """One route the hook calls: its method and path as the app declares them, and whether it asks for scopes."""

    method: str
    path: str
    scoped: bool = False

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class Gateway:
    """What the gateway would put in every event: its stage and its domain."""

    stage: str
    domain_name: str
    account_id: str = "000000000000"

    def event(
        self,
        route: Route,
        *,
        headers: dict[str, str] | None = None,
        body: str | None = None,
        authorizer: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        raw_path = f"/{self.stage}{route.path}"
        now = time.time()
        request_context: dict[str, Any] = {
            "accountId": self.account_id,
            "apiId": self.domain_name.partition(".")[0],
            "domainName": self.domain_name,
            "domainPrefix": self.domain_name.partition(".")[0],
            "http": {
                "method": route.method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": SOURCE_IP,
                "userAgent": USER_AGENT,
            },
            "requestId": uuid.uuid4().hex[:16],
            "routeKey": route.key,
            "stage": self.stage,
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        }
        if authorizer is not None:
            request_context["authorizer"] = authorizer
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route.key,
            "rawPath": raw_path,
            "rawQueryString": "",
            "headers": {
                "accept": "*/*",
                "content-length": "0",
                "host": self.domain_name,
                "user-agent": USER_AGENT,
                # The gateway adds X-Ray's trace header to every request it forwards.
                "x-amzn-trace-id": f"Root=1-{int(now):08x}-{uuid.uuid4().hex[:24]}",
                "x-forwarded-for": SOURCE_IP,
                "x-forwarded-port": "443",
                "x-forwarded-proto": "https",
                **(headers or {}),
            },
            "requestContext": request_context,
            "isBase64Encoded": body is not None,
        }
        if body is not None:
            event["body"] = base64.b64encode(body.encode()).decode("ascii")
            event["headers"]["content-length"] = str(len(body.encode()))
        return event


def token_payload(access_token: str) -> dict[str, Any]:
    """The token's claims, unverified: the authorizer would have verified them; the hook only renders them."""
    parts = access_token.split(".")
    if len(parts) != 3:
        raise ValueError("the access token is not a JWT")
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError):
        raise ValueError("the access token's payload is not base64url JSON") from None
    if not isinstance(payload, dict):
        raise ValueError("the access token's payload is not a JSON object")
    return payload


def authorizer_context(claims: dict[str, Any], *, scoped: bool) -> dict[str, Any]:
    """`requestContext.authorizer` for a verified token on a route with or without scopes.

    The scopes are the token's whole list on a route with scopes (`scope`, space separated, or
    `scp`, a list as Okta writes it), null on a route without (AWS, "Controlling access to HTTP
    APIs with JWT authorizers"; the captured events in tests/events/).
    """
    scopes: list[str] | None = None
    if scoped:
        scope, scp = claims.get("scope"), claims.get("scp")
        scopes = scope.split() if isinstance(scope, str) else [str(s) for s in scp] if isinstance(scp, list) else []
    return {"jwt": {"claims": gateway_claims(claims), "scopes": scopes}}
