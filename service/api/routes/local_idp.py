"""The embedded issuer's public keys and discovery document (IDENTITY_PROVIDER=local only)."""

# Annotations evaluated as the module runs, as in every route module (`make lint` bans
# postponed ones here: pyproject.toml).

from typing import Any

from fastapi import APIRouter, Request

from service.core.identity import identity_provider
from service.core.identity.local import LocalIssuer

router = APIRouter(prefix="/auth/local", tags=["auth"], include_in_schema=False)


def _issuer(request: Request) -> LocalIssuer:
    provider = identity_provider(request.app)
    assert isinstance(provider, LocalIssuer)
    return provider


@router.get("/.well-known/jwks.json")
async def local_jwks(request: Request) -> dict[str, Any]:
    return _issuer(request).jwks()


@router.get("/.well-known/openid-configuration")
async def local_openid_configuration(request: Request) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/") + request.scope.get("root_path", "")
    return {
        "issuer": _issuer(request).issuer,
        "jwks_uri": f"{base}/v1/auth/local/.well-known/jwks.json",
        "token_endpoint": f"{base}/v1/auth/token",
        "grant_types_supported": ["password", "refresh_token"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }
