"""The OAuth2 token endpoint: forwards the grant to the configured identity provider."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from fastapi import APIRouter, Form, Response
from pydantic import BaseModel, ConfigDict, SecretStr, model_validator

from service.api.deps import IdentityProviderDep
from service.core.errors import Problem
from service.core.identity.base import TokenGrant

router = APIRouter(prefix="/auth", tags=["auth"])


class TokenRequest(BaseModel):
    """RFC 6749 password (4.3) and refresh (6) grants, form-encoded as Swagger UI sends them."""

    model_config = ConfigDict(extra="ignore")

    grant_type: Literal["password", "refresh_token"] = "password"
    username: str | None = None
    password: SecretStr | None = None
    refresh_token: SecretStr | None = None
    scope: str | None = None

    @model_validator(mode="after")
    def _fields_for_grant(self) -> Self:
        if self.grant_type == "password" and not (self.username and self.password and self.password.get_secret_value()):
            raise ValueError("the password grant needs username and password")
        if self.grant_type == "refresh_token" and not (self.refresh_token and self.refresh_token.get_secret_value()):
            raise ValueError("the refresh_token grant needs refresh_token")
        return self


@router.post(
    "/token",
    operation_id="issue_token",
    response_model_exclude_none=True,
    responses={
        status: {"model": Problem, "description": description}
        for status, description in {
            400: "The identity provider refused the request as malformed",
            401: "Wrong username or password, or a bad refresh token",
            403: "The account is disabled",
            429: "The identity provider is throttling sign-ins",
            502: "The identity provider answered with something unusable",
            503: "The identity provider cannot be reached",
            504: "The identity provider did not answer in time",
        }.items()
    },
)
async def issue_token(
    form: Annotated[TokenRequest, Form()], provider: IdentityProviderDep, response: Response
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
