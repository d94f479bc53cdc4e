"""Identity providers behind `POST /v1/auth/token`, chosen by `IDENTITY_PROVIDER`.

Each provider lives in its own module and is imported only when chosen, so the Lambda
runtime never loads what it does not use.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI

from service.core.http import SharedHttpClient
from service.core.identity.base import IdentityProvider
from service.core.settings import IdentityProviderName, Settings


def build_identity_provider(
    settings: Settings, http: SharedHttpClient, *, declared_scopes: Sequence[str] = ()
) -> IdentityProvider:
    """The chosen provider; `declared_scopes`, the app's, are what the embedded issuer's demo admin is granted."""
    match settings.provider:
        case IdentityProviderName.LOCAL:
            from service.core.identity.local import LocalIssuer

            return LocalIssuer.from_settings(settings, declared_scopes=declared_scopes)
        case IdentityProviderName.FIREBASE:
            from service.core.identity.firebase import FirebaseProvider

            return FirebaseProvider.from_settings(settings, http)
        case IdentityProviderName.COGNITO:
            from service.core.identity.cognito import CognitoProvider

            return CognitoProvider.from_settings(settings, http)
        case IdentityProviderName.OIDC:
            from service.core.identity.oidc import OidcProvider

            return OidcProvider.from_settings(settings, http)


def identity_provider(app: FastAPI) -> IdentityProvider:
    """The app's provider, built on first use and kept for the life of the process."""
    provider: IdentityProvider | None = getattr(app.state, "identity_provider", None)
    if provider is None:
        provider = build_identity_provider(
            app.state.settings, app.state.http, declared_scopes=getattr(app.state, "declared_scopes", ())
        )
        app.state.identity_provider = provider
    return provider


def forget_identity_provider(app: FastAPI) -> None:
    """Drop the app's provider: the next use builds a new one, with empty caches (the client secret's)."""
    app.state.identity_provider = None
