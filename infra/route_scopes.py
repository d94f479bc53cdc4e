"""The context keys `route_scopes` and `known_scopes`: an operator's scopes for some routes of one deployment.

`route_scopes` maps a route key (`"GET /v1/items"`, as API Gateway writes it) to the scopes
the gateway requires there, replacing those the route declares (`[]`: any valid token).
`known_scopes` names the scopes it may ask for beyond the service's `KNOWN_SCOPES`, each with
what it grants. Both are read from cdk.json, from an environment's entry, or from `-c` (as
JSON text). The function receives only the overrides, as `ROUTE_SCOPES`
(`route_scopes_variable`), and checks at start that each names a protected route it serves;
what needs no app is checked here, at synth and by `make dev` (`infra/dev_context.py`) alike.

Nothing here imports the CDK: `make dev` runs without it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from service.core.access.declaration import KNOWN_SCOPES, REGISTRY_FILE
from service.core.settings import MAX_ROUTE_SCOPES, ROUTE_KEY, ROUTE_SCOPES_EXAMPLE, SCOPE_TOKEN

HTTP_API_QUOTAS = "https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html"
KNOWN_SCOPES_EXAMPLE = '{"items:write": "Change the items"}'


def _json_object(value: object, *, example: str) -> object:
    """`-c key={...}` gives JSON text; cdk.json gives an object."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError:
            raise ValueError(f"must be a JSON object such as {example}") from None
    if not isinstance(value, Mapping):
        raise ValueError(f"must be a JSON object such as {example}")
    return value


def _is_scope(value: object) -> bool:
    return isinstance(value, str) and SCOPE_TOKEN.fullmatch(value) is not None


def read_route_scopes(value: object) -> dict[str, tuple[str, ...]]:
    """Route keys to scopes, or ValueError saying which part is not in the accepted form."""
    overrides = _json_object(value, example=ROUTE_SCOPES_EXAMPLE)
    assert isinstance(overrides, Mapping)
    read = {}
    for key, scopes in overrides.items():
        if not ROUTE_KEY.fullmatch(key):
            raise ValueError(
                f"{key!r} is not a route key; write it as the gateway does, METHOD /path: {ROUTE_SCOPES_EXAMPLE}"
            )
        if not isinstance(scopes, list | tuple) or not all(
            isinstance(s, str) and SCOPE_TOKEN.fullmatch(s) for s in scopes
        ):
            raise ValueError(f'{key!r}: must be a list of scope names such as ["items:write"] ([] for any valid token)')
        read[key] = tuple(dict.fromkeys(scopes))
    return read


def read_known_scopes(value: object) -> dict[str, str]:
    """Scope names to what each grants, or ValueError."""
    known = _json_object(value, example=KNOWN_SCOPES_EXAMPLE)
    assert isinstance(known, Mapping)
    for scope, description in known.items():
        if not SCOPE_TOKEN.fullmatch(scope):
            raise ValueError(f"{scope!r} is not a scope name (no spaces or quotes): {KNOWN_SCOPES_EXAMPLE}")
        if not isinstance(description, str) or not description.strip():
            raise ValueError(f"{scope!r}: say what it grants, as in {KNOWN_SCOPES_EXAMPLE}")
    return dict(known)


def route_scopes_problems(route_scopes: Mapping[str, tuple[str, ...]], known_scopes: Mapping[str, str]) -> list[str]:
    """One line per override whose scopes the gateway or the identity provider could not honour, with the fix."""
    problems = []
    for key, scopes in route_scopes.items():
        for scope in scopes:
            if scope not in KNOWN_SCOPES and scope not in known_scopes:
                problems.append(
                    f"{key!r} asks for {scope!r}, which is declared neither in the service (KNOWN_SCOPES in "
                    f"{REGISTRY_FILE}) nor in the context key known_scopes; fix: add it to known_scopes with what it "
                    f'grants ({{"{scope}": "..."}}), or correct the name'
                )
        if len(scopes) > MAX_ROUTE_SCOPES:
            problems.append(
                f"{key!r} asks for {len(scopes)} scopes, over API Gateway's limit of {MAX_ROUTE_SCOPES} scopes per "
                f"route ({HTTP_API_QUOTAS}); fix: keep at most {MAX_ROUTE_SCOPES} (a token needs only one of them)"
            )
    return problems


def route_scopes_variable(route_scopes: Mapping[str, tuple[str, ...]]) -> str:
    """`ROUTE_SCOPES` as the function and `make dev` receive it: the overrides only, compact, in key order."""
    overrides: dict[str, Any] = {key: list(scopes) for key, scopes in sorted(route_scopes.items())}
    return json.dumps(overrides, separators=(",", ":")) if overrides else ""
