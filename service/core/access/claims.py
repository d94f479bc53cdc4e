"""The one place that knows what API Gateway's JWT authorizer hands Lambda, and how to read it exactly.

Its verdict sits in the payload 2.0 event at ``requestContext.authorizer.jwt`` (`JwtContext`),
every claim a string, rendered the way Go's ``fmt`` prints decoded JSON (`flatten_claim`):
strings bare, integers as digits, booleans ``true``/``false``, arrays ``[a b]`` and objects
``map[key:value ...]`` with keys sorted, nested values rendered the same way; a claim whose
value is null is left out. Sources: the original starter's deployed ``whoami`` (obytes'
lambda-flask-api README: ``"firebase": "map[identities:map[email:[...]] sign_in_provider:password]"``,
``"groups": "[USERS ADMINS]"``), aws/aws-lambda-go issue 570 (an object claim arrives as
``map[key:value]``) and #591 (``cognito:groups`` as ``[Admin Merchant Remarketer]``), and
floci-io/floci PR 2011 (an emulator matched to measured HTTP APIs: null claims left out).

That rendering loses information: the groups ``["Not ADMINS"]`` and ``["Not", "ADMINS"]`` both
arrive as ``"[Not ADMINS]"``, and a string claim that reads ``"[x]"`` or ``"true"`` cannot be
told from a list or a boolean. So the app never undoes the rendering. The token the authorizer
verified is in the request, in the header its identity source names (`JWT_IDENTITY_SOURCE`,
set by the CDK construct from the value it gives the authorizer): `verified_token_claims`
decodes that token's payload (without checking its signature again: the authorizer did) and
takes its claims, exact, only where they render to the text the authorizer handed over
(`renders_to`). Exact where the rendering is known, never a lock-out where it is not:

- `EXACT_CLAIMS`, the configured groups claim, and every claim whose rendering is certain
  (strings, integers, booleans, non-empty arrays of strings and booleans) must render exactly;
- a null claim must be absent from the authorizer's claims, and every other claim present,
  but for an empty array or object: no source shows how the gateway renders ``[]`` or ``{}``
  (Auth0's ``"permissions": []``), so it may be missing, as a null is, or rendered;
- what is left (objects, arrays holding numbers, objects, arrays or nulls, non-integer
  numbers, anywhere, ``exp`` and the other `EXACT_CLAIMS` included) compares by the same
  rendering, allowing only what no source documents: how a number nested in an object or
  array is spelled (Go prints a decoded number as a float64, e.g. ``1.635018939e+09``), how a
  non-integer number is spelled (RFC 7519 allows ``"exp": 4102444800.0``; the gateway prints
  top-level integers as digits, so not with ``%v``, and its float spelling is not known), how a
  nested null is spelled.
See docs/aws-facts.md, rows "Claim rendering" and "Claims the rendering leaves unknown".

A request whose header holds no such token is refused: the claims the app would read are not
the ones that were verified. The local runtime plays the gateway with `flatten_claims` and
then takes the same path.
"""

from __future__ import annotations

import binascii
import json
import logging
import marshal
import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, TypedDict

from service.core.errors import GatewayRejection

logger = logging.getLogger("service.claims")

# Claims nest a few levels at most (Firebase's `firebase.identities.email`, Keycloak's
# `resource_access.<client>.roles`). A token nesting deeper is refused, instead of answering a
# 500 from the response serializer, which gives up at about 255 levels.
MAX_CLAIM_DEPTH = 32
# Claims the authorizer itself reads (issuer, audience, times, scopes; AWS's JWT authorizer
# documentation) or that name the caller and the token: these must render exactly, whatever
# their type, and so must the configured groups claim.
# docs/aws-facts.md, row "JWT authorizer checks"
EXACT_CLAIMS = frozenset({"iss", "sub", "aud", "exp", "nbf", "iat", "client_id", "token_use", "scope", "scp", "jti"})
# Of those, the times: RFC 7519's NumericDate may be a non-integer (`"exp": 4102444800.0`), and
# how the gateway spells a top-level float is not known, so such a value matches any spelling
# of the same number (docs/aws-facts.md, row "Claims the rendering leaves unknown").
TIME_CLAIMS = frozenset({"exp", "nbf", "iat"})
# The largest integer a float64 holds exactly; beyond it how the gateway spells one is not known.
_EXACT_INTEGER_LIMIT = 2**53


# A client sends the same token with every request until it expires, and checking that its
# claims render to the authorizer's costs more than decoding them: a token that matched is
# remembered by its exact text with the authorizer's claims it matched, the groups claim it was
# checked with, and its own claims; both the decoding and the check are skipped only for that
# text, those authorizer's claims and that groups claim (the oldest is forgotten first). Each
# request gets a copy of the claims, so no two requests share them: the claims are remembered as
# `marshal` bytes, whose loading builds a deep copy in C (decoded JSON holds only types marshal
# writes exactly; the bytes never leave the process), about a third cheaper than copying the
# dicts and lists in Python.
MATCHED_TOKENS_KEPT = 256
_matched_tokens: dict[str, tuple[dict[str, str], str, bytes]] = {}


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


def flatten_claim(value: Any) -> str:
    """A (non-null) claim value as the gateway renders it to Lambda: Go's ``fmt`` of the decoded JSON.

    Top-level integers as digits (every deployed event shows ``exp`` so). Inside an object or
    an array a number is printed as Go prints a decoded JSON number, a float64 (``1.635018939e+09``);
    that spelling is not documented, and `renders_to` accepts any spelling of the same number.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _go_text(value)


def _go_text(value: Any) -> str:
    """Go's ``%v`` of a value decoded from JSON into ``interface{}`` (recursion bounded by `MAX_CLAIM_DEPTH`)."""
    if isinstance(value, str):
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        # Go prints a nil interface inside a map or a slice so.
        return "<nil>"
    if isinstance(value, int | float):
        return go_float(float(value))
    if isinstance(value, list | tuple):
        return "[" + " ".join(_go_text(item) for item in value) + "]"
    if isinstance(value, dict):
        # Go's fmt prints a map's keys sorted (Go 1.12 and later); UTF-8 byte order is code point order.
        return "map[" + " ".join(f"{key}:{_go_text(value[key])}" for key in sorted(value)) + "]"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def go_float(number: float) -> str:
    """Go's ``%v`` of a float64: ``strconv.FormatFloat(f, 'g', -1, 64)``.

    The shortest digits that read back as the same float64, in ``%e`` form (exponent of two
    digits at least, ``1.635018939e+09``) where the decimal exponent is below -4 or 6 and above,
    else plainly (Go's strconv/ftoa.go: "if precision was the shortest possible, use precision 6
    for this decision"). Non-finite numbers never get here: JSON has none (`_unverified_payload`).
    """
    if number == 0:
        return "-0" if math.copysign(1.0, number) < 0 else "0"
    # Python's repr is the shortest round-tripping spelling too; only its layout differs from Go's.
    sign, digits, exponent = Decimal(repr(number)).normalize().as_tuple()
    assert isinstance(exponent, int)
    mantissa = "".join(map(str, digits))
    decimal_exponent = len(mantissa) - 1 + exponent
    if decimal_exponent < -4 or decimal_exponent >= 6:
        fraction = f".{mantissa[1:]}" if len(mantissa) > 1 else ""
        text = f"{mantissa[0]}{fraction}e{'-' if decimal_exponent < 0 else '+'}{abs(decimal_exponent):02d}"
    elif exponent >= 0:
        text = mantissa + "0" * exponent
    elif (point := len(mantissa) + exponent) > 0:
        text = f"{mantissa[:point]}.{mantissa[point:]}"
    else:
        text = f"0.{'0' * -point}{mantissa}"
    return f"-{text}" if sign else text


def flatten_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    """The authorizer's claims for a token's: each rendered, a null claim left out (floci PR 2011)."""
    return {name: flatten_claim(value) for name, value in claims.items() if value is not None}


def verified_token_claims(
    token_header: str | None, rendered: Mapping[str, str], *, groups_claim: str
) -> dict[str, Any]:
    """The exact claims of the token behind `rendered` (the authorizer's claims), from its identity source's header.

    Refused (401, as the gateway refuses a bad token) where the authorizer's claims are not
    all strings (the gateway hands over strings only), where the header holds no readable
    token, where the token's claims do not render to `rendered` (`renders_to`), or where they
    nest deeper than `MAX_CLAIM_DEPTH`.
    """
    token = bearer_token(token_header)
    matched = _matched_tokens.get(token) if token else None
    # Remembered authorizer's claims are all strings (checked below before they were kept), and
    # nothing decoded from JSON but a string equals one: an equal `rendered` passed that check too.
    if matched is not None and matched[0] == rendered and matched[1] == groups_claim:
        remembered: dict[str, Any] = marshal.loads(matched[2])  # noqa: S302 - bytes this process wrote
        return remembered
    if not all(type(text) is str for text in rendered.values()):
        raise _refused("the authorizer's claims hold a value that is not a string")
    claims = _unverified_payload(token) if token else None
    if token is None or claims is None:
        raise _refused("the identity source's header holds no readable token")
    # A claim's value is its first level.
    levels_below = MAX_CLAIM_DEPTH - 1
    if any(_nests_deeper_than(value, levels_below) for value in claims.values() if isinstance(value, dict | list)):
        raise _refused(f"the token's claims nest deeper than {MAX_CLAIM_DEPTH} levels")
    if not renders_to(claims, rendered, groups_claim=groups_claim):
        raise _refused("the token in the identity source's header is not the one the authorizer verified")
    if len(_matched_tokens) >= MATCHED_TOKENS_KEPT:
        del _matched_tokens[next(iter(_matched_tokens))]
    _matched_tokens[token] = (dict(rendered), groups_claim, marshal.dumps(claims))
    return claims


def renders_to(claims: Mapping[str, Any], rendered: Mapping[str, str], *, groups_claim: str) -> bool:
    """Whether the gateway would hand `rendered` over for a token carrying `claims` (see the module's rules)."""
    if flatten_claims(claims) == rendered:
        return True
    present = {name: value for name, value in claims.items() if value is not None}
    if not rendered.keys() <= present.keys():
        return False
    for name, value in present.items():
        text = rendered.get(name)
        if text is None:
            if isinstance(value, list | dict) and not value:
                continue
            return False
        listed = name in EXACT_CLAIMS or name == groups_claim
        if isinstance(value, float) and (not listed or name in TIME_CLAIMS):
            if _match(value, text, 0) != len(text):
                return False
        elif listed or _rendering_is_certain(value):
            if flatten_claim(value) != text:
                return False
        elif _match(value, text, 0) != len(text):
            return False
    return True


def _rendering_is_certain(value: Any) -> bool:
    """Strings, booleans, integers a float64 holds exactly, and arrays of strings and booleans."""
    if isinstance(value, str | bool):
        return True
    if isinstance(value, int):
        return abs(value) <= _EXACT_INTEGER_LIMIT
    if isinstance(value, list):
        return bool(value) and all(isinstance(item, str | bool) for item in value)
    return False


# What a number's spelling may hold (digits, sign, point, exponent).
_NUMBER_CHARACTERS = frozenset("0123456789+-.eE")
# How a null nested in an object or an array may be spelled: Go's `<nil>`, JSON's `null`, or nothing.
_NULL_SPELLINGS = ("<nil>", "null")


def _match(value: Any, text: str, position: int) -> int | None:
    """Where the rendering of `value` read from `text` at `position` ends, or None where it does not read so.

    Strings, booleans, brackets, keys and separators must be exactly Go's; a number may be
    spelled any way that reads as the same number, a null as `_NULL_SPELLINGS` or nothing.
    Each step reads forward only (no backtracking), so the cost is linear in the text.
    """
    if isinstance(value, str):
        return position + len(value) if text.startswith(value, position) else None
    if isinstance(value, bool):
        word = "true" if value else "false"
        return position + len(word) if text.startswith(word, position) else None
    if value is None:
        for spelling in _NULL_SPELLINGS:
            if text.startswith(spelling, position):
                return position + len(spelling)
        return position
    if isinstance(value, int | float):
        end = position
        while end < len(text) and text[end] in _NUMBER_CHARACTERS:
            end += 1
        return end if end > position and _same_number(text[position:end], value) else None
    if isinstance(value, list):
        return _match_sequence(value, text, position, "[")
    if isinstance(value, dict):
        return _match_sequence([(key, value[key]) for key in sorted(value)], text, position, "map[")
    return None


def _match_sequence(items: list[Any], text: str, position: int, opening: str) -> int | None:
    """An array's ``[a b]``; with `opening` ``map[``, an object's ``map[k:v ...]`` from its sorted (key, value)."""
    if not text.startswith(opening, position):
        return None
    position += len(opening)
    for index, entry in enumerate(items):
        if index:
            if not text.startswith(" ", position):
                return None
            position += 1
        item = entry
        if opening == "map[":
            key, item = entry
            if not text.startswith(f"{key}:", position):
                return None
            position += len(key) + 1
        end = _match(item, text, position)
        if end is None:
            return None
        position = end
    return position + 1 if text.startswith("]", position) else None


def _same_number(spelling: str, value: int | float) -> bool:
    if isinstance(value, int) and spelling == str(value):
        return True
    try:
        return float(spelling) == float(value)
    except (ValueError, OverflowError):
        return False


def _refused(reason: str) -> GatewayRejection:
    # A reason, never a claim's value: one line an operator can act on (e.g. an authorizer
    # whose identity source is not the header the function was told of).
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
        # NaN, Infinity and numbers beyond a float64 are refused as they are read (`is_json_text`).
        claims = json.loads(raw, parse_constant=_not_json, parse_float=_finite_float)
    except (binascii.Error, ValueError, RecursionError):
        # RecursionError: JSON nested deeper than the interpreter's stack allows.
        return None
    if not isinstance(claims, dict):
        return None
    # Only a payload that may hold a surrogate (escaped, or encoded as UTF-8 bytes) is walked for one.
    return claims if not _MAY_HOLD_SURROGATE.search(raw) or is_json_text(claims) else None


# `\ud800`-`\udfff` escaped, or encoded as bytes (which Python's JSON decoder lets through).
_MAY_HOLD_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _finite_float(spelling: str) -> float:
    number = float(spelling)
    if not math.isfinite(number):
        raise ValueError("a number beyond a float64")
    return number


def is_json_text(value: Any) -> bool:
    """Whether decoded claims are JSON a response can carry back unchanged.

    Python's decoder reads what JSON (RFC 8259) has no room for: ``NaN`` and ``Infinity``, a
    number too large for a float (``1e400`` reads as infinity), and a lone surrogate escape
    (``"\\ud800"``), which no UTF-8 response can hold. Go's decoder, the gateway's, refuses the
    first two and replaces the third; such a token is refused rather than answered with a
    changed value or a 500. Walked without recursion: the claims may nest arbitrarily deep.
    """
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if not _encodes_as_utf8(item):
                return False
        elif isinstance(item, float):
            if not math.isfinite(item):
                return False
        elif isinstance(item, dict):
            if not all(_encodes_as_utf8(key) for key in item):
                return False
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return True


def _encodes_as_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _nests_deeper_than(value: dict[str, Any] | list[Any], levels: int) -> bool:
    """Whether `value` holds objects or arrays more than `levels` deep (recursion bounded by `levels`)."""
    children = value.values() if isinstance(value, dict) else value
    for child in children:
        if isinstance(child, dict | list) and (levels == 0 or _nests_deeper_than(child, levels - 1)):
            return True
    return False


def groups_from_claim(value: Any) -> frozenset[str]:
    """Group names from a token's claim: a list of names, or one name; any other shape grants no group.

    A list holding anything but names (``["ADMINS", null]``, ``["ADMINS", {}]``) grants none at
    all, rather than the names in it: it is not a groups claim any identity provider issues.
    """
    if isinstance(value, str):
        return frozenset({value}) if value else frozenset()
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return frozenset(value)
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
