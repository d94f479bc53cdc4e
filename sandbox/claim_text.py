"""How the sandbox's gateway renders a verified token's claims for the function, as API Gateway does.

The HTTP API JWT authorizer hands every claim over as a string, the way Go's ``fmt`` prints
the decoded JSON value (``%v``), and leaves a claim whose value is null out:

- a string as itself; a boolean ``true``/``false``; a top-level integer as its digits
  (every captured event, e.g. ``"exp": "1787996002"`` in DefinitelyTyped PR 75458's Cognito
  event);
- an array ``[a b]``, items space separated (``"groups": "[USERS ADMINS]"`` in the original
  starter's deployed whoami, obytes' lambda-flask-api README; aws/aws-lambda-go issue 591);
- an object ``map[key:value ...]``, keys sorted, nested values the same way
  (``"firebase": "map[identities:map[email:[...]] sign_in_provider:password]"`` in that README;
  aws/aws-lambda-go issue 570);
- a null claim left out (floci-io/floci PR 2011, an emulator matched to measured HTTP APIs).

Not documented, played as Go prints a value decoded into ``interface{}``: a number inside an
object or an array, or a non-integer one, as a float64 (``1.635018939e+09``); a null inside
one as ``<nil>``. The function must not lock a caller out over these.

Written here, not imported from the service (whose `claims.flatten_claim` renders the same
way): the sandbox shares no code with the function it stands in front of, so a fault in one
rendering shows up against the other.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def gateway_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    """`requestContext.authorizer.jwt.claims` for a verified token's claims."""
    rendered: dict[str, str] = {}
    for name, value in claims.items():
        if value is None:
            continue
        # A top-level integer keeps its digits; a bool is not one here.
        is_integer = isinstance(value, int) and not isinstance(value, bool)
        rendered[name] = str(value) if is_integer else _printed(value)
    return rendered


def _printed(value: Any) -> str:
    """Go's `fmt.Sprint` of a value `encoding/json` decoded into `interface{}`."""
    parts: list[str] = []
    _print_into(parts, value)
    return "".join(parts)


def _print_into(parts: list[str], value: Any) -> None:
    if value is None:
        parts.append("<nil>")
    elif isinstance(value, bool):
        parts.append("true" if value else "false")
    elif isinstance(value, str):
        parts.append(value)
    elif isinstance(value, int | float):
        parts.append(_float64(float(value)))
    elif isinstance(value, list):
        parts.append("[")
        for index, item in enumerate(value):
            if index:
                parts.append(" ")
            _print_into(parts, item)
        parts.append("]")
    elif isinstance(value, dict):
        parts.append("map[")
        for index, key in enumerate(sorted(value)):
            if index:
                parts.append(" ")
            parts.append(f"{key}:")
            _print_into(parts, value[key])
        parts.append("]")
    else:
        raise TypeError(f"not a decoded JSON value: {type(value).__name__}")


def _float64(number: float) -> str:
    """``%v`` of a float64: strconv's shortest ``'g'``, in ``%e`` form for decimal exponents below -4 or from 6.

    Go's strconv/ftoa.go: "if precision was the shortest possible, use precision 6 for this
    decision"; the exponent has two digits at least.
    """
    if number == 0:
        return "-0" if math.copysign(1.0, number) < 0 else "0"
    sign = "-" if number < 0 else ""
    # repr is the shortest spelling that reads back as the same float, as Go's is.
    spelled = repr(abs(number))
    mantissa, _, exponent_text = spelled.partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + (int(exponent_text) if exponent_text else 0)
    leading_zeros = len(digits) - len(digits.lstrip("0"))
    digits = digits.strip("0")
    point -= leading_zeros
    exponent = point - 1
    if exponent < -4 or exponent >= 6:
        tail = f".{digits[1:]}" if len(digits) > 1 else ""
        return f"{sign}{digits[0]}{tail}e{'+' if exponent >= 0 else '-'}{abs(exponent):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{sign}{digits}{'0' * (point - len(digits))}"
    return f"{sign}{digits[:point]}.{digits[point:]}"
