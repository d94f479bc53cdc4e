"""The gateway's claim flattening, and its undoing, in one place."""

from __future__ import annotations

from typing import Any

import pytest

from service.core.access.claims import flatten_claims, groups_from_claim, scopes_from_claims, unflatten_claims


def test_flattening_renders_claims_as_the_gateway_does() -> None:
    flat = flatten_claims(
        {
            "sub": "abc",
            "exp": 1795518600,
            "email_verified": True,
            "groups": ["ADMINS", "USERS"],
            "firebase": {"sign_in_provider": "password"},
        }
    )
    assert flat == {
        "sub": "abc",
        "exp": "1795518600",
        "email_verified": "true",
        "groups": "[ADMINS USERS]",
        "firebase": '{"sign_in_provider":"password"}',
    }


def test_unflattening_restores_lists_objects_booleans_and_time_claims() -> None:
    claims = unflatten_claims(
        {
            "groups": "[ADMINS USERS]",
            "empty": "[]",
            "firebase": '{"sign_in_provider":"password"}',
            "email_verified": "false",
            "exp": "1795518600",
            "auth_time": "1795515000",
            "sub": "106640523947289401234",
            "name": "Ada",
        }
    )
    assert claims == {
        "groups": ["ADMINS", "USERS"],
        "empty": [],
        "firebase": {"sign_in_provider": "password"},
        "email_verified": False,
        "exp": 1795518600,
        "auth_time": 1795515000,
        "sub": "106640523947289401234",
        "name": "Ada",
    }


def test_a_brace_that_is_not_json_stays_text() -> None:
    assert unflatten_claims({"note": "{not json"}) == {"note": "{not json"}


def test_round_trip_of_what_tokens_carry() -> None:
    original: dict[str, Any] = {"groups": ["A", "B"], "exp": 1, "email_verified": True, "obj": {"k": [1, 2]}}
    assert unflatten_claims(flatten_claims(original)) == original


@pytest.mark.parametrize(
    ("value", "groups"),
    [
        (["ADMINS", "USERS"], {"ADMINS", "USERS"}),
        ("[ADMINS USERS]", {"ADMINS", "USERS"}),
        ("ADMINS", {"ADMINS"}),
        ("[]", set()),
        ("", set()),
        (None, set()),
        (42, set()),
    ],
)
def test_groups_from_a_list_a_flattened_string_or_one_name(value: Any, groups: set[str]) -> None:
    assert groups_from_claim(value) == groups


def test_scopes_from_scope_or_scp() -> None:
    assert scopes_from_claims({"scope": "a b"}) == ["a", "b"]
    assert scopes_from_claims({"scp": ["a", "b"]}) == ["a", "b"]
    assert scopes_from_claims({"scp": "a b"}) == ["a", "b"]
    assert scopes_from_claims({}) == []
