"""The product's own checks: a team's routes, from `smoke/product_checks/*.toml`, by kind of caller.

Each check names a route (method and path, under the API's base URL), what it asks of a caller
(`scopes`: one of them at the gateway; `groups`: one of them in the function, as the route
declares them) and the status each kind of caller gets:

- `anonymous`: no token. The gateway's 401 for a protected route.
- `without_scope`: a token without any of the route's scopes: the gateway's 403.
- `without_group`: the scope, but none of the route's groups: the function's 403.
- `allowed`: what the route lets in.

The test user's kind comes from its token (its `scope` or `scp` claim: what the provider
granted) and its groups (SMOKE_USER's); a kind the file gives no status for is left out, and
the output says so. A refusal is checked for who answered as well: 401 and the missing scope's
403 come from API Gateway, the missing group's 403 from the function. One TOML file per route
(or per resource) in `smoke/product_checks/`, so a recipe adds or removes a route's checks as a
file (docs/recipes.md).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

# The checks the pipeline and `make test` run unless --product-checks names another file or directory.
DEFAULT_FILE = Path(__file__).parent / "product_checks"
KINDS = ("anonymous", "without_scope", "without_group", "allowed")
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class ProductCheck:
    method: str
    path: str
    scopes: tuple[str, ...]
    groups: tuple[str, ...]
    expect: dict[str, int]

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"

    def kind_of(self, *, signed_in: bool, scopes: frozenset[str], groups: frozenset[str]) -> str:
        """The kind of caller a token with `scopes`, held by a user in `groups`, is for this route."""
        if not signed_in:
            return "anonymous"
        if self.scopes and scopes.isdisjoint(self.scopes):
            return "without_scope"
        if self.groups and groups.isdisjoint(self.groups):
            return "without_group"
        return "allowed"


class ProductChecksError(ValueError):
    """The file is not what this module reads; the message says where and why."""


def _names(entry: dict[str, object], key: str, where: str) -> tuple[str, ...]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ProductChecksError(f"{where}: {key} must be a list of names")
    return tuple(value)


def load_product_checks(path: Path) -> list[ProductCheck]:
    """The checks of a TOML file, or of every `*.toml` in a directory, in the order of their names."""
    if path.is_dir():
        return [check for file in sorted(path.glob("*.toml")) for check in load_product_checks(file)]
    try:
        document = tomllib.loads(path.read_text())
    except OSError as error:
        raise ProductChecksError(f"{path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ProductChecksError(f"{path}: not TOML: {error}") from None
    entries = document.get("check", [])
    if not isinstance(entries, list):
        raise ProductChecksError(f"{path}: checks are [[check]] tables")
    loaded = []
    for number, entry in enumerate(entries, start=1):
        where = f"{path}, check {number}"
        method, route_path, expect = entry.get("method"), entry.get("path"), entry.get("expect", {})
        if not isinstance(method, str) or method.upper() not in METHODS:
            raise ProductChecksError(f"{where}: method must be one of {', '.join(sorted(METHODS))}")
        if not isinstance(route_path, str) or not route_path.startswith("/"):
            raise ProductChecksError(f"{where}: path must start with / (the route's path under the base URL)")
        if not isinstance(expect, dict) or not expect or set(expect) - set(KINDS):
            raise ProductChecksError(f"{where}: expect maps some of {', '.join(KINDS)} to a status")
        if not all(isinstance(status, int) and 100 <= status <= 599 for status in expect.values()):
            raise ProductChecksError(f"{where}: each expected status is an HTTP status code")
        loaded.append(
            ProductCheck(
                method=method.upper(),
                path=route_path,
                scopes=_names(entry, "scopes", where),
                groups=_names(entry, "groups", where),
                expect=dict(expect),
            )
        )
    return loaded
