"""Firebase Authentication (`IDENTITY_PROVIDER=firebase`), as the original project used it.

The password grant is Identity Toolkit's `accounts:signInWithPassword`, the refresh grant
Secure Token's `token` endpoint; both take the web API key (`FIREBASE_APP_API_KEY`), sent in
the `x-goog-api-key` header rather than the URL, so it cannot end up in an access log.
The access token handed out is Firebase's ID token: that is what API Gateway's JWT
authorizer verifies (issuer `https://securetoken.google.com/<project>`, audience the
project id). It carries no `scope`, and the user's groups come from custom claims.

`FIREBASE_AUTH_EMULATOR_HOST` (`host:port`) is honoured as Google's SDKs honour it: every
call goes over plain HTTP to `http://<host:port>/<the API's host name>/...`.
"""

from __future__ import annotations

from typing import Any, Literal

from service.core.errors import OAuthError
from service.core.http import SharedHttpClient
from service.core.identity.base import (
    InvalidCredentials,
    InvalidRefreshToken,
    InvalidScope,
    InvalidTokenRequest,
    ProviderThrottled,
    TokenGrant,
    UserDisabled,
)
from service.core.identity.provider_http import ProviderAnswer, ProviderHttp, error_code
from service.core.settings import Settings

IDENTITY_TOOLKIT_HOST = "identitytoolkit.googleapis.com"
SECURE_TOKEN_HOST = "securetoken.googleapis.com"  # noqa: S105 - a host name

Grant = Literal["password", "refresh"]

# Google's codes that mean "the service is set up wrongly", not "the user did something".
_CONFIGURATION_CODES = {
    "CONFIGURATION_NOT_FOUND": "the project has no Authentication configuration",
    "PROJECT_NOT_FOUND": "FIREBASE_APP_API_KEY belongs to no project",
    "OPERATION_NOT_ALLOWED": "enable the Email/Password sign-in provider",
    "PASSWORD_LOGIN_DISABLED": "enable the Email/Password sign-in provider",
    "INVALID_API_KEY": "check FIREBASE_APP_API_KEY",
    "API_KEY_INVALID": "check FIREBASE_APP_API_KEY",
}


class FirebaseProvider:
    def __init__(self, *, api_key: str, emulator_host: str | None, calls: ProviderHttp) -> None:
        self._api_key = api_key
        self._calls = calls
        if emulator_host:
            self.sign_in_url = f"http://{emulator_host}/{IDENTITY_TOOLKIT_HOST}/v1/accounts:signInWithPassword"
            self.refresh_url = f"http://{emulator_host}/{SECURE_TOKEN_HOST}/v1/token"
        else:
            self.sign_in_url = f"https://{IDENTITY_TOOLKIT_HOST}/v1/accounts:signInWithPassword"
            self.refresh_url = f"https://{SECURE_TOKEN_HOST}/v1/token"

    @classmethod
    def from_settings(cls, settings: Settings, http: SharedHttpClient) -> FirebaseProvider:
        assert settings.firebase_app_api_key is not None  # validated at start-up
        return cls(
            api_key=settings.firebase_app_api_key.get_secret_value(),
            emulator_host=settings.firebase_auth_emulator_host,
            calls=ProviderHttp(http, provider="firebase", deadline_seconds=settings.provider_timeout_seconds),
        )

    async def password_grant(self, *, username: str, password: str, scope: str | None) -> TokenGrant:
        if scope:
            # Firebase has no scopes: its ID tokens carry none, whatever was asked for.
            raise InvalidScope("Firebase ID tokens carry no scopes; ask for none.")
        async with self._calls.deadline():
            answer = await self._calls.request(
                "POST",
                self.sign_in_url,
                json_body={"email": username, "password": password, "returnSecureToken": True},
                headers={"x-goog-api-key": self._api_key},
            )
        if not answer.ok:
            raise self._error(answer, grant="password")
        body = answer.body
        return self._grant(body.get("idToken"), body.get("expiresIn"), body.get("refreshToken"))

    async def refresh_grant(self, *, refresh_token: str) -> TokenGrant:
        async with self._calls.deadline():
            answer = await self._calls.request(
                "POST",
                self.refresh_url,
                data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                headers={"x-goog-api-key": self._api_key},
            )
        if not answer.ok:
            raise self._error(answer, grant="refresh")
        body = answer.body
        return self._grant(body.get("id_token"), body.get("expires_in"), body.get("refresh_token"))

    def _grant(self, id_token: Any, expires_in: Any, refresh_token: Any) -> TokenGrant:
        # Google sends the lifetime as a string of seconds ("3600").
        lifetime = str(expires_in) if isinstance(expires_in, str | int) else ""
        if not isinstance(id_token, str) or not id_token or not lifetime.isdigit():
            raise self._calls.unusable("the token answer lacks idToken or expiresIn")
        return TokenGrant(
            access_token=id_token,
            expires_in=int(lifetime),
            refresh_token=refresh_token if isinstance(refresh_token, str) and refresh_token else None,
            id_token=id_token,
        )

    def _error(self, answer: ProviderAnswer, *, grant: Grant) -> OAuthError:
        """Google's error codes, as documented for both endpoints, mapped to our answers."""
        error = answer.body.get("error")
        message = error.get("message") if isinstance(error, dict) else None
        # Some messages append an explanation: "TOO_MANY_ATTEMPTS_TRY_LATER : Access to ...".
        code = error_code(message.split(" : ", 1)[0]) if isinstance(message, str) else None
        if code is None:
            # Google's own API errors ("API key not valid...") carry a reason instead.
            details = error.get("details") if isinstance(error, dict) else None
            reasons = [d.get("reason") for d in details if isinstance(d, dict)] if isinstance(details, list) else []
            code = next((c for c in map(error_code, reasons) if c), None)
        match code:
            case "EMAIL_NOT_FOUND" | "INVALID_PASSWORD" | "INVALID_LOGIN_CREDENTIALS" if grant == "password":
                return InvalidCredentials()
            case "TOKEN_EXPIRED" | "INVALID_REFRESH_TOKEN" | "USER_NOT_FOUND" if grant == "refresh":
                return InvalidRefreshToken()
            case "USER_DISABLED":
                return UserDisabled()
            case "TOO_MANY_ATTEMPTS_TRY_LATER":
                return ProviderThrottled()
            case "INVALID_EMAIL":
                return InvalidTokenRequest("The username must be an email address.")
            case str() if code.startswith("MISSING_"):
                return InvalidTokenRequest("The request is missing a value the identity provider needs.")
            case _:
                hint = _CONFIGURATION_CODES.get(code or "")
                if hint is None and answer.status_code == 403:
                    hint = "check FIREBASE_APP_API_KEY"
                return self._calls.unusable(
                    f"unexpected error {code or 'without a code'}", status=answer.status_code, hint=hint
                )
