"""Any OAuth 2.0 / OpenID Connect server's token endpoint (`IDENTITY_PROVIDER=oidc`).

Auth0, Keycloak, Okta and the like: the resource owner password grant (RFC 6749 section 4.3)
and the refresh grant (section 6). The endpoint is `OIDC_TOKEN_URL`, or the `token_endpoint`
of `JWT_ISSUER`'s discovery document, fetched once. The client authenticates with its
secret (`OIDC_CLIENT_SECRET`, or in Lambda the secret `OIDC_CLIENT_SECRET_ARN` names; see
`client_secret.py`) by HTTP Basic (`client_secret_basic`, which every server must accept)
or in the form (`OIDC_TOKEN_AUTH_METHOD=client_secret_post`, which some Auth0 applications
insist on); without a secret it is a public client and sends only its id. `OIDC_AUDIENCE`
is sent as `audience` (Auth0 issues a JWT access token only for an API audience), and
`OIDC_SCOPE` is the scope asked for when the client asks for none.
"""

from __future__ import annotations

import base64
import time
from typing import Any, Literal
from urllib.parse import quote_plus

from service.core.errors import OAuthError
from service.core.http import SharedHttpClient
from service.core.identity.base import (
    InvalidCredentials,
    InvalidRefreshToken,
    InvalidScope,
    InvalidTokenRequest,
    ProviderThrottled,
    ProviderUnavailable,
    SignInIncomplete,
    TokenGrant,
    UnsupportedGrantType,
    UserDisabled,
)
from service.core.identity.client_secret import ClientSecret, client_secret, send_with_client_secret
from service.core.identity.provider_http import ProviderAnswer, ProviderHttp, error_code, unverified_claims
from service.core.settings import OidcTokenAuthMethod, Settings

Grant = Literal["password", "refresh"]

# Errors that say the service's client is set up wrongly at the provider.
_CONFIGURATION_HINTS = {
    "invalid_client": "check OIDC_CLIENT_ID, OIDC_CLIENT_SECRET and OIDC_TOKEN_AUTH_METHOD",
    "unauthorized_client": "allow the password and refresh_token grants for this client",
    "unsupported_grant_type": "allow the password and refresh_token grants for this client",
}
_GRANT_NOT_ALLOWED = "The identity provider does not allow this grant for the service's client."
# How servers say "this account is switched off" inside invalid_grant (Keycloak, Auth0).
_DISABLED_HINTS = ("disabled", "blocked")


def _refuses_the_client(answer: ProviderAnswer) -> bool:
    """The server did not accept the client's credentials (RFC 6749 section 5.2), perhaps a rotated secret."""
    return error_code(answer.body.get("error")) == "invalid_client"


def _basic_credentials(client_id: str, client_secret: str) -> str:
    # RFC 6749 section 2.3.1: each part is form-encoded before the Basic encoding.
    pair = f"{quote_plus(client_id)}:{quote_plus(client_secret)}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


class OidcProvider:
    def __init__(
        self,
        *,
        token_url: str | None,
        issuer: str | None,
        client_id: str,
        client_secret: ClientSecret | None,
        token_auth_method: OidcTokenAuthMethod,
        audience: str | None,
        scope: str | None,
        calls: ProviderHttp,
    ) -> None:
        if token_url is None and issuer is None:
            raise ValueError("OIDC_TOKEN_URL or JWT_ISSUER is required")
        self._token_url = token_url
        self._issuer = issuer
        self._client_id = client_id
        self._client_secret = client_secret
        self._token_auth_method = token_auth_method
        self._audience = audience
        self._scope = scope
        self._calls = calls

    @classmethod
    def from_settings(cls, settings: Settings, http: SharedHttpClient) -> OidcProvider:
        assert settings.oidc_client_id is not None  # validated at start-up
        return cls(
            token_url=settings.oidc_token_url,
            issuer=settings.jwt_issuer,
            client_id=settings.oidc_client_id,
            client_secret=client_secret(
                plain=settings.oidc_client_secret,
                arn=settings.oidc_client_secret_arn,
                settings=settings,
                http=http,
                provider="oidc",
            ),
            token_auth_method=settings.oidc_token_auth_method,
            audience=settings.oidc_audience,
            scope=settings.oidc_scope,
            calls=ProviderHttp(http, provider="oidc", deadline_seconds=settings.provider_timeout_seconds),
        )

    async def password_grant(self, *, username: str, password: str, scope: str | None) -> TokenGrant:
        form = {"grant_type": "password", "username": username, "password": password}
        if scope or self._scope:
            form["scope"] = scope or self._scope or ""
        if self._audience:
            form["audience"] = self._audience
        return await self._token_request(form, grant="password", refresh_token=None)

    async def refresh_grant(self, *, refresh_token: str) -> TokenGrant:
        # No scope: the server grants what the refresh token was issued for.
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        return await self._token_request(form, grant="refresh", refresh_token=refresh_token)

    async def _token_request(self, form: dict[str, str], *, grant: Grant, refresh_token: str | None) -> TokenGrant:
        async with self._calls.deadline():
            endpoint = await self._token_endpoint()

            async def send(secret: str | None) -> ProviderAnswer:
                headers, data = self._client_authentication(form, secret)
                return await self._calls.request("POST", endpoint, data=data, headers=headers)

            answer = await send_with_client_secret(self._client_secret, send, refused=_refuses_the_client)
        if not answer.ok:
            raise self._error(answer, grant=grant)
        return self._grant(answer.body, refresh_token=refresh_token)

    def _client_authentication(self, form: dict[str, str], secret: str | None) -> tuple[dict[str, str], dict[str, str]]:
        """The headers and form that authenticate this client with `secret` (none for a public client)."""
        headers = {"accept": "application/json"}
        basic = self._token_auth_method == "client_secret_basic"  # noqa: S105 - a method's name
        if secret is not None and basic:
            headers["authorization"] = _basic_credentials(self._client_id, secret)
            return headers, form
        data = {**form, "client_id": self._client_id}
        if secret is not None:
            data["client_secret"] = secret
        return headers, data

    async def _token_endpoint(self) -> str:
        if self._token_url is None:
            assert self._issuer is not None
            discovery_url = f"{self._issuer.rstrip('/')}/.well-known/openid-configuration"
            answer = await self._calls.request("GET", discovery_url, headers={"accept": "application/json"})
            endpoint = answer.body.get("token_endpoint")
            if not answer.ok or not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
                raise self._calls.unusable(
                    "the discovery document names no token_endpoint",
                    status=answer.status_code,
                    hint="set OIDC_TOKEN_URL",
                )
            # Only a good answer is kept: a failed fetch is tried again on the next request.
            self._token_url = endpoint
        return self._token_url

    def _grant(self, body: dict[str, Any], *, refresh_token: str | None) -> TokenGrant:
        access_token, token_type = body.get("access_token"), body.get("token_type")
        if not isinstance(access_token, str) or not access_token:
            raise self._calls.unusable("the token answer has no access_token")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise self._calls.unusable("the token answer is not a bearer token")
        expires_in = body.get("expires_in")
        if isinstance(expires_in, str) and expires_in.isdigit():
            expires_in = int(expires_in)
        if not isinstance(expires_in, int):
            # expires_in is only RECOMMENDED; a JWT says when it expires itself.
            exp = unverified_claims(access_token).get("exp")
            if not isinstance(exp, int | float):
                raise self._calls.unusable("the token answer says neither expires_in nor exp")
            expires_in = max(0, int(exp - time.time()))
        new_refresh_token, id_token, scope = body.get("refresh_token"), body.get("id_token"), body.get("scope")
        return TokenGrant(
            access_token=access_token,
            expires_in=expires_in,
            refresh_token=new_refresh_token if isinstance(new_refresh_token, str) else refresh_token,
            id_token=id_token if isinstance(id_token, str) else None,
            scope=scope if isinstance(scope, str) else None,
        )

    def _error(self, answer: ProviderAnswer, *, grant: Grant) -> OAuthError:
        """The server's RFC 6749 error, passed on as the same code with our own description.

        Except where it speaks of the service's own registration (`invalid_client`,
        `unauthorized_client`): that is no fault of the caller's, so it is a 502. Codes some
        servers add (`mfa_required`, `too_many_attempts`) map to the nearest standard one.
        """
        code = error_code(answer.body.get("error")) or ""
        description = answer.body.get("error_description")
        description = description.lower() if isinstance(description, str) else ""
        if code in ("invalid_grant", "unauthorized") and any(hint in description for hint in _DISABLED_HINTS):
            return UserDisabled()
        if code == "invalid_grant" and "not fully set up" in description:
            # Keycloak: the account has required actions pending (new password, verify email...).
            return SignInIncomplete("REQUIRED_ACTIONS")
        match code:
            case "invalid_grant":
                return InvalidCredentials() if grant == "password" else InvalidRefreshToken()
            case "mfa_required":
                return SignInIncomplete("MFA_REQUIRED")
            case "too_many_attempts" | "slow_down":
                return ProviderThrottled()
            case "temporarily_unavailable":
                return ProviderUnavailable()
            case "invalid_scope":
                return InvalidScope("The identity provider does not grant the requested scope.")
            case "unsupported_grant_type":
                self._calls.log_failure("refused the grant", status=answer.status_code, hint=_CONFIGURATION_HINTS[code])
                return UnsupportedGrantType(_GRANT_NOT_ALLOWED)
            case "invalid_request":
                self._calls.log_failure("refused as invalid_request", status=answer.status_code)
                return InvalidTokenRequest("The identity provider refused the request as malformed.")
            case _:
                return self._calls.unusable(
                    f"unexpected error {code or 'without a code'}",
                    status=answer.status_code,
                    hint=_CONFIGURATION_HINTS.get(code),
                )
