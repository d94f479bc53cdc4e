"""The OAuth 2.0 token endpoint: forwards the grant to the configured identity provider.

Its clients are OAuth client libraries and Swagger UI, so it answers as RFC 6749 says an
authorization server does: the form is read as section 3 asks, and every failure, whatever
raised it, is a section 5.2 error (`OAuthError`), never problem details and never a 422.
"""

# Annotations are evaluated as the module runs (no postponed annotations): pydantic and FastAPI
# read them at import, and evaluating their text instead costs every cold start (issue 23).

import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from starlette.exceptions import HTTPException

from service.api.deps import IdentityProviderDep
from service.api.openapi import document_only, success_example
from service.core.errors import AppError, OAuthError, OAuthErrorBody
from service.core.identity.base import InvalidTokenRequest, TokenEndpointFailed, TokenGrant, UnsupportedGrantType

logger = logging.getLogger("service.errors")

router = APIRouter(prefix="/auth", tags=["auth"])

FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
GrantType = Literal["password", "refresh_token"]
# What each grant cannot do without (RFC 6749 sections 4.3.2 and 6).
REQUIRED_PARAMETERS: dict[str, tuple[str, ...]] = {
    "password": ("username", "password"),
    "refresh_token": ("refresh_token",),
}


class TokenRequest(BaseModel):
    """RFC 6749 password (4.3) and refresh (6) grants, form-encoded as Swagger UI sends them."""

    model_config = ConfigDict(extra="ignore")

    grant_type: GrantType = Field(default="password", description="`password` when left out")
    username: str | None = Field(default=None, description="the password grant's user")
    password: SecretStr | None = Field(default=None, description="the password grant's password")
    refresh_token: SecretStr | None = Field(default=None, description="the refresh_token grant's token")
    scope: str | None = Field(default=None, description="space-separated; each must be one the user may have")
    # Swagger UI's optional client fields; client libraries send the same as HTTP Basic. The
    # service has no registered clients (the identity provider knows the service, not its
    # callers), so both are accepted and not checked.
    client_id: str | None = Field(default=None, description="accepted, not checked")
    client_secret: SecretStr | None = Field(default=None, description="accepted, not checked")


async def read_token_request(request: Request) -> TokenRequest:
    """The token request's form, or the RFC 6749 error that says what is wrong with it."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != FORM_MEDIA_TYPE:
        raise InvalidTokenRequest(f"Send the parameters form-encoded, as {FORM_MEDIA_TYPE}.")
    try:
        form = await request.form()
    except HTTPException as refused:
        if refused.status_code != 400:
            raise
        # Starlette's own limits (more than 1,000 fields, a field over 1 MB) refuse the form
        # with a 400 of its own; it is a malformed request here, said in OAuth's terms.
        raise InvalidTokenRequest("The form has too many fields, or a field too large.") from None
    known = TokenRequest.model_fields.keys()
    # Only the names we define are ever echoed back, so the description stays ours.
    repeated = [name for name in known if len(form.getlist(name)) > 1]
    if repeated:
        raise InvalidTokenRequest(f"Send each parameter once; repeated: {', '.join(repeated)}.")
    # A parameter without a value is one left out (RFC 6749 section 3.1): Swagger UI sends `scope=`.
    values = {name: value for name, value in form.items() if name in known and isinstance(value, str) and value}
    grant_type = values.setdefault("grant_type", "password")
    if grant_type not in REQUIRED_PARAMETERS:
        raise UnsupportedGrantType()
    missing = [name for name in REQUIRED_PARAMETERS[grant_type] if name not in values]
    if missing:
        raise InvalidTokenRequest(f"The {grant_type} grant needs {' and '.join(missing)}.")
    return TokenRequest.model_validate(values)


async def answer_in_oauth_errors(request: Request) -> AsyncIterator[None]:
    """Whatever else fails while answering a token request is an RFC 6749 `server_error` too."""
    try:
        yield
    except (OAuthError, AppError):
        # OAuth errors are answered as they are; the app's edge answers its own (a body over the limit).
        raise
    except Exception as exc:  # noqa: BLE001 - every failure of this route answers in its clients' terms
        # The type in the message too: make dev's log shows the message, not the extras.
        error_type = type(exc).__name__
        logger.error("unhandled error: %s", error_type, extra={"error_type": error_type, "path": request.url.path})
        raise TokenEndpointFailed() from None


def _oauth_error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": document_only(OAuthErrorBody)}}}


TOKEN_RESPONSES: dict[int | str, dict[str, Any]] = {
    **success_example(
        {
            "access_token": "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiIxIn0.c2ln",
            "token_type": "bearer",
            "expires_in": 3600,
            "refresh_token": "AMf-vBx4-example",
        }
    ),
    400: _oauth_error(
        "`invalid_request` (a missing, repeated or malformed parameter), `unsupported_grant_type`, "
        "`invalid_grant` (wrong credentials, a bad refresh token, a disabled account, a further step "
        "needed) or `invalid_scope`"
    ),
    429: _oauth_error("`temporarily_unavailable`: the identity provider is throttling sign-ins"),
    500: _oauth_error("`server_error`: an unexpected error"),
    502: _oauth_error("`server_error`: the identity provider answered with something unusable"),
    503: _oauth_error("`temporarily_unavailable`: the identity provider cannot be reached"),
    504: _oauth_error("`temporarily_unavailable`: the identity provider did not answer in time"),
}
# The form is read by `read_token_request`, so FastAPI is told what to document.
TOKEN_REQUEST_BODY = {
    "requestBody": {"required": True, "content": {FORM_MEDIA_TYPE: {"schema": document_only(TokenRequest)}}}
}


@router.post(
    "/token",
    operation_id="issue_token",
    response_model_exclude_none=True,
    dependencies=[Depends(answer_in_oauth_errors)],
    responses=TOKEN_RESPONSES,
    openapi_extra=TOKEN_REQUEST_BODY,
)
async def issue_token(
    form: Annotated[TokenRequest, Depends(read_token_request)], provider: IdentityProviderDep, response: Response
) -> TokenGrant:
    """Exchange a username and password, or a refresh token, for tokens. Public."""
    # Tokens must never sit in a cache (RFC 6749 section 5.1).
    response.headers["cache-control"] = "no-store"
    response.headers["pragma"] = "no-cache"
    if form.grant_type == "refresh_token":
        assert form.refresh_token is not None
        return await provider.refresh_grant(refresh_token=form.refresh_token.get_secret_value())
    assert form.username is not None
    assert form.password is not None
    return await provider.password_grant(
        username=form.username, password=form.password.get_secret_value(), scope=form.scope
    )
