"""Amazon Cognito user pools (`IDENTITY_PROVIDER=cognito`).

`InitiateAuth` with `USER_PASSWORD_AUTH` and `REFRESH_TOKEN_AUTH`, spoken as Cognito's JSON
protocol over the shared httpx client rather than through boto3: `InitiateAuth` is a
public-client operation that needs no AWS signature, so the whole of boto3 (tens of MB
unpacked, a model to load at first use, a synchronous client) would buy one POST.

The endpoint is `https://cognito-idp.<AWS_REGION>.amazonaws.com/`, unless overridden as the
AWS SDKs allow: `AWS_ENDPOINT_URL_COGNITO_IDP`, `AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER`
(the SDKs' own name for this service), then `AWS_ENDPOINT_URL`.

With an app client secret, every call carries `SECRET_HASH`, computed from the user name.
A refresh token alone does not say whose it is, so with a secret the refresh token handed
to the client carries Cognito's user name in front of Cognito's token (`<name>~<token>`);
without a secret it is Cognito's token, untouched.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any, Literal

from service.core.errors import OAuthError
from service.core.http import SharedHttpClient
from service.core.identity.base import (
    InvalidCredentials,
    InvalidRefreshToken,
    InvalidScope,
    ProviderThrottled,
    SignInIncomplete,
    TokenGrant,
    UserDisabled,
)
from service.core.identity.client_secret import ClientSecret, client_secret, send_with_client_secret
from service.core.identity.provider_http import ProviderAnswer, ProviderHttp, error_code, unverified_claims
from service.core.settings import Settings

Grant = Literal["password", "refresh"]

INITIATE_AUTH_TARGET = "AWSCognitoIdentityProviderService.InitiateAuth"
AMZ_JSON = "application/x-amz-json-1.1"
# Separates Cognito's user name from its refresh token where a client secret needs both.
REFRESH_TOKEN_SEPARATOR = "~"  # noqa: S105 - a separator, not a secret

# The scope of every access token USER_PASSWORD_AUTH issues.
SIGN_IN_SCOPE = "aws.cognito.signin.user.admin"

_THROTTLED = {"TooManyRequestsException", "LimitExceededException", "TooManyFailedAttemptsException"}
# Errors that mean the app client or the service is set up wrongly, not that the user erred.
_CONFIGURATION_HINTS = {
    "ResourceNotFoundException": "COGNITO_USER_POOL_CLIENT_ID names no app client in this region",
    "InvalidParameterException": "does the app client allow ALLOW_USER_PASSWORD_AUTH and ALLOW_REFRESH_TOKEN_AUTH?",
    "InvalidUserPoolConfigurationException": "the user pool's configuration is invalid",
    "UnrecognizedClientException": "the endpoint does not know this client",
}


def cognito_endpoint(settings: Settings) -> str:
    return (
        settings.aws_endpoint_url_cognito_idp
        or settings.aws_endpoint_url_cognito_identity_provider
        or settings.aws_endpoint_url
        or f"https://cognito-idp.{settings.aws_region}.amazonaws.com/"
    )


def secret_hash(*, username: str, client_id: str, client_secret: str) -> str:
    """Cognito's SECRET_HASH: Base64(HMAC-SHA256(secret, user name + client id))."""
    digest = hmac.new(client_secret.encode(), (username + client_id).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class CognitoProvider:
    def __init__(
        self, *, endpoint: str, client_id: str, client_secret: ClientSecret | None, calls: ProviderHttp
    ) -> None:
        self.endpoint = endpoint
        self._client_id = client_id
        self._client_secret = client_secret
        self._calls = calls

    @classmethod
    def from_settings(cls, settings: Settings, http: SharedHttpClient) -> CognitoProvider:
        assert settings.cognito_user_pool_client_id is not None  # validated at start-up
        return cls(
            endpoint=cognito_endpoint(settings),
            client_id=settings.cognito_user_pool_client_id,
            client_secret=client_secret(
                plain=settings.cognito_user_pool_client_secret,
                arn=settings.cognito_user_pool_client_secret_arn,
                settings=settings,
                http=http,
                provider="cognito",
            ),
            calls=ProviderHttp(http, provider="cognito", deadline_seconds=settings.provider_timeout_seconds),
        )

    async def password_grant(self, *, username: str, password: str, scope: str | None) -> TokenGrant:
        # USER_PASSWORD_AUTH tokens always carry this one scope; no other can be asked for.
        if scope and set(scope.split()) - {SIGN_IN_SCOPE}:
            raise InvalidScope(f"Cognito's password sign-in grants only the scope {SIGN_IN_SCOPE}.")
        parameters = {"USERNAME": username, "PASSWORD": password}
        result = await self._initiate_auth("USER_PASSWORD_AUTH", parameters, grant="password", hashed_name=username)
        grant = self._grant(result, refresh_token=None)
        if grant.refresh_token is not None and self._client_secret is not None:
            # Cognito wants the user name it assigned (the access token's `username`), which
            # differs from what was typed where users sign in with an email address.
            cognito_username = unverified_claims(grant.access_token).get("username")
            name = cognito_username if isinstance(cognito_username, str) and cognito_username else username
            grant = grant.model_copy(update={"refresh_token": _wrap_refresh_token(name, grant.refresh_token)})
        return grant

    async def refresh_grant(self, *, refresh_token: str) -> TokenGrant:
        if self._client_secret is None:
            result = await self._initiate_auth("REFRESH_TOKEN_AUTH", {"REFRESH_TOKEN": refresh_token}, grant="refresh")
            return self._grant(result, refresh_token=refresh_token)
        username, cognito_token = _unwrap_refresh_token(refresh_token)
        parameters = {"REFRESH_TOKEN": cognito_token}
        result = await self._initiate_auth("REFRESH_TOKEN_AUTH", parameters, grant="refresh", hashed_name=username)
        grant = self._grant(result, refresh_token=cognito_token)
        assert grant.refresh_token is not None
        return grant.model_copy(update={"refresh_token": _wrap_refresh_token(username, grant.refresh_token)})

    async def _initiate_auth(
        self, flow: str, parameters: dict[str, str], *, grant: Grant, hashed_name: str | None = None
    ) -> dict[str, Any]:
        """InitiateAuth; with a client secret, SECRET_HASH is computed from `hashed_name`."""

        async def send(secret: str | None) -> ProviderAnswer:
            signed = dict(parameters)
            if secret is not None and hashed_name is not None:
                signed["SECRET_HASH"] = secret_hash(
                    username=hashed_name, client_id=self._client_id, client_secret=secret
                )
            return await self._calls.request(
                "POST",
                self.endpoint,
                json_body={"AuthFlow": flow, "ClientId": self._client_id, "AuthParameters": signed},
                headers={"x-amz-target": INITIATE_AUTH_TARGET, "content-type": AMZ_JSON},
            )

        secret = self._client_secret if hashed_name is not None else None
        async with self._calls.deadline():
            answer = await send_with_client_secret(secret, send, refused=_refuses_the_secret_hash)
        if not answer.ok:
            raise self._error(answer, grant=grant)
        result = answer.body.get("AuthenticationResult")
        if isinstance(result, dict):
            return result
        challenge = answer.body.get("ChallengeName")
        if challenge is not None:
            raise SignInIncomplete(
                error_code(challenge) or "an authentication challenge",
                f"Cognito asks for the challenge {error_code(challenge) or '(unnamed)'} before it issues tokens; "
                "this endpoint answers no challenges. Complete it with Cognito first (for NEW_PASSWORD_REQUIRED: "
                "set a permanent password).",
            )
        raise self._calls.unusable("the answer has neither AuthenticationResult nor ChallengeName")

    def _grant(self, result: dict[str, Any], *, refresh_token: str | None) -> TokenGrant:
        """The tokens; `refresh_token` is kept where Cognito issues no new one (it rotates none by default)."""
        access_token, expires_in = result.get("AccessToken"), result.get("ExpiresIn")
        if not isinstance(access_token, str) or not access_token or not isinstance(expires_in, int):
            raise self._calls.unusable("AuthenticationResult lacks AccessToken or ExpiresIn")
        new_refresh_token, id_token = result.get("RefreshToken"), result.get("IdToken")
        return TokenGrant(
            access_token=access_token,
            expires_in=expires_in,
            refresh_token=new_refresh_token if isinstance(new_refresh_token, str) else refresh_token,
            id_token=id_token if isinstance(id_token, str) else None,
        )

    def _error(self, answer: ProviderAnswer, *, grant: Grant) -> OAuthError:
        """Cognito's exception types, from `__type` or the `x-amzn-errortype` header."""
        raw_type = answer.body.get("__type") or answer.headers.get("x-amzn-errortype") or ""
        # "com.amazonaws...#NotAuthorizedException" or "NotAuthorizedException:http://..."
        error_type = error_code(str(raw_type).rsplit("#", 1)[-1].split(":", 1)[0]) or ""
        message = answer.body.get("message")
        message = message.lower() if isinstance(message, str) else ""
        if error_type == "NotAuthorizedException":
            # One type, several meanings: only the message tells them apart.
            if "disabled" in message:
                return UserDisabled()
            if "attempts exceeded" in message:
                return ProviderThrottled()
            if "secret hash" in message or "secrethash" in message:
                return self._calls.unusable(
                    "secret hash refused", status=answer.status_code, hint="check COGNITO_USER_POOL_CLIENT_SECRET"
                )
            return InvalidCredentials() if grant == "password" else InvalidRefreshToken()
        if error_type == "UserNotFoundException":
            return InvalidCredentials() if grant == "password" else InvalidRefreshToken()
        if error_type == "UserNotConfirmedException":
            return SignInIncomplete("USER_NOT_CONFIRMED", "This account is not confirmed yet.")
        if error_type == "PasswordResetRequiredException":
            return SignInIncomplete("PASSWORD_RESET_REQUIRED", "This account must reset its password first.")
        if error_type in _THROTTLED:
            return ProviderThrottled()
        return self._calls.unusable(
            f"unexpected error {error_type or 'without a type'}",
            status=answer.status_code,
            hint=_CONFIGURATION_HINTS.get(error_type),
        )


def _refuses_the_secret_hash(answer: ProviderAnswer) -> bool:
    """Cognito did not accept SECRET_HASH: a wrong client secret, perhaps a rotated one."""
    message = answer.body.get("message")
    lowered = message.lower() if isinstance(message, str) else ""
    return not answer.ok and ("secret hash" in lowered or "secrethash" in lowered)


def _wrap_refresh_token(username: str, refresh_token: str) -> str:
    name = base64.urlsafe_b64encode(username.encode()).rstrip(b"=").decode()
    return f"{name}{REFRESH_TOKEN_SEPARATOR}{refresh_token}"


def _unwrap_refresh_token(value: str) -> tuple[str, str]:
    name, separator, refresh_token = value.partition(REFRESH_TOKEN_SEPARATOR)
    try:
        username = base64.urlsafe_b64decode(name + "=" * (-len(name) % 4)).decode()
    except ValueError:
        raise InvalidRefreshToken() from None
    if not separator or not username or not refresh_token:
        raise InvalidRefreshToken()
    return username, refresh_token
