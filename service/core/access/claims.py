"""The one place that knows what API Gateway's JWT authorizer hands Lambda, and how to read it exactly.

Its verdict sits in the payload 2.0 event at ``requestContext.authorizer.jwt`` (`JwtContext`),
every claim a string: numbers and booleans as text, arrays as ``"[A B]"`` (space separated
inside brackets, not JSON) and objects as JSON text. That rendering loses information: the
groups ``["Not ADMINS"]`` and ``["Not", "ADMINS"]`` both arrive as ``"[Not ADMINS]"``, and a
string claim that reads ``"[x]"`` or ``"true"`` cannot be told from a list or a boolean.

So the app never undoes the rendering. The authorizer's identity source is the
``Authorization`` header (`IDENTITY_SOURCE`; the CDK construct keeps the default), so the
token it verified is in the request: `verified_token_claims` decodes that token's payload
(without checking its signature again: the authorizer did) and takes its claims, exact,
only where every one of them renders to the text the authorizer handed over
(`flatten_claim`, the gateway's rendering). A request whose header holds no such token is
refused: the claims the app would read are not the ones that were verified. The local
runtime plays the gateway with `flatten_claims` and then takes the same path.
"""

from __future__ import annotations

import binascii
import json
import logging
from collections.abc import Mapping
from typing import Any, TypedDict

from service.core.errors import GatewayRejection

logger = logging.getLogger("service.claims")

# Where the HTTP API JWT authorizer reads the token (its default, the construct's choice).
IDENTITY_SOURCE = "$request.header.Authorization"
# Claims nest a few levels at most (Firebase's `firebase.identities.email`, Keycloak's
# `realm_access.roles`). A token nesting deeper is refused, instead of answering a 500 from
# the response serializer, which gives up at about 255 levels.
MAX_CLAIM_DEPTH = 32


# A client sends the same token with every request until it expires, and checking that its
# claims render to the authorizer's costs more than decoding them: a token that matched is
# remembered by its exact text with the authorizer's claims it matched and its own claims, and
# both the decoding and the check are skipped only for that text and those authorizer's claims
# (the oldest is forgotten first). Each request gets a copy of the claims, so no two requests
# share them (copying costs about a third of decoding the token again).
MATCHED_TOKENS_KEPT = 256
_matched_tokens: dict[str, tuple[dict[str, str], dict[str, Any]]] = {}


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
    # Read, never changed: the exact claims come from the token (`verified_token_claims`).
    return JwtContext(claims=jwt["claims"], scopes=[str(s) for s in scopes] if isinstance(scopes, list) else None)


def bearer_token(authorization: str | None) -> str | None:
    """The token from `Bearer <t>` or a bare `<t>`, as the authorizer reads it."""
    if not authorization:
        return None
    value = authorization.strip()
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer":
        value = rest.strip()
    return value or None


# Objects as compact JSON text; one encoder, not one per call.
_OBJECT_TEXT = json.JSONEncoder(separators=(",", ":"))


def flatten_claim(value: Any) -> str:
    """A claim value as the gateway renders it to Lambda."""
    if isinstance(value, str):
        return value
    # Numbers, booleans and null are rendered as their JSON text (an int's is its str).
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + " ".join(flatten_claim(item) for item in value) + "]"
    if isinstance(value, dict):
        return _OBJECT_TEXT.encode(value)
    return json.dumps(value)


def flatten_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    return {name: flatten_claim(value) for name, value in claims.items()}


def verified_token_claims(authorization: str | None, rendered: Mapping[str, str]) -> dict[str, Any]:
    """The exact claims of the token behind `rendered` (the authorizer's claims), from the `Authorization` header.

    Refused (401, as the gateway refuses a bad token) where the header holds no readable
    token, where the token's claims do not render to `rendered`, or where they nest deeper
    than `MAX_CLAIM_DEPTH`.
    """
    token = bearer_token(authorization)
    matched = _matched_tokens.get(token) if token else None
    if matched is not None and matched[0] == rendered:
        remembered: dict[str, Any] = _copy_json(matched[1])
        return remembered
    claims = _unverified_payload(token) if token else None
    if token is None or claims is None:
        raise _refused("the Authorization header holds no readable token")
    # A claim's value is its first level.
    levels_below = MAX_CLAIM_DEPTH - 1
    if any(_nests_deeper_than(value, levels_below) for value in claims.values() if isinstance(value, dict | list)):
        raise _refused(f"the token's claims nest deeper than {MAX_CLAIM_DEPTH} levels")
    if flatten_claims(claims) != rendered and not _renders_within_leeway(claims, rendered):
        raise _refused("the token in the Authorization header is not the one the authorizer verified")
    if len(_matched_tokens) >= MATCHED_TOKENS_KEPT:
        del _matched_tokens[next(iter(_matched_tokens))]
    _matched_tokens[token] = (dict(rendered), _copy_json(claims))
    return claims


def _copy_json(value: Any) -> Any:
    """A deep copy of decoded JSON (objects, arrays, scalars); recursion bounded by `MAX_CLAIM_DEPTH`."""
    if type(value) is dict:
        return {name: _copy_json(item) for name, item in value.items()}
    if type(value) is list:
        return [_copy_json(item) for item in value]
    return value


def _refused(reason: str) -> GatewayRejection:
    # A reason, never a claim's value: one line an operator can act on (e.g. an authorizer
    # whose identity source is not the Authorization header).
    logger.warning("refused the authorizer's claims: %s", reason)
    return GatewayRejection.unauthorized(reason)


_BASE64URL_TO_BASE64 = bytes.maketrans(b"-_", b"+/")


def _unverified_payload(token: str) -> dict[str, Any] | None:
    """The claims of a compact JWS, decoded without checking its signature; None where it is not one."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        raw = binascii.a2b_base64(payload.encode("ascii").translate(_BASE64URL_TO_BASE64), strict_mode=True)
        claims = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        # RecursionError: JSON nested deeper than the interpreter's stack allows.
        return None
    return claims if isinstance(claims, dict) else None


def _renders_within_leeway(claims: Mapping[str, Any], rendered: Mapping[str, str]) -> bool:
    """Whether `claims` render to `rendered`, allowing for the details of the rendering that are the gateway's own."""
    return len(claims) == len(rendered) and all(
        name in rendered and _renders_as(value, rendered[name]) for name, value in claims.items()
    )


def _renders_as(value: Any, text: str) -> bool:
    """Whether the gateway would render the claim `value` as `text`."""
    if flatten_claim(value) == text:
        return True
    # Leeway only where the rendering's details are the gateway's own: the spacing and key
    # order of an object's JSON text, the spelling of a number that is not an integer.
    if isinstance(value, dict):
        try:
            return bool(json.loads(text) == value)
        except (ValueError, RecursionError):
            return False
    if isinstance(value, float):
        try:
            return float(text) == value
        except ValueError:
            return False
    # How the gateway spells a null, or an array holding anything but strings, numbers and
    # booleans, is not documented; refusing every such token would lock out a valid caller. The
    # claim must be there, and the token is still told apart by every claim whose rendering is
    # known (`iss`, `sub`, `exp`, `iat`, the groups as a list of names, ...).
    return value is None or (isinstance(value, list) and not all(_is_scalar(item) for item in value))


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _nests_deeper_than(value: dict[str, Any] | list[Any], levels: int) -> bool:
    """Whether `value` holds objects or arrays more than `levels` deep (recursion bounded by `levels`)."""
    children = value.values() if isinstance(value, dict) else value
    for child in children:
        if isinstance(child, dict | list) and (levels == 0 or _nests_deeper_than(child, levels - 1)):
            return True
    return False


def groups_from_claim(value: Any) -> frozenset[str]:
    """Group names from a token's claim: a list of names, or one name."""
    if isinstance(value, str):
        return frozenset({value}) if value else frozenset()
    if isinstance(value, list):
        return frozenset(item for item in value if isinstance(item, str))
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
