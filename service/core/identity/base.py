"""What every identity provider behind `POST /v1/auth/token` offers, and how it says no.

Providers translate their own answers into these errors; the token route never sees a
provider's raw body, so nothing of it can leak to a client. The token route raises the
same errors for what it refuses itself (a malformed request, a grant it does not offer).
"""

# Annotations are evaluated as the module runs (no postponed annotations): pydantic and FastAPI
# read them at import, and evaluating their text instead costs every cold start (issue 23).

from typing import Protocol

from pydantic import BaseModel

from service.core.errors import OAuthError


class TokenGrant(BaseModel):
    """The token response (RFC 6749 section 5.1)."""

    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int
    refresh_token: str | None = None
    id_token: str | None = None
    scope: str | None = None


class IdentityProvider(Protocol):
    async def password_grant(self, *, username: str, password: str, scope: str | None) -> TokenGrant:
        """Exchange a user's credentials for tokens."""
        ...

    async def refresh_grant(self, *, refresh_token: str) -> TokenGrant:
        """Exchange a refresh token for a fresh access token."""
        ...


# How the token endpoint says no: each an RFC 6749 error (`service.core.errors.OAuthError`).
# A refused sign-in is `invalid_grant` whatever the reason, as the RFC has it; `code` and the
# description say which, and only where the provider has verified the password.


class InvalidCredentials(OAuthError):
    error = "invalid_grant"
    code = "invalid_credentials"
    # Same answer for an unknown user and a wrong password: no account enumeration.
    description = "The username or password is incorrect."


class InvalidRefreshToken(OAuthError):
    error = "invalid_grant"
    code = "invalid_refresh_token"
    description = "The refresh token is invalid, expired or revoked."


class UserDisabled(OAuthError):
    error = "invalid_grant"
    code = "user_disabled"
    description = "This account is disabled."


class SignInIncomplete(OAuthError):
    """The password was right, but the provider wants a step this endpoint does not offer."""

    error = "invalid_grant"
    code = "sign_in_incomplete"

    def __init__(self, step: str, description: str | None = None) -> None:
        super().__init__(
            description
            or f"Signing in needs a further step, {step}, which this endpoint does not offer; "
            "complete it with the identity provider first."
        )
        self.step = step


class InvalidTokenRequest(OAuthError):
    """A missing, repeated or malformed parameter, or one the provider refuses as malformed."""

    error = "invalid_request"
    code = "invalid_request"


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"
    code = "unsupported_grant_type"
    description = "This endpoint offers the password and refresh_token grants only."


class InvalidScope(OAuthError):
    """A scope the user may not have: refused, never quietly narrowed (RFC 6749 section 3.3)."""

    error = "invalid_scope"
    code = "invalid_scope"
    description = "The requested scope is not available to this user."


class ProviderThrottled(OAuthError):
    status_code = 429
    error = "temporarily_unavailable"
    code = "throttled"
    description = "Too many attempts; try again later."

    def __init__(self, description: str | None = None, *, retry_after: int | None = None) -> None:
        super().__init__(description, headers={"retry-after": str(retry_after)} if retry_after else None)


class ProviderFailed(OAuthError):
    """The provider answered with something we cannot use."""

    status_code = 502
    error = "server_error"
    code = "provider_error"
    description = "The identity provider gave an unusable answer."


class ProviderUnavailable(OAuthError):
    status_code = 503
    error = "temporarily_unavailable"
    code = "provider_unavailable"
    description = "The identity provider cannot be reached."

    def __init__(self, description: str | None = None) -> None:
        super().__init__(description, headers={"retry-after": "5"})


class ProviderTimeout(OAuthError):
    status_code = 504
    error = "temporarily_unavailable"
    code = "provider_timeout"
    description = "The identity provider did not answer in time."


class TokenEndpointFailed(OAuthError):
    """Anything unexpected while answering a token request: no detail, as elsewhere."""

    status_code = 500
    error = "server_error"
    code = "internal_error"
    description = "An unexpected error occurred."
