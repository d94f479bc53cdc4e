"""The gate's own rule: access changes that break a consumer, which no generic differ sees.

A consumer that could call an operation yesterday must still be able to today. The gateway
and the service both read a route's scopes and groups as "one of" (a token holding any one
of the route's scopes; a caller in any one of its groups: docs/access.md), so an operation
breaks its callers when it
- becomes protected (it gains a security requirement);
- gains scopes where it had none, or loses one it had (a token holding only that one is refused);
- gains groups where it had none (`x-required-groups`), or loses one it had.
Adding a scope or a group beside others only lets more callers in: not a break.

Also here, a new required parameter on an operation that had no parameters at all: api-smart-diff
classifies a whole new `parameters` list as an annotation, while it names a required parameter
added to an existing list as breaking, in the words used here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

# service/api/openapi.py's name for a route's groups; the contract package reads documents, not the app.
GROUPS_EXTENSION = "x-required-groups"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Each operation as (METHOD, path, operation)."""
    for path, item in document.get("paths", {}).items():
        for method in HTTP_METHODS:
            if method in item:
                yield method.upper(), path, item[method]


def _scopes(operation: dict[str, Any]) -> set[str]:
    return {
        scope for requirement in operation.get("security") or [] for names in requirement.values() for scope in names
    }


def _narrowed(kind: str, before: set[str], after: set[str], consequence: str) -> Iterator[str]:
    if after and not before:
        yield f"[Added] {kind} requirement: {consequence} one of {_names(after)}"
    if after:
        for name in sorted(before - after):
            yield f"[Removed] {kind} `{name}`: {consequence} one of {_names(after)}, and `{name}` alone is refused"


def _names(names: set[str]) -> str:
    return ", ".join(f"`{name}`" for name in sorted(names))


def _new_required_parameters(base: dict[str, Any], head: dict[str, Any]) -> Iterator[str]:
    if base.get("parameters"):
        return  # api-smart-diff compares a list that was there already
    for parameter in head.get("parameters", []):
        if parameter.get("required"):
            yield f"[Added] required {parameter.get('in')} parameter `{parameter.get('name')}`"


def access_breaks(base: dict[str, Any], head: dict[str, Any]) -> list[str]:
    """Lines `METHOD path: what changed`, for each operation of `base` that `head` makes harder to call."""
    before = {(method, path): operation for method, path, operation in operations(base)}
    lines = []
    for method, path, operation in operations(head):
        old = before.get((method, path))
        if old is None:
            continue  # a new operation breaks no one
        changes = list(_new_required_parameters(old, operation))
        if operation.get("security") and not old.get("security"):
            changes.append("[Added] security requirement: a bearer token is now needed")
        if operation.get("security"):
            changes += _narrowed("scope", _scopes(old), _scopes(operation), "a token now needs")
            groups_before, groups_after = set(old.get(GROUPS_EXTENSION, [])), set(operation.get(GROUPS_EXTENSION, []))
            changes += _narrowed("group", groups_before, groups_after, "the caller must now be in")
        lines += [f"{method} {path}: {change}" for change in changes]
    return lines
