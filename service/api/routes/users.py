# Annotations are evaluated as the module runs (no postponed annotations): pydantic and FastAPI
# read them at import, and evaluating their text instead costs every cold start (issue 23).

from typing import Any

from fastapi import APIRouter

from service.api.deps import CurrentUser
from service.api.openapi import success_example

router = APIRouter(prefix="/users", tags=["users"])

# A Firebase ID token's claims, as whoami answers them (the gateway's flattening undone).
WHOAMI_EXAMPLE = {
    "iss": "https://securetoken.google.com/demo-project",
    "aud": "demo-project",
    "sub": "3lVbOZk3Hq0bEpzcKdwPwZ7xGJ82",
    "email": "user@example.com",
    "groups": ["USERS"],
    "iat": 1765000000,
    "exp": 1765003600,
    "firebase": {"identities": {"email": ["user@example.com"]}, "sign_in_provider": "password"},
}


@router.get("/whoami", operation_id="whoami", responses=success_example(WHOAMI_EXAMPLE))
async def whoami(caller: CurrentUser) -> dict[str, Any]:
    """The caller's token claims, with the gateway's string flattening undone."""
    return caller.claims
