"""A reference: the least a FastAPI whoami can do, beside the floor's hello-world health route.

One app, no router, no middleware of its own: whoami's caller is a `Security` dependency (the
OAuth2 password scheme, as the service declares it) that reads the bearer token's payload
from the `Authorization` header without verifying anything, and the route returns those
claims. What FastAPI's dependency solving and a response of the token's claims cost by
themselves, so that the service's whoami can be told apart from what any FastAPI whoami pays.
"""

import base64
import json
import os
from typing import Annotated, Any

from fastapi import FastAPI, Request, Security
from fastapi.security import OAuth2PasswordBearer, SecurityScopes
from mangum import Mangum

app = FastAPI()


class TokenClaims(OAuth2PasswordBearer):
    async def __call__(self, request: Request, security_scopes: SecurityScopes) -> dict[str, Any]:  # type: ignore[override]
        token = request.headers["authorization"].partition(" ")[2]
        payload = token.split(".")[1]
        claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return claims


caller_claims = TokenClaims(tokenUrl="/v1/auth/token", auto_error=False)


@app.get("/v1/manage/hc")
async def health():  # type: ignore[no-untyped-def]  # a hello world, as people write it
    return {"status": "ok"}


@app.get("/v1/users/whoami")
async def whoami(claims: Annotated[dict[str, Any], Security(caller_claims)]) -> dict[str, Any]:
    return claims


stage = os.environ.get("AWS_API_GW_STAGE_NAME", "$default")
handler = Mangum(app, lifespan="off", api_gateway_base_path="/" if stage == "$default" else f"/{stage}")
