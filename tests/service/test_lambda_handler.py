"""RUNTIME=LAMBDA: the handler fed HTTP API payload 2.0 events, as Lambda would."""

from __future__ import annotations

import base64
import copy
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest

from service.core.access.claims import flatten_claims
from service.core.access.declaration import RouteAccess
from service.core.settings import Settings
from service.runtime.lambda_adapter import LambdaHandler, build_handler
from tests.support import load_event


class FakeContext:
    function_name = "api"
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:api:live"


def lambda_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "runtime": "LAMBDA",
        "identity_provider": "firebase",
        "firebase_app_api_key": "test-api-key",
        "jwt_issuer": "https://securetoken.google.com/demo-project",
        "jwt_audience": "demo-project",
        "aws_api_gw_stage_name": "mvp",
        "aws_api_gw_mapping_key": "shop",
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="module")
def handler() -> LambdaHandler:
    return build_handler(lambda_settings())


@pytest.fixture
def make_handler() -> Callable[..., LambdaHandler]:
    return lambda **overrides: build_handler(lambda_settings(**overrides))


def invoke(handler: LambdaHandler, event: dict[str, Any]) -> tuple[int, dict[str, str], str]:
    result = handler(event, FakeContext())
    body = result.get("body", "")
    if result.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return result["statusCode"], result.get("headers", {}), body


def test_health_behind_a_named_stage(handler: LambdaHandler) -> None:
    status, _, body = invoke(handler, load_event("health_named_stage.json"))
    assert status == 200
    assert json.loads(body) == {"status": "ok"}


def test_health_on_the_default_stage(make_handler: Callable[..., LambdaHandler]) -> None:
    handler = make_handler(aws_api_gw_stage_name="$default")
    status, _, _ = invoke(handler, load_event("health_default_stage.json"))
    assert status == 200


# What rawPath holds before the route behind a custom domain, as each source reports it
# (service/runtime/gateway_paths.py): nothing, the stage, or the mapping key.
CUSTOM_DOMAIN_RAW_PATHS = ["key_not_in_path", "stage_in_path", "key_in_path"]


@pytest.mark.parametrize("event_name", [f"health_custom_domain_{shape}.json" for shape in CUSTOM_DOMAIN_RAW_PATHS])
def test_health_behind_a_custom_domain_whatever_rawpath_holds_before_the_route(
    handler: LambdaHandler, event_name: str
) -> None:
    status, _, _ = invoke(handler, load_event(event_name))
    assert status == 200


def test_a_stage_like_prefix_that_is_not_a_whole_segment_is_not_stripped(handler: LambdaHandler) -> None:
    status, _, _ = invoke(handler, load_event("health_stage_like_prefix.json"))
    assert status == 404


def test_whoami_undoes_the_gateways_string_flattening(handler: LambdaHandler) -> None:
    status, _, body = invoke(handler, load_event("whoami_named_stage.json"))
    assert status == 200
    claims = json.loads(body)
    assert claims["groups"] == ["ADMINS", "USERS"]
    assert claims["email_verified"] is True
    assert claims["exp"] == 1795518600
    assert claims["firebase"] == {"identities": {"email": ["admin@example.com"]}, "sign_in_provider": "password"}
    # A numeric-looking identifier stays the string it was.
    assert claims["sub"] == "106640523947289401234"


def test_whoami_keeps_the_exact_claims_the_rendering_would_lose(handler: LambdaHandler) -> None:
    """A string claim holding JSON text nested 255 levels deep (about 1.5 kB) is the string it was."""
    event = load_event("whoami_claim_with_deeply_nested_json_text.json")
    rendered = event["requestContext"]["authorizer"]["jwt"]["claims"]["name"]
    status, _, body = invoke(handler, event)
    assert status == 200
    assert json.loads(body)["name"] == rendered
    assert rendered.startswith('{"a":{"a":')
    assert len(rendered) > 1500


def test_a_protected_route_without_authorizer_context_fails_closed(handler: LambdaHandler) -> None:
    status, headers, body = invoke(handler, load_event("whoami_no_authorizer.json"))
    assert status == 401
    assert json.loads(body) == {"message": "Unauthorized"}
    assert "www-authenticate" in headers


def test_the_bearer_token_is_not_what_lambda_trusts(handler: LambdaHandler) -> None:
    """A token in the header without the gateway's verdict gets nowhere: the app never re-verifies in Lambda."""
    event = load_event("whoami_no_authorizer.json")
    event["headers"]["authorization"] = "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9."
    status, _, _ = invoke(handler, event)
    assert status == 401


def test_admin_with_cognito_groups_claim(make_handler: Callable[..., LambdaHandler]) -> None:
    handler = make_handler(jwt_authorization_groups_attr_name="cognito:groups")
    status, _, body = invoke(handler, load_event("admin_cognito_groups.json"))
    assert status == 200
    paths = {entry["path"] for entry in json.loads(body)}
    assert "/v1/users/whoami" in paths


def test_admin_reads_groups_from_the_configured_claim_only(handler: LambdaHandler) -> None:
    # The handler is configured for `groups`; a Cognito token's `cognito:groups` is not read.
    status, _, body = invoke(handler, load_event("admin_cognito_groups.json"))
    assert status == 403
    assert json.loads(body)["code"] == "missing_group"


def test_admin_refuses_a_caller_outside_the_group(handler: LambdaHandler) -> None:
    status, headers, body = invoke(handler, load_event("admin_user_without_group.json"))
    assert status == 403
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(body)["code"] == "missing_group"


def test_a_group_whose_name_has_a_space_is_not_two_groups(handler: LambdaHandler) -> None:
    """The gateway renders ["Not ADMINS"] as "[Not ADMINS]": the group is read from the verified token instead."""
    event = load_event("admin_group_with_a_space.json")
    assert event["requestContext"]["authorizer"]["jwt"]["claims"]["groups"] == "[Not ADMINS]"
    status, _, body = invoke(handler, event)
    assert status == 403
    assert json.loads(body)["code"] == "missing_group"


def unsigned_token(claims: dict[str, Any]) -> str:
    """A token made by someone without the issuer's key: a real header, any payload, no valid signature."""

    def segment(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return ".".join([segment(b'{"alg":"RS256","kid":"example"}'), segment(json.dumps(claims).encode()), "c2ln"])


@pytest.mark.parametrize(
    "authorization",
    [
        # The claims the authorizer verified, with ADMINS for the group that has a space.
        "forged",
        # Two Authorization headers, which payload 2.0 joins with a comma.
        "twice",
        None,
        "Bearer not-a-token",
    ],
)
def test_claims_are_read_only_from_the_token_the_authorizer_verified(
    handler: LambdaHandler, authorization: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    event = load_event("admin_group_with_a_space.json")
    verified = event["headers"].pop("authorization")
    if authorization == "forged":
        claims = json.loads(base64.urlsafe_b64decode(verified.split(".")[1] + "=="))
        authorization = f"Bearer {unsigned_token({**claims, 'groups': ['ADMINS']})}"
    elif authorization == "twice":
        authorization = f"{verified},{verified}"
    if authorization is not None:
        event["headers"]["authorization"] = authorization
    with caplog.at_level(logging.DEBUG):
        status, headers, body = invoke(handler, event)
    assert status == 401
    assert json.loads(body) == {"message": "Unauthorized"}
    assert "www-authenticate" in headers
    assert [r.levelname for r in caplog.records if r.name.startswith("service")] == ["WARNING"]
    assert "Traceback" not in caplog.text


def for_route(event: dict[str, Any], route: RouteAccess) -> dict[str, Any]:
    """A captured event of a scoped route, retargeted at `route`: its path, and its scopes where granted."""
    event = copy.deepcopy(event)
    context = event["requestContext"]
    event["routeKey"] = context["routeKey"] = f"{route.method} {route.path}"
    event["rawPath"] = context["http"]["path"] = f"/{context['stage']}{route.path}"
    # The authorizer hands over the token's whole scope list on a route with scopes (floci PR 2011's
    # measurement; docs/aws-facts.md, row "jwt.scopes"): the fixture token's, with the route's own
    # taken to be among them. The claims stay the signed token's.
    jwt = context["authorizer"]["jwt"]
    if jwt["scopes"] is not None:
        jwt["scopes"] = list(dict.fromkeys([*jwt["scopes"], *route.scopes]))
    # A caller in one of the route's groups: the token the authorizer verified says so, and its
    # claims reach the function as the gateway renders them.
    if route.groups:
        payload = event["headers"]["authorization"].split()[-1].split(".")[1]
        verified = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        verified["groups"] = [route.groups[0]]
        event["headers"]["authorization"] = f"Bearer {unsigned_token(verified)}"
        jwt["claims"] = flatten_claims(verified)
    return event


def test_scopes_are_checked_again_in_lambda(scoped: RouteAccess, make_handler: Callable[..., LambdaHandler]) -> None:
    route, handler = scoped, make_handler()
    status, _, _ = invoke(handler, for_route(load_event("items_with_scope.json"), route))
    assert status == 200
    status, _, body = invoke(handler, for_route(load_event("items_scopes_null.json"), route))
    assert status == 403
    assert json.loads(body) == {"message": "Forbidden"}


def test_docs_behind_the_stage_load_their_spec_from_under_the_stage(handler: LambdaHandler) -> None:
    status, _, page = invoke(handler, load_event("docs_named_stage.json"))
    assert status == 200
    assert "url: '/mvp/v1/openapi.json'" in page
    status, _, body = invoke(handler, load_event("openapi_named_stage.json"))
    spec = json.loads(body)
    assert spec["servers"] == [{"url": "/mvp"}]
    assert spec["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]["password"]["tokenUrl"] == (
        "/mvp/v1/auth/token"
    )


@pytest.mark.parametrize("shape", CUSTOM_DOMAIN_RAW_PATHS)
def test_docs_behind_a_custom_domain_use_the_mapping_key(handler: LambdaHandler, shape: str) -> None:
    status, _, page = invoke(handler, load_event(f"docs_custom_domain_{shape}.json"))
    assert status == 200
    assert "url: '/shop/v1/openapi.json'" in page
    status, _, body = invoke(handler, load_event(f"openapi_custom_domain_{shape}.json"))
    spec = json.loads(body)
    assert spec["servers"] == [{"url": "/shop"}]
    assert spec["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]["password"]["tokenUrl"] == (
        "/shop/v1/auth/token"
    )


def test_the_cached_spec_is_not_polluted_by_one_prefix_for_the_next(handler: LambdaHandler) -> None:
    invoke(handler, load_event("openapi_named_stage.json"))
    _, _, body = invoke(handler, load_event("openapi_custom_domain_key_in_path.json"))
    assert json.loads(body)["servers"] == [{"url": "/shop"}]


def test_docs_switched_off_in_an_environment(make_handler: Callable[..., LambdaHandler]) -> None:
    handler = make_handler(docs_enabled=False)
    assert invoke(handler, load_event("docs_named_stage.json"))[0] == 404
    assert invoke(handler, load_event("openapi_named_stage.json"))[0] == 404


@pytest.mark.parametrize("event", [{}, {"version": "1.0"}, {"Records": []}, "not a dict"])
def test_an_event_that_is_not_an_http_api_event_gets_a_clear_400(handler: LambdaHandler, event: Any) -> None:
    status, _, body = invoke(handler, event)
    assert status == 400
    assert json.loads(body)["code"] == "unsupported_event"


def admin_event_for(verified_claims: dict[str, Any], *, identity_header: str = "authorization") -> dict[str, Any]:
    """The admin route's event for a token the authorizer verified, found in `identity_header`."""
    event = load_event("admin_user_without_group.json")
    del event["headers"]["authorization"]
    event["headers"][identity_header] = f"Bearer {unsigned_token(verified_claims)}"
    event["requestContext"]["authorizer"]["jwt"]["claims"] = flatten_claims(verified_claims)
    return event


def fixture_claims(name: str) -> dict[str, Any]:
    token = load_event(name)["headers"]["authorization"].split()[-1].split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    return claims


USER_CLAIMS = fixture_claims("admin_user_without_group.json")
# Issue 21's forgeries, each an unsigned token against the claims of a user the authorizer verified.
FORGERIES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "every-claim-null": (USER_CLAIMS, {name: None for name in USER_CLAIMS}),
    "groups-ADMINS-and-null": (USER_CLAIMS, {**USER_CLAIMS, "groups": ["ADMINS", None]}),
    "groups-ADMINS-and-an-object": (USER_CLAIMS, {**USER_CLAIMS, "groups": ["ADMINS", {}]}),
    "groups-ADMINS-and-a-list": (USER_CLAIMS, {**USER_CLAIMS, "groups": ["ADMINS", ["USERS"]]}),
    "groups-Not-ADMINS-split": (
        {**USER_CLAIMS, "groups": ["Not ADMINS"]},
        {**USER_CLAIMS, "groups": ["Not", "ADMINS"]},
    ),
    "groups-list-for-the-string-[ADMINS]": (
        {**USER_CLAIMS, "groups": "[ADMINS]"},
        {**USER_CLAIMS, "groups": ["ADMINS"]},
    ),
}


@pytest.mark.parametrize(("verified", "forged"), FORGERIES.values(), ids=FORGERIES.keys())
def test_a_forged_token_beside_the_identity_sources_is_never_read(
    make_handler: Callable[..., LambdaHandler], verified: dict[str, Any], forged: dict[str, Any]
) -> None:
    """The authorizer reads `x-id-token`; a forgery in `Authorization` is not what the function reads."""
    handler = make_handler(jwt_identity_source="$request.header.X-Id-Token")
    event = admin_event_for(verified, identity_header="x-id-token")
    event["headers"]["authorization"] = f"Bearer {unsigned_token(forged)}"
    status, _, body = invoke(handler, event)
    assert status == 403, body
    assert json.loads(body)["code"] == "missing_group"


@pytest.mark.parametrize(
    ("verified", "forged"),
    [
        FORGERIES[name]
        for name in (
            "every-claim-null",
            "groups-ADMINS-and-null",
            "groups-ADMINS-and-an-object",
            "groups-ADMINS-and-a-list",
        )
    ],
    ids=["every-claim-null", "groups-ADMINS-and-null", "groups-ADMINS-and-an-object", "groups-ADMINS-and-a-list"],
)
def test_a_forged_token_in_place_of_the_verified_one_is_refused(
    handler: LambdaHandler, verified: dict[str, Any], forged: dict[str, Any]
) -> None:
    """Where the forgery sits in the header the function reads, its claims do not render to the authorizer's."""
    event = admin_event_for(verified)
    event["headers"]["authorization"] = f"Bearer {unsigned_token(forged)}"
    status, _, body = invoke(handler, event)
    assert status == 401, body
    assert json.loads(body) == {"message": "Unauthorized"}


def test_the_function_reads_the_token_from_the_identity_sources_header(
    make_handler: Callable[..., LambdaHandler],
) -> None:
    admin = {**USER_CLAIMS, "groups": ["ADMINS"]}
    handler = make_handler(jwt_identity_source="$request.header.X-Id-Token")
    status, _, _ = invoke(handler, admin_event_for(admin, identity_header="x-id-token"))
    assert status == 200
    # The same event with the token only in `Authorization`, which this authorizer does not read.
    status, _, body = invoke(handler, admin_event_for(admin))
    assert status == 401
    assert json.loads(body) == {"message": "Unauthorized"}


@pytest.mark.parametrize(("fields", "status"), [(1001, 400), (1000, 400)])
def test_a_token_request_over_starlettes_field_limit_is_invalid_request_in_lambda(
    handler: LambdaHandler, fields: int, status: int
) -> None:
    """1,001 fields: Starlette's limit, said as `invalid_request`; 1,000 (no password among them): read, refused so."""
    event = load_event("token_password_grant.json")
    body = "&".join(f"f{n}=x" for n in range(fields))
    event["body"] = base64.b64encode(body.encode()).decode()
    event["headers"]["content-length"] = str(len(body))
    status_code, _, answer = invoke(handler, event)
    assert status_code == status
    error = json.loads(answer)
    assert error["error"] == "invalid_request"
    expected = "too many fields" if fields > 1000 else "needs username and password"
    assert expected in error["error_description"]


@pytest.mark.parametrize("odd", [5, 5.5, {"k": "v"}, ["a"], True])
def test_an_authorizer_claim_that_is_not_a_string_is_a_401_with_one_warning(
    handler: LambdaHandler, odd: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # The gateway hands over strings only (docs/aws-facts.md, row "Claim rendering"); anything else is not its verdict.
    event = load_event("whoami_named_stage.json")
    claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
    claims[sorted(claims)[0]] = odd
    with caplog.at_level(logging.WARNING):
        status, _, body = invoke(handler, event)
    assert status == 401
    assert json.loads(body) == {"message": "Unauthorized"}
    assert [record.levelname for record in caplog.records] == ["WARNING"]
