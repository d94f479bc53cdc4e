"""The gateway's claim rendering, and reading the exact claims of the token it verified, in one place."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest

from service.core.access import claims as claims_module
from service.core.access.claims import (
    MATCHED_TOKENS_KEPT,
    MAX_CLAIM_DEPTH,
    flatten_claims,
    groups_from_claim,
    scopes_from_claims,
    verified_token_claims,
)
from service.core.errors import GatewayRejection


def unsigned_token(claims: dict[str, Any] | str) -> str:
    """A compact JWS with `claims` as its payload; the signature is never checked here (the authorizer did)."""

    def segment(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    header = json.dumps({"alg": "RS256", "kid": "k"})
    payload = claims if isinstance(claims, str) else json.dumps(claims)
    return f"{segment(header.encode())}.{segment(payload.encode())}.{segment(b'signature')}"


TOKEN_CLAIMS: dict[str, Any] = {
    "sub": "106640523947289401234",
    "exp": 1795518600,
    "email_verified": True,
    "groups": ["ADMINS", "USERS"],
    "firebase": {"identities": {"email": ["a@example.com"]}, "sign_in_provider": "password"},
    "nickname": "[not a list]",
    "motto": "true",
}


def test_flattening_renders_claims_as_the_gateway_does() -> None:
    assert flatten_claims(TOKEN_CLAIMS) == {
        "sub": "106640523947289401234",
        "exp": "1795518600",
        "email_verified": "true",
        "groups": "[ADMINS USERS]",
        "firebase": '{"identities":{"email":["a@example.com"]},"sign_in_provider":"password"}',
        "nickname": "[not a list]",
        "motto": "true",
    }


def test_the_exact_claims_come_from_the_token_the_authorizer_verified() -> None:
    claims = verified_token_claims(f"Bearer {unsigned_token(TOKEN_CLAIMS)}", flatten_claims(TOKEN_CLAIMS))
    # Types the rendering loses are kept: the string that looks like a list, the one that reads "true".
    assert claims == TOKEN_CLAIMS
    assert claims["nickname"] == "[not a list]"
    assert claims["motto"] == "true"


def test_a_bare_token_is_read_as_the_authorizer_reads_it() -> None:
    assert verified_token_claims(unsigned_token(TOKEN_CLAIMS), flatten_claims(TOKEN_CLAIMS)) == TOKEN_CLAIMS


def test_a_group_with_a_space_stays_one_group() -> None:
    claims = {"sub": "u", "groups": ["Not ADMINS"]}
    rendered = flatten_claims(claims)
    assert rendered["groups"] == "[Not ADMINS]"
    exact = verified_token_claims(f"Bearer {unsigned_token(claims)}", rendered)
    assert groups_from_claim(exact["groups"]) == {"Not ADMINS"}


def test_the_gateways_own_spelling_of_objects_and_fractions_is_accepted() -> None:
    claims = {"sub": "u", "address": {"country": "FR", "locality": "Lyon"}, "amr_level": 2.5}
    rendered = {"sub": "u", "address": '{"locality": "Lyon", "country": "FR"}', "amr_level": "2.50"}
    assert verified_token_claims(unsigned_token(claims), rendered) == claims


def test_claims_whose_rendering_is_undocumented_need_only_be_there() -> None:
    """A null, or an array of objects or arrays: the gateway's spelling of them is not documented."""
    claims = {"sub": "u", "exp": 1, "middle_name": None, "orgs": [{"id": 1}], "matrix": [["a"], ["b"]]}
    rendered = {"sub": "u", "exp": "1", "middle_name": "<nil>", "orgs": "[map[id:1]]", "matrix": "[[a] [b]]"}
    assert verified_token_claims(unsigned_token(claims), rendered) == claims
    # ... while every claim whose rendering is known still has to match.
    with pytest.raises(GatewayRejection):
        verified_token_claims(unsigned_token(claims), {**rendered, "sub": "someone-else"})
    with pytest.raises(GatewayRejection):
        verified_token_claims(unsigned_token(claims), {key: text for key, text in rendered.items() if key != "orgs"})


@pytest.mark.parametrize(
    ("token_claims", "rendered"),
    [
        # Another token whose claims the gateway would render the same way: refused all the same,
        # since its claims differ from the verified one's.
        ({"sub": "u", "groups": ["ADMINS"]}, {"sub": "u", "groups": "[Not ADMINS]"}),
        ({"sub": "u", "groups": ["Not", "ADMINS"], "extra": "x"}, {"sub": "u", "groups": "[Not ADMINS]"}),
        ({"sub": "u"}, {"sub": "u", "groups": "[ADMINS]"}),
        ({"sub": "someone-else"}, {"sub": "u"}),
        ({"sub": "u", "exp": 2}, {"sub": "u", "exp": "1"}),
        ({"sub": "u", "admin": True}, {"sub": "u", "admin": "false"}),
        ({"sub": "u", "org": {"id": 1}}, {"sub": "u", "org": '{"id":2}'}),
    ],
)
def test_a_token_that_is_not_the_verified_one_is_refused(
    token_claims: dict[str, Any], rendered: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), pytest.raises(GatewayRejection) as refused:
        verified_token_claims(f"Bearer {unsigned_token(token_claims)}", rendered)
    assert refused.value.status_code == 401
    assert "not the one the authorizer verified" in caplog.text
    # The log names the reason, never a claim.
    assert "ADMINS" not in caplog.text
    assert "someone-else" not in caplog.text


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer not-a-jwt",
        "Bearer a.b",
        "Bearer a.%%%.c",
        f"Bearer {unsigned_token('[1, 2]')}",
        f"Bearer {unsigned_token('not json')}",
        f"Bearer {unsigned_token('[' * 100_000 + ']' * 100_000)}",
        # Two Authorization headers, which payload 2.0 joins with a comma.
        f"Bearer {unsigned_token({'sub': 'u'})},Bearer {unsigned_token({'sub': 'u'})}",
    ],
)
def test_no_readable_token_in_the_header_is_refused(authorization: str | None) -> None:
    with pytest.raises(GatewayRejection) as refused:
        verified_token_claims(authorization, {"sub": "u"})
    assert refused.value.status_code == 401


def test_claims_nested_deeper_than_the_limit_are_refused() -> None:
    def nested(depth: int) -> dict[str, Any]:
        value: dict[str, Any] = {}
        for _ in range(depth - 1):
            value = {"a": value}
        return value

    within = {"sub": "u", "deep": nested(MAX_CLAIM_DEPTH)}
    assert verified_token_claims(unsigned_token(within), flatten_claims(within)) == within
    beyond = {"sub": "u", "deep": [nested(MAX_CLAIM_DEPTH)]}
    with pytest.raises(GatewayRejection) as refused:
        verified_token_claims(unsigned_token(beyond), flatten_claims(beyond))
    assert "nest deeper" in refused.value.description


def test_a_token_that_matched_before_is_checked_again_against_other_authorizer_claims() -> None:
    claims = {"sub": "remembered", "groups": ["Not ADMINS"], "firebase": {"identities": {"email": ["a@b.c"]}}}
    authorization = f"Bearer {unsigned_token(claims)}"
    first = verified_token_claims(authorization, flatten_claims(claims))
    # What a route does to its caller's claims is not what the next request gets, whether
    # the claims were decoded for it or remembered from an earlier request.
    first["groups"].append("ADMINS")
    first["firebase"]["identities"]["email"].append("admin@example.com")
    second = verified_token_claims(authorization, flatten_claims(claims))
    assert second == claims
    second["groups"].append("ADMINS")
    second["firebase"]["identities"].clear()
    second["sub"] = "someone else"
    assert verified_token_claims(authorization, flatten_claims(claims)) == claims
    with pytest.raises(GatewayRejection):
        verified_token_claims(authorization, {"sub": "remembered", "groups": "[ADMINS]"})


def test_the_tokens_remembered_are_bounded() -> None:
    for number in range(MATCHED_TOKENS_KEPT + 10):
        claims = {"sub": f"user-{number}"}
        verified_token_claims(unsigned_token(claims), flatten_claims(claims))
    assert len(claims_module._matched_tokens) == MATCHED_TOKENS_KEPT


@pytest.mark.parametrize(
    ("value", "groups"),
    [
        (["ADMINS", "USERS"], {"ADMINS", "USERS"}),
        (["Not ADMINS"], {"Not ADMINS"}),
        ("ADMINS", {"ADMINS"}),
        # A string is one name, whatever it looks like.
        ("[ADMINS USERS]", {"[ADMINS USERS]"}),
        ([], set()),
        ("", set()),
        (None, set()),
        (42, set()),
        ([["ADMINS"], {"ADMINS": 1}, 7], set()),
    ],
)
def test_groups_from_a_list_of_names_or_one_name(value: Any, groups: set[str]) -> None:
    assert groups_from_claim(value) == groups


def test_scopes_from_scope_or_scp() -> None:
    assert scopes_from_claims({"scope": "a b"}) == ["a", "b"]
    assert scopes_from_claims({"scp": ["a", "b"]}) == ["a", "b"]
    assert scopes_from_claims({"scp": "a b"}) == ["a", "b"]
    assert scopes_from_claims({}) == []
