"""Random claim sets, rendered as the gateway renders them: every one accepted, every change to a certain claim refused.

Claims are built from strings, integers, booleans, nulls, non-integer numbers, lists and
nested objects (hypothesis). Rendered Go-style (`flatten_claims`), each set is read back exact
from its token. Then one claim is changed, as an attacker holding an unsigned token would
change it: the token is refused wherever the changed claim is one of `EXACT_CLAIMS` (but a
float time claim, whose spelling is unknown), the groups claim, or a claim whose rendering is
certain (strings, integers, booleans, non-empty arrays of strings and booleans), unless the
change renders to the same text, which no check can see (the identity source's header is the
defence there).
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sandbox.claim_text import gateway_claims
from service.core.access.claims import (
    EXACT_CLAIMS,
    MAX_CLAIM_DEPTH,
    TIME_CLAIMS,
    flatten_claim,
    flatten_claims,
    go_float,
    verified_token_claims,
)
from service.core.errors import GatewayRejection
from tests.service.test_claims import unsigned_token

GROUPS_CLAIM = "groups"
# Text without lone surrogates (a token holding one is refused: see test_claims).
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
NAMES = st.one_of(st.sampled_from(sorted(EXACT_CLAIMS | {GROUPS_CLAIM})), TEXT.filter(bool))
SCALARS = st.one_of(
    TEXT,
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.none(),
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(TEXT, children, max_size=4)),
    max_leaves=12,
)
CLAIMS = st.dictionaries(NAMES, VALUES, max_size=8)
CERTAIN = st.one_of(
    TEXT,
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.lists(st.one_of(TEXT, st.booleans()), max_size=4),
)


def check(claims: dict[str, Any], rendered: dict[str, str]) -> dict[str, Any]:
    return verified_token_claims(unsigned_token(claims), rendered, groups_claim=GROUPS_CLAIM)


def is_certain(name: str, value: Any) -> bool:
    """Whether the check must see `value` under `name` rendered exactly (see the module's docstring)."""
    if isinstance(value, float) and name in TIME_CLAIMS:
        return False
    if name in EXACT_CLAIMS or name == GROUPS_CLAIM:
        return True
    if isinstance(value, str | bool) or (isinstance(value, int) and abs(value) <= 2**53):
        return True
    return isinstance(value, list) and bool(value) and all(isinstance(item, str | bool) for item in value)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(CLAIMS)
def test_every_claim_set_rendered_go_style_is_read_back_exact(claims: dict[str, Any]) -> None:
    rendered = flatten_claims(claims)
    assert rendered == gateway_claims(claims)
    assert check(claims, rendered) == claims


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(CLAIMS, st.data())
def test_any_spelling_of_a_nested_number_or_null_is_accepted(claims: dict[str, Any], data: st.DataObject) -> None:
    """Where the spelling is undocumented, any spelling of the same value: never a lock-out."""
    rendered = {
        name: (text if is_certain(name, claims[name]) else respelled(claims[name], data))
        for name, text in flatten_claims(claims).items()
    }
    assert check(claims, rendered) == claims


def respelled(value: Any, data: st.DataObject) -> str:
    """`value` rendered Go-style, each number and nested null spelled one of the ways the check allows."""
    if value is None:
        return data.draw(st.sampled_from(["<nil>", "null", ""]))
    if isinstance(value, bool | str):
        return flatten_claim(value)
    if isinstance(value, int | float):
        spellings = {go_float(float(value)), repr(float(value))}
        if isinstance(value, int) or float(value).is_integer():
            spellings.add(str(int(value)))
        return data.draw(st.sampled_from(sorted(spellings)))
    if isinstance(value, list):
        return "[" + " ".join(respelled(item, data) for item in value) + "]"
    return "map[" + " ".join(f"{key}:{respelled(value[key], data)}" for key in sorted(value)) + "]"


@settings(max_examples=250, suppress_health_check=[HealthCheck.too_slow])
@given(CLAIMS, NAMES, CERTAIN, CERTAIN, VALUES)
def test_changing_a_certain_claim_is_refused(
    claims: dict[str, Any], name: str, original: Any, forged: Any, other: Any
) -> None:
    """The token sent carries `original` where the verified one carried `forged`: refused.

    `name` is one of `EXACT_CLAIMS` or the groups claim (then `other`, any value, stands for
    `original`: their rendering must be exact whatever their type), or any name holding a
    value whose rendering is certain.
    """
    if name in EXACT_CLAIMS or name == GROUPS_CLAIM:
        original = other if other is not None else original
    sent = {**claims, name: original}
    verified = {**claims, name: forged}
    # A change the rendering cannot show (["Not ADMINS"] for ["Not", "ADMINS"]) is no change to the check,
    # nor another spelling of a float time claim's number.
    assume(flatten_claim(forged) != flatten_claim(original))
    assume(is_certain(name, original) or not respells_the_same_number(forged, original))
    with pytest.raises(GatewayRejection):
        check(sent, flatten_claims(verified))


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(CLAIMS, NAMES, VALUES)
def test_a_claim_null_in_the_token_must_be_absent_and_every_other_present(
    claims: dict[str, Any], name: str, value: Any
) -> None:
    # An empty array or object may be missing, as a null is: no source shows how it renders.
    assume(value is not None and not (isinstance(value, list | dict) and not value))
    claims = {**claims, name: value}
    rendered = flatten_claims(claims)
    # The token says null where the authorizer rendered a value ...
    with pytest.raises(GatewayRejection):
        check({**claims, name: None}, rendered)
    # ... or the authorizer's claims lack a claim the token has.
    with pytest.raises(GatewayRejection):
        check(claims, {key: text for key, text in rendered.items() if key != name})


def respells_the_same_number(forged: Any, original: Any) -> bool:
    numbers = (int, float)
    return isinstance(forged, numbers) and not isinstance(forged, bool) and float(forged) == original


FINITE = st.floats(allow_nan=False, allow_infinity=False)
INTEGERS = st.integers(min_value=-(2**53), max_value=2**53)
# Values whose numbers or nulls can be spelled more than one way.
RESPELLABLE = st.one_of(
    INTEGERS,
    FINITE,
    st.lists(st.one_of(INTEGERS, FINITE, st.none()), min_size=1, max_size=3),
    st.dictionaries(TEXT, st.one_of(INTEGERS, FINITE, st.none()), min_size=1, max_size=3),
)


@settings(max_examples=250, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(CLAIMS, NAMES, RESPELLABLE, st.data())
def test_where_the_rendering_must_be_exact_no_other_spelling_is_accepted(
    claims: dict[str, Any], name: str, value: Any, data: st.DataObject
) -> None:
    """A top-level integer, and anything under a listed name, in another spelling of the same numbers: refused."""
    assume(is_certain(name, value))
    claims = {**claims, name: value}
    text = respelled(value, data)
    assume(text != flatten_claim(value))
    with pytest.raises(GatewayRejection):
        check(claims, {**flatten_claims(claims), name: text})


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_go_float_reads_back_as_the_same_number(number: float) -> None:
    assert float(go_float(number)) == number
    assert math.copysign(1, float(go_float(number))) == math.copysign(1, number)


def test_the_generated_claims_stay_within_the_depth_limit() -> None:
    # max_leaves bounds the nesting far below the limit, so no example is refused for its depth.
    assert MAX_CLAIM_DEPTH > 12
