"""The one place that knows what API Gateway's JWT authorizer hands Lambda, and how.

Its verdict sits in the payload 2.0 event at ``requestContext.authorizer.jwt`` (`JwtContext`),
every claim a string: numbers and booleans as text, arrays as ``"[A B]"`` (space separated
inside brackets, not JSON) and objects as JSON text. `flatten_claims` does what the gateway
does (the local runtime uses it to play the gateway); `unflatten_claims` undoes it as far as
the text allows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypedDict

# The text "123" may have been a number or a string, and only the claim's name can tell.
# These claims are numbers by definition (RFC 7519 NumericDate, OIDC Core); every other
# numeric-looking value stays a string, so an identifier such as Google's numeric `sub`
# is never turned into an int.
NUMERIC_CLAIMS = frozenset({"exp", "iat", "nbf", "auth_time", "updated_at"})


class JwtContext(TypedDict):
    """``requestContext.authorizer.jwt`` of an HTTP API payload 2.0 event."""

    claims: dict[str, str]
    scopes: list[str] | None


def jwt_context_from_event(event: Any) -> JwtContext | None:
    """The authorizer's verdict from a Lambda event, or None where there is none."""
    if not isinstance(event, dict):
        return None
    request_context = event.get("requestContext")
    authorizer = request_context.get("authorizer") if isinstance(request_context, dict) else None
    jwt = authorizer.get("jwt") if isinstance(authorizer, dict) else None
    if not isinstance(jwt, dict) or not isinstance(jwt.get("claims"), dict) or not jwt["claims"]:
        return None
    scopes = jwt.get("scopes")
    # Read, never changed: the claims are undone into a new dict by `unflatten_claims`.
    return JwtContext(claims=jwt["claims"], scopes=[str(s) for s in scopes] if isinstance(scopes, list) else None)


def flatten_claim(value: Any) -> str:
    """A claim value as the gateway renders it to Lambda."""
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return "[" + " ".join(flatten_claim(item) for item in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    # Numbers, booleans and null are rendered as their JSON text.
    return json.dumps(value)


def flatten_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    return {name: flatten_claim(value) for name, value in claims.items()}


def unflatten_claim(name: str, text: str) -> Any:
    """Undo the gateway's rendering of one claim; values that were never flattened pass through."""
    if not isinstance(text, str):
        return text
    first = text[:1]
    if first == "[" and text[-1] == "]":
        return text[1:-1].split()
    if first == "{":
        try:
            return json.loads(text)
        except ValueError:
            return text
    if text in ("true", "false"):
        return text == "true"
    if name in NUMERIC_CLAIMS:
        try:
            return int(text)
        except ValueError:
            try:
                return float(text)
            except ValueError:
                return text
    return text


def unflatten_claims(claims: Mapping[str, Any]) -> dict[str, Any]:
    return {name: unflatten_claim(name, value) for name, value in claims.items()}


def groups_from_claim(value: Any) -> frozenset[str]:
    """Group names from a claim given as a list, a flattened ``"[A B]"`` string or one name."""
    if value is None:
        return frozenset()
    if isinstance(value, str):
        value = unflatten_claim("", value)
    if isinstance(value, str):
        return frozenset({value}) if value else frozenset()
    if isinstance(value, list | tuple | set | frozenset):
        return frozenset(str(item) for item in value)
    return frozenset()


def scopes_from_claims(claims: Mapping[str, Any]) -> list[str]:
    """A token's scopes as the gateway reads them: `scope` (space separated) or `scp`."""
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            return value.split()
        if isinstance(value, list):
            return [str(item) for item in value]
    return []
