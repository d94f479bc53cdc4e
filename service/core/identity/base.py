"""What every identity provider behind `POST /v1/auth/token` offers, and how it says no.

Providers translate their own answers into these errors; the token route never sees a
provider's raw body, so nothing of it can leak to a client.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel

from service.core.errors import AppError


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


class InvalidCredentials(AppError):
    status_code = 401
    code = "invalid_credentials"

    def __init__(self, detail: str = "The username or password is incorrect.") -> None:
        # Same answer for an unknown user and a wrong password: no account enumeration.
        super().__init__(detail, headers={"www-authenticate": "Bearer"})


class InvalidRefreshToken(AppError):
    status_code = 401
    code = "invalid_refresh_token"

    def __init__(self, detail: str = "The refresh token is invalid or expired.") -> None:
        super().__init__(detail, headers={"www-authenticate": "Bearer"})


class UserDisabled(AppError):
    status_code = 403
    code = "user_disabled"

    def __init__(self, detail: str = "This account is disabled.") -> None:
        super().__init__(detail)


class SignInIncomplete(AppError):
    """The password was right, but the provider wants a step this endpoint does not offer."""

    status_code = 403
    code = "sign_in_incomplete"

    def __init__(self, step: str, detail: str | None = None) -> None:
        super().__init__(
            detail
            or f"Signing in needs a further step, {step}, which this endpoint does not offer; "
            "complete it with the identity provider first."
        )
        self.step = step


class InvalidTokenRequest(AppError):
    status_code = 400
    code = "invalid_request"


class ProviderThrottled(AppError):
    status_code = 429
    code = "throttled"

    def __init__(self, detail: str = "Too many attempts; try again later.", *, retry_after: int | None = None) -> None:
        super().__init__(detail, headers={"retry-after": str(retry_after)} if retry_after else None)


class ProviderFailed(AppError):
    """The provider answered with something we cannot use."""

    status_code = 502
    code = "provider_error"

    def __init__(self, detail: str = "The identity provider gave an unusable answer.") -> None:
        super().__init__(detail)


class ProviderUnavailable(AppError):
    status_code = 503
    code = "provider_unavailable"

    def __init__(self, detail: str = "The identity provider cannot be reached.") -> None:
        super().__init__(detail, headers={"retry-after": "5"})


class ProviderTimeout(AppError):
    status_code = 504
    code = "provider_timeout"

    def __init__(self, detail: str = "The identity provider did not answer in time.") -> None:
        super().__init__(detail)
