"""Dependency aliases, so a route's signature says what it needs."""

# Annotations are evaluated as the module runs (no postponed annotations): pydantic and FastAPI
# read them at import, and evaluating their text instead costs every cold start (issue 23).

from typing import Annotated

from fastapi import Depends, Request

from service.core.access.caller import Principal
from service.core.access.declaration import Authenticated
from service.core.identity import identity_provider
from service.core.identity.base import IdentityProvider
from service.core.settings import Settings, get_settings


def get_identity_provider(request: Request) -> IdentityProvider:
    return identity_provider(request.app)


SettingsDep = Annotated[Settings, Depends(get_settings)]
IdentityProviderDep = Annotated[IdentityProvider, Depends(get_identity_provider)]

# Any valid token, no scope, no group.
CurrentUser = Annotated[Principal, Authenticated()]
