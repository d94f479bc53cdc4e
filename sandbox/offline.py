"""What the sandbox stands in for when there is no internet: an identity provider, and the docs pages' CDN.

- The identity provider is the service's embedded issuer (`LocalIssuer`, with its demo users)
  served as a real one is, on a loopback port of its own: a token endpoint (RFC 6749 password
  and refresh grants, its errors as section 5.2 has them) and its key set. Nothing in the
  stack knows it is local: the template's function reaches it through the `oidc` provider
  (`OIDC_TOKEN_URL`), and the template's JWT authorizer trusts its issuer, whose keys the
  gateway fetches from here. Its tokens name the issuer `https://local-idp.invalid`, since an
  HTTP API's JWT authorizer accepts `https` issuers only.
- The docs pages load Swagger UI and ReDoc from `DOCS_ASSETS_URL`; here the pinned packages'
  files (`infra/docs_assets.py`: checked against package-lock.json), laid out as jsDelivr serves
  them, at the exact versions and with the integrity the template names, so the docs work
  offline too.
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from service.core.access.declaration import KNOWN_SCOPES
from service.core.errors import OAuthError
from service.core.identity.local import LocalIssuer, load_or_create_signing_key, load_users
from service.core.settings import LOCAL_AUDIENCE, LOCAL_ISSUER

ISSUER = LOCAL_ISSUER
AUDIENCE = LOCAL_AUDIENCE
CLIENT_ID = "fastapi-lambda-sandbox"
TOKEN_PATH = "/token"  # noqa: S105 - a path, not a password
JWKS_PATH = "/.well-known/jwks.json"
DOCS_ASSETS_PATH = "/npm"
# The demo users' passwords, for the banner (LocalIssuer knows only their bcrypt hashes).
DEMO_PASSWORDS = {"admin@example.com": "admin-password", "user@example.com": "user-password"}


def offline_issuer(*, key_file: Path, groups_claim: str = "groups", users_file: Path | None = None) -> LocalIssuer:
    return LocalIssuer(
        issuer=ISSUER,
        audience=AUDIENCE,
        groups_claim=groups_claim,
        signing_key=load_or_create_signing_key(key_file),
        # The demo admin gets every scope the service declares, as under make dev.
        users=load_users(users_file, demo_admin_scopes=tuple(KNOWN_SCOPES)),
        token_ttl_seconds=3600,
    )


def _oauth_error(status: int, error: str, description: str) -> Response:
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={"cache-control": "no-store"},
    )


def offline_app(issuer: LocalIssuer, *, docs_assets: Path) -> Starlette:
    """The token endpoint, the key set and the docs' assets."""

    async def token(request: Request) -> Response:
        form = await request.form()
        fields = {name: value for name, value in form.items() if isinstance(value, str)}
        if fields.get("client_id") != CLIENT_ID:
            return _oauth_error(401, "invalid_client", f"unknown client; this issuer serves {CLIENT_ID}")
        grant_type = fields.get("grant_type")
        try:
            if grant_type == "password":
                username, password = fields.get("username"), fields.get("password")
                if not username or not password:
                    return _oauth_error(400, "invalid_request", "the password grant needs username and password")
                grant = await issuer.password_grant(username=username, password=password, scope=fields.get("scope"))
            elif grant_type == "refresh_token":
                refresh_token = fields.get("refresh_token")
                if not refresh_token:
                    return _oauth_error(400, "invalid_request", "the refresh_token grant needs refresh_token")
                grant = await issuer.refresh_grant(refresh_token=refresh_token)
            else:
                return _oauth_error(400, "unsupported_grant_type", "grant_type must be password or refresh_token")
        except OAuthError as refusal:
            # Wrong password, bad refresh token, disabled account: each invalid_grant in RFC 6749,
            # told apart by the description, as real servers do.
            description = "the account is disabled" if refusal.code == "user_disabled" else "invalid credentials"
            return _oauth_error(400, refusal.error, description)
        return JSONResponse(grant.model_dump(exclude_none=True), headers={"cache-control": "no-store"})

    async def jwks(request: Request) -> Response:
        return JSONResponse(issuer.jwks())

    routes: list[Route | Mount] = [
        Route(TOKEN_PATH, token, methods=["POST"]),
        Route(JWKS_PATH, jwks, methods=["GET"]),
    ]
    if docs_assets.is_dir():
        # The pages load each asset with `integrity` and `crossorigin="anonymous"`, a CORS request:
        # like jsDelivr, which answers them with `Access-Control-Allow-Origin: *`, any origin may read
        # (jsDelivr's maintainers: https://github.com/jsdelivr/jsdelivr/issues/18038).
        files = CORSMiddleware(StaticFiles(directory=docs_assets), allow_origins=["*"], allow_methods=["GET"])
        routes.append(Mount(DOCS_ASSETS_PATH, files))
    return Starlette(routes=routes)
