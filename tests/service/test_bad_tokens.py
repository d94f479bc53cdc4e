"""In RUNTIME=LOCAL the app refuses every token the HTTP API JWT authorizer would refuse.

Each case: the status and body a client would see from API Gateway.
"""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from service.core.access.declaration import RouteAccess
from service.core.settings import LOCAL_ISSUER
from tests.service.conftest import TokenForger

UNAUTHORIZED = {"message": "Unauthorized"}
FORBIDDEN = {"message": "Forbidden"}


def assert_unauthorized(client: TestClient, authorization: str | None, path: str = "/v1/users/whoami") -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = client.get(path, headers=headers)
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED
    assert response.headers["www-authenticate"].startswith("Bearer")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_well_formed_token_passes(client: TestClient, forger: TokenForger) -> None:
    assert client.get("/v1/users/whoami", headers={"Authorization": f"Bearer {forger.token()}"}).status_code == 200


def test_no_header(client: TestClient) -> None:
    assert_unauthorized(client, None)


def test_wrong_scheme(client: TestClient) -> None:
    assert_unauthorized(client, "Basic YWRtaW5AZXhhbXBsZS5jb206YWRtaW4tcGFzc3dvcmQ=")


@pytest.mark.parametrize("garbage", ["Bearer not-a-jwt", "Bearer a.b.c", "Bearer ", "Bearer ...."])
def test_garbage(client: TestClient, garbage: str) -> None:
    assert_unauthorized(client, garbage)


def test_alg_none(client: TestClient, forger: TokenForger) -> None:
    header = b64(json.dumps({"alg": "none", "typ": "JWT", "kid": forger.kid}).encode())
    payload = b64(json.dumps(forger.claims()).encode())
    assert_unauthorized(client, f"Bearer {header}.{payload}.")


def test_hs256_signed_with_the_public_key(client: TestClient, forger: TokenForger) -> None:
    public_pem = forger.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # PyJWT refuses to sign HMAC with a PEM key, so build the classic confusion token by hand.
    import hashlib
    import hmac

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": forger.kid}).encode())
    payload = b64(json.dumps(forger.claims()).encode())
    signature = b64(hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    assert_unauthorized(client, f"Bearer {header}.{payload}.{signature}")


def test_tampered_payload(client: TestClient, forger: TokenForger) -> None:
    header, _, signature = forger.token(groups=["USERS"]).split(".")
    payload = b64(json.dumps(forger.claims(groups=["ADMINS"])).encode())
    assert_unauthorized(client, f"Bearer {header}.{payload}.{signature}", path="/v1/admin/endpoints")


def test_signed_by_another_key_under_the_right_kid(client: TestClient, forger: TokenForger) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert_unauthorized(client, f"Bearer {forger.sign(forger.claims(), key=other)}")


def test_unknown_kid(client: TestClient, forger: TokenForger) -> None:
    assert_unauthorized(client, f"Bearer {forger.sign(forger.claims(), kid='no-such-key')}")


def test_expired(client: TestClient, forger: TokenForger) -> None:
    now = int(time.time())
    assert_unauthorized(client, f"Bearer {forger.token(iat=now - 7200, nbf=now - 7200, exp=now - 3600)}")


def test_not_yet_valid_nbf(client: TestClient, forger: TokenForger) -> None:
    now = int(time.time())
    assert_unauthorized(client, f"Bearer {forger.token(nbf=now + 3600, exp=now + 7200)}")


def test_issued_in_the_future(client: TestClient, forger: TokenForger) -> None:
    now = int(time.time())
    assert_unauthorized(client, f"Bearer {forger.token(iat=now + 3600, exp=now + 7200)}")


def test_without_exp(client: TestClient, forger: TokenForger) -> None:
    assert_unauthorized(client, f"Bearer {forger.sign(forger.claims(exp=None))}")


@pytest.mark.parametrize(
    "issuer",
    ["https://evil.example.com", LOCAL_ISSUER + ".evil.com", LOCAL_ISSUER + "/", LOCAL_ISSUER.upper(), ""],
)
def test_wrong_issuer_including_the_right_one_plus_a_suffix(
    client: TestClient, forger: TokenForger, issuer: str
) -> None:
    assert_unauthorized(client, f"Bearer {forger.token(iss=issuer)}")


def test_wrong_audience(client: TestClient, forger: TokenForger) -> None:
    assert_unauthorized(client, f"Bearer {forger.token(aud='someone-else')}")


def test_client_id_counts_only_where_aud_is_absent(client: TestClient, forger: TokenForger) -> None:
    from service.core.settings import LOCAL_AUDIENCE

    cognito_style = forger.token(aud=None, client_id=LOCAL_AUDIENCE)
    assert client.get("/v1/users/whoami", headers={"Authorization": cognito_style}).status_code == 200
    # A wrong aud is not rescued by a right client_id.
    assert_unauthorized(client, forger.token(aud="someone-else", client_id=LOCAL_AUDIENCE))
    assert_unauthorized(client, forger.token(aud=None))


def test_missing_scope_is_forbidden_in_the_gateways_words(
    scoped: RouteAccess, client: TestClient, forger: TokenForger
) -> None:
    path = scoped.path
    response = client.get(path, headers={"Authorization": f"Bearer {forger.token(scope='openid profile')}"})
    assert response.status_code == 403
    assert response.json() == FORBIDDEN
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


def test_scope_as_scp_list_is_read_like_the_gateway(
    scoped: RouteAccess, client: TestClient, forger: TokenForger
) -> None:
    route = scoped
    token = forger.token(scope=None, scp=list(route.scopes), groups=list(route.groups))
    assert client.get(route.path, headers={"Authorization": token}).status_code == 200


def test_token_without_scope_claim_is_refused_on_a_scoped_route(
    scoped: RouteAccess, client: TestClient, forger: TokenForger
) -> None:
    token = forger.token(scope=None, groups=list(scoped.groups))
    assert client.get(scoped.path, headers={"Authorization": token}).status_code == 403
    # ...but is enough for a route without scopes (Firebase ID tokens work this way).
    assert client.get("/v1/users/whoami", headers={"Authorization": token}).status_code == 200


def test_group_missing(client: TestClient, forger: TokenForger) -> None:
    response = client.get("/v1/admin/endpoints", headers={"Authorization": forger.token(groups=["USERS"])})
    assert response.status_code == 403
    assert response.json()["code"] == "missing_group"


def test_group_as_a_single_string_counts(client: TestClient, forger: TokenForger) -> None:
    response = client.get("/v1/admin/endpoints", headers={"Authorization": forger.token(groups="ADMINS")})
    assert response.status_code == 200


def test_rs384_is_an_rsa_algorithm_and_accepted(client: TestClient, forger: TokenForger) -> None:
    token = forger.sign(forger.claims(), alg="RS384")
    assert client.get("/v1/users/whoami", headers={"Authorization": token}).status_code == 200


def test_token_from_jwt_library_with_wrong_typ_header_still_judged_on_claims(
    client: TestClient, forger: TokenForger
) -> None:
    token = jwt.encode(forger.claims(), forger.key, algorithm="RS256", headers={"kid": forger.kid, "typ": "at+jwt"})
    assert client.get("/v1/users/whoami", headers={"Authorization": token}).status_code == 200


def signed_payload(forger: TokenForger, payload_json: str) -> str:
    """A token whose payload is exactly `payload_json`, signed with the issuer's key (PyJWS signs bytes as given)."""
    return jwt.api_jws.encode(payload_json.encode(), forger.key, algorithm="RS256", headers={"kid": forger.kid})


@pytest.mark.parametrize(
    "claim",
    ['"\\ud800"', '"a\\udfffb"', "NaN", "Infinity", "-Infinity", "1e400", '{"level": NaN}', '["ok", 1e400]'],
    ids=[
        "lone high surrogate",
        "lone low surrogate",
        "NaN",
        "Infinity",
        "-Infinity",
        "1e400",
        "nested NaN",
        "nested 1e400",
    ],
)
def test_a_signed_claim_that_is_not_json_text_is_refused_not_a_500_nor_a_changed_value(
    client: TestClient, forger: TokenForger, claim: str
) -> None:
    """Python reads these; JSON (RFC 8259) has no NaN, no number past a float64, no lone surrogate: refused."""
    claims = json.dumps(forger.claims())
    token = signed_payload(forger, f'{claims[:-1]}, "nickname": {claim}}}')
    assert_unauthorized(client, f"Bearer {token}")


def test_the_same_claims_as_json_text_pass(client: TestClient, forger: TokenForger) -> None:
    claims = json.dumps(forger.claims())
    token = signed_payload(forger, f'{claims[:-1]}, "nickname": "\\ud83d\\ude00", "level": 1e300}}')
    response = client.get("/v1/users/whoami", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json()["nickname"] == "\N{GRINNING FACE}"
    assert response.json()["level"] == 1e300
