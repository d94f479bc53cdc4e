"""The gateway's claim rendering, and reading the exact claims of the token it verified, in one place."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest

from service.core.access import claims as claims_module
from service.core.access.claims import (
    EXACT_CLAIMS,
    MATCHED_TOKENS_KEPT,
    MAX_CLAIM_DEPTH,
    TIME_CLAIMS,
    flatten_claim,
    flatten_claims,
    go_float,
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
    "firebase": {"sign_in_provider": "password", "identities": {"email": ["a@example.com"]}},
    "nickname": "[not a list]",
    "motto": "true",
}


def verified(token_header: str | None, rendered: dict[str, str], *, groups_claim: str = "groups") -> dict[str, Any]:
    return verified_token_claims(token_header, rendered, groups_claim=groups_claim)


def test_flattening_renders_claims_as_the_gateway_does() -> None:
    """Go's fmt of the decoded JSON: objects `map[...]` keys sorted, arrays `[a b]`, a null claim left out."""
    assert flatten_claims({**TOKEN_CLAIMS, "middle_name": None}) == {
        "sub": "106640523947289401234",
        "exp": "1795518600",
        "email_verified": "true",
        "groups": "[ADMINS USERS]",
        # The original starter's deployed whoami (obytes' lambda-flask-api README).
        "firebase": "map[identities:map[email:[a@example.com]] sign_in_provider:password]",
        "nickname": "[not a list]",
        "motto": "true",
    }


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ({}, "map[]"),
        ([], "[]"),
        ({"b": 1, "a": [True, None]}, "map[a:[true <nil>] b:1]"),
        ({"auth_time": 1635018939}, "map[auth_time:1.635018939e+09]"),
        ([{"id": 2.5}, ["x y"]], "[map[id:2.5] [x y]]"),
        (2.5, "2.5"),
        (1e21, "1e+21"),
        (0.00001, "1e-05"),
    ],
)
def test_nested_values_are_rendered_as_go_prints_decoded_json(value: Any, text: str) -> None:
    assert flatten_claim(value) == text


def test_go_prints_a_float64_in_its_shortest_spelling() -> None:
    assert [go_float(x) for x in (0.0, -0.0, 100.0, 123456.0, 1234567.0, 0.0001, 0.00012, -3.25)] == [
        "0",
        "-0",
        "100",
        "123456",
        "1.234567e+06",
        "0.0001",
        "0.00012",
        "-3.25",
    ]


def test_the_exact_claims_come_from_the_token_the_authorizer_verified() -> None:
    claims = verified(f"Bearer {unsigned_token(TOKEN_CLAIMS)}", flatten_claims(TOKEN_CLAIMS))
    # Types the rendering loses are kept: the string that looks like a list, the one that reads "true".
    assert claims == TOKEN_CLAIMS
    assert claims["nickname"] == "[not a list]"
    assert claims["motto"] == "true"


def test_a_bare_token_is_read_as_the_authorizer_reads_it() -> None:
    assert verified(unsigned_token(TOKEN_CLAIMS), flatten_claims(TOKEN_CLAIMS)) == TOKEN_CLAIMS


def test_a_group_with_a_space_stays_one_group() -> None:
    claims = {"sub": "u", "groups": ["Not ADMINS"]}
    rendered = flatten_claims(claims)
    assert rendered["groups"] == "[Not ADMINS]"
    exact = verified(f"Bearer {unsigned_token(claims)}", rendered)
    assert groups_from_claim(exact["groups"]) == {"Not ADMINS"}


def test_a_null_claim_is_absent_from_the_authorizers_claims() -> None:
    claims = {"sub": "u", "middle_name": None}
    assert verified(unsigned_token(claims), {"sub": "u"}) == claims
    # The gateway leaves it out (floci-io/floci PR 2011); handed over all the same, it is not this token's rendering.
    for spelling in ("<nil>", "null", ""):
        with pytest.raises(GatewayRejection):
            verified(unsigned_token(claims), {"sub": "u", "middle_name": spelling})


def test_what_no_source_documents_is_allowed_for() -> None:
    """A number or a null nested in an object or array, a non-integer number: any spelling of the same value."""
    claims = {
        "sub": "u",
        "amr_level": 2.5,
        "org": {"id": 1635018939, "parent": None, "tags": ["a", 7]},
        "matrix": [[1], [2.0]],
    }
    rendered = flatten_claims(claims)
    assert rendered["org"] == "map[id:1.635018939e+09 parent:<nil> tags:[a 7]]"
    assert verified(unsigned_token(claims), rendered) == claims
    for other in (
        {"amr_level": "2.50"},
        {"org": "map[id:1635018939 parent:null tags:[a 7.0]]"},
        {"org": "map[id:1635018939 parent: tags:[a 7]]"},
        {"matrix": "[[1] [2]]"},
    ):
        assert verified(unsigned_token(claims), {**rendered, **other}) == claims


@pytest.mark.parametrize(
    "other",
    [
        # Leeway never reaches what is documented: strings, booleans, keys, brackets, separators.
        {"org": "map[id:1.635018939e+09 parent:<nil> tags:[b 7]]"},
        {"org": "map[id:1.635018939e+09 parent:<nil> tags:[a 8]]"},
        {"org": "map[parent:<nil> id:1.635018939e+09 tags:[a 7]]"},
        {"org": '{"id":1635018939,"parent":null,"tags":["a",7]}'},
        {"org": "map[id:1.635018939e+09 parent:<nil> tags:[a 7]] "},
        {"matrix": "[[1] [2] [3]]"},
        {"amr_level": "2.6"},
        {"amr_level": "nan"},
        # ... nor a top-level integer, whatever its name (every captured event shows digits) ...
        {"auth_time": "1.7955149e+09"},
        {"auth_time": "1795514900.0"},
        # ... nor any claim of `EXACT_CLAIMS`, whatever its type.
        {"exp": "1.7955186e+09"},
        {"exp": "1795518600.0"},
    ],
)
def test_a_rendering_that_differs_where_it_is_documented_is_refused(other: dict[str, str]) -> None:
    claims = {
        "sub": "u",
        "exp": 1795518600,
        "auth_time": 1795514900,
        "amr_level": 2.5,
        "org": {"id": 1635018939, "parent": None, "tags": ["a", 7]},
        "matrix": [[1], [2]],
    }
    with pytest.raises(GatewayRejection):
        verified(unsigned_token(claims), {**flatten_claims(claims), **other})


def test_the_listed_claims_render_exactly_even_where_their_type_would_allow_leeway() -> None:
    for name in sorted((EXACT_CLAIMS - TIME_CLAIMS) | {"cognito:groups"}):
        claims = {"sub": "u", name: 2.5} if name != "sub" else {"sub": 2.5}
        assert verified(unsigned_token(claims), flatten_claims(claims), groups_claim="cognito:groups") == claims
        with pytest.raises(GatewayRejection):
            verified(unsigned_token(claims), {**flatten_claims(claims), name: "2.50"}, groups_claim="cognito:groups")


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
        ({"sub": "u", "org": {"id": 1}}, {"sub": "u", "org": "map[id:2]"}),
        ({"sub": "u", "org": {"id": 1}}, {"sub": "u", "org": '{"id":1}'}),
    ],
)
def test_a_token_that_is_not_the_verified_one_is_refused(
    token_claims: dict[str, Any], rendered: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), pytest.raises(GatewayRejection) as refused:
        verified(f"Bearer {unsigned_token(token_claims)}", rendered)
    assert refused.value.status_code == 401
    assert "not the one the authorizer verified" in caplog.text
    # The log names the reason, never a claim.
    assert "ADMINS" not in caplog.text
    assert "someone-else" not in caplog.text


VERIFIED_USER: dict[str, Any] = {
    "iss": "https://securetoken.google.com/demo-project",
    "aud": "demo-project",
    "sub": "u",
    "iat": 1795515000,
    "exp": 1795518600,
    "email_verified": True,
    "firebase": {"identities": {"email": ["u@example.com"]}, "sign_in_provider": "password"},
    "groups": ["USERS"],
}


@pytest.mark.parametrize(
    "forged",
    [
        pytest.param({name: None for name in VERIFIED_USER}, id="every-claim-null"),
        pytest.param({**VERIFIED_USER, "groups": ["ADMINS", None]}, id="groups-ADMINS-null"),
        pytest.param({**VERIFIED_USER, "groups": ["ADMINS", {}]}, id="groups-ADMINS-object"),
        pytest.param({**VERIFIED_USER, "groups": ["ADMINS", ["USERS"]]}, id="groups-ADMINS-list"),
        pytest.param({**VERIFIED_USER, "groups": None}, id="groups-null"),
        pytest.param({**VERIFIED_USER, "firebase": None, "groups": ["ADMINS"]}, id="object-null"),
    ],
)
def test_the_forgeries_of_issue_21_are_refused(forged: dict[str, Any]) -> None:
    """Unsigned tokens that matched any rendering before (a null, or a list holding a non-scalar, matched any text)."""
    with pytest.raises(GatewayRejection) as refused:
        verified(f"Bearer {unsigned_token(forged)}", flatten_claims(VERIFIED_USER))
    assert refused.value.status_code == 401


@pytest.mark.parametrize(
    ("forged_groups", "verified_groups"),
    [
        (["ADMINS", None], ["ADMINS <nil>"]),
        (["ADMINS", {}], ["ADMINS map[]"]),
        (["ADMINS", ["USERS"]], ["ADMINS [USERS]"]),
    ],
)
def test_a_groups_claim_that_is_not_names_grants_no_group_even_where_it_renders_alike(
    forged_groups: list[Any], verified_groups: list[str]
) -> None:
    claims = verified(
        unsigned_token({"sub": "u", "groups": forged_groups}), {"sub": "u", "groups": flatten_claim(verified_groups)}
    )
    assert groups_from_claim(claims["groups"]) == frozenset()


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
        # Not JSON the gateway's decoder reads as such: NaN, a number beyond a float64, a lone surrogate.
        "Bearer " + unsigned_token('{"sub": "u", "x": NaN}'),
        "Bearer " + unsigned_token('{"sub": "u", "x": [-Infinity]}'),
        "Bearer " + unsigned_token('{"sub": "u", "x": {"y": 1e400}}'),
        "Bearer " + unsigned_token('{"sub": "\\ud800"}'),
        "Bearer " + unsigned_token('{"sub": "u", "\\udfff": 1}'),
        # Two Authorization headers, which payload 2.0 joins with a comma.
        f"Bearer {unsigned_token({'sub': 'u'})},Bearer {unsigned_token({'sub': 'u'})}",
    ],
)
def test_no_readable_token_in_the_header_is_refused(authorization: str | None) -> None:
    with pytest.raises(GatewayRejection) as refused:
        verified(authorization, {"sub": "u"})
    assert refused.value.status_code == 401


def test_claims_nested_deeper_than_the_limit_are_refused() -> None:
    def nested(depth: int) -> dict[str, Any]:
        value: dict[str, Any] = {}
        for _ in range(depth - 1):
            value = {"a": value}
        return value

    within = {"sub": "u", "deep": nested(MAX_CLAIM_DEPTH)}
    assert verified(unsigned_token(within), flatten_claims(within)) == within
    beyond = {"sub": "u", "deep": [nested(MAX_CLAIM_DEPTH)]}
    with pytest.raises(GatewayRejection) as refused:
        verified(unsigned_token(beyond), flatten_claims(beyond))
    assert "nest deeper" in refused.value.description


def test_a_token_that_matched_before_is_checked_again_against_other_authorizer_claims() -> None:
    claims = {"sub": "remembered", "groups": ["Not ADMINS"], "firebase": {"identities": {"email": ["a@b.c"]}}}
    authorization = f"Bearer {unsigned_token(claims)}"
    first = verified(authorization, flatten_claims(claims))
    # What a route does to its caller's claims is not what the next request gets, whether
    # the claims were decoded for it or remembered from an earlier request.
    first["groups"].append("ADMINS")
    first["firebase"]["identities"]["email"].append("admin@example.com")
    second = verified(authorization, flatten_claims(claims))
    assert second == claims
    second["groups"].append("ADMINS")
    second["firebase"]["identities"].clear()
    second["sub"] = "someone else"
    assert verified(authorization, flatten_claims(claims)) == claims
    with pytest.raises(GatewayRejection):
        verified(authorization, {"sub": "remembered", "groups": "[ADMINS]"})


def test_the_tokens_remembered_are_bounded() -> None:
    for number in range(MATCHED_TOKENS_KEPT + 10):
        claims = {"sub": f"user-{number}"}
        verified(unsigned_token(claims), flatten_claims(claims))
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
        # A list holding anything but names grants none of its names.
        (["ADMINS", None], set()),
        (["ADMINS", {}], set()),
        (["ADMINS", ["USERS"]], set()),
    ],
)
def test_groups_from_a_list_of_names_or_one_name(value: Any, groups: set[str]) -> None:
    assert groups_from_claim(value) == groups


def test_scopes_from_scope_or_scp() -> None:
    assert scopes_from_claims({"scope": "a b"}) == ["a", "b"]
    assert scopes_from_claims({"scp": ["a", "b"]}) == ["a", "b"]
    assert scopes_from_claims({"scp": "a b"}) == ["a", "b"]
    assert scopes_from_claims({}) == []


def test_a_surrogate_encoded_as_utf8_bytes_is_refused_too() -> None:
    """Python's JSON decoder lets the bytes of an encoded surrogate through as one: no response could carry it."""

    def segment(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    payload = b'{"sub": "\xed\xa0\x80"}'
    token = ".".join([segment(b"{}"), segment(payload), segment(b"signature")])
    with pytest.raises(GatewayRejection) as refused:
        verified(f"Bearer {token}", {"sub": "\ud800"})
    assert "no readable token" in refused.value.description


@pytest.mark.parametrize(
    ("payload", "rendered"),
    [
        ('{"sub": "u", "x": NaN}', {"sub": "u", "x": "NaN"}),
        ('{"sub": "u", "x": -Infinity}', {"sub": "u", "x": "-Inf"}),
        ('{"sub": "u", "x": {"y": 1e400}}', {"sub": "u", "x": "map[y:+Inf]"}),
        ('{"sub": "\\ud800"}', {"sub": "\ud800"}),
        ('{"sub": "u", "\\udfff": "v"}', {"sub": "u", "\udfff": "v"}),
    ],
    ids=["NaN", "-Infinity", "nested 1e400", "lone surrogate", "lone surrogate in a name"],
)
def test_what_json_has_no_room_for_is_refused_even_where_the_rendering_would_match(
    payload: str, rendered: dict[str, str]
) -> None:
    with pytest.raises(GatewayRejection) as refused:
        verified(unsigned_token(payload), rendered)
    assert "no readable token" in refused.value.description


@pytest.mark.parametrize("name", sorted(TIME_CLAIMS))
@pytest.mark.parametrize("spelling", ["4102444800", "4102444800.0", "4.1024448e+09", "4102444800.000"])
def test_a_float_time_claim_matches_any_spelling_of_its_number(name: str, spelling: str) -> None:
    # RFC 7519 allows a non-integer NumericDate; how the gateway spells a top-level float is not known.
    claims = {"sub": "u", name: 4102444800.0}
    assert verified(unsigned_token(claims), {"sub": "u", name: spelling}) == claims


@pytest.mark.parametrize("name", sorted(TIME_CLAIMS))
def test_a_float_time_claim_rendered_as_another_number_is_refused(name: str) -> None:
    with pytest.raises(GatewayRejection):
        verified(unsigned_token({"sub": "u", name: 4102444800.0}), {"sub": "u", name: "4102444801"})


@pytest.mark.parametrize("empty", [[], {}])
def test_an_empty_array_or_object_claim_may_be_missing_or_rendered(empty: Any) -> None:
    # No source shows how the gateway renders `[]` or `{}` (Auth0's "permissions": [] for a user without any).
    claims = {"sub": "u", "permissions": empty, "groups": ["USERS"]}
    rendered = flatten_claims(claims)
    missing = {name: text for name, text in rendered.items() if name != "permissions"}
    assert verified(unsigned_token(claims), rendered) == claims
    assert verified(unsigned_token(claims), missing) == claims


@pytest.mark.parametrize("value", ["", 0, False, ["x"], {"k": "v"}])
def test_only_an_empty_array_or_object_may_be_missing(value: Any) -> None:
    claims = {"sub": "u", "other": value}
    with pytest.raises(GatewayRejection):
        verified(unsigned_token(claims), {"sub": "u"})


@pytest.mark.parametrize("odd", [7, 2.5, None, True, ["a"], {"k": "v"}])
def test_an_authorizer_claim_that_is_not_a_string_is_refused_with_one_warning(
    odd: Any, caplog: pytest.LogCaptureFixture
) -> None:
    claims = {"sub": "u", "org": {"id": 1}}
    with caplog.at_level(logging.WARNING), pytest.raises(GatewayRejection) as refused:
        verified(unsigned_token(claims), {"sub": "u", "org": odd})
    assert refused.value.status_code == 401
    assert [record.getMessage() for record in caplog.records] == [
        "refused the authorizer's claims: the authorizer's claims hold a value that is not a string"
    ]
